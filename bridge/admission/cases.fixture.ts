/**
 * The admission table shared by the unit tests (rules.test.ts) and the apiserver tests
 * (admission.int.test.ts): for every rule, BareMetalHosts it refuses with the message the user must see,
 * and hosts it accepts. Manifests carry no namespace; tests apply them into theirs.
 */
import type { RuleId } from './rules.ts';

export type Manifest = Record<string, unknown> & { metadata: { name: string; annotations?: Record<string, string> } };

export interface RefusedCase {
  scenario: string;
  rule: RuleId;
  host: Manifest;
  /** Text the refusal must contain: BMO's message where BMO has one. */
  message: string;
  /** For UPDATE rules: the object before the change and the status the engine had written on it. */
  before?: { host: Manifest; status: Record<string, unknown> };
  /**
   * Why the apiserver itself may refuse the manifest before any webhook sees it: a field or value that the
   * installed CRD (Metal3 v0.13) does not have yet (v0.14 additions), or Kubernetes' own name validation.
   */
  apiserverMayRefuse?: string;
}

const REDFISH_VM = 'redfish-virtualmedia://192.0.2.10/redfish/v1/Systems/1';
const SHA256 = 'be254ebfd73e66ca91f6d91f5050aa2ee1ec4813ee65ba472f608ed340cbff09';
const IPMI = 'ipmi://192.0.2.20:623';

/** A valid BareMetalHost named `name`, with `spec` merged over a Redfish virtual-media host. */
export function bmh(name: string, spec: Record<string, unknown> = {}, annotations?: Record<string, string>): Manifest {
  return {
    apiVersion: 'metal3.io/v1alpha1',
    kind: 'BareMetalHost',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: { online: true, bmc: { address: REDFISH_VM, credentialsName: `${name}-bmc` }, ...spec },
  };
}

const bmc = (address: string) => ({ bmc: { address, credentialsName: 'bmc-secret' } });

/** A full `.status` as the engine writes it (the CRD requires these fields). */
export function statusOf(state: string, operationalStatus = 'OK'): Record<string, unknown> {
  return { operationalStatus, errorMessage: '', errorCount: 0, poweredOn: false, provisioning: { state, ID: '' } };
}

const hwVolume = (extra: Record<string, unknown> = {}) => ({ level: '1', ...extra });
const swDisks = [{ deviceName: '/dev/sda' }, { deviceName: '/dev/sdb' }];

