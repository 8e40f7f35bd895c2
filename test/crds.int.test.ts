/**
 * Our generated CRDs against upstream Metal3 v0.13.2's, on real kube-apiservers: the stack's apiserver serves
 * `deploy/crds/`, a second one started here serves the upstream fixtures. Every upstream sample and a table of
 * valid and invalid objects must get the same verdict, the same error text and the same stored object from
 * both; each accepted object must parse with our zod schema and survive the round trip unchanged.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { z } from 'zod';
import { METAL3_CRDS } from '../domain/metal3.schema.ts';
import { renderCrds } from '../deploy/generate-crds.ts';
import { startKube, type KubeApi } from '../stack/kube.ts';
import { kubectlOutcome } from './kubectl.ts';
import { sharedStack } from './stack-info.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/metal3/', import.meta.url));
const UPSTREAM_CRDS = join(FIXTURES, 'crds');
const SAMPLES = join(FIXTURES, 'samples');

type Json = Record<string, unknown>;
interface Outcome {
  ok: boolean;
  stdout: string;
  stderr: string;
}
interface Server {
  name: 'ours' | 'upstream';
  kubectl(args: string[], input?: string): Promise<Outcome>;
}

function kubectlFor(name: Server['name'], kubectl: string, kubeconfig: string): Server {
  return {
    name,
    kubectl: async (args, input) => {
      const { code, stdout, stderr } = await kubectlOutcome({ kubectl, kubeconfig }, args, input);
      return { ok: code === 0, stdout, stderr: stderr.trim() };
    },
  };
}

const stack = sharedStack();
const ours = kubectlFor('ours', stack.kube.kubectl, stack.kube.kubeconfig);
let upstreamKube: KubeApi | undefined;
let upstream: Server;
const namespace = `crds-${Date.now().toString(36)}`;

const schemaByKind = new Map<string, z.ZodType>(METAL3_CRDS.map((c) => [c.kind, c.schema]));
const pluralByKind = new Map(METAL3_CRDS.map((c) => [c.kind, c.plural]));

async function onBoth(args: string[], input?: string): Promise<{ ours: Outcome; upstream: Outcome }> {
  const [a, b] = await Promise.all([ours.kubectl(args, input), upstream.kubectl(args, input)]);
  return { ours: a, upstream: b };
}

async function mustOnBoth(args: string[], input?: string): Promise<void> {
  const r = await onBoth(args, input);
  for (const [name, o] of Object.entries(r)) if (!o.ok) throw new Error(`${name}: kubectl ${args.join(' ')}: ${o.stderr}`);
}

/** The JSON objects kubectl printed one after another (`-o json` with several objects). */
function jsonObjects(text: string): Json[] {
  const out: Json[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{' && depth++ === 0) start = i;
    else if (ch === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)) as Json);
  }
  return out;
}

/** What the apiserver returned, without what differs between any two servers (uid, times, versions). */
function stored(text: string): Json[] {
  return jsonObjects(text).map((o) => {
    const metadata = { ...(o.metadata as Json) };
    for (const k of ['uid', 'creationTimestamp', 'managedFields', 'resourceVersion']) delete metadata[k];
    return { ...o, metadata };
  });
}

/** Our zod schema for a Metal3 object (undefined for other kinds, e.g. the Secrets in samples). */
function zodFor(obj: Json): z.ZodType | undefined {
  return obj.apiVersion === 'metal3.io/v1alpha1' ? schemaByKind.get(String(obj.kind)) : undefined;
}

beforeAll(async () => {
  const stateDir = mkdtempSync(join(stack.stateDir, 'kube-upstream-'));
  upstreamKube = await startKube({ stateDir, crdDirs: [UPSTREAM_CRDS], progress: (m) => process.stderr.write(`[upstream kube] ${m}\n`) });
  upstream = kubectlFor('upstream', upstreamKube.kubectl, upstreamKube.kubeconfig);
  await mustOnBoth(['create', 'namespace', namespace]);
});

afterAll(async () => {
  await upstreamKube?.stop();
});

