import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { BareMetalHostSchema, HostSpecSchema, HostStatusSchema, type BareMetalHost, type BareMetalHostInput } from './baremetalhost.schema.ts';
import { BmcEventSubscriptionSchema } from './bmc-event-subscription.schema.ts';
import { DataImageSchema } from './data-image.schema.ts';
import { FirmwareSchemaSchema } from './firmware-schema.schema.ts';
import { HardwareDataSchema } from './hardware-data.schema.ts';
import { HostClaimSchema } from './host-claim.schema.ts';
import { HostDeployPolicySchema } from './host-deploy-policy.schema.ts';
import { HostFirmwareComponentsSchema } from './host-firmware-components.schema.ts';
import { HostFirmwareSettingsSchema } from './host-firmware-settings.schema.ts';
import { HostUpdatePolicySchema } from './host-update-policy.schema.ts';
import { ConditionSchema, dateTime, integer, limitedString } from './k8s.schema.ts';
import { METAL3_CRDS } from './metal3.schema.ts';
import { PreprovisioningImageSchema } from './preprovisioning-image.schema.ts';

const T = '2026-01-02T03:04:05Z';
const meta = (name: string) => ({ name, namespace: 'infra', uid: 'u-1', resourceVersion: '7', generation: 2, labels: { rack: 'r1' }, annotations: { 'baremetalhost.metal3.io/paused': '' } });
const typeMeta = (kind: string) => ({ apiVersion: 'metal3.io/v1alpha1', kind });
const condition = (type: string) => ({ type, status: 'True', reason: 'Done', message: 'ok', lastTransitionTime: T, observedGeneration: 2 });
const hardware = {
  cpu: { arch: 'x86_64', model: 'Xeon', clockMegahertz: 2400.5, flags: ['vmx'], count: 64 },
  firmware: { bios: { date: '2020-01-01', vendor: 'V', version: '1.2' } },
  hostname: 'node-1',
  nics: [{ name: 'eth0', model: 'X710', mac: '00:11:22:33:44:55', ip: '10.0.0.5', speedGbps: 25, vlans: [{ id: 100, name: 'prov' }], vlanId: 0, pxe: true, lldp: { switchID: 's', portID: 'p', switchSystemName: 'sw' }, pciAddress: '0000:01:00.0' }],
  ramMebibytes: 262144,
  storage: [{ name: '/dev/nvme0n1', alternateNames: ['/dev/disk/by-id/x'], rotational: false, type: 'NVME', sizeBytes: 3840755982336, vendor: 'v', model: 'm', serialNumber: 's', wwn: 'w', wwnVendorExtension: 'e', wwnWithExtension: 'we', hctl: '0:0:0:0' }],
  systemVendor: { manufacturer: 'Dell', productName: 'R650', serialNumber: 'ABC' },
};
const image = { url: 'http://img/x.raw', checksum: 'http://img/SHA256SUMS', checksumType: 'sha256', format: 'raw', ociAuthSecretName: 'pull' };
const raid = { hardwareRAIDVolumes: [{ level: '1+0', name: 'root', sizeGibibytes: 100, rotational: false, numberOfPhysicalDisks: 4, controller: 'RAID.1', physicalDisks: ['Disk.1', 'Disk.2'] }], softwareRAIDVolumes: null };
const hints = { deviceName: '/dev/sda', hctl: '0:0:0:0', model: 'm', vendor: 'v', serialNumber: 's', minSizeGigabytes: 100, wwn: 'w', wwnWithExtension: 'we', wwnVendorExtension: 'e', rotational: false };
const ref = { name: 'secret', namespace: 'infra' };

