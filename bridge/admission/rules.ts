/**
 * BareMetalHost admission rules: what BMO's validating webhook refuses
 * (`internal/webhooks/metal3.io/v1alpha1/baremetalhost_validation.go`, reference/metal3-api.md §1.10), with
 * BMO's messages where BMO has one, as pure functions over the raw object. The BMC address goes through the
 * one parser, `domain/bmc-address.ts`, whose capabilities decide the driver-dependent rules.
 *
 * Two deliberate differences from BMO, both so that the engine's own writes can never be blocked:
 * - Updates ratchet: a problem the old object already had does not block an update (BMO refuses every
 *   update of an object that became invalid, e.g. one created before the webhook, which strands its
 *   finalizer). New problems and the immutability rules are refused as in BMO.
 * - The BMC-address immutability rule reads the old object's status (the one the engine wrote).
 */
import { checkBmcAddress, type BmcAddress } from '../../domain/bmc-address.ts';
import type { ImageIntent } from '../../domain/host-model.ts';
import { imageSpecProblem } from '../../domain/image.ts';
import { annotationViolations, DETACHED_ANNOTATION, INSPECT_ANNOTATION } from './annotations.ts';
import { isUuid, macAddressError, requestUriError } from './go-parsers.ts';
import { flag, list, record, stringMap, text } from './read.ts';

/** Every rule, by a stable id, with what it refuses. Tests prove each id with at least one refused object. */
export const RULES = {
  'bmc-address': 'spec.bmc.address must parse; unknown and removed schemes are refused (removed ones name the replacement)',
  'cross-namespace-secret': 'userData, networkData and metaData must reference Secrets in the host namespace',
  'raid-hardware-and-software': 'hardwareRAIDVolumes and softwareRAIDVolumes cannot both be set',
  'raid-physical-disks-controller': "a hardware RAID volume with physicalDisks needs a controller",
  'raid-physical-disks-count': 'numberOfPhysicalDisks must equal the number of physicalDisks',
  'raid-software-root-volume-count': 'at most one software RAID volume can be the root volume',
  'raid-software-root-level': 'the software RAID root volume (the first one unless rootVolume says otherwise) must be RAID1',
  'raid-software-root-hints': 'a software RAID rootVolume cannot be combined with rootDeviceHints',
  'driver-hardware-raid': 'hardware RAID needs a driver with a RAID interface (not ipmi or libvirt)',
  'driver-secure-boot': 'bootMode UEFISecureBoot needs a driver with secure boot (not ipmi or libvirt)',
  'driver-firmware-settings': 'spec.firmware (BIOS settings) on a driver without a BIOS settings interface',
  'firmware-deprecated': 'spec.firmware is deprecated and supported by no driver: use HostFirmwareSettings',
  'boot-mac-required': 'bootMACAddress is required by libvirt and whenever inspection is disabled',
  'boot-mac-format': 'bootMACAddress must be a MAC address',
  'name-charset': 'the name may only contain [A-Za-z0-9._-]',
  'name-uuid': 'the name cannot be a UUID',
  'root-device-name': 'rootDeviceHints.deviceName must be /dev/<name> or /dev/disk/by-path/<name>',
  'image-url': 'spec.image.url must parse as a request URI',
  'image-checksum': 'a non-live-ISO image needs a checksum of a known checksumType; an oci:// image must not have one',
  'inspection-mode-value': "inspectionMode must be 'disabled', 'agent' or 'fast'",
  'inspection-mode-conflict': 'the inspect.metal3.io annotation and inspectionMode must agree',
  'inspection-fast-driver': "inspectionMode 'fast' needs a driver with out-of-band inspection",
  'power-off-disabled': 'disablePowerOff cannot be combined with online: false',
  'network-interface-identity': 'each networkInterfaces entry names exactly one of name or macAddress',
  'network-interface-mac': 'networkInterfaces[].macAddress must be a MAC address',
  'network-interface-duplicate': 'networkInterfaces entries must not repeat a name or MAC address',
  'annotation-status': 'the baremetalhost.metal3.io/status annotation must decode as a BareMetalHost status',
  'annotation-status-values': 'the status annotation must carry a valid operationalStatus and errorType',
  'annotation-reboot': 'reboot.metal3.io[/key] must be empty or JSON with mode "hard", "soft" or ""',
  'annotation-inspect': 'inspect.metal3.io must be "" or "disabled"',
  'annotation-hardwaredetails-inspection': 'inspect.metal3.io/hardwaredetails requires inspection to be disabled',
  'annotation-hardwaredetails': 'inspect.metal3.io/hardwaredetails must decode as HardwareDetails',
  'annotation-detached': 'baremetalhost.metal3.io/detached must be empty or JSON with deleteAction "delay" or "delete"',
  'update-bmc-address': 'on update, the BMC address changes only while registering or detached',
  'update-boot-mac': 'on update, bootMACAddress cannot change once set',
  'update-externally-provisioned': 'on update, externallyProvisioned can only be switched on from available',
} as const;