describe('the stack serves our generated CRDs', () => {
  it('every generated CRD is applied, Established and unchanged from deploy/crds', async () => {
    const out = await ours.kubectl(['get', 'crd', '-o', 'json']);
    expect(out.ok, out.stderr).toBe(true);
    const served = new Map(
      (JSON.parse(out.stdout) as { items: Json[] }).items.map((c) => [String((c.metadata as Json).name), c] as const),
    );
    for (const [file, text] of renderCrds()) {
      const want = parse(text) as Json;
      const name = String((want.metadata as Json).name);
      const crd = served.get(name);
      expect(crd, `${name} (${file}) is not served`).toBeDefined();
      const conditions = ((crd?.status as Json).conditions as { type: string; status: string }[]) ?? [];
      expect(conditions.filter((c) => c.status === 'True').map((c) => c.type), name).toEqual(expect.arrayContaining(['Established', 'NamesAccepted']));
      const version = ((crd?.spec as Json).versions as Json[])[0] as Json;
      const wantVersion = ((want.spec as Json).versions as Json[])[0] as Json;
      expect(version.schema, `${name} differs from deploy/crds/${file}: restart the stack after npm run crds`).toEqual(wantVersion.schema);
    }
  });

  it('discovery lists the same resources, short names, verbs and categories as upstream', async () => {
    const r = await onBoth(['api-resources', '--api-group=metal3.io', '-o', 'wide', '--cached=false']);
    expect(r.ours.ok && r.upstream.ok, `${r.ours.stderr}\n${r.upstream.stderr}`).toBe(true);
    expect(r.ours.stdout.trim().split('\n')).toHaveLength(METAL3_CRDS.length + 1);
    expect(r.ours.stdout).toBe(r.upstream.stdout);
  });

  it('kubectl get -o wide shows the same columns as upstream, by short name', async () => {
    const host = { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name: 'columns', namespace }, spec: { online: true, bmc: { address: 'ipmi://10.0.0.9', credentialsName: 'bmc' }, consumerRef: { name: 'm3m-1' } } };
    await mustOnBoth(['create', '-f', '-'], JSON.stringify(host));
    for (const resource of ['bmh', 'bmhost', 'hd', 'hfs', 'ppimg', 'bes', 'bmcevent']) {
      const r = await onBoth(['get', resource, '-n', namespace, '-o', 'wide']);
      const text = (o: Outcome) => `${o.stdout}${o.stderr}`.replace(/\s+(\d+[smhd])+$/gm, ' <age>');
      expect(r.ours.ok, `${resource}: ${r.ours.stderr}`).toBe(r.upstream.ok);
      expect(text(r.ours), resource).toBe(text(r.upstream));
    }
    const header = (await ours.kubectl(['get', 'bmh', '-n', namespace, '-o', 'wide'])).stdout.split('\n')[0];
    expect(header?.split(/\s+/)).toEqual(['NAME', 'STATUS', 'STATE', 'CONSUMER', 'BMC', 'ONLINE', 'ERROR', 'AGE']);
  });
});

// Upstream's samples are not all valid against upstream's own CRDs; these are upstream's verdicts, which
// ours must reproduce exactly. `strict` is kubectl's default field validation, `ignore` prunes unknown fields.
const SAMPLE_VERDICTS: { file: string; strict: 'accept' | 'reject'; ignore: 'accept' | 'reject'; why?: string }[] = [
  { file: 'example-host.yaml', strict: 'accept', ignore: 'accept' },
  { file: 'worker-0.yaml', strict: 'accept', ignore: 'accept' },
  { file: 'metal3.io_v1alpha1_baremetalhost.yaml', strict: 'reject', ignore: 'reject', why: 'placeholder spec.foo, and spec.online is required' },
  { file: 'metal3.io_v1alpha1_dataimage.yaml', strict: 'accept', ignore: 'accept' },
  { file: 'metal3.io_v1alpha1_firmwareschema.yaml', strict: 'reject', ignore: 'accept', why: 'FirmwareSchema has no status field' },
  { file: 'metal3.io_v1alpha1_hostclaim.yaml', strict: 'accept', ignore: 'accept' },
  { file: 'metal3.io_v1alpha1_hostdeploypolicy.yaml', strict: 'accept', ignore: 'accept' },
  { file: 'metal3.io_v1alpha1_hostfirmwarecomponents.yaml', strict: 'reject', ignore: 'reject', why: 'updates use name instead of the required component' },
  { file: 'metal3.io_v1alpha1_hostfirmwaresettings.yaml', strict: 'reject', ignore: 'reject', why: 'settings is a list, the CRD wants a map' },
  { file: 'metal3.io_v1alpha1_preprovisioningimage.yaml', strict: 'reject', ignore: 'accept', why: 'placeholder spec.foo' },
];