export const REFUSED: readonly RefusedCase[] = [
  { scenario: 'unknown BMC scheme', rule: 'bmc-address', host: bmh('bad-scheme', bmc('test://127.0.1.1')), message: "Unknown BMC type 'test' for address test://127.0.1.1" },
  { scenario: 'removed irmc scheme names its replacement', rule: 'bmc-address', host: bmh('removed-irmc', bmc('irmc://192.0.2.30')), message: "Unknown BMC type 'irmc' for address irmc://192.0.2.30: the 'irmc' driver was removed in BMO 0.13; use 'redfish://'" },
  { scenario: 'removed WS-Man idrac scheme names idrac-redfish', rule: 'bmc-address', host: bmh('removed-idrac', bmc('idrac://192.0.2.31')), message: "use 'idrac-redfish://' or 'idrac-virtualmedia://'" },
  { scenario: 'BMC host name with a leading hyphen', rule: 'bmc-address', host: bmh('bad-bmc-host', bmc('ipmi://-host.example.com.org')), message: 'failed to parse BMC address information: BMC address hostname/IP : [-host.example.com.org] is invalid' },
  { scenario: 'userData in another namespace', rule: 'cross-namespace-secret', host: bmh('xns-user-data', { userData: { name: 'ud', namespace: 'other-namespace' } }), message: 'baremetalhosts.metal3.io "xns-user-data" is forbidden: userData: cross-namespace Secret references are not allowed' },
  { scenario: 'networkData in another namespace', rule: 'cross-namespace-secret', host: bmh('xns-network-data', { networkData: { name: 'nd', namespace: 'other-namespace' } }), message: 'networkData: cross-namespace Secret references are not allowed' },
  { scenario: 'metaData in another namespace', rule: 'cross-namespace-secret', host: bmh('xns-meta-data', { metaData: { name: 'md', namespace: 'other-namespace' } }), message: 'metaData: cross-namespace Secret references are not allowed' },
  { scenario: 'hardware and software RAID together', rule: 'raid-hardware-and-software', host: bmh('raid-both', { raid: { hardwareRAIDVolumes: [hwVolume()], softwareRAIDVolumes: [{ level: '1' }] } }), message: 'hardwareRAIDVolumes and softwareRAIDVolumes can not be set at the same time' },
  { scenario: 'physicalDisks without a controller', rule: 'raid-physical-disks-controller', host: bmh('raid-no-controller', { raid: { hardwareRAIDVolumes: [hwVolume({ physicalDisks: ['Disk-1', 'Disk-2'] })] } }), message: "'physicalDisks' specified without 'controller' in hardware RAID volume 0" },
  { scenario: 'numberOfPhysicalDisks differs from physicalDisks', rule: 'raid-physical-disks-count', host: bmh('raid-disk-count', { raid: { hardwareRAIDVolumes: [hwVolume({ controller: 'RAID.Integrated.1-1', physicalDisks: ['Disk-1', 'Disk-2'], numberOfPhysicalDisks: 3 })] } }), message: "the 'numberOfPhysicalDisks'[3] and number of 'physicalDisks'[2] is not same for volume 0" },
  { scenario: 'two software RAID root volumes', rule: 'raid-software-root-volume-count', host: bmh('raid-two-roots', { raid: { softwareRAIDVolumes: [{ level: '1', rootVolume: true }, { level: '1', rootVolume: true }] } }), message: 'only one volume can have isRootVolume', apiserverMayRefuse: 'softwareRAIDVolumes[].rootVolume is a v0.14 field' },
  { scenario: 'first software RAID volume is not RAID1', rule: 'raid-software-root-level', host: bmh('raid-sw-level', { raid: { softwareRAIDVolumes: [{ level: '0', physicalDisks: swDisks }, { level: '1' }] } }), message: 'the level in first volume of software raid must be RAID1' },
  { scenario: 'explicit software RAID root volume is not RAID1', rule: 'raid-software-root-level', host: bmh('raid-sw-root-level', { raid: { softwareRAIDVolumes: [{ level: '1' }, { level: '0', rootVolume: true }] } }), message: 'the software RAID root volume 1 must be RAID1, not level "0"', apiserverMayRefuse: 'softwareRAIDVolumes[].rootVolume is a v0.14 field' },
  { scenario: 'software RAID rootVolume with rootDeviceHints', rule: 'raid-software-root-hints', host: bmh('raid-sw-root-hints', { rootDeviceHints: { deviceName: '/dev/sda' }, raid: { softwareRAIDVolumes: [{ level: '1', rootVolume: true }] } }), message: 'software RAID volume 0 has rootVolume set, which can not be used together with rootDeviceHints', apiserverMayRefuse: 'softwareRAIDVolumes[].rootVolume is a v0.14 field' },
  { scenario: 'hardware RAID on IPMI', rule: 'driver-hardware-raid', host: bmh('raid-ipmi', { ...bmc(IPMI), raid: { hardwareRAIDVolumes: [hwVolume()] } }), message: 'BMC driver ipmi does not support configuring RAID' },
  { scenario: 'hardware RAID on libvirt', rule: 'driver-hardware-raid', host: bmh('raid-libvirt', { ...bmc('libvirt://192.0.2.21'), bootMACAddress: '00:1a:74:74:e5:cb', raid: { hardwareRAIDVolumes: [hwVolume()] } }), message: 'BMC driver libvirt does not support configuring RAID' },
  { scenario: 'UEFISecureBoot on IPMI', rule: 'driver-secure-boot', host: bmh('secure-boot-ipmi', { ...bmc(IPMI), bootMode: 'UEFISecureBoot' }), message: 'BMC driver ipmi does not support secure boot' },
  { scenario: 'BIOS settings on IPMI', rule: 'driver-firmware-settings', host: bmh('firmware-ipmi', { ...bmc(IPMI), firmware: { virtualizationEnabled: true } }), message: 'firmware settings for ipmi are not supported' },
  { scenario: 'deprecated spec.firmware on Redfish', rule: 'firmware-deprecated', host: bmh('firmware-redfish', { firmware: { sriovEnabled: true } }), message: 'firmware settings for redfish are not supported: spec.firmware is deprecated and no driver applies it; remove it and use a HostFirmwareSettings resource instead' },
  { scenario: 'libvirt without bootMACAddress', rule: 'boot-mac-required', host: bmh('libvirt-no-mac', bmc('libvirt://192.0.2.21')), message: 'BMC driver libvirt requires a BootMACAddress value' },
  { scenario: 'inspection disabled without bootMACAddress', rule: 'boot-mac-required', host: bmh('no-inspect-no-mac', { inspectionMode: 'disabled' }), message: 'BMC driver redfish-virtualmedia requires a BootMACAddress value' },
  { scenario: 'bootMACAddress with seven octets', rule: 'boot-mac-format', host: bmh('bad-boot-mac', { bootMACAddress: '00:11:22:33:44:55:66' }), message: 'address 00:11:22:33:44:55:66: invalid MAC address' },
  { scenario: 'name with a character outside [A-Za-z0-9._-]', rule: 'name-charset', host: bmh('bad~name'), message: 'BareMetalHost resource name cannot contain characters other than [A-Za-z0-9._-]', apiserverMayRefuse: 'Kubernetes itself requires a DNS subdomain name' },
  { scenario: 'name is a UUID', rule: 'name-uuid', host: bmh('07564256-96ae-4315-ab03-8d34ece60fbb'), message: 'BareMetalHost resource name cannot be a UUID' },
  { scenario: 'name is a UUID without hyphens', rule: 'name-uuid', host: bmh('0756425696ae4315ab038d34ece60fbb'), message: 'BareMetalHost resource name cannot be a UUID' },
  { scenario: 'root device name without /dev/', rule: 'root-device-name', host: bmh('hint-no-dev', { rootDeviceHints: { deviceName: 'sda' } }), message: 'device name of root device hint must be a /dev/ path, not "sda"' },
  { scenario: 'root device by UUID link', rule: 'root-device-name', host: bmh('hint-by-uuid', { rootDeviceHints: { deviceName: '/dev/disk/by-uuid/cdaacd50-3a4c-421c-91c0-fe9ba7b8b2f1' } }), message: 'device name of root device hint must be path in /dev/ or /dev/disk/by-path/, not "/dev/disk/by-uuid/cdaacd50-3a4c-421c-91c0-fe9ba7b8b2f1"' },
  { scenario: 'image URL without a scheme', rule: 'image-url', host: bmh('image-relative', { image: { url: 'test1', checksum: 'abc' } }), message: 'image URL test1 is invalid: parse "test1": invalid URI for request' },
  {
    scenario: 'image URL with a space in the host',
    rule: 'image-url',
    host: bmh('image-space', { image: { url: 'http://exa mple.com/a.qcow2', checksum: SHA256 } }),
    message:
      'image URL http://exa mple.com/a.qcow2 is invalid: ' +
      'parse "http://exa mple.com/a.qcow2": invalid character " " in host name',
  },
  {
    scenario: 'qcow2 image without a checksum',
    rule: 'image-checksum',
    host: bmh('image-no-checksum', { image: { url: 'https://images.example.com/os.qcow2', format: 'qcow2' } }),
    message: 'checksum is required for normal images',
  },
  {
    scenario: 'image without format or checksum',
    rule: 'image-checksum',
    host: bmh('image-bare', { image: { url: 'https://images.example.com/os.img' } }),
    message: 'checksum is required for normal images',
  },
  {
    scenario: 'unknown checksumType',
    rule: 'image-checksum',
    host: bmh('image-sha42', {
      image: { url: 'https://images.example.com/os.img', checksum: SHA256, checksumType: 'SHA42' },
    }),
    message: 'unknown checksumType SHA42, supported are auto, md5, sha256, sha512',
    apiserverMayRefuse: 'checksumType is an enum in the CRD schema',
  },
  {
    scenario: 'oci:// image with a checksum',
    rule: 'image-checksum',
    host: bmh('image-oci-checksum', { image: { url: 'oci://registry.example.com/os/disk:1.0', checksum: SHA256 } }),
    message: 'spec.image.checksum must be empty for OCI images (oci:// images have embedded checksums)',
  },
  {
    scenario: 'empty image URL',
    rule: 'image-url',
    host: bmh('image-empty', { image: { url: '', checksum: SHA256 } }),
    message: 'image URL  is invalid: parse "": empty url',
  },
  { scenario: 'unknown inspectionMode', rule: 'inspection-mode-value', host: bmh('inspect-mode-bogus', { inspectionMode: 'thorough' }), message: "invalid inspectionMode value: thorough, allowed values are 'disabled', 'agent' or 'fast'", apiserverMayRefuse: 'the CRD enum refuses unknown values itself' },
  { scenario: 'inspect annotation disabled but inspectionMode agent', rule: 'inspection-mode-conflict', host: bmh('inspect-conflict', { inspectionMode: 'agent', bootMACAddress: '00:1a:74:74:e5:cb' }, { 'inspect.metal3.io': 'disabled' }), message: 'inspect.metal3.io annotation and inspectionMode field have contradicting values' },
  { scenario: 'fast inspection on IPMI', rule: 'inspection-fast-driver', host: bmh('fast-ipmi', { ...bmc(IPMI), inspectionMode: 'fast' }), message: 'BMC driver ipmi does not support out-of-band inspection, which inspectionMode "fast" requires', apiserverMayRefuse: 'inspectionMode "fast" is a v0.14 value' },
  { scenario: 'disablePowerOff with online false', rule: 'power-off-disabled', host: bmh('power-off-disabled', { online: false, disablePowerOff: true }), message: "node can't simultaneously have online set to false and have power off disabled" },
  { scenario: 'network interface with name and MAC', rule: 'network-interface-identity', host: bmh('nic-both', { networkInterfaces: [{ name: 'eth0', macAddress: '00:1a:74:74:e5:cb' }] }), message: 'networkInterfaces[0]: exactly one of name or macAddress must be set', apiserverMayRefuse: 'networkInterfaces is a v0.14 field' },
  { scenario: 'network interface with neither name nor MAC', rule: 'network-interface-identity', host: bmh('nic-none', { networkInterfaces: [{ hostNetworkAttachment: { name: 'access-100' } }] }), message: 'networkInterfaces[0]: exactly one of name or macAddress must be set', apiserverMayRefuse: 'networkInterfaces is a v0.14 field' },
  { scenario: 'network interface with a bad MAC', rule: 'network-interface-mac', host: bmh('nic-bad-mac', { networkInterfaces: [{ macAddress: '00:1a:74' }] }), message: 'networkInterfaces[0].macAddress: address 00:1a:74: invalid MAC address', apiserverMayRefuse: 'networkInterfaces is a v0.14 field' },
  { scenario: 'network interfaces repeating a MAC', rule: 'network-interface-duplicate', host: bmh('nic-dup', { networkInterfaces: [{ macAddress: '00:1a:74:74:e5:cb' }, { macAddress: '00:1A:74:74:E5:CB' }] }), message: 'networkInterfaces[1]: macAddress "00:1A:74:74:E5:CB" is already used by networkInterfaces[0]', apiserverMayRefuse: 'networkInterfaces is a v0.14 field' },
  { scenario: 'status annotation that is not JSON', rule: 'annotation-status', host: bmh('status-not-json', {}, { 'baremetalhost.metal3.io/status': '{not json' }), message: 'error decoding status annotation: ' },
  { scenario: 'status annotation with an unknown field', rule: 'annotation-status', host: bmh('status-unknown-field', {}, { 'baremetalhost.metal3.io/status': '{"operationalStatus":"OK","colour":"blue"}' }), message: 'error decoding status annotation: json: unknown field "colour"' },
  { scenario: 'status annotation with a bad operationalStatus', rule: 'annotation-status-values', host: bmh('status-bad-opstatus', {}, { 'baremetalhost.metal3.io/status': '{"operationalStatus":"healthy"}' }), message: "invalid operationalStatus 'healthy' in the baremetalhost.metal3.io/status annotation" },
  { scenario: 'status annotation with a bad errorType', rule: 'annotation-status-values', host: bmh('status-bad-errortype', {}, { 'baremetalhost.metal3.io/status': '{"operationalStatus":"error","errorType":"melted"}' }), message: "invalid errorType 'melted' in the baremetalhost.metal3.io/status annotation" },
  { scenario: 'reboot annotation with an unknown mode', rule: 'annotation-reboot', host: bmh('reboot-bad-mode', {}, { 'reboot.metal3.io': '{"mode":"gentle"}' }), message: 'invalid mode in the reboot.metal3.io annotation, allowed are "hard", "soft" or ""' },
  { scenario: 'keyed reboot annotation that is not JSON', rule: 'annotation-reboot', host: bmh('reboot-keyed-not-json', {}, { 'reboot.metal3.io/remediation': 'hard' }), message: 'failed to unmarshal the data from the reboot.metal3.io annotation: ' },
  { scenario: 'inspect annotation with an unknown value', rule: 'annotation-inspect', host: bmh('inspect-bad-value', {}, { 'inspect.metal3.io': 'now' }), message: 'invalid value for the inspect.metal3.io annotation, allowed are "disabled" or ""' },
  { scenario: 'hardware details while inspection is enabled', rule: 'annotation-hardwaredetails-inspection', host: bmh('hwdetails-inspecting', {}, { 'inspect.metal3.io/hardwaredetails': '{"hostname":"h1"}' }), message: 'when hardware details are provided, inspection must be disabled (either via inspect.metal3.io annotation or inspectionMode field)' },
  { scenario: 'hardware details with an unknown field', rule: 'annotation-hardwaredetails', host: bmh('hwdetails-unknown', { bootMACAddress: '00:1a:74:74:e5:cb' }, { 'inspect.metal3.io': 'disabled', 'inspect.metal3.io/hardwaredetails': '{"hostname":"h1","gpus":4}' }), message: 'error decoding the inspect.metal3.io/hardwaredetails annotation: json: unknown field "gpus"' },
  { scenario: 'hardware details with a wrong type', rule: 'annotation-hardwaredetails', host: bmh('hwdetails-type', { bootMACAddress: '00:1a:74:74:e5:cb', inspectionMode: 'disabled' }, { 'inspect.metal3.io/hardwaredetails': '{"ramMebibytes":"lots"}' }), message: 'error decoding the inspect.metal3.io/hardwaredetails annotation: json: cannot unmarshal string into Go struct field v1alpha1.HardwareDetails.ramMebibytes of type number' },
  { scenario: 'detached annotation that is not JSON', rule: 'annotation-detached', host: bmh('detached-not-json', {}, { 'baremetalhost.metal3.io/detached': 'yes please' }), message: 'unable to parse the content of the detached annotation: ' },
  { scenario: 'detached annotation with an unknown deleteAction', rule: 'annotation-detached', host: bmh('detached-bad-action', {}, { 'baremetalhost.metal3.io/detached': '{"deleteAction":"shred"}' }), message: 'invalid deleteAction in the baremetalhost.metal3.io/detached annotation, allowed are "delay", "delete" or ""' },
  {
    scenario: 'BMC address changed on a provisioned host',
    rule: 'update-bmc-address',
    before: { host: bmh('move-bmc'), status: statusOf('provisioned') },
    host: bmh('move-bmc', bmc('redfish-virtualmedia://192.0.2.99/redfish/v1/Systems/1')),
    message: 'BMC address can not be changed if the BMH is not in the Registering state, or if the BMH is not detached',
  },
  {
    scenario: 'BMC address changed while the detach is still pending',
    rule: 'update-bmc-address',
    before: { host: bmh('move-bmc-detaching', {}, { 'baremetalhost.metal3.io/detached': '' }), status: statusOf('provisioned') },
    host: bmh('move-bmc-detaching', bmc('redfish-virtualmedia://192.0.2.99/redfish/v1/Systems/1'), { 'baremetalhost.metal3.io/detached': '' }),
    message: 'the baremetalhost.metal3.io/detached annotation is set but the host is not detached yet',
  },
  {
    scenario: 'bootMACAddress changed',
    rule: 'update-boot-mac',
    before: { host: bmh('move-mac', { bootMACAddress: '00:1a:74:74:e5:cb' }), status: statusOf('registering') },
    host: bmh('move-mac', { bootMACAddress: '00:1a:74:74:e5:cc' }),
    message: 'bootMACAddress can not be changed once it is set',
  },
  {
    scenario: 'externallyProvisioned switched on while provisioned',
    rule: 'update-externally-provisioned',
    before: { host: bmh('ext-prov'), status: statusOf('provisioned') },
    host: bmh('ext-prov', { externallyProvisioned: true }),
    message: 'externallyProvisioned can only be enabled when in Available state, currently in provisioned',
  },
];