/** One object per kind with every field set: parsing it must give it back unchanged. */
const FULL: { kind: string; schema: z.ZodType; object: Record<string, unknown> }[] = [
  {
    kind: 'BareMetalHost',
    schema: BareMetalHostSchema,
    object: {
      ...typeMeta('BareMetalHost'),
      metadata: meta('host-1'),
      spec: {
        architecture: 'x86_64', automatedCleaningMode: 'disabled', bmc: { address: 'idrac-virtualmedia://10.0.0.1/redfish/v1/Systems/System.Embedded.1', credentialsName: 'bmc', disableCertificateVerification: true },
        bootMACAddress: '00:11:22:33:44:55', bootMode: 'UEFISecureBoot', consumerRef: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'Metal3Machine', name: 'm3m', namespace: 'infra', uid: 'u', resourceVersion: '1', fieldPath: 'spec' },
        customDeploy: { method: 'install_coreos' }, description: 'rack 1', disablePowerOff: false, externallyProvisioned: false,
        firmware: { simultaneousMultithreadingEnabled: true, sriovEnabled: false, virtualizationEnabled: true }, hardwareProfile: 'unknown', image, inspectionMode: 'agent',
        metaData: ref, networkData: ref, userData: ref, online: true, preprovisioningNetworkDataName: 'pnd', raid, rootDeviceHints: hints,
        taints: [{ key: 'k', value: 'v', effect: 'NoSchedule', timeAdded: T }],
      },
      status: {
        conditions: [condition('Manageable'), condition('Ready')], errorCount: 2, errorMessage: 'boom', errorType: 'provisioning error',
        goodCredentials: { credentials: ref, credentialsVersion: '1' }, triedCredentials: { credentials: ref, credentialsVersion: '2' },
        hardware, hardwareProfile: 'unknown', lastUpdated: T,
        operationHistory: { register: { start: T, end: T }, inspect: { start: T, end: null }, provision: { start: null, end: null }, deprovision: {} },
        operationalStatus: 'error', poweredOn: true,
        provisioning: { ID: 'uuid', bootMode: 'UEFI', customDeploy: { method: 'm' }, firmware: { sriovEnabled: true }, image, raid, rootDeviceHints: hints, state: 'provisioning' },
      },
    },
  },
  { kind: 'HardwareData', schema: HardwareDataSchema, object: { ...typeMeta('HardwareData'), metadata: meta('host-1'), spec: { hardware } } },
  {
    kind: 'HostFirmwareSettings',
    schema: HostFirmwareSettingsSchema,
    object: { ...typeMeta('HostFirmwareSettings'), metadata: meta('host-1'), spec: { settings: { ProcVirtualization: 'Enabled', BootRetries: 20 } }, status: { settings: { ProcVirtualization: 'Disabled' }, schema: { name: 'schema-1', namespace: 'infra' }, lastUpdated: T, conditions: [condition('Valid'), condition('ChangeDetected')] } },
  },
  {
    kind: 'FirmwareSchema',
    schema: FirmwareSchemaSchema,
    object: { ...typeMeta('FirmwareSchema'), metadata: meta('schema-1'), spec: { hardwareVendor: 'Dell', hardwareModel: 'R650', schema: { ProcCores: { attribute_type: 'Integer', lower_bound: 1, upper_bound: 64, read_only: false, unique: false }, Serial: { attribute_type: 'String', min_length: 0, max_length: 16 }, SRIOV: { attribute_type: 'Enumeration', allowable_values: ['Enabled', 'Disabled'] } } } },
  },
  {
    kind: 'HostFirmwareComponents',
    schema: HostFirmwareComponentsSchema,
    object: { ...typeMeta('HostFirmwareComponents'), metadata: meta('host-1'), spec: { updates: [{ component: 'bios', url: 'https://fw/bios.bin' }] }, status: { components: [{ component: 'bios', initialVersion: '1', currentVersion: '2', lastVersionFlashed: '2', updatedAt: T }], updates: [{ component: 'bios', url: 'https://fw/bios.bin' }], lastUpdated: T, conditions: [condition('Valid')] } },
  },
  { kind: 'HostUpdatePolicy', schema: HostUpdatePolicySchema, object: { ...typeMeta('HostUpdatePolicy'), metadata: meta('host-1'), spec: { firmwareSettings: 'onReboot', firmwareUpdates: 'onPreparing' }, status: {} } },
  {
    kind: 'PreprovisioningImage',
    schema: PreprovisioningImageSchema,
    object: { ...typeMeta('PreprovisioningImage'), metadata: meta('host-1'), spec: { acceptFormats: ['iso', 'initrd'], architecture: 'aarch64', networkDataName: 'nd' }, status: { architecture: 'aarch64', format: 'iso', imageUrl: 'http://i/x.iso', kernelUrl: 'http://i/k', extraKernelParams: 'console=ttyS0', networkData: { name: 'nd', version: '3' }, conditions: [condition('Ready')] } },
  },
  { kind: 'DataImage', schema: DataImageSchema, object: { ...typeMeta('DataImage'), metadata: meta('host-1'), spec: { url: 'http://x/y.iso' }, status: { attachedImage: { url: 'http://x/y.iso' }, error: { count: 1, message: 'm' }, lastReconciled: T } } },
  {
    kind: 'BMCEventSubscription',
    schema: BmcEventSubscriptionSchema,
    object: { ...typeMeta('BMCEventSubscription'), metadata: meta('sub-1'), spec: { hostName: 'host-1', destination: 'https://hook', context: 'ctx', httpHeadersRef: ref }, status: { subscriptionID: 'id', error: '' } },
  },
  {
    kind: 'HostClaim',
    schema: HostClaimSchema,
    object: {
      ...typeMeta('HostClaim'),
      metadata: meta('claim-1'),
      spec: { poweredOn: true, image, customDeploy: { method: 'm' }, userData: ref, networkData: ref, metaData: ref, consumerRef: { kind: 'Metal3Machine', name: 'm' }, failureDomain: 'fd', hostSelector: { inNamespace: 'infra', matchLabels: { a: 'b' }, matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }] } },
      status: { bareMetalHost: { name: 'host-1', namespace: 'infra' }, hardwareData: { name: 'host-1', namespace: 'infra' }, poweredOn: true, lastUpdated: T, conditions: [condition('Associated')] },
    },
  },
  { kind: 'HostDeployPolicy', schema: HostDeployPolicySchema, object: { ...typeMeta('HostDeployPolicy'), metadata: meta('policy'), spec: { hostClaimNamespaces: { names: ['tenant-a'], nameMatches: '^tenant-', hasLabels: [{ name: 'team', value: 'x' }] } }, status: {} } },
];