export type RuleId = keyof typeof RULES;

/** One refused aspect of an object: the rule and the message the user sees. */
export interface Violation {
  rule: RuleId;
  message: string;
}

/** Identity from the admission request, used when the object itself lacks it. */
export interface HostContext {
  namespace?: string;
  name?: string;
}

/** The parts of a BareMetalHost the rules read, extracted once and defensively. */
export interface HostView {
  name: string;
  namespace: string;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
  /** The parsed BMC address; undefined when there is none or it does not parse. */
  bmc: BmcAddress | undefined;
  inspectionDisabled: boolean;
}

/** Reads a raw object into the view the rules use. */
export function hostView(host: unknown, context: HostContext = {}): HostView {
  const obj = record(host) ?? {};
  const metadata = record(obj.metadata) ?? {};
  const spec = record(obj.spec) ?? {};
  const annotations = stringMap(metadata.annotations);
  const address = text(record(spec.bmc)?.address);
  const check = address === '' ? undefined : checkBmcAddress(address);
  return {
    name: text(metadata.name) || (context.name ?? ''),
    namespace: text(metadata.namespace) || (context.namespace ?? ''),
    annotations,
    spec,
    status: record(obj.status) ?? {},
    bmc: check?.ok ? check.address : undefined,
    inspectionDisabled: annotations[INSPECT_ANNOTATION] === 'disabled' || spec.inspectionMode === 'disabled',
  };
}

type Rule = (host: HostView) => Violation[];

const v = (rule: RuleId, message: string): Violation => ({ rule, message });

const bmcAddressRule: Rule = (host) => {
  const address = text(record(host.spec.bmc)?.address);
  if (address === '') return [];
  const check = checkBmcAddress(address);
  return check.ok ? [] : [v('bmc-address', check.message)];
};

const crossNamespaceRule: Rule = (host) => {
  const out: Violation[] = [];
  for (const field of ['userData', 'networkData', 'metaData'] as const) {
    const ns = text(record(host.spec[field])?.namespace);
    if (ns !== '' && ns !== host.namespace) {
      // BMO returns a Forbidden API error; its text starts with the resource and name.
      out.push(v('cross-namespace-secret', `baremetalhosts.metal3.io ${JSON.stringify(host.name)} is forbidden: ${field}: cross-namespace Secret references are not allowed`));
    }
  }
  return out;
};

