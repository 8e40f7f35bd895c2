/**
 * cloud-init's first boot from a config drive, with the real kubeadm bootstrap provider's user data
 * (test/fixtures/cabpk) and the metadata BMO writes (uuid, name, local-hostname, metal3-*).
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DatasourceError, instanceData, jinjaVariables, planFirstBoot, readConfigDriveFiles } from './cloud-init.ts';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/cabpk/${name}`, import.meta.url), 'utf8');
const UID = '6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b';
const metaData = {
  uuid: UID,
  name: 'worker-0',
  'local-hostname': 'worker-0',
  local_hostname: 'worker-0',
  'metal3-name': 'worker-0',
  'metal3-namespace': 'capi',
};
const facts = { configDriveDevice: '/dev/sda2' };

describe('planFirstBoot with CABPK user data', () => {
  it('renders the v1beta4 join configuration with the metadata and keeps the runcmd order', () => {
    const plan = planFirstBoot({ metaData, userData: fixture('worker-join-v1beta4.yaml') }, facts);
    expect(plan.format).toBe('jinja cloud-config');
    expect(plan.instanceId).toBe(UID);
    expect(plan.hostname).toBe('worker-0');
    expect(plan.warnings).toEqual([]);
    expect(plan.ignored).toEqual([]);
    const join = plan.files.find((f) => f.path === '/run/kubeadm/kubeadm-join-config.yaml');
    expect(join?.content).toContain(`value: metal3.io/uuid=${UID}`);
    expect(join?.content).toContain("name: 'worker-0'");
    expect(join?.permissions).toBe('0640');
    expect(plan.files.find((f) => f.path === '/etc/motd')?.content).toBe('hello worker-0\n');
    expect(plan.commands).toEqual([
      'hostnamectl set-hostname worker-0',
      'kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml  && echo success > /run/cluster-api/bootstrap-success.complete',
    ]);
  });

  it('decodes base64 files and records the keys it does not simulate (v1beta3 output with users)', () => {
    const plan = planFirstBoot({ metaData, userData: fixture('worker-join-v1beta3.yaml') }, facts);
    expect(plan.files.find((f) => f.path === '/etc/base64-file')?.content).toBe('hello world\n');
    expect(plan.ignored).toEqual([{ item: "cloud-config 'users'", reason: 'not simulated' }]);
    expect(plan.commands[0]).toBe('echo pre');
    expect(plan.commands[2]).toBe('echo post > /tmp/post');
  });

  it('warns about metadata the template names but the drive lacks, as cloud-init does', () => {
    const plan = planFirstBoot({ metaData: { uuid: UID }, userData: fixture('worker-join-v1beta4.yaml') }, facts);
    expect(plan.warnings).toEqual(
      expect.arrayContaining([
        "Could not render jinja template variable 'name'",
        "Could not render jinja template variable 'local_hostname'",
      ]),
    );
    expect(plan.files.find((f) => f.path === '/run/kubeadm/kubeadm-join-config.yaml')?.content).toContain(
      "name: 'CI_MISSING_JINJA_VAR/name'",
    );
  });
});

describe('instance data and Jinja variables', () => {
  it("copies meta_data.json's hostname to local-hostname and uuid to instance-id, with underscore aliases", () => {
    const vars = jinjaVariables(instanceData({ metaData: { uuid: UID, hostname: 'node.example.com' } }, facts));
    const ds = vars.ds as { meta_data: Record<string, unknown> };
    expect(ds.meta_data['local-hostname']).toBe('node.example.com');
    expect(ds.meta_data.local_hostname).toBe('node.example.com');
    expect(ds.meta_data.instance_id).toBe(UID);
    expect(vars.local_hostname).toBe('node.example.com');
    expect((vars.v1 as Record<string, unknown>).subplatform).toBe('config-disk (/dev/sda2)');
  });

  it('refuses a config drive without uuid, as the ConfigDrive datasource does', () => {
    expect(() => planFirstBoot({ metaData: { name: 'x' }, userData: '#cloud-config\n' }, facts)).toThrow(
      DatasourceError,
    );
  });
});

describe('user data formats and cloud-config', () => {
  it.each([
    ['a shell script', '#!/bin/sh\necho hi\n', 'shell script'],
    ['ignition', '{"ignition": {"version": "3.4.0"}}', 'ignition'],
    ['MIME multipart', 'Content-Type: multipart/mixed; boundary="x"\nMIME-Version: 1.0\n\n--x--\n', 'mime multipart'],
    ['text without a marker', 'hello\n', 'unknown'],
  ])('records %s as not followed and does nothing', (_name, userData, format) => {
    const plan = planFirstBoot({ metaData, userData }, facts);
    expect(plan.format).toBe(format);
    expect(plan.commands).toEqual([]);
    expect(plan.ignored).toEqual([
      { item: `user data (${format})`, reason: 'the simulated OS follows only #cloud-config user data' },
    ]);
  });

  it('ignores a Jinja template it cannot render, naming why', () => {
    const plan = planFirstBoot(
      { metaData, userData: '## template: jinja\n#cloud-config\nruncmd: ["{{ ds.nothing.here }}"]\n' },
      facts,
    );
    expect(plan.commands).toEqual([]);
    expect(plan.ignored[0]?.reason).toMatch(/cloud-init ignores a template it cannot render: 'nothing' is undefined/);
  });

  it('ignores cloud-config that is not YAML', () => {
    const plan = planFirstBoot({ metaData, userData: '#cloud-config\nruncmd: [unclosed\n' }, facts);
    expect(plan.ignored[0]?.item).toBe('the cloud-config');
  });

  it.each([
    ['metadata local-hostname', {}, 'worker-0'],
    ['cloud-config hostname', { hostname: 'custom' }, 'custom'],
    ['a dotted hostname, shortened', { hostname: 'custom.example.com' }, 'custom'],
    ['fqdn', { fqdn: 'f.example.com' }, 'f'],
    ['fqdn when preferred', { fqdn: 'f.example.com', prefer_fqdn_over_hostname: true }, 'f.example.com'],
    ['preserve_hostname', { hostname: 'custom', preserve_hostname: true }, 'localhost'],
  ])('takes the hostname from %s', (_name, config, hostname) => {
    const plan = planFirstBoot({ metaData, userData: `#cloud-config\n${JSON.stringify(config)}\n` }, facts);
    expect(plan.hostname).toBe(hostname);
  });

  it('writes files with every encoding cloud-init accepts, appends, and defers', () => {
    const gz = gzipSync(Buffer.from('zipped\n')).toString('base64');
    const config = {
      write_files: [
        { path: '/a', content: 'plain' },
        { path: '/b', content: Buffer.from('b64').toString('base64'), encoding: 'b64' },
        { path: '/c', content: gz, encoding: 'gz+b64' },
        { path: '/a', content: '+more', append: true },
        { path: '/d', content: 'late', defer: true },
        { content: 'no path' },
      ],
      runcmd: [['echo', "it's"], 'ls'],
    };
    const plan = planFirstBoot({ metaData, userData: `#cloud-config\n${JSON.stringify(config)}\n` }, facts);
    expect(plan.files.map((f) => [f.path, f.content])).toEqual([
      ['/a', 'plain+more'],
      ['/b', 'b64'],
      ['/c', 'zipped\n'],
      ['/d', 'late'],
    ]);
    expect(plan.ignored).toEqual([{ item: 'a write_files entry', reason: 'it has no path' }]);
    expect(plan.commands).toEqual(["'echo' 'it'\\''s'", 'ls']);
  });

  it('does nothing for empty user data', () => {
    const plan = planFirstBoot({ metaData }, facts);
    expect(plan.format).toBe('none');
    expect(plan.ignored).toEqual([]);
  });
});

describe('readConfigDriveFiles: the ConfigDrive datasource over the files of a config-2 volume', () => {
  const at = (name: string) => `openstack/latest/${name}`;
  it('reads meta_data.json, user_data and network_data.json from openstack/latest', () => {
    const drive = readConfigDriveFiles({
      [at('meta_data.json')]: Buffer.from(JSON.stringify(metaData)),
      [at('user_data')]: Buffer.from('#cloud-config\n'),
      [at('network_data.json')]: Buffer.from('{"links":[]}'),
      'ec2/latest/meta-data.json': Buffer.from('{}'),
    });
    expect(drive).toEqual({ metaData, userData: '#cloud-config\n', networkData: { links: [] } });
    expect(readConfigDriveFiles({ [at('meta_data.json')]: Buffer.from('{"uuid":"u"}') })).toEqual({
      metaData: { uuid: 'u' },
    });
  });

  it('finds no datasource without meta_data.json or with one that is not a JSON object', () => {
    expect(() => readConfigDriveFiles({ [at('user_data')]: Buffer.from('x') })).toThrow(
      new DatasourceError('the config drive has no openstack/latest/meta_data.json'),
    );
    expect(() => readConfigDriveFiles({ [at('meta_data.json')]: Buffer.from('[1]') })).toThrow(
      'openstack/latest/meta_data.json is not a JSON object',
    );
    expect(() => readConfigDriveFiles({ [at('meta_data.json')]: Buffer.from('{') })).toThrow(DatasourceError);
  });
});