describe('upstream samples', () => {
  it('the verdict table covers every sample file', () => {
    expect(SAMPLE_VERDICTS.map((s) => s.file).sort()).toEqual(readdirSync(SAMPLES).filter((f) => f.endsWith('.yaml')).sort());
  });

  const rows = SAMPLE_VERDICTS.flatMap((s) => (['strict', 'ignore'] as const).map((validate) => ({ ...s, validate, verdict: s[validate] })));
  it.each(rows)('$file with --validate=$validate: $verdict on both', async ({ file, validate, verdict }) => {
    const manifest = readFileSync(join(SAMPLES, file), 'utf8');
    const r = await onBoth(['create', '--dry-run=server', `--validate=${validate}`, '-n', namespace, '-o', 'json', '-f', '-'], manifest);
    expect(r.ours.ok, r.ours.stderr).toBe(verdict === 'accept');
    expect(r.upstream.ok, r.upstream.stderr).toBe(verdict === 'accept');
    expect(r.ours.stderr).toBe(r.upstream.stderr);
    if (verdict === 'accept') {
      const got = stored(r.ours.stdout);
      expect(got).toEqual(stored(r.upstream.stdout));
      expect(got.length).toBe(manifest.split(/^---$/m).filter((d) => /\bkind:/.test(d)).length);
      for (const obj of got) {
        const schema = zodFor(obj);
        if (schema) expect(schema.parse(obj)).toEqual(obj);
      }
    }
  });
});

interface Case {
  name: string;
  kind: string;
  spec?: Json | null;
  /** Extra top-level fields besides spec (e.g. a stray field). */
  extra?: Json;
  /** When set, the object is created with `spec`, then this status is merge-patched through /status. */
  status?: Json;
  validate?: 'strict' | 'ignore';
  expect: 'accept' | 'reject';
  /** For rejections: what the apiserver's message must say. */
  says?: RegExp;
  /** Where our zod schema is deliberately more tolerant than the apiserver, and why. */
  zodTolerates?: string;
}

const host = { online: true, bmc: { address: 'redfish-virtualmedia://10.0.0.1/redfish/v1/Systems/1', credentialsName: 'bmc-secret' } };
const hostStatus = { errorMessage: '', operationalStatus: 'OK', poweredOn: false, provisioning: { ID: 'a1b2', state: 'available' } };
const condition = (type: string, extra: Json = {}) => ({ type, status: 'True', reason: 'Done', message: '', lastTransitionTime: '2026-01-02T03:04:05Z', ...extra });