const raidRule: Rule = (host) => {
  const raid = record(host.spec.raid);
  if (!raid) return [];
  const out: Violation[] = [];
  const hardware = list(raid.hardwareRAIDVolumes);
  const software = list(raid.softwareRAIDVolumes);
  if (hardware.length > 0 && software.length > 0) {
    out.push(v('raid-hardware-and-software', 'hardwareRAIDVolumes and softwareRAIDVolumes can not be set at the same time'));
  }
  hardware.forEach((raw, index) => {
    const volume = record(raw) ?? {};
    const disks = list(volume.physicalDisks);
    if (disks.length > 0 && text(volume.controller) === '') {
      out.push(v('raid-physical-disks-controller', `'physicalDisks' specified without 'controller' in hardware RAID volume ${index}`));
    }
    const count = volume.numberOfPhysicalDisks;
    if (typeof count === 'number' && disks.length > 0 && count !== disks.length) {
      out.push(v('raid-physical-disks-count', `the 'numberOfPhysicalDisks'[${count}] and number of 'physicalDisks'[${disks.length}] is not same for volume ${index}`));
    }
  });
  if (software.length > 0) {
    const volumes = software.map((raw) => record(raw) ?? {});
    const roots = volumes.flatMap((volume, index) => (flag(volume.rootVolume) ? [index] : []));
    if (roots.length > 1) out.push(v('raid-software-root-volume-count', 'only one volume can have isRootVolume'));
    const rootIndex = roots[0];
    if (rootIndex === undefined) {
      if (text(volumes[0]?.level) !== '1') out.push(v('raid-software-root-level', 'the level in first volume of software raid must be RAID1'));
    } else {
      const level = text(volumes[rootIndex]?.level);
      if (level !== '1') {
        out.push(v('raid-software-root-level', `the software RAID root volume ${rootIndex} must be RAID1, not level ${JSON.stringify(level)}`));
      }
      if (Object.keys(record(host.spec.rootDeviceHints) ?? {}).length > 0) {
        out.push(v('raid-software-root-hints', `software RAID volume ${rootIndex} has rootVolume set, which can not be used together with rootDeviceHints: the root device is either the RAID volume or the hinted disk`));
      }
    }
  }
  return out;
};

function bmcDriverRule(host: HostView): Violation[] {
  const bmc = host.bmc;
  const spec = host.spec;
  const out: Violation[] = [];
  if (bmc && list(record(spec.raid)?.hardwareRAIDVolumes).length > 0 && bmc.capabilities.raid !== 'hardware') {
    out.push(v('driver-hardware-raid', `BMC driver ${bmc.scheme} does not support configuring RAID`));
  }
  if (spec.firmware !== undefined && spec.firmware !== null) {
    if (bmc && !bmc.capabilities.biosSettings) {
      out.push(v('driver-firmware-settings', `firmware settings for ${bmc.driver} are not supported: BMC driver ${bmc.scheme} has no BIOS settings interface at all`));
    } else {
      const driver = bmc ? `firmware settings for ${bmc.driver} are not supported: ` : '';
      out.push(v('firmware-deprecated', `${driver}spec.firmware is deprecated and no driver applies it; remove it and use a HostFirmwareSettings resource instead`));
    }
  }
  const mac = text(spec.bootMACAddress);
  if (bmc && mac === '' && (bmc.capabilities.needsMac || host.inspectionDisabled)) {
    out.push(v('boot-mac-required', `BMC driver ${bmc.scheme} requires a BootMACAddress value`));
  }
  if (mac !== '') {
    const error = macAddressError(mac);
    if (error) out.push(v('boot-mac-format', error));
  }
  if (bmc && spec.bootMode === 'UEFISecureBoot' && !bmc.capabilities.secureBoot) {
    out.push(v('driver-secure-boot', `BMC driver ${bmc.scheme} does not support secure boot`));
  }
  return out;
}

const nameRule: Rule = (host) => {
  if (/[^A-Za-z0-9._-]/.test(host.name)) {
    return [v('name-charset', 'BareMetalHost resource name cannot contain characters other than [A-Za-z0-9._-]')];
  }
  return isUuid(host.name) ? [v('name-uuid', 'BareMetalHost resource name cannot be a UUID')] : [];
};

