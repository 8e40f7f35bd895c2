import { describe, expect, it } from 'vitest';
import { BMC_TYPES, checkBmcAddress, isIpv6, parseBmcAddress, type BmcAddress } from './bmc-address.ts';

type Expect = Partial<{
  scheme: string;
  type: string;
  protocol: string;
  driver: string;
  host: string;
  port: number;
  explicitPort: boolean;
  transport: string;
  endpoint: string;
  systemPath: string | undefined;
  privilegeLevel: string;
}>;

const valid: [scenario: string, address: string, expected: Expect][] = [
  ['ipmi with port', 'ipmi://192.168.1.10:6230', { type: 'ipmi', protocol: 'ipmi', driver: 'ipmi', host: '192.168.1.10', port: 6230, explicitPort: true, privilegeLevel: 'ADMINISTRATOR' }],
  ['ipmi default port', 'ipmi://bmc-1.example.com', { host: 'bmc-1.example.com', port: 623, explicitPort: false }],
  ['ipmi privilege level', 'ipmi://10.0.0.1?privilegelevel=OPERATOR', { port: 623, privilegeLevel: 'OPERATOR' }],
  ['ipmi privilege level lower case', 'ipmi://10.0.0.1:623?privilegelevel=user', { privilegeLevel: 'USER' }],
  ['ipmi IPv6 literal', 'ipmi://[fd00:1::5]:6230', { host: 'fd00:1::5', port: 6230 }],
  ['ipmi path ignored', 'ipmi://10.0.0.1/', { host: '10.0.0.1', port: 623 }],
  ['bare host', 'bmc-7', { scheme: 'ipmi', type: 'ipmi', host: 'bmc-7', port: 623 }],
  ['bare IPv4', '192.168.122.1', { scheme: 'ipmi', host: '192.168.122.1', port: 623 }],
  ['bare host:port', '192.168.122.1:6233', { scheme: 'ipmi', host: '192.168.122.1', port: 6233 }],
  ['bare name:port', 'bmc.example.com:6233', { scheme: 'ipmi', host: 'bmc.example.com', port: 6233 }],
  ['bare bracketed IPv6', '[::1]:6230', { scheme: 'ipmi', host: '::1', port: 6230 }],
  ['bare bracketed IPv6 without port', '[fe80::1%eth0]', { host: 'fe80::1%eth0', port: 623 }],
  ['scheme upper case', 'IPMI://10.0.0.1', { scheme: 'ipmi', type: 'ipmi' }],
  ['libvirt', 'libvirt://192.168.122.1:6233/', { type: 'libvirt', protocol: 'ipmi', driver: 'ipmi', port: 6233 }],
  ['redfish https default', 'redfish://bmc.example.com/redfish/v1/Systems/1', { type: 'redfish', protocol: 'redfish', driver: 'redfish', transport: 'https', port: 443, explicitPort: false, endpoint: 'https://bmc.example.com', systemPath: '/redfish/v1/Systems/1' }],
  ['redfish+http', 'redfish+http://10.0.0.2:8000/redfish/v1/Systems/abc', { scheme: 'redfish+http', type: 'redfish', transport: 'http', port: 8000, endpoint: 'http://10.0.0.2:8000', systemPath: '/redfish/v1/Systems/abc' }],
  ['redfish+https', 'redfish+https://10.0.0.2/redfish/v1/Systems/1', { scheme: 'redfish+https', transport: 'https', port: 443, endpoint: 'https://10.0.0.2' }],
  ['redfish+http default port', 'redfish+http://10.0.0.2/redfish/v1/Systems/1', { port: 80, endpoint: 'http://10.0.0.2' }],
  ['redfish no path', 'redfish://10.0.0.2', { systemPath: undefined }],
  ['redfish service root only', 'redfish://10.0.0.2/redfish/v1/', { systemPath: undefined }],
  ['redfish trailing slash trimmed', 'redfish://10.0.0.2/redfish/v1/Systems/1/', { systemPath: '/redfish/v1/Systems/1' }],
  ['redfish IPv6', 'redfish+https://[fd00:db8::10]:8443/redfish/v1/Systems/1', { host: 'fd00:db8::10', port: 8443, endpoint: 'https://[fd00:db8::10]:8443' }],
  ['redfish IPv6 with embedded IPv4', 'redfish://[::ffff:10.1.2.3]/redfish/v1/Systems/1', { host: '::ffff:10.1.2.3', endpoint: 'https://[::ffff:10.1.2.3]' }],
  ['redfish-virtualmedia', 'redfish-virtualmedia://10.0.0.3/redfish/v1/Systems/1', { type: 'redfish-virtualmedia', driver: 'redfish' }],
  ['redfish-virtualmedia+http', 'redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/5a5b', { transport: 'http', systemPath: '/redfish/v1/Systems/5a5b' }],
  ['redfish-uefihttp', 'redfish-uefihttp://10.0.0.3/redfish/v1/Systems/1', { type: 'redfish-uefihttp', driver: 'redfish' }],
  ['redfish-uefihttp+https', 'redfish-uefihttp+https://10.0.0.3/redfish/v1/Systems/1', { transport: 'https' }],
  ['idrac-redfish', 'idrac-redfish://10.0.0.4/redfish/v1/Systems/System.Embedded.1', { type: 'idrac-redfish', driver: 'idrac', systemPath: '/redfish/v1/Systems/System.Embedded.1' }],
  ['idrac-redfish+http', 'idrac-redfish+http://10.0.0.4/redfish/v1/Systems/System.Embedded.1', { transport: 'http' }],
  ['idrac-virtualmedia', 'idrac-virtualmedia://10.0.0.4/redfish/v1/Systems/System.Embedded.1', { type: 'idrac-virtualmedia', driver: 'idrac' }],
  ['idrac-virtualmedia+https', 'idrac-virtualmedia+https://10.0.0.4/redfish/v1/Systems/System.Embedded.1', { transport: 'https' }],
  ['ilo5-redfish', 'ilo5-redfish://10.0.0.5/redfish/v1/Systems/1', { type: 'ilo5-redfish', driver: 'redfish' }],
  ['ilo5-redfish+http', 'ilo5-redfish+http://10.0.0.5/redfish/v1/Systems/1', { transport: 'http' }],
  ['ilo5-virtualmedia', 'ilo5-virtualmedia://10.0.0.5/redfish/v1/Systems/1', { type: 'ilo5-virtualmedia', driver: 'redfish' }],
  ['ilo5-virtualmedia+https', 'ilo5-virtualmedia+https://10.0.0.5:443/redfish/v1/Systems/1', { port: 443, explicitPort: true, endpoint: 'https://10.0.0.5:443' }],
];