const CASES: Case[] = [
  // BareMetalHost spec
  { name: 'minimal host', kind: 'BareMetalHost', spec: host, expect: 'accept' },
  { name: 'host without spec', kind: 'BareMetalHost', spec: null, expect: 'accept' },
  { name: 'missing online', kind: 'BareMetalHost', spec: { bmc: host.bmc }, expect: 'reject', says: /spec\.online: Required value/ },
  { name: 'online as a string', kind: 'BareMetalHost', spec: { ...host, online: 'true' }, expect: 'reject', says: /spec\.online/ },
  { name: 'bmc without credentialsName', kind: 'BareMetalHost', spec: { online: true, bmc: { address: 'ipmi://10.0.0.1' } }, expect: 'reject', says: /credentialsName: Required/ },
  { name: 'bad bootMACAddress', kind: 'BareMetalHost', spec: { ...host, bootMACAddress: '00:11:22:33:44' }, expect: 'reject', says: /bootMACAddress/ },
  { name: 'bootMACAddress pattern is unanchored', kind: 'BareMetalHost', spec: { ...host, bootMACAddress: 'nic 00:11:22:33:44:55 eth0' }, expect: 'accept' },
  { name: 'automatedCleaningMode defaults to metadata', kind: 'BareMetalHost', spec: { online: false }, expect: 'accept' },
  { name: 'bad automatedCleaningMode', kind: 'BareMetalHost', spec: { ...host, automatedCleaningMode: 'full' }, expect: 'reject', says: /automatedCleaningMode: Unsupported value/ },
  { name: 'bad bootMode', kind: 'BareMetalHost', spec: { ...host, bootMode: 'BIOS' }, expect: 'reject', says: /bootMode: Unsupported value/ },
  { name: 'inspectionMode fast is v0.14', kind: 'BareMetalHost', spec: { ...host, inspectionMode: 'fast' }, expect: 'reject', says: /inspectionMode: Unsupported value/ },
  { name: 'full image', kind: 'BareMetalHost', spec: { ...host, image: { url: 'http://img/x.qcow2', checksum: 'http://img/SHA256SUMS', checksumType: 'sha256', format: 'qcow2' } }, expect: 'accept' },
  { name: 'bad checksumType', kind: 'BareMetalHost', spec: { ...host, image: { url: 'http://img/x.raw', checksumType: 'sha1' } }, expect: 'reject', says: /checksumType: Unsupported value/ },
  { name: 'bad image format', kind: 'BareMetalHost', spec: { ...host, image: { url: 'http://img/x.iso', format: 'iso' } }, expect: 'reject', says: /format: Unsupported value/ },
  { name: 'image without url', kind: 'BareMetalHost', spec: { ...host, image: { checksum: 'abc' } }, expect: 'reject', says: /image\.url: Required value/ },
  { name: 'customDeploy without method', kind: 'BareMetalHost', spec: { ...host, customDeploy: {} }, expect: 'reject', says: /method: Required value/ },
  { name: 'unknown spec field, strict', kind: 'BareMetalHost', spec: { ...host, bogus: 1 }, expect: 'reject', says: /unknown field "spec\.bogus"/, zodTolerates: 'unknown fields are dropped, never an error' },
  { name: 'unknown spec field, pruned', kind: 'BareMetalHost', spec: { ...host, bogus: 1 }, validate: 'ignore', expect: 'accept' },
  { name: 'unknown field in consumerRef', kind: 'BareMetalHost', spec: { ...host, consumerRef: { name: 'm', kind: 'Metal3Machine', extra: 'x' } }, expect: 'reject', says: /unknown field "spec\.consumerRef\.extra"/, zodTolerates: 'unknown fields are dropped' },
  { name: 'hardware RAID 1+0 with a named volume', kind: 'BareMetalHost', spec: { ...host, raid: { hardwareRAIDVolumes: [{ level: '1+0', name: 'root', numberOfPhysicalDisks: 4, sizeGibibytes: 0 }] } }, expect: 'accept' },
  { name: 'hardware RAID level 10', kind: 'BareMetalHost', spec: { ...host, raid: { hardwareRAIDVolumes: [{ level: '10' }] } }, expect: 'reject', says: /level: Unsupported value/ },
  { name: 'RAID volume name of 65 characters', kind: 'BareMetalHost', spec: { ...host, raid: { hardwareRAIDVolumes: [{ level: '1', name: 'v'.repeat(65) }] } }, expect: 'reject', says: /name: Too long/ },
  { name: 'RAID volume name of 64 non-ASCII characters', kind: 'BareMetalHost', spec: { ...host, raid: { hardwareRAIDVolumes: [{ level: '1', name: '𝕧'.repeat(64) }] } }, expect: 'accept' },
  { name: 'numberOfPhysicalDisks 0', kind: 'BareMetalHost', spec: { ...host, raid: { hardwareRAIDVolumes: [{ level: '0', numberOfPhysicalDisks: 0 }] } }, expect: 'reject', says: /numberOfPhysicalDisks: Invalid value/ },
  { name: 'hardwareRAIDVolumes null', kind: 'BareMetalHost', spec: { ...host, raid: { hardwareRAIDVolumes: null, softwareRAIDVolumes: null } }, expect: 'accept' },
  { name: 'three software RAID volumes', kind: 'BareMetalHost', spec: { ...host, raid: { softwareRAIDVolumes: [{ level: '1' }, { level: '0' }, { level: '0' }] } }, expect: 'reject', says: /softwareRAIDVolumes: Too many/ },
  { name: 'software RAID on one disk', kind: 'BareMetalHost', spec: { ...host, raid: { softwareRAIDVolumes: [{ level: '1', physicalDisks: [{ deviceName: '/dev/sda' }] }] } }, expect: 'reject', says: /physicalDisks/ },
  { name: 'negative minSizeGigabytes', kind: 'BareMetalHost', spec: { ...host, rootDeviceHints: { minSizeGigabytes: -1 } }, expect: 'reject', says: /minSizeGigabytes: Invalid value/ },
  { name: 'fractional minSizeGigabytes', kind: 'BareMetalHost', spec: { ...host, rootDeviceHints: { minSizeGigabytes: 1.5 } }, expect: 'reject', says: /minSizeGigabytes/ },
  { name: 'deprecated firmware switches', kind: 'BareMetalHost', spec: { ...host, firmware: { sriovEnabled: true, virtualizationEnabled: false } }, expect: 'accept' },
  { name: 'firmware switch as a string', kind: 'BareMetalHost', spec: { ...host, firmware: { sriovEnabled: 'yes' } }, expect: 'reject', says: /sriovEnabled/ },
  { name: 'taint with a timestamp', kind: 'BareMetalHost', spec: { ...host, taints: [{ key: 'k', effect: 'NoSchedule', timeAdded: '2026-01-02T03:04:05.5+01:00' }] }, expect: 'accept' },
  { name: 'taint with a bad timestamp', kind: 'BareMetalHost', spec: { ...host, taints: [{ key: 'k', effect: 'NoSchedule', timeAdded: 'yesterday' }] }, expect: 'reject', says: /must be of type date-time/, zodTolerates: 'timestamps stay strings; the apiserver checks their format' },
  { name: 'taint without effect', kind: 'BareMetalHost', spec: { ...host, taints: [{ key: 'k' }] }, expect: 'reject', says: /effect: Required value/ },
  // BareMetalHost status (through the status subresource)
  { name: 'status: minimal, errorCount defaulted', kind: 'BareMetalHost', spec: host, status: hostStatus, expect: 'accept' },
  { name: 'status: empty operationalStatus', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, operationalStatus: '' }, expect: 'accept' },
  { name: 'status: every field', kind: 'BareMetalHost', spec: host, status: {
    ...hostStatus, errorType: 'provisioning error', errorCount: 3, lastUpdated: '2026-01-02T03:04:05Z', hardwareProfile: 'unknown',
    goodCredentials: { credentials: { name: 'bmc-secret', namespace: 'ns' }, credentialsVersion: '42' },
    triedCredentials: { credentials: { name: 'bmc-secret', namespace: 'ns' }, credentialsVersion: '43' },
    operationHistory: { register: { start: '2026-01-02T03:04:05Z', end: null }, inspect: { start: null, end: null } },
    provisioning: { ID: 'a1b2', state: 'provisioned', bootMode: 'UEFI', image: { url: 'http://img/x.raw' }, rootDeviceHints: { deviceName: '/dev/sda' }, raid: { hardwareRAIDVolumes: null }, firmware: { sriovEnabled: true }, customDeploy: { method: 'install' } },
    hardware: { cpu: { arch: 'x86_64', clockMegahertz: 2400.5, count: 32, flags: ['vmx'], model: 'Xeon' }, ramMebibytes: 131072, hostname: 'h1',
      nics: [{ name: 'eth0', mac: '00:11:22:33:44:55', ip: '10.0.0.5', speedGbps: 25, pxe: true, vlanId: 0, vlans: [{ id: 4094, name: 'v' }], lldp: { switchID: 's', portID: 'p' } }],
      storage: [{ name: '/dev/sda', sizeBytes: 2 ** 53 + 2, type: 'NVME', rotational: false, alternateNames: ['/dev/disk/by-id/x'] }],
      firmware: { bios: { vendor: 'v', version: '1', date: '2020' } }, systemVendor: { manufacturer: 'm', productName: 'p', serialNumber: 's' } },
    conditions: [condition('Manageable'), condition('Provisioned', { observedGeneration: 2 })],
  }, expect: 'accept' },
  { name: 'status: errorType detach error is not in the enum', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, errorType: 'detach error' }, expect: 'reject', says: /errorType: Unsupported value/ },
  { name: 'status: empty errorType', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, errorType: '' }, expect: 'reject', says: /errorType: Unsupported value: ""/ },
  { name: 'status: missing errorMessage', kind: 'BareMetalHost', spec: host, status: { operationalStatus: 'OK', poweredOn: false, provisioning: { ID: '', state: '' } }, expect: 'reject', says: /errorMessage: Required value/ },
  { name: 'status: provisioning without ID', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, provisioning: { state: 'available' } }, expect: 'reject', says: /provisioning\.ID: Required value/ },
  { name: 'status: bad operationalStatus', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, operationalStatus: 'ok' }, expect: 'reject', says: /operationalStatus: Unsupported value/ },
  { name: 'status: duplicate condition type', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, conditions: [condition('Ready'), condition('Ready')] }, expect: 'reject', says: /Duplicate value/, zodTolerates: 'list-map key uniqueness is left to the apiserver' },
  { name: 'status: condition reason with a space', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, conditions: [condition('Ready', { reason: 'not ok' })] }, expect: 'reject', says: /reason: Invalid value/ },
  { name: 'status: condition without lastTransitionTime', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, conditions: [{ type: 'Ready', status: 'True', reason: 'Done', message: '' }] }, expect: 'reject', says: /lastTransitionTime: Required value/ },
  { name: 'status: 33 conditions', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, conditions: Array.from({ length: 33 }, (_, i) => condition(`C${i}`)) }, expect: 'reject', says: /conditions: Too many/ },
  { name: 'status: nic vlanId 4095', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, hardware: { nics: [{ vlanId: 4095 }] } }, expect: 'reject', says: /vlanId: Invalid value/ },
  { name: 'status: storage type TAPE', kind: 'BareMetalHost', spec: host, status: { ...hostStatus, hardware: { storage: [{ type: 'TAPE' }] } }, expect: 'reject', says: /type: Unsupported value/ },
  // Companions
  { name: 'HardwareData with a NIC and a disk', kind: 'HardwareData', spec: { hardware: { nics: [{ mac: 'aa:bb:cc:dd:ee:ff' }], storage: [{ type: 'SSD', sizeBytes: 480103981056 }] } }, expect: 'accept' },
  { name: 'HardwareData with a bad MAC', kind: 'HardwareData', spec: { hardware: { nics: [{ mac: 'aa-bb-cc-dd-ee-ff' }] } }, expect: 'reject', says: /mac: Invalid value/ },
  { name: 'HostFirmwareSettings with ints and strings', kind: 'HostFirmwareSettings', spec: { settings: { ProcVirtualization: 'Enabled', NetworkBootRetryCount: 20 } }, expect: 'accept' },
  { name: 'HostFirmwareSettings with a boolean', kind: 'HostFirmwareSettings', spec: { settings: { SRIOV: true } }, expect: 'reject', says: /settings\.SRIOV/ },
  { name: 'HostFirmwareSettings with a fraction', kind: 'HostFirmwareSettings', spec: { settings: { Ratio: 1.5 } }, expect: 'reject', says: /settings\.Ratio/ },
  { name: 'HostFirmwareSettings without settings', kind: 'HostFirmwareSettings', spec: {}, expect: 'reject', says: /spec\.settings: Required value/ },
  { name: 'HostFirmwareSettings status', kind: 'HostFirmwareSettings', spec: { settings: {} }, status: { settings: { SRIOV: 'Enabled' }, schema: { name: 'schema-1', namespace: 'ns' }, lastUpdated: '2026-01-02T03:04:05Z', conditions: [condition('Valid')] }, expect: 'accept' },
  { name: 'HostFirmwareSettings status schema without namespace', kind: 'HostFirmwareSettings', spec: { settings: {} }, status: { settings: {}, schema: { name: 'schema-1' } }, expect: 'reject', says: /schema\.namespace: Required value/ },
  { name: 'FirmwareSchema', kind: 'FirmwareSchema', spec: { hardwareVendor: 'V', hardwareModel: 'M', schema: { ProcCPUCores: { attribute_type: 'Integer', lower_bound: 1, upper_bound: 100, read_only: true }, SRIOV: { attribute_type: 'Enumeration', allowable_values: ['Enabled', 'Disabled'] } } }, expect: 'accept' },
  { name: 'FirmwareSchema attribute type Float', kind: 'FirmwareSchema', spec: { schema: { X: { attribute_type: 'Float' } } }, expect: 'reject', says: /attribute_type: Unsupported value/ },
  { name: 'FirmwareSchema without schema', kind: 'FirmwareSchema', spec: { hardwareVendor: 'V' }, expect: 'reject', says: /spec\.schema: Required value/ },
  { name: 'HostFirmwareComponents', kind: 'HostFirmwareComponents', spec: { updates: [{ component: 'bmc', url: 'https://fw/bmc.bin' }] }, expect: 'accept' },
  { name: 'HostFirmwareComponents update without url', kind: 'HostFirmwareComponents', spec: { updates: [{ component: 'bios' }] }, expect: 'reject', says: /url: Required value/ },
  { name: 'HostFirmwareComponents status without initialVersion', kind: 'HostFirmwareComponents', spec: { updates: [] }, status: { components: [{ component: 'bios', currentVersion: '2' }] }, expect: 'reject', says: /initialVersion: Required value/ },
  { name: 'HostUpdatePolicy', kind: 'HostUpdatePolicy', spec: { firmwareSettings: 'onReboot', firmwareUpdates: 'onPreparing' }, expect: 'accept' },
  { name: 'HostUpdatePolicy onBoot', kind: 'HostUpdatePolicy', spec: { firmwareSettings: 'onBoot' }, expect: 'reject', says: /firmwareSettings: Unsupported value/ },
  { name: 'HostUpdatePolicy with status content, pruned', kind: 'HostUpdatePolicy', spec: {}, extra: { status: { anything: 1 } }, validate: 'ignore', expect: 'accept' },
  { name: 'PreprovisioningImage', kind: 'PreprovisioningImage', spec: { acceptFormats: ['iso', 'initrd'], architecture: 'x86_64', networkDataName: 'nd' }, expect: 'accept' },
  { name: 'PreprovisioningImage format qcow2', kind: 'PreprovisioningImage', spec: { acceptFormats: ['iso', 'qcow2'] }, expect: 'reject', says: /acceptFormats\[1\]: Unsupported value/ },
  { name: 'PreprovisioningImage status format', kind: 'PreprovisioningImage', spec: {}, status: { format: 'vmdk' }, expect: 'reject', says: /format: Unsupported value/ },
  { name: 'DataImage without url', kind: 'DataImage', spec: {}, expect: 'reject', says: /spec\.url: Required value/ },
  { name: 'DataImage status error without count', kind: 'DataImage', spec: { url: 'http://x/y.iso' }, status: { error: { message: 'boom' } }, expect: 'reject', says: /error\.count: Required value/ },
  { name: 'BMCEventSubscription', kind: 'BMCEventSubscription', spec: { hostName: 'h1', destination: 'https://hook', context: 'c', httpHeadersRef: { name: 'hdrs', namespace: 'ns' } }, expect: 'accept' },
  { name: 'HostClaim', kind: 'HostClaim', spec: { poweredOn: true, image: { url: 'http://img/x.raw', format: 'raw' }, hostSelector: { inNamespace: 'infra', matchLabels: { rack: 'r1' }, matchExpressions: [{ key: 'k', operator: 'In', values: ['a'] }] } }, expect: 'accept' },
  { name: 'HostClaim without poweredOn', kind: 'HostClaim', spec: { failureDomain: 'fd1' }, expect: 'reject', says: /poweredOn: Required value/ },
  { name: 'HostClaim selector requirement without values', kind: 'HostClaim', spec: { poweredOn: false, hostSelector: { matchExpressions: [{ key: 'k', operator: 'Exists' }] } }, expect: 'reject', says: /values: Required value/ },
  { name: 'HostClaim status conditions may repeat a type', kind: 'HostClaim', spec: { poweredOn: false }, status: { conditions: [condition('Associated'), condition('Associated')] }, expect: 'accept' },
  { name: 'HostDeployPolicy label without name', kind: 'HostDeployPolicy', spec: { hostClaimNamespaces: { hasLabels: [{ value: 'x' }] } }, expect: 'reject', says: /name: Required value/ },
];