const rootDeviceHintsRule: Rule = (host) => {
  const name = text(record(host.spec.rootDeviceHints)?.deviceName);
  if (name === '') return [];
  if (!name.startsWith('/dev/')) {
    return [v('root-device-name', `device name of root device hint must be a /dev/ path, not ${JSON.stringify(name)}`)];
  }
  let sub = name.slice('/dev/'.length);
  if (sub.startsWith('disk/by-path/')) sub = sub.slice('disk/by-path/'.length);
  if (sub.includes('/')) {
    return [v('root-device-name', `device name of root device hint must be path in /dev/ or /dev/disk/by-path/, not ${JSON.stringify(name)}`)];
  }
  return [];
};

const imageRule: Rule = (host) => {
  const image = record(host.spec.image);
  if (!image) return [];
  const url = text(image.url);
  const error = requestUriError(url);
  const out = error ? [v('image-url', `image URL ${url} is invalid: ${error}`)] : [];
  // The same check the engine applies before a deploy (domain/image.ts), with BMO's messages.
  const format = text(image.format);
  const checksumType = text(image.checksumType);
  const problem = imageSpecProblem({
    url,
    checksum: text(image.checksum),
    ...(checksumType ? { checksumType: checksumType as NonNullable<ImageIntent['checksumType']> } : {}),
    ...(format ? { format: format as NonNullable<ImageIntent['format']> } : {}),
  });
  if (problem) out.push(v('image-checksum', problem));
  return out;
};

const INSPECTION_MODES = ['disabled', 'agent', 'fast'];

const inspectionRule: Rule = (host) => {
  const out: Violation[] = [];
  const mode = host.spec.inspectionMode;
  const annotation = host.annotations[INSPECT_ANNOTATION];
  if (mode !== undefined && mode !== null && mode !== '' && !INSPECTION_MODES.includes(text(mode))) {
    out.push(v('inspection-mode-value', `invalid inspectionMode value: ${typeof mode === 'string' ? mode : JSON.stringify(mode)}, allowed values are 'disabled', 'agent' or 'fast'`));
  }
  if (annotation !== undefined && annotation !== '' && typeof mode === 'string' && mode !== '') {
    if ((annotation === 'disabled') !== (mode === 'disabled')) {
      out.push(v('inspection-mode-conflict', 'inspect.metal3.io annotation and inspectionMode field have contradicting values'));
    }
  }
  if (mode === 'fast' && host.bmc && !host.bmc.capabilities.outOfBandInspection) {
    out.push(v('inspection-fast-driver', `BMC driver ${host.bmc.scheme} does not support out-of-band inspection, which inspectionMode "fast" requires; use a Redfish-based address or inspectionMode "agent"`));
  }
  return out;
};

const powerRule: Rule = (host) =>
  flag(host.spec.disablePowerOff) && !flag(host.spec.online)
    ? [v('power-off-disabled', "node can't simultaneously have online set to false and have power off disabled")]
    : [];

const networkInterfacesRule: Rule = (host) => {
  const out: Violation[] = [];
  const names = new Map<string, number>();
  const macs = new Map<string, number>();
  list(host.spec.networkInterfaces).forEach((raw, index) => {
    const nic = record(raw) ?? {};
    const name = text(nic.name);
    const mac = text(nic.macAddress);
    if ((name === '') === (mac === '')) {
      out.push(v('network-interface-identity', `networkInterfaces[${index}]: exactly one of name or macAddress must be set`));
    }
    if (mac !== '') {
      const error = macAddressError(mac);
      if (error) out.push(v('network-interface-mac', `networkInterfaces[${index}].macAddress: ${error}`));
    }
    const seenName = name === '' ? undefined : names.get(name);
    if (seenName !== undefined) {
      out.push(v('network-interface-duplicate', `networkInterfaces[${index}]: name ${JSON.stringify(name)} is already used by networkInterfaces[${seenName}]`));
    } else if (name !== '') names.set(name, index);
    const key = mac.toLowerCase();
    const seenMac = key === '' ? undefined : macs.get(key);
    if (seenMac !== undefined) {
      out.push(v('network-interface-duplicate', `networkInterfaces[${index}]: macAddress ${JSON.stringify(mac)} is already used by networkInterfaces[${seenMac}]`));
    } else if (key !== '') macs.set(key, index);
  });
  return out;
};

