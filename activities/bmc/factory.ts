/** Chooses the driver for a BMC address: Redfish for the Redfish family, ipmitool for `ipmi`/`libvirt`/bare hosts. */
import { parseBmcAddress, type BmcAddress } from '../../domain/bmc-address.ts';
import type { BmcCredentials, BmcDriver } from './driver.ts';
import { BmcError } from './errors.ts';
import { IpmiDriver, type IpmiDriverOptions } from './ipmi.ts';
import { RedfishDriver, type RedfishDriverOptions } from './redfish/driver.ts';

export interface BmcDriverOptions {
  /** A Metal3 BMC address, or one already parsed. */
  address: string | BmcAddress;
  credentials: BmcCredentials;
  /** `spec.bmc.disableCertificateVerification`. */
  disableCertificateVerification?: boolean;
  redfish?: Omit<RedfishDriverOptions, 'address' | 'credentials' | 'disableCertificateVerification'>;
  ipmi?: Omit<IpmiDriverOptions, 'address' | 'credentials'>;
}

/** Parses the address (BmcError on a bad one) and builds its driver. Nothing is sent until the first call. */
export function createBmcDriver(options: BmcDriverOptions): BmcDriver {
  let address: BmcAddress;
  try {
    address = typeof options.address === 'string' ? parseBmcAddress(options.address) : options.address;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'BmcAddressInvalid' || code === 'BmcSchemeUnsupported') throw new BmcError(code, (err as Error).message);
    throw err;
  }
  if (!options.credentials.username) throw new BmcError('BmcCredentialsMissing', 'the BMC credentials have no username');
  if (address.protocol === 'ipmi') {
    return new IpmiDriver({ ...options.ipmi, address, credentials: options.credentials });
  }
  return new RedfishDriver({
    ...options.redfish,
    address,
    credentials: options.credentials,
    disableCertificateVerification: options.disableCertificateVerification ?? false,
  });
}