describe('valid and invalid objects: same verdict as upstream', () => {
  it('the table is broad: at least 20 cases, every kind, both verdicts', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(20);
    expect(new Set(CASES.map((c) => c.kind))).toEqual(new Set(METAL3_CRDS.map((c) => c.kind)));
    expect(new Set(CASES.map((c) => c.expect))).toEqual(new Set(['accept', 'reject']));
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c, i) => ({ ...c, index: i })))('$kind: $name → $expect', async (c) => {
    const name = `case-${c.index}`;
    const manifest: Json = { apiVersion: 'metal3.io/v1alpha1', kind: c.kind, metadata: { name, namespace }, ...(c.spec === null ? {} : { spec: c.spec }), ...c.extra };
    let r: { ours: Outcome; upstream: Outcome };
    let candidate: Json = manifest;
    if (c.status) {
      await mustOnBoth(['create', '-f', '-'], JSON.stringify(manifest));
      const resource = `${pluralByKind.get(c.kind)}.metal3.io`;
      r = await onBoth(['patch', resource, name, '-n', namespace, '--subresource=status', '--type=merge', '--dry-run=server', '-o', 'json', '-p', JSON.stringify({ status: c.status })]);
      candidate = { ...manifest, status: c.status };
    } else {
      r = await onBoth(['create', '--dry-run=server', `--validate=${c.validate ?? 'strict'}`, '-o', 'json', '-f', '-'], JSON.stringify(manifest));
    }
    // Same verdict, same words, on both servers, and the one the table expects.
    expect(r.ours.ok, `ours: ${r.ours.stderr}`).toBe(c.expect === 'accept');
    expect(r.upstream.ok, `upstream: ${r.upstream.stderr}`).toBe(c.expect === 'accept');
    expect(r.ours.stderr).toBe(r.upstream.stderr);
    const schema = schemaByKind.get(c.kind) as z.ZodType;
    if (c.expect === 'accept') {
      const [got, ...more] = stored(r.ours.stdout);
      expect(more).toEqual([]);
      expect([got]).toEqual(stored(r.upstream.stdout));
      // Tolerant and complete: what the apiserver stores parses, and nothing is lost or added.
      expect(schema.parse(got)).toEqual(got);
    } else {
      expect(r.ours.stderr).toMatch(c.says ?? /./);
      expect(schema.safeParse(candidate).success, c.zodTolerates ?? 'our zod schema should reject this too').toBe(c.zodTolerates !== undefined);
    }
  });
});