/** The create rules, in BMO's order of reporting. */
const CREATE_RULES: readonly Rule[] = [
  bmcAddressRule,
  crossNamespaceRule,
  raidRule,
  bmcDriverRule,
  nameRule,
  rootDeviceHintsRule,
  imageRule,
  annotationViolations,
  inspectionRule,
  powerRule,
  networkInterfacesRule,
];

/** Validates a BareMetalHost for creation; empty when it is accepted. */
export function validateHostCreate(host: unknown, context: HostContext = {}): Violation[] {
  const view = hostView(host, context);
  return CREATE_RULES.flatMap((rule) => rule(view));
}

const REGISTERING = 'registering';
const DETACHED = 'detached';
const EXTERNALLY_PROVISIONABLE_FROM = ['available', 'ready'];

function updateRules(before: HostView, after: HostView): Violation[] {
  const out: Violation[] = [];
  const oldAddress = text(record(before.spec.bmc)?.address);
  const newAddress = text(record(after.spec.bmc)?.address);
  const state = text(record(before.status.provisioning)?.state);
  const operationalStatus = text(before.status.operationalStatus);
  if (oldAddress !== '' && newAddress !== oldAddress && state !== REGISTERING && operationalStatus !== DETACHED) {
    const pending = DETACHED_ANNOTATION in before.annotations
      ? `; the ${DETACHED_ANNOTATION} annotation is set but the host is not detached yet (operationalStatus ${JSON.stringify(operationalStatus)}), wait for operationalStatus "detached"`
      : `; to replace the BMC, add the ${DETACHED_ANNOTATION} annotation, wait for operationalStatus "detached", then change the address`;
    out.push(v('update-bmc-address', `BMC address can not be changed if the BMH is not in the Registering state, or if the BMH is not detached${pending}`));
  }
  const oldMac = text(before.spec.bootMACAddress);
  if (oldMac !== '' && text(after.spec.bootMACAddress).toLowerCase() !== oldMac.toLowerCase()) {
    out.push(v('update-boot-mac', 'bootMACAddress can not be changed once it is set'));
  }
  if (!flag(before.spec.externallyProvisioned) && flag(after.spec.externallyProvisioned) && !EXTERNALLY_PROVISIONABLE_FROM.includes(state)) {
    out.push(v('update-externally-provisioned', `externallyProvisioned can only be enabled when in Available state, currently in ${state === '' ? '""' : state}`));
  }
  return out;
}

/**
 * Validates an update of a BareMetalHost: the immutability rules, plus the create rules for problems the
 * old object did not already have (ratcheting, see the file header). Empty when it is accepted.
 */
export function validateHostUpdate(oldHost: unknown, newHost: unknown, context: HostContext = {}): Violation[] {
  const before = hostView(oldHost, context);
  const after = hostView(newHost, context);
  const existing = new Set(CREATE_RULES.flatMap((rule) => rule(before)).map((x) => x.message));
  const fresh = CREATE_RULES.flatMap((rule) => rule(after)).filter((x) => !existing.has(x.message));
  return [...fresh, ...updateRules(before, after)];
}

/** Joins messages the way BMO's webhook reports them (Kubernetes' error aggregate): `a` or `[a, b]`. */
export function formatViolations(violations: readonly Violation[]): string {
  const messages = violations.map((x) => x.message);
  return messages.length === 1 ? (messages[0] ?? '') : `[${messages.join(', ')}]`;
}