/** The namespace tests put hosts in (the cross-namespace rule compares Secret references with it). */
export const ADMITTED_NAMESPACE = 'admission-test';

/** Hosts every rule accepts. */
export const ADMITTED: readonly { scenario: string; host: Manifest; apiserverMayRefuse?: string }[] = [
  { scenario: 'minimal Redfish virtual-media host', host: bmh('ok-minimal') },
  { scenario: 'bare host:port means IPMI', host: bmh('ok-bare-ipmi', bmc('192.0.2.20:623')) },
  { scenario: 'libvirt with bootMACAddress', host: bmh('ok-libvirt', { ...bmc('libvirt://192.0.2.21/'), bootMACAddress: '00:1a:74:74:e5:cb' }) },
  {
    scenario: 'iDRAC with hardware RAID, secure boot, hints and image',
    host: bmh('ok-idrac', {
      ...bmc('idrac-virtualmedia+https://192.0.2.40/redfish/v1/Systems/System.Embedded.1'),
      bootMode: 'UEFISecureBoot',
      rootDeviceHints: { deviceName: '/dev/disk/by-path/pci-0000:01:00.0-scsi-0:2:0:0', minSizeGigabytes: 100 },
      raid: { hardwareRAIDVolumes: [{ level: '1', controller: 'RAID.Integrated.1-1', physicalDisks: ['Disk.Bay.0', 'Disk.Bay.1'], numberOfPhysicalDisks: 2 }] },
      image: { url: 'https://images.example.com/os.qcow2', checksum: 'https://images.example.com/SHA256SUMS', checksumType: 'sha256', format: 'qcow2' },
      userData: { name: 'ud', namespace: ADMITTED_NAMESPACE },
      networkData: { name: 'nd' },
    }),
  },
  { scenario: 'software RAID on IPMI', host: bmh('ok-sw-raid', { ...bmc(IPMI), raid: { softwareRAIDVolumes: [{ level: '1', physicalDisks: [{ deviceName: '/dev/sda' }, { deviceName: '/dev/sdb' }] }, { level: '0' }] } }) },
  { scenario: 'live ISO from an OCI registry', host: bmh('ok-oci', { image: { url: 'oci://registry.example.com/os/live:1.0', format: 'live-iso' } }) },
  {
    scenario: 'live ISO over http without a checksum',
    host: bmh('ok-live-iso', { image: { url: 'http://images.example.com/live.iso', format: 'live-iso' } }),
  },
  {
    scenario: 'raw image with an md5 digest and no checksumType',
    host: bmh('ok-md5', {
      image: { url: 'http://images.example.com/os.raw', checksum: 'd41d8cd98f00b204e9800998ecf8427e', format: 'raw' },
    }),
  },
  {
    scenario: 'oci:// disk image without a checksum',
    host: bmh('ok-oci-disk', { image: { url: 'oci://registry.example.com/os/disk:1.0' } }),
  },
  { scenario: 'disablePowerOff with online true', host: bmh('ok-power', { disablePowerOff: true }) },
  {
    scenario: 'every annotation with a valid value',
    host: bmh('ok-annotations', { bootMACAddress: '00:1a:74:74:e5:cb' }, {
      'baremetalhost.metal3.io/status': '{"operationalStatus":"OK","errorType":"","errorMessage":"","errorCount":0,"poweredOn":true,"provisioning":{"state":"provisioned","ID":"x","image":{"url":"http://i/os.img"}},"hardware":{"hostname":"h1"}}',
      'reboot.metal3.io': '',
      'reboot.metal3.io/capm3-remediation': '{"mode":"hard","force":true}',
      'inspect.metal3.io': 'disabled',
      'inspect.metal3.io/hardwaredetails': '{"systemVendor":{"manufacturer":"QEMU"},"ramMebibytes":4096,"nics":[{"name":"eth0","mac":"00:b7:8b:bb:3d:f6","pxe":true}],"storage":[{"name":"/dev/sda","sizeBytes":53687091200}],"cpu":{"arch":"x86_64","count":4},"hostname":"h1"}',
      'baremetalhost.metal3.io/detached': '{"deleteAction":"delay"}',
      'baremetalhost.metal3.io/paused': 'anything',
    }),
  },
  { scenario: 'fast inspection on Redfish', host: bmh('ok-fast', { inspectionMode: 'fast' }), apiserverMayRefuse: 'inspectionMode "fast" is a v0.14 value' },
  {
    scenario: 'network interfaces by name and by MAC',
    host: bmh('ok-nics', { networkInterfaces: [{ name: 'eth0' }, { macAddress: '00:1a:74:74:e5:cb', switchPort: { switchID: '00:1a:74:74:e5:00', portID: 'Gi1/0/1' } }] }),
    apiserverMayRefuse: 'networkInterfaces is a v0.14 field',
  },
];