describe('schema round trips', () => {
  it('cover every kind', () => {
    expect(FULL.map((f) => f.kind).sort()).toEqual(METAL3_CRDS.map((c) => c.kind).sort());
    for (const f of FULL) expect(METAL3_CRDS.find((c) => c.kind === f.kind)?.schema).toBe(f.schema);
  });

  it.each(FULL)('$kind with every field parses back unchanged', ({ schema, object }) => {
    const parsed = schema.parse(object);
    expect(parsed).toEqual(object);
    expect(schema.parse(JSON.parse(JSON.stringify(parsed)))).toEqual(object);
  });
});

describe('tolerant parsing of live objects', () => {
  const live = {
    ...typeMeta('BareMetalHost'),
    metadata: { ...meta('host-1'), managedFields: [{ manager: 'baremetal-operator' }], finalizers: ['baremetalhost.metal3.io'] },
    spec: { online: true, automatedCleaningMode: 'metadata', networkInterfaces: [{ name: 'eth0' }] },
    status: {
      errorCount: 0, errorMessage: '', operationalStatus: 'OK', poweredOn: false, provisioning: { ID: 'x', state: 'ready', progress: '3/5' },
      provisioningFailCount: 1, lastAttemptedImage: { url: 'http://img' },
    },
  };

  it('fields a newer BMO writes are dropped, not an error; metadata is kept whole', () => {
    const host = BareMetalHostSchema.parse(live);
    expect(host.status).toEqual({ errorCount: 0, errorMessage: '', operationalStatus: 'OK', poweredOn: false, provisioning: { ID: 'x', state: 'ready' } });
    expect(host.spec).toEqual({ online: true, automatedCleaningMode: 'metadata' });
    expect(host.metadata).toEqual(live.metadata);
  });

  it('an unknown provisioning state string parses (the CRD does not restrict it)', () => {
    expect(HostStatusSchema.parse({ ...live.status, provisioning: { ID: '', state: 'something new' } }).provisioning.state).toBe('something new');
  });

  it('a host without spec or status parses, as the apiserver accepts it', () => {
    expect(BareMetalHostSchema.parse({ metadata: { name: 'bare' } })).toEqual({ metadata: { name: 'bare' } });
  });

  it('applies the CRD defaults', () => {
    expect(HostSpecSchema.parse({ online: false }).automatedCleaningMode).toBe('metadata');
    expect(HostStatusSchema.parse({ errorMessage: '', operationalStatus: '', poweredOn: false, provisioning: { ID: '', state: '' } }).errorCount).toBe(0);
  });

  it('integers beyond 2^53 (int64 fields) parse; fractions do not', () => {
    expect(integer({ format: 'int64' }).parse(2 ** 60)).toBe(2 ** 60);
    expect(integer().safeParse(1.5).success).toBe(false);
    expect(integer({ minimum: 0 }).safeParse(-1).success).toBe(false);
  });

  it('string lengths count code points, as the apiserver does', () => {
    const name = limitedString({ maxLength: 4 });
    expect(name.safeParse('𝕧𝕧𝕧𝕧').success).toBe(true); // 8 UTF-16 units
    expect(name.safeParse('abcde').success).toBe(false);
    expect(limitedString({ minLength: 1 }).safeParse('').success).toBe(false);
  });

  it('timestamps stay strings as written (the apiserver validates their format)', () => {
    expect(dateTime().parse('2026-01-02T03:04:05.123456+05:30')).toBe('2026-01-02T03:04:05.123456+05:30');
  });

  it("upstream's valid example hosts parse", () => {
    for (const file of ['example-host.yaml', 'worker-0.yaml']) {
      const docs = parseAllDocuments(readFileSync(new URL(`../test/fixtures/metal3/samples/${file}`, import.meta.url), 'utf8')).map((d) => d.toJS() as { kind: string });
      const host = docs.find((d) => d.kind === 'BareMetalHost');
      expect(BareMetalHostSchema.safeParse(host).success, file).toBe(true);
    }
  });
});