describe('parseBmcAddress: accepted addresses', () => {
  it.each(valid)('%s (%s)', (_scenario, address, expected) => {
    const parsed = parseBmcAddress(address);
    expect(parsed).toMatchObject(expected);
    expect(parsed.raw).toBe(address);
    const check = checkBmcAddress(address);
    expect(check.ok).toBe(true);
  });

  it('covers every base scheme, and every Redfish one with +http and +https', () => {
    const seen = new Set(valid.map(([, a]) => parseBmcAddress(a).scheme));
    for (const type of BMC_TYPES) {
      expect(seen).toContain(type);
      if (parseBmcAddress(`${type}://h`).protocol === 'redfish') {
        expect(parseBmcAddress(`${type}+http://h`).scheme).toBe(`${type}+http`);
        expect(parseBmcAddress(`${type}+https://h`).scheme).toBe(`${type}+https`);
      }
    }
  });
});

const caps: [address: string, expected: Partial<BmcAddress['capabilities']>][] = [
  ['ipmi://h', { bootInterface: 'ipxe', virtualMedia: false, biosSettings: false, firmwareUpdates: false, raid: 'software-only', secureBoot: false, outOfBandInspection: false, needsMac: false, requiresProvisioningNetwork: true, isoPreprovisioningImage: false }],
  ['libvirt://h', { bootInterface: 'ipxe', virtualMedia: false, raid: 'software-only', needsMac: true, requiresProvisioningNetwork: true }],
  ['redfish://h', { bootInterface: 'ipxe', virtualMedia: false, biosSettings: true, firmwareUpdates: true, raid: 'hardware', secureBoot: true, outOfBandInspection: true, needsMac: false, requiresProvisioningNetwork: true, isoPreprovisioningImage: false }],
  ['ilo5-redfish://h', { bootInterface: 'ipxe', virtualMedia: false, secureBoot: true, requiresProvisioningNetwork: true }],
  ['redfish-virtualmedia://h', { bootInterface: 'redfish-virtual-media', virtualMedia: true, requiresProvisioningNetwork: false, isoPreprovisioningImage: true, secureBoot: true }],
  ['ilo5-virtualmedia://h', { bootInterface: 'redfish-virtual-media', virtualMedia: true, requiresProvisioningNetwork: false }],
  ['redfish-uefihttp://h', { bootInterface: 'redfish-https', virtualMedia: false, requiresProvisioningNetwork: false, isoPreprovisioningImage: true }],
  ['idrac-redfish://h', { bootInterface: 'ipxe', virtualMedia: false, raid: 'hardware', biosSettings: true, requiresProvisioningNetwork: true }],
  ['idrac-virtualmedia://h', { bootInterface: 'idrac-redfish-virtual-media', virtualMedia: true, requiresProvisioningNetwork: false, isoPreprovisioningImage: true }],
];

