/**
 * The config drive, built from real Secrets in the stack's kube-apiserver with the real xorriso, read back with
 * xorriso's own reader (osirrox) and compared file by file: label `config-2`, Metal3's meta_data keys merged
 * with the metaData Secret, user_data byte for byte, network_data.json from YAML. Every Secret problem has its
 * code and a message that never quotes the Secret's content.
 */
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { HostRef } from '../../domain/host-model.ts';
import { configDriveFromWireForm, configDriveWireForm } from '../../lib/config-drive.ts';
import { isoVolumeId, listIsoFiles, readIsoFile } from '../../lib/iso.ts';
import { imageTools } from '../../stack/binaries.ts';
import { imageFailure } from '../../test/images.ts';
import { buildConfigDrive, kubeSecretReader, type ConfigDriveRequest, type SecretReader } from './index.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedStack } from '../../test/stack-info.ts';

const stack = sharedStack();
const kc = new k8s.KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const namespace = `config-drive-${randomBytes(3).toString('hex')}`;
const host: HostRef = { namespace, name: 'worker-7', uid: '5f0c6a1e-2b1d-4c35-9a5e-7d3c2b1a0f99' };
// Distinctive content, so a test can prove it never reaches a message.
const marker = `secret-marker-${randomBytes(6).toString('hex')}`;
const userData = `#cloud-config\nusers:\n  - name: core\n    passwd: ${marker}\n`;
const networkYaml = [
  'links:',
  '  - id: enp1s0',
  '    type: phy',
  '    ethernet_mac_address: "52:54:00:aa:bb:cc"',
  'networks:',
  '  - id: provisioning',
  '    link: enp1s0',
  '    type: ipv4_dhcp',
  'services: []',
  '',
].join('\n');
let secrets: SecretReader;
let xorriso: string;

async function secret(name: string, data: Record<string, string | Buffer>): Promise<void> {
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    },
  });
}

beforeAll(async () => {
  ({ xorriso } = await imageTools(() => {}));
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await secret('user-data', { userData });
  await secret('user-data-value', { value: '#!/bin/sh\necho from the value key\n' });
  await secret('user-data-binary', { userData: Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe]) });
  await secret('network-data', { networkData: networkYaml });
  await secret('network-data-json', {
    value: JSON.stringify({ links: [{ id: 'eth0', type: 'phy' }], networks: [], services: [] }),
  });
  await secret('network-data-without-key', { other: 'x' });
  await secret('meta-data', {
    metaData: `name: renamed\npublic_keys:\n  default: ssh-ed25519 AAAA ${marker}\navailability_zone: rack-3\n`,
  });
  await secret('no-keys', { other: marker });
  await secret('bad-yaml', { networkData: `links: [\n  - ${marker}: {\n` });
  await secret('list-yaml', { metaData: `- ${marker}\n- b\n` });
  secrets = kubeSecretReader(kc);
}, 120_000);

afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

async function drive(request: Omit<ConfigDriveRequest, 'host'>) {
  return buildConfigDrive({ host, ...request }, { secrets, xorriso });
}

/** Writes the ISO to a file and reads every file back with xorriso's reader. */
async function readBack(iso: Buffer): Promise<{ label: string; files: Record<string, Buffer> }> {
  const path = join(mkdtempSync(join(tmpdir(), 'tempered-cd-read-')), 'config-drive.iso');
  writeFileSync(path, iso);
  const files: Record<string, Buffer> = {};
  for (const file of await listIsoFiles(path, { xorriso }))
    files[file] = (await readIsoFile(path, file, { xorriso })) ?? Buffer.alloc(0);
  return { label: await isoVolumeId(path, { xorriso }), files };
}

const json = (bytes: Buffer | undefined) => JSON.parse(bytes?.toString('utf8') ?? 'null') as unknown;