describe('what the schemas reject, as the CRDs do', () => {
  const spec = { online: true };
  const status = { errorMessage: '', operationalStatus: 'OK', poweredOn: false, provisioning: { ID: '', state: '' } };
  it.each([
    { scenario: 'missing online', schema: HostSpecSchema, value: {} },
    { scenario: 'online as a string', schema: HostSpecSchema, value: { online: 'true' } },
    { scenario: 'a short MAC', schema: HostSpecSchema, value: { ...spec, bootMACAddress: '00:11:22:33:44' } },
    { scenario: 'checksumType sha1', schema: HostSpecSchema, value: { ...spec, image: { url: 'u', checksumType: 'sha1' } } },
    { scenario: 'image without url', schema: HostSpecSchema, value: { ...spec, image: {} } },
    { scenario: 'inspectionMode fast (v0.14)', schema: HostSpecSchema, value: { ...spec, inspectionMode: 'fast' } },
    { scenario: 'three software RAID volumes', schema: HostSpecSchema, value: { ...spec, raid: { softwareRAIDVolumes: [{ level: '1' }, { level: '1' }, { level: '1' }] } } },
    { scenario: 'a 65-character RAID volume name', schema: HostSpecSchema, value: { ...spec, raid: { hardwareRAIDVolumes: [{ level: '1', name: 'x'.repeat(65) }] } } },
    { scenario: 'errorType "detach error" (not in the CRD enum)', schema: HostStatusSchema, value: { ...status, errorType: 'detach error' } },
    { scenario: 'errorType ""', schema: HostStatusSchema, value: { ...status, errorType: '' } },
    { scenario: 'status without poweredOn', schema: HostStatusSchema, value: { ...status, poweredOn: undefined } },
    { scenario: '33 conditions', schema: HostStatusSchema, value: { ...status, conditions: Array.from({ length: 33 }, (_, i) => condition(`C${i}`)) } },
    { scenario: 'a condition reason with a space', schema: ConditionSchema, value: { ...condition('Ready'), reason: 'not ok' } },
    { scenario: 'a condition type with a space', schema: ConditionSchema, value: condition('Not Ready') },
    { scenario: 'a firmware setting that is a boolean', schema: HostFirmwareSettingsSchema, value: { metadata: { name: 'x' }, spec: { settings: { SRIOV: true } } } },
    { scenario: 'a FirmwareSchema attribute type Float', schema: FirmwareSchemaSchema, value: { metadata: { name: 'x' }, spec: { schema: { X: { attribute_type: 'Float' } } } } },
    { scenario: 'a PreprovisioningImage format qcow2', schema: PreprovisioningImageSchema, value: { metadata: { name: 'x' }, spec: { acceptFormats: ['qcow2'] } } },
    { scenario: 'a HostClaim without poweredOn', schema: HostClaimSchema, value: { metadata: { name: 'x' }, spec: {} } },
    { scenario: 'a vlanId of 4095', schema: HardwareDataSchema, value: { metadata: { name: 'x' }, spec: { hardware: { nics: [{ vlanId: 4095 }] } } } },
  ] as { scenario: string; schema: z.ZodType; value: unknown }[])('rejects $scenario', ({ schema, value }) => {
    expect(schema.safeParse(value).success).toBe(false);
  });
});

// Compile-time: what a user writes (input) may leave out defaulted fields; what parsing gives (output) has them.
const written: BareMetalHostInput = { metadata: { name: 'h' }, spec: { online: true } };
const parsed: BareMetalHost = BareMetalHostSchema.parse(written);
const cleaning: 'metadata' | 'disabled' | undefined = parsed.spec?.automatedCleaningMode;
void cleaning;