describe('parseBmcAddress: capabilities per scheme (metal3-api.md §3.1)', () => {
  it.each(caps)('%s', (address, expected) => {
    expect(parseBmcAddress(address).capabilities).toMatchObject(expected);
  });
});

const refused: [scenario: string, address: string, code: string, message: RegExp][] = [
  ['empty', '', 'BmcAddressInvalid', /^missing BMC address$/],
  ['removed idrac (WS-Man)', 'idrac://10.0.0.4', 'BmcSchemeUnsupported', /Unknown BMC type 'idrac'.*idrac-redfish.*idrac-virtualmedia/],
  ['removed idrac+http', 'idrac+http://10.0.0.4', 'BmcSchemeUnsupported', /WS-Man.*idrac-virtualmedia/],
  ['removed ibmc', 'ibmc://10.0.0.4', 'BmcSchemeUnsupported', /'ibmc'.*use 'redfish:\/\/'/],
  ['removed ibmc+https', 'ibmc+https://10.0.0.4', 'BmcSchemeUnsupported', /use 'redfish:\/\/'/],
  ['removed ilo4', 'ilo4://10.0.0.5', 'BmcSchemeUnsupported', /'ilo4'.*ipmi:\/\//],
  ['removed ilo4-virtualmedia', 'ilo4-virtualmedia://10.0.0.5', 'BmcSchemeUnsupported', /ipmi:\/\//],
  ['removed ilo5', 'ilo5://10.0.0.5', 'BmcSchemeUnsupported', /'ilo5'.*ilo5-redfish:\/\/.*ilo5-virtualmedia:\/\//],
  ['removed irmc', 'irmc://10.0.0.6', 'BmcSchemeUnsupported', /'irmc'.*redfish:\/\//],
  ['removed scheme without slashes', 'irmc:10.0.0.6', 'BmcSchemeUnsupported', /'irmc'.*redfish/],
  ['unknown scheme', 'foo://10.0.0.6', 'BmcSchemeUnsupported', /^Unknown BMC type 'foo' for address foo:\/\/10\.0\.0\.6$/],
  ['ipmi takes no +http', 'ipmi+http://10.0.0.6', 'BmcSchemeUnsupported', /Unknown BMC type 'ipmi\+http'/],
  ['libvirt takes no +https', 'libvirt+https://10.0.0.6', 'BmcSchemeUnsupported', /Unknown BMC type 'libvirt\+https'/],
  ['unknown suffix', 'redfish+ftp://10.0.0.6', 'BmcSchemeUnsupported', /Unknown BMC type 'redfish\+ftp'/],
  ['double suffix', 'redfish+http+https://10.0.0.6', 'BmcSchemeUnsupported', /Unknown BMC type/],
  ['http is not a BMC scheme', 'https://10.0.0.6/redfish/v1/Systems/1', 'BmcSchemeUnsupported', /Unknown BMC type 'https'/],
  ['scheme without host', 'redfish:///redfish/v1/Systems/1', 'BmcAddressInvalid', /no host/],
  ['scheme without slashes', 'redfish:10.0.0.6', 'BmcAddressInvalid', /expected redfish:\/\/<host>/],
  ['credentials in address', 'redfish://admin:pw@10.0.0.6/redfish/v1/Systems/1', 'BmcAddressInvalid', /credentials Secret/],
  ['unbracketed IPv6 with scheme', 'redfish://fd00::1/redfish/v1/Systems/1', 'BmcAddressInvalid', /brackets/],
  ['unbracketed bare IPv6', 'fd00::1', 'BmcAddressInvalid', /brackets/],
  ['bad IPv6 literal', 'ipmi://[fd00:::1]:623', 'BmcAddressInvalid', /hostname\/IP : \[fd00:::1\] is invalid/],
  ['unclosed bracket', 'ipmi://[fd00::1:623', 'BmcAddressInvalid', /missing "\]"/],
  ['junk after bracket', 'ipmi://[fd00::1]x', 'BmcAddressInvalid', /unexpected/],
  ['port not a number', 'ipmi://10.0.0.1:abc', 'BmcAddressInvalid', /invalid port "abc"/],
  ['port out of range', 'redfish://10.0.0.1:70000/redfish/v1/Systems/1', 'BmcAddressInvalid', /invalid port "70000"/],
  ['port zero', '10.0.0.1:0', 'BmcAddressInvalid', /invalid port "0"/],
  ['empty port', 'ipmi://10.0.0.1:', 'BmcAddressInvalid', /invalid port ""/],
  ['bad host name', 'ipmi://bad_host!', 'BmcAddressInvalid', /hostname\/IP : \[bad_host!\] is invalid/],
  ['host with dash at the end', 'redfish://bmc-.example.com', 'BmcAddressInvalid', /is invalid/],
  ['white space', 'ipmi://10.0.0.1 ', 'BmcAddressInvalid', /white space/],
  ['bad privilege level', 'ipmi://10.0.0.1?privilegelevel=ROOT', 'BmcAddressInvalid', /privilegelevel must be one of/],
];

describe('parseBmcAddress: refused addresses', () => {
  it.each(refused)('%s (%s)', (_scenario, address, code, message) => {
    const check = checkBmcAddress(address);
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.code).toBe(code);
    expect(check.message).toMatch(message);
    expect(() => parseBmcAddress(address)).toThrow(message);
  });
});

describe('isIpv6', () => {
  it.each([
    ['::1', true], ['::', true], ['fe80::1%eth0', true], ['2001:db8:0:0:0:0:2:1', true], ['::ffff:192.0.2.1', true],
    ['2001:db8::2:1', true], ['1:2:3:4:5:6:7:8', true],
    ['1:2:3:4:5:6:7:8:9', false], ['1::2::3', false], ['12345::1', false], ['g::1', false], ['::ffff:300.0.2.1', false],
    ['10.0.0.1', false], ['fe80::1%', false], ['host', false],
  ] as const)('%s → %s', (text, expected) => {
    expect(isIpv6(text)).toBe(expected);
  });
});