describe('buildConfigDrive: what the host finds on its config-2 partition', () => {
  it('carries Metal3 meta_data, the user data and the network data from the Secrets', async () => {
    const built = await drive({
      userData: { name: 'user-data' },
      networkData: { name: 'network-data' },
      metaData: { name: 'meta-data' },
    });
    const { label, files } = await readBack(built.iso);
    expect(label).toBe('config-2');
    expect(Object.keys(files).sort()).toEqual([
      '/openstack/2012-08-10/meta_data.json',
      '/openstack/2012-08-10/network_data.json',
      '/openstack/2012-08-10/user_data',
      '/openstack/latest/meta_data.json',
      '/openstack/latest/network_data.json',
      '/openstack/latest/user_data',
    ]);
    expect(built.files.sort()).toEqual(Object.keys(files).sort());
    expect(json(files['/openstack/latest/meta_data.json'])).toEqual({
      uuid: host.uid,
      'metal3-namespace': namespace,
      'metal3-name': 'worker-7',
      'local-hostname': 'worker-7',
      local_hostname: 'worker-7',
      name: 'renamed', // the metaData Secret's keys win over the defaults
      public_keys: { default: `ssh-ed25519 AAAA ${marker}` },
      availability_zone: 'rack-3',
    });
    expect(files['/openstack/latest/user_data']?.toString('utf8')).toBe(userData);
    expect(json(files['/openstack/latest/network_data.json'])).toEqual(parseYaml(networkYaml));
    expect(
      files['/openstack/2012-08-10/meta_data.json']?.equals(
        files['/openstack/latest/meta_data.json'] ?? Buffer.alloc(0),
      ),
    ).toBe(true);
  });

  it('without Secrets: Metal3 meta_data only', async () => {
    const { files } = await readBack((await drive({})).iso);
    expect(Object.keys(files).sort()).toEqual([
      '/openstack/2012-08-10/meta_data.json',
      '/openstack/latest/meta_data.json',
    ]);
    expect(json(files['/openstack/latest/meta_data.json'])).toEqual({
      uuid: host.uid,
      'metal3-namespace': namespace,
      'metal3-name': 'worker-7',
      'local-hostname': 'worker-7',
      local_hostname: 'worker-7',
      name: 'worker-7',
    });
  });

  it("reads the value key when the named key is missing (BMO's fallback), also for JSON network data", async () => {
    const { files } = await readBack(
      (await drive({ userData: { name: 'user-data-value' }, networkData: { name: 'network-data-json', namespace } }))
        .iso,
    );
    expect(files['/openstack/latest/user_data']?.toString('utf8')).toBe('#!/bin/sh\necho from the value key\n');
    expect(json(files['/openstack/latest/network_data.json'])).toEqual({
      links: [{ id: 'eth0', type: 'phy' }],
      networks: [],
      services: [],
    });
  });

  it('keeps binary user data byte for byte', async () => {
    const { files } = await readBack((await drive({ userData: { name: 'user-data-binary' } })).iso);
    expect(files['/openstack/latest/user_data']).toEqual(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe]));
  });

  it('reads preprovisioningNetworkDataName without networkData; a Secret lacking the key: none', async () => {
    const pre = await readBack((await drive({ preprovisioningNetworkDataName: 'network-data' })).iso);
    expect(json(pre.files['/openstack/latest/network_data.json'])).toEqual(parseYaml(networkYaml));
    const none = await readBack((await drive({ networkData: { name: 'network-data-without-key' } })).iso);
    expect(Object.keys(none.files)).not.toContain('/openstack/latest/network_data.json');
  });

  it('is reproducible: the same Secrets make the same bytes', async () => {
    const request = { userData: { name: 'user-data' }, networkData: { name: 'network-data' } };
    expect((await drive(request)).iso.equals((await drive(request)).iso)).toBe(true);
  });

  it('travels to the agent gzipped and base64-encoded, and decodes to the same ISO', async () => {
    const { iso } = await drive({ userData: { name: 'user-data' } });
    const wire = configDriveWireForm(iso);
    expect(wire.startsWith('H4sI')).toBe(true);
    expect(configDriveFromWireForm(wire).equals(iso)).toBe(true);
  });
});

describe('buildConfigDrive: Secret problems, each with its code, none quoting the content', () => {
  const cases: [
    scenario: string,
    request: Omit<ConfigDriveRequest, 'host'>,
    code: string,
    retryable: boolean,
    message: string,
  ][] = [
    [
      'a userData Secret that does not exist',
      { userData: { name: 'nope' } },
      'HostConfigDataMissing',
      true,
      `the userData Secret ${namespace}/nope does not exist; create it or fix spec.userData`,
    ],
    [
      'a metaData Secret that does not exist',
      { metaData: { name: 'nope' } },
      'HostConfigDataMissing',
      true,
      `the metaData Secret ${namespace}/nope does not exist`,
    ],
    [
      'a userData Secret without userData or value',
      { userData: { name: 'no-keys' } },
      'HostConfigDataInvalid',
      false,
      'Secret no-keys does not contain key userData (nor value)',
    ],
    [
      'a metaData Secret without metaData or value',
      { metaData: { name: 'no-keys' } },
      'HostConfigDataInvalid',
      false,
      'Secret no-keys does not contain key metaData (nor value)',
    ],
    [
      'network data that is not YAML',
      { networkData: { name: 'bad-yaml' } },
      'HostConfigDataInvalid',
      false,
      'the networkData Secret bad-yaml is not valid YAML or JSON (line',
    ],
    [
      'meta data that is a list',
      { metaData: { name: 'list-yaml' } },
      'HostConfigDataInvalid',
      false,
      'the metaData Secret list-yaml must be a YAML or JSON mapping, not a list',
    ],
    [
      'a Secret in another namespace',
      { userData: { name: 'user-data', namespace: 'other' } },
      'HostConfigDataInvalid',
      false,
      `userData secret must be in same namespace as host ${namespace}/worker-7`,
    ],
  ];
  it.each(cases)('%s', async (_, request, code, retryable, message) => {
    const err = await imageFailure(drive(request));
    expect(err).toMatchObject({ code, retryable });
    expect(err.message).toContain(message);
    expect(err.message).not.toContain(marker);
  });
});
