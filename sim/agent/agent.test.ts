/**
 * The simulated deploy agent end to end on one simulated host, against a stand-in for Ironic's agent API
 * (`test/fakes/ironic-agent-api.ts`, shared with the real IPA's tests) and commanded as Ironic commands IPA: the host boots a deploy ISO built by
 * xorriso over Redfish virtual media, inspects, looks up, heartbeats; then real images made with sfdisk, sgdisk
 * and qemu-img are written to its disk files, checked byte for byte, the config drive is read back from the
 * disk, the erase steps are checked on the files, and every IPA error shape and fault switch is exercised.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AgentCommand, FakeIronic } from '../../test/fakes/ironic-agent-api.ts';
import {
  makeConfigDrive, makeDeployIso, makeRawImage, sha256Of, toQcow2, tools as imageTools,
} from '../../test/fixtures/disk-images.ts';
import { type SimulatedBmc, type Simulator, readConfigDrive, startSimulator } from '../index.ts';
import { readPartitionTable } from '../partitions.ts';
import { type FileServer, bootDisk, bootIso, resetHost, startFileServer, until } from '../../test/sim.ts';

const MIB = 1024 * 1024;
const TOKEN = 'Xk3-pregenerated-token-of-forty-three-chars';
const NODE = '6d85703a-0000-4000-8000-00000000a001';

/** A whole-disk image made for the tests. */
interface DiskImage {
  path: string;
  sizeBytes: number;
  sha256: string;
}

let tools: Awaited<ReturnType<typeof imageTools>>;
let dir: string;
let files: FileServer;
let ironic: FakeIronic;
let sim: Simulator;
let raw: DiskImage;
let gpt: DiskImage;
let qcow2: string;
let drive: { iso: Buffer; encoded: string };
let deployIso: string;

/** Commands the agent as Ironic does, through the fake's client (plain HTTP: the simulated agent has no TLS). */
const agent = {
  post: async (name: string, params: Record<string, unknown>, wait = false) => {
    const { status, body } = await ironic.agent('POST', `/v1/commands/?wait=${wait}`, { name, params });
    return { status, body: body as Record<string, unknown> };
  },
  run: async (name: string, params: Record<string, unknown>, wait = false): Promise<AgentCommand> => {
    const { status, body } = await agent.post(name, params, wait);
    if (status !== 200) throw new Error(`${name}: HTTP ${status} ${JSON.stringify(body)}`);
    return body as unknown as AgentCommand;
  },
  list: async (): Promise<AgentCommand[]> =>
    ((await ironic.agent('GET', '/v1/commands/')).body as { commands: AgentCommand[] }).commands,
  /** Polls until the last command named `name` leaves RUNNING (Ironic's `poll=True`). */
  waitFor: async (name: string, timeoutMs = 60_000): Promise<AgentCommand> => {
    let last: AgentCommand | undefined;
    await until(async () => {
      last = (await agent.list()).filter((command) => command.command_name === name).at(-1);
      return last !== undefined && last.command_status !== 'RUNNING';
    }, timeoutMs);
    return last as AgentCommand;
  },
};
type AgentClient = typeof agent;

/** The answered calls to one route of the fake API. */
const callsTo = (prefix: string) => ironic.calls.filter((call) => call.path.startsWith(prefix));

async function diskImage(path: string, label: 'gpt' | 'dos'): Promise<DiskImage> {
  const bytes = await makeRawImage(path, 24, label);
  return { path, sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * The host: the Lenovo XCC mockup, whose OS sees a RAID1 volume over its two 960 GB SSDs (/dev/sda, the smallest
 * disk: IPA's default) and its two 2.4 TB SAS HDDs (/dev/sdb, /dev/sdc).
 */
const HOST = {
  id: 'xcc-1',
  profile: 'xcc',
  quirks: { remove: ['if-match-required', 'vmedia-patch-only', 'stale-power-state'] },
  agentSettings: { heartbeatIntervalMs: 500, forcedHeartbeatMinMs: 0 },
} as const;

beforeAll(async () => {
  tools = await imageTools();
  dir = mkdtempSync(join(tmpdir(), 'sim-agent-test-'));
  files = await startFileServer();
  // The host's MACs are its mockup's: read them from a simulator started for that.
  const probe = await startSimulator({ bmcs: [HOST] });
  const macs = probe.bmc(HOST.id).state().macs;
  await probe.stop();
  ironic = await FakeIronic.start({ node: { uuid: NODE, properties: {}, instance_info: {}, driver_internal_info: {} }, macs });
  raw = await diskImage(join(dir, 'mbr.raw'), 'dos');
  gpt = await diskImage(join(dir, 'gpt.raw'), 'gpt');
  qcow2 = join(dir, 'gpt.qcow2');
  await toQcow2(gpt.path, qcow2);
  drive = await makeConfigDrive(
    { uuid: 'host-uid-1234', 'metal3-name': 'host-0', 'metal3-namespace': 'metal3' },
    '#cloud-config\nhostname: host-0\n',
  );
  const params = {
    'ipa-api-url': ironic.url,
    'ipa-agent-token': TOKEN,
    'ipa-inspection-callback-url': `${ironic.url}/v1/continue_inspection`,
    'ipa-insecure': '1',
    boot_method: 'vmedia',
    nofb: '',
  };
  deployIso = files.addBytes('/deploy.iso', await makeDeployIso(params));
  files.addBytes('/mbr.raw', readFileSync(raw.path));
  files.addBytes('/gpt.qcow2', readFileSync(qcow2));
  files.addBytes(
    '/SHA256SUMS',
    `${gpt.sha256}  other.img\n${createHash('sha256').update(readFileSync(qcow2)).digest('hex')}  gpt.qcow2\n`,
  );
  files.addBytes('/SHA256SUMS-without', `${gpt.sha256}  other.img\n`);
}, 600_000);

afterAll(async () => {
  await sim?.stop();
  await files?.close();
  await ironic?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fresh simulator with one host, booted into the deploy ramdisk; returns the host and a command client. */
async function bootedHost(
  extra: Partial<typeof HOST> & Record<string, unknown> = {},
): Promise<{ bmc: SimulatedBmc; agent: AgentClient }> {
  await sim?.stop();
  sim = await startSimulator({ stateDir: join(dir, `state-${Date.now()}`), bmcs: [{ ...HOST, ...extra }] });
  const bmc = sim.bmc(HOST.id);
  ironic.node = { ...ironic.node, instance_info: {} };
  const before = ironic.heartbeats.length;
  await bootIso(bmc, deployIso);
  await until(() => ironic.heartbeats.length > before, 20_000);
  return { bmc, agent };
}

async function deploy(
  agent: AgentClient,
  step: Record<string, unknown>,
  node: Record<string, unknown> = { uuid: NODE },
): Promise<AgentCommand> {
  const started = await agent.run('deploy.execute_deploy_step', {
    step: { interface: 'deploy', priority: 80, ...step },
    node,
    ports: [],
  });
  expect(started.command_status).toBe('RUNNING');
  return agent.waitFor('execute_deploy_step');
}

function imageInfo(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    id: 'mbr.raw',
    urls: [files.origin + '/mbr.raw'],
    disk_format: 'raw',
    stream_raw_images: true,
    os_hash_algo: 'sha256',
    os_hash_value: raw.sha256,
    node_uuid: NODE,
    ...overrides,
  };
}

afterEach(async () => {
  await sim?.stop();
});

describe('booting the deploy ramdisk', () => {
  it('inspects with a full inventory, looks up by MAC, heartbeats with its callback URL and token', async () => {
    const { bmc } = await bootedHost();
    const inspection = ironic.inspections.at(-1) ?? {};
    const inventory = inspection['inventory'] as {
      interfaces: { mac_address: string }[];
      disks: Record<string, unknown>[];
      cpu: { frequency: unknown; count: number };
      memory: { physical_mb: number };
      system_vendor: unknown;
      boot: unknown;
    };
    expect(inventory.interfaces.map((nic) => nic.mac_address)).toEqual(
      bmc.state().macs.map((mac) => mac.toLowerCase()),
    );
    expect(inventory.disks.map((disk) => [disk['name'], disk['size'], disk['serial'], disk['rotational']])).toEqual(
      bmc.disks().map((disk) => [disk.name, disk.sizeBytes, disk.serial, disk.rotational]),
    );
    expect(inventory.cpu).toMatchObject({ architecture: 'x86_64' });
    expect(typeof inventory.cpu.frequency).toBe('string');
    expect(inventory.cpu.count).toBeGreaterThan(0);
    expect(inventory.memory.physical_mb).toBeGreaterThan(0);
    expect(inventory.system_vendor).toMatchObject({ manufacturer: 'Lenovo' });
    expect(inventory.boot).toMatchObject({ current_boot_mode: 'uefi' });
    expect(inspection['root_disk']).toMatchObject({ name: '/dev/sda' });

    expect(callsTo('/v1/lookup').at(-1)).toMatchObject({ status: 200, version: '1.62' });
    const query = ironic.lookups.at(-1);
    expect(query?.get('node_uuid')).toBe(NODE);
    expect(query?.get('addresses')?.split(',')).toEqual(bmc.state().macs.map((mac) => mac.toLowerCase()));
    expect(ironic.heartbeats.at(-1)).toEqual({
      callback_url: `${sim.agentUrl}/${NODE}`,
      agent_version: '13.0.0',
      agent_token: TOKEN,
    });
    expect(callsTo('/v1/heartbeat/').at(-1)).toMatchObject({ status: 202, version: '1.68' });
    expect(bmc.ramdisk()).toMatchObject({
      kind: 'sim',
      state: 'running',
      params: { 'ipa-agent-token': '***', boot_method: 'vmedia' },
    });
    expect(bmc.agentCounters()).toMatchObject({ ramdiskBoots: 1, inspections: 1, lookups: 1 });

    // Heartbeats keep coming at the configured interval.
    const count = ironic.heartbeats.length;
    await until(() => ironic.heartbeats.length >= count + 2, 10_000);
  });

  it('serves IPA root, status and refuses commands without the token', async () => {
    await bootedHost();
    const base = `${sim.agentUrl}/${NODE}`;
    expect(await (await fetch(`${base}/`)).json()).toMatchObject({
      name: 'OpenStack Ironic Python Agent API',
      default_version: { id: 'v1' },
    });
    expect(await (await fetch(`${base}/v1/status`)).json()).toMatchObject({ version: '13.0.0' });
    const refused = await fetch(`${base}/v1/commands/`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ faultcode: 'Client', faultstring: '401 Unauthorized: Token invalid.' });
    expect((await fetch(`${base}/v1/commands/?agent_token=wrong`)).status).toBe(401);
  });

  it('reads isolinux.cfg in legacy BIOS mode', async () => {
    await sim?.stop();
    sim = await startSimulator({ bmcs: [HOST] });
    const bmc = sim.bmc(HOST.id);
    const before = ironic.heartbeats.length;
    await bootIso(bmc, deployIso, 'Legacy');
    await until(() => ironic.heartbeats.length > before, 20_000);
    expect(bmc.ramdisk()?.params).toMatchObject({ initrd: '/initrd', text: '', 'ipa-api-url': ironic.url });
    expect(ironic.inspections.at(-1)?.['inventory']).toMatchObject({ boot: { current_boot_mode: 'bios' } });
  });

  it('boots a live ISO (no ipa-api-url) without a ramdisk', async () => {
    await sim?.stop();
    sim = await startSimulator({ bmcs: [HOST] });
    const bmc = sim.bmc(HOST.id);
    await bootIso(bmc, files.addBytes('/live.iso', await makeDeployIso({ quiet: '' })));
    await bmc.bootSettled();
    expect(bmc.state().booted).toMatchObject({ source: 'Cd', failure: null });
    expect(bmc.ramdisk()).toBeNull();
    expect(bmc.agentCounters().ramdiskBoots).toBe(0);
  });

  it('stops the ramdisk when the host powers off, and boots it again on the next power-on', async () => {
    const { bmc } = await bootedHost();
    await resetHost(bmc, 'ForceOff');
    await bmc.bootSettled();
    expect(bmc.ramdisk()?.state).toBe('stopped');
    expect((await fetch(`${sim.agentUrl}/${NODE}/v1/status`)).status).toBe(404);
    const before = ironic.heartbeats.length;
    await bootIso(bmc, deployIso);
    await until(() => ironic.heartbeats.length > before, 20_000);
    expect(bmc.agentCounters().ramdiskBoots).toBe(2);
    // A reset while it runs: the old ramdisk stops, a new one starts and heartbeats.
    const beforeReset = ironic.heartbeats.length;
    await bootIso(bmc, deployIso);
    await until(() => ironic.heartbeats.length > beforeReset, 20_000);
    await bmc.bootSettled();
    expect(bmc.ramdisk()).toMatchObject({ state: 'running', bootSeq: 3 });
    expect(bmc.agentCounters().ramdiskBoots).toBe(3);
  });
});

describe('the command API', () => {
  it('lists steps, runs one command at a time and answers IPA errors', async () => {
    const { bmc, agent } = await bootedHost();
    const steps = await agent.run('deploy.get_deploy_steps', { node: { uuid: NODE }, ports: [] }, true);
    expect(steps).toMatchObject({ command_name: 'get_deploy_steps', command_status: 'SUCCEEDED', command_error: null });
    expect(steps.command_result).toMatchObject({ hardware_manager_version: { generic_hardware_manager: '1.2' } });
    const generic = (steps.command_result as { deploy_steps: Record<string, { step: string }[]> }).deploy_steps[
      'GenericHardwareManager'
    ];
    expect(generic?.map((step) => step.step)).toContain('write_image');
    const clean = await agent.run('clean.get_clean_steps', { node: { uuid: NODE }, ports: [] });
    const cleanSteps = (clean.command_result as { clean_steps: Record<string, { step: string; priority: number }[]> })
      .clean_steps['GenericHardwareManager'];
    expect(cleanSteps).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ step: 'erase_devices', priority: 10 }),
        expect.objectContaining({ step: 'erase_devices_metadata', priority: 99 }),
      ]),
    );

    bmc.agent({ commandDurationMs: 1500 });
    const running = await agent.run('deploy.execute_deploy_step', {
      step: { step: 'inject_files', interface: 'deploy' },
      node: { uuid: NODE },
      ports: [],
    });
    expect(running.command_status).toBe('RUNNING');
    const busy = await agent.post('standby.get_partition_uuids', {});
    expect(busy).toEqual({
      status: 409,
      body: { faultcode: 'Client', faultstring: 'Agent is busy: executing command execute_deploy_step' },
    });
    const beats = ironic.heartbeats.length;
    const done = await agent.waitFor('execute_deploy_step');
    expect(done).toMatchObject({
      command_status: 'SUCCEEDED',
      command_result: { deploy_step: { step: 'inject_files' } },
    });
    // A finished async command forces an early heartbeat.
    await until(() => ironic.heartbeats.length > beats, 2_000);
    bmc.agent({ commandDurationMs: 0 });

    expect(await agent.post('nope.thing', {})).toMatchObject({
      status: 404,
      body: { faultstring: 'Not found: Extension with id nope not found.' },
    });
    expect(await agent.post('standby.nope', {})).toMatchObject({
      status: 400,
      body: { faultstring: 'Invalid command: Unknown command: nope' },
    });
    expect(await agent.post('nodot', {})).toMatchObject({ status: 400 });
    const unknownStep = await deploy(agent, { step: 'no_such_step' });
    expect(unknownStep.command_error).toEqual({
      type: 'HardwareManagerMethodNotFound',
      code: 500,
      message: 'No HardwareManager found to handle method',
      details: 'Could not find method: no_such_step',
    });
    const mismatch = await agent.run('deploy.execute_deploy_step', {
      step: { step: 'inject_files', interface: 'deploy' },
      node: { uuid: NODE },
      ports: [],
      deploy_version: { generic_hardware_manager: '1.0' },
    });
    expect(mismatch.command_status).toBe('RUNNING');
    expect((await agent.waitFor('execute_deploy_step')).command_status).toBe('CLEAN_VERSION_MISMATCH');
    const logs = await agent.run('log.collect_system_logs', {});
    const archive = Buffer.from((logs.command_result as { system_logs: string }).system_logs, 'base64');
    expect(archive[0]).toBe(0x1f);
    expect((await agent.list()).map((command) => command.command_name).slice(0, 2)).toEqual([
      'get_deploy_steps',
      'get_clean_steps',
    ]);
    expect(bmc.agentCounters().commands).toMatchObject({
      'deploy.get_deploy_steps': 1,
      'deploy.execute_deploy_step': 3,
      'clean.get_clean_steps': 1,
    });
  });

  it('runs a registered custom deploy step (customDeploy.method)', async () => {
    const { agent } = await bootedHost();
    const seen: Record<string, unknown>[] = [];
    sim.registerDeployStep('install_coreos', async (context) => {
      seen.push(context.args);
      return { installed: context.disks.length };
    });
    const steps = await agent.run('deploy.get_deploy_steps', { node: { uuid: NODE }, ports: [] });
    expect(JSON.stringify(steps.command_result)).toContain('install_coreos');
    const result = await deploy(agent, { step: 'install_coreos', args: { channel: 'stable' } }, { uuid: NODE });
    expect(result).toMatchObject({ command_status: 'SUCCEEDED', command_result: { deploy_result: { installed: 3 } } });
    expect(seen).toEqual([{ channel: 'stable' }]);
  });

  it('powers the host off through its BMC', async () => {
    const { bmc, agent } = await bootedHost();
    const off = await agent.run('standby.power_off', {});
    expect(off.command_status).toBe('RUNNING');
    await until(() => bmc.state().power === 'Off', 5_000);
    await bmc.bootSettled();
    expect(bmc.ramdisk()?.state).toBe('stopped');
    expect(bmc.counters().powerOff).toBe(1);
    expect(bmc.agentCounters().powerOffs).toBe(1);
  });
});

describe('writing images', () => {
  it('streams a raw image onto the smallest disk: it holds exactly the image, the other disk nothing', async () => {
    const { bmc, agent } = await bootedHost();
    const result = await deploy(agent, { step: 'write_image', args: { image_info: imageInfo({}) } });
    expect(result.command_status).toBe('SUCCEEDED');
    const [ssd, ...others] = bmc.disks();
    expect(result.command_result).toMatchObject({
      deploy_result: {
        result: expect.stringMatching(
          /^prepare_image: image \(mbr\.raw\) written to device \/dev\/sda root_uuid=0x[0-9a-f]{8}$/,
        ),
      },
    });
    expect(sha256Of(ssd!.path, 0, raw.sizeBytes)).toBe(raw.sha256);
    for (const other of others) expect(statSync(other.path).blocks).toBe(0);
    const uuids = await agent.run('standby.get_partition_uuids', {}, true);
    expect(uuids.command_result).toEqual({ 'root uuid': expect.stringMatching(/^0x[0-9a-f]{8}$/) });
    expect(bmc.agentCounters()).toMatchObject({ imageWrites: 1, imageBytesWritten: raw.sizeBytes, configDrives: 0 });
  });

  it('converts a qcow2 image with qemu-img, adds the config drive at the end, and boots from it', async () => {
    const { bmc, agent } = await bootedHost();
    const info = {
      id: 'gpt.qcow2',
      urls: [files.origin + '/gpt.qcow2'],
      disk_format: 'qcow2',
      checksum: files.origin + '/SHA256SUMS',
      node_uuid: NODE,
    };
    const result = await deploy(agent, { step: 'write_image', args: { image_info: info, configdrive: drive.encoded } });
    expect(result.command_error).toBeNull();
    const [ssd, ...others] = bmc.disks();
    // The partition data is the image's; the GPT itself was extended to the disk and got the config drive entry.
    const dataEnd = gpt.sizeBytes - 33 * 512;
    expect(sha256Of(ssd!.path, 34 * 512, dataEnd - 34 * 512)).toBe(
      sha256Of(gpt.path, 34 * 512, dataEnd - 34 * 512),
    );
    expect(execFileSync(tools.sgdisk, ['-v', ssd!.path], { encoding: 'utf8' })).toContain('No problems found');
    const table = await readPartitionTable(ssd!.path, ssd!.sizeBytes);
    expect(table?.partitions.map((partition) => partition.number)).toEqual([1, 2]);
    expect(table?.partitions[1]!.startBytes).toBeGreaterThan(ssd!.sizeBytes - 65 * MIB);
    const found = await readConfigDrive(ssd!);
    expect(found?.partition).toBe(2);
    expect(JSON.parse(found?.files['openstack/latest/meta_data.json']?.toString() ?? '{}')).toMatchObject({
      uuid: 'host-uid-1234',
    });
    expect(found?.files['openstack/latest/user_data']?.toString()).toBe('#cloud-config\nhostname: host-0\n');
    for (const other of others) expect(statSync(other.path).blocks).toBe(0);
    expect(bmc.agentCounters()).toMatchObject({ imageWrites: 1, imageBytesWritten: gpt.sizeBytes, configDrives: 1 });

    // The host boots from that disk and finds the config drive and the record of the image written.
    await agent.run('standby.power_off', {});
    await until(() => bmc.state().power === 'Off', 5_000);
    await bootDisk(bmc);
    await bmc.bootSettled();
    expect(bmc.diskBoot()).toMatchObject({
      device: '/dev/sda',
      partitionTable: 'gpt',
      configDrive: {
        partition: 2,
        files: expect.arrayContaining(['openstack/latest/meta_data.json', 'openstack/latest/user_data']),
      },
      image: {
        imageId: 'gpt.qcow2',
        diskFormat: 'qcow2',
        bytes: gpt.sizeBytes,
        sha256: null,
        configDrive: { number: 2 },
        checksum: { algorithm: 'sha256', value: createHash('sha256').update(readFileSync(qcow2)).digest('hex') },
      },
    });
    expect(bmc.agentCounters()).toMatchObject({ ramdiskBoots: 1, diskBoots: 1, imageWrites: 1 });

    // The host's OS read that config drive from the disk's bytes and ran cloud-init's first boot from it.
    await until(() => bmc.osRecords().at(-1)?.finished === true, 5_000);
    expect(bmc.osRecords()).toEqual([
      expect.objectContaining({
        firstBoot: true,
        instanceId: 'host-uid-1234',
        hostname: 'host-0',
        format: 'cloud-config',
        ignored: [],
      }),
    ]);
    // A reboot from the same disk is the same instance: cloud-init's per-instance work does not run again.
    await bootDisk(bmc);
    await bmc.bootSettled();
    await until(() => bmc.osRecords().length === 2 && bmc.osRecords()[1]!.finished, 5_000);
    expect(bmc.osRecords()[1]).toMatchObject({ firstBoot: false, instanceId: 'host-uid-1234', hostname: 'host-0' });
  }, 30_000);

  it.each([
    { scenario: 'serial', hints: { serial: 's== wbn00003' }, device: '/dev/sdc' },
    { scenario: 'minimum size (Metal3 minSizeGigabytes)', hints: { size: '>= 2000' }, device: '/dev/sdb' },
    { scenario: 'rotational', hints: { rotational: 'false' }, device: '/dev/sda' },
    { scenario: 'rotational true', hints: { rotational: true }, device: '/dev/sdb' },
  ])('root device hint by $scenario picks $device', async ({ hints, device }) => {
    const { bmc, agent } = await bootedHost();
    const result = await deploy(
      agent,
      { step: 'write_image', args: { image_info: imageInfo({}) } },
      { uuid: NODE, instance_info: { root_device: hints } },
    );
    expect(result.command_error).toBeNull();
    const chosen = bmc.disks().find((disk) => disk.name === device)!;
    expect(sha256Of(chosen.path, 0, raw.sizeBytes)).toBe(raw.sha256);
    for (const other of bmc.disks().filter((disk) => disk.name !== device)) expect(statSync(other.path).blocks).toBe(0);
  });

  it('fails with DeviceNotFound when no disk matches the hints', async () => {
    const { agent } = await bootedHost();
    const result = await deploy(
      agent,
      { step: 'write_image', args: { image_info: imageInfo({}) } },
      { uuid: NODE, instance_info: { root_device: { serial: 's== nothing' } } },
    );
    expect(result.command_error).toMatchObject({ type: 'DeviceNotFound', code: 404 });
    expect(result.command_error?.details).toContain('serial');
  });

  it.each([
    {
      scenario: 'wrong checksum',
      info: () => imageInfo({ os_hash_value: 'f'.repeat(64) }),
      error: { type: 'ImageChecksumError', message: 'Error verifying image checksum' },
      details: (): string => `image checksum: ${'f'.repeat(64)}; verification checksum: ${raw.sha256}`,
    },
    {
      scenario: 'missing image',
      info: () => imageInfo({ urls: [files.origin + '/missing.raw'] }),
      error: { type: 'ImageDownloadError', message: 'Error downloading image' },
      details: (): string => 'Received status code 404',
    },
    {
      scenario: 'checksum file without the image name',
      info: () =>
        imageInfo({
          os_hash_algo: undefined,
          os_hash_value: undefined,
          checksum: files.origin + '/SHA256SUMS-without',
        }),
      error: { type: 'ImageDownloadError' },
      details: (): string => 'Checksum file does not contain name mbr.raw',
    },
    {
      scenario: 'format mismatch',
      info: () => imageInfo({ disk_format: 'qcow2', stream_raw_images: false }),
      error: { type: 'InvalidImage' },
      details: (): string => 'Security: Expected format was qcow2, but image was actually raw',
    },
    {
      scenario: 'no checksum',
      info: () => imageInfo({ os_hash_algo: undefined, os_hash_value: undefined }),
      error: { type: 'InvalidCommandParamsError', code: 400 },
      details: (): string => 'Image checksum is not available',
    },
  ])('$scenario fails the step with IPA error $error.type', async ({ info, error, details }) => {
    const { bmc, agent } = await bootedHost();
    const result = await deploy(agent, { step: 'write_image', args: { image_info: info() } });
    expect(result.command_status).toBe('FAILED');
    expect(result.command_error).toMatchObject(error);
    expect(result.command_error?.details).toContain(details());
    expect(bmc.agentCounters()).toMatchObject({ imageWrites: 0, failedCommands: 1 });
  });
});

describe('cleaning', () => {
  async function written(): Promise<{ bmc: SimulatedBmc; agent: AgentClient }> {
    const host = await bootedHost();
    const info = {
      id: 'gpt.qcow2',
      urls: [files.origin + '/gpt.qcow2'],
      disk_format: 'qcow2',
      checksum: files.origin + '/SHA256SUMS',
      node_uuid: NODE,
    };
    expect(
      (await deploy(host.agent, { step: 'write_image', args: { image_info: info, configdrive: drive.encoded } }))
        .command_error,
    ).toBeNull();
    return host;
  }

  async function clean(agent: AgentClient, step: string): Promise<AgentCommand> {
    await agent.run('clean.execute_clean_step', {
      step: { step, interface: 'deploy', priority: 99 },
      node: { uuid: NODE },
      ports: [],
    });
    return agent.waitFor('execute_clean_step');
  }

  it('erase_devices_metadata removes partition tables and the config drive, and keeps the data between', async () => {
    const { bmc, agent } = await written();
    const ssd = bmc.disks()[0]!;
    const middle = sha256Of(ssd.path, 2 * MIB, MIB);
    const result = await clean(agent, 'erase_devices_metadata');
    expect(result).toMatchObject({
      command_status: 'SUCCEEDED',
      command_result: { clean_result: null, clean_step: { step: 'erase_devices_metadata' } },
    });
    expect(await readPartitionTable(ssd.path, ssd.sizeBytes)).toBeUndefined();
    expect(await readConfigDrive(ssd)).toBeUndefined();
    expect(execFileSync(tools.sgdisk, ['-p', ssd.path], { encoding: 'utf8' })).toContain('Creating new GPT entries');
    expect(sha256Of(ssd.path, 2 * MIB, MIB)).toBe(middle);
    expect(bmc.agentCounters()).toMatchObject({ metadataErases: 3, fullErases: 0 });
  });

  it('erase_devices zeroes every disk', async () => {
    const { bmc, agent } = await written();
    const result = await clean(agent, 'erase_devices');
    expect(result).toMatchObject({
      command_status: 'SUCCEEDED',
      command_result: { clean_result: { '/dev/sda': null, '/dev/sdb': null, '/dev/sdc': null } },
    });
    for (const disk of bmc.disks()) {
      expect(statSync(disk.path)).toMatchObject({ size: disk.sizeBytes, blocks: 0 });
    }
    expect(bmc.agentCounters()).toMatchObject({ fullErases: 3 });
  });
});

describe('fault switches', () => {
  it('fails a step with an injected IPA error, as many times as asked', async () => {
    const { bmc, agent } = await bootedHost();
    bmc.agent({ failCommand: { match: 'write_image', error: 'ImageDownloadError', times: 1 } });
    const failed = await deploy(agent, { step: 'write_image', args: { image_info: imageInfo({}) } });
    expect(failed.command_error).toMatchObject({
      type: 'ImageDownloadError',
      code: 500,
      message: 'Error downloading image',
    });
    const retried = await deploy(agent, { step: 'write_image', args: { image_info: imageInfo({}) } });
    expect(retried.command_status).toBe('SUCCEEDED');
    expect(bmc.agentCounters()).toMatchObject({ injectedFaults: 1, failedCommands: 1, imageWrites: 1 });
  });

  it.each([
    { scenario: 'a streamed raw image', info: () => imageInfo({}), bytes: () => raw.sizeBytes },
    {
      scenario: 'a qcow2 image converted by qemu-img',
      info: () => ({
        id: 'gpt.qcow2',
        urls: [files.origin + '/gpt.qcow2'],
        disk_format: 'qcow2',
        checksum: files.origin + '/SHA256SUMS',
        node_uuid: NODE,
      }),
      bytes: () => gpt.sizeBytes,
    },
  ])('slows the disk down and shows the progress of $scenario while it runs', async ({ info, bytes }) => {
    const { bmc, agent } = await bootedHost();
    bmc.agent({ diskBytesPerSec: 12 * MIB });
    const started = Date.now();
    await agent.run('deploy.execute_deploy_step', {
      step: { step: 'write_image', interface: 'deploy', args: { image_info: info() } },
      node: { uuid: NODE },
      ports: [],
    });
    const seen: number[] = [];
    await until(async () => {
      const last = (await agent.list()).at(-1);
      const written = (last?.command_result as { progress?: { bytes_written: number } } | null)?.progress
        ?.bytes_written;
      if (last?.command_status === 'RUNNING' && written !== undefined) seen.push(written);
      return last?.command_status !== 'RUNNING';
    }, 20_000);
    // 24 MiB at 12 MiB/s: about two seconds, with progress reported meanwhile.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(seen.some((value) => value > 0 && value <= bytes())).toBe(true);
    expect((await agent.list()).at(-1)).toMatchObject({
      command_status: 'SUCCEEDED',
      command_result: { deploy_result: { result: expect.stringContaining('written to device') } },
    });
  });

  it('never heartbeats when told so, and looks up with unknown MACs when lookups must fail', async () => {
    await sim?.stop();
    sim = await startSimulator({
      bmcs: [{ ...HOST, agentSettings: { ...HOST.agentSettings, lookupFails: true, lookupRetryMaxMs: 100 } }],
    });
    const bmc = sim.bmc(HOST.id);
    const lookups = callsTo('/v1/lookup').length;
    const beats = ironic.heartbeats.length;
    await bootIso(bmc, deployIso);
    await until(() => callsTo('/v1/lookup').length >= lookups + 3, 10_000);
    expect(callsTo('/v1/lookup').slice(lookups).every((lookup) => lookup.status === 404)).toBe(true);
    bmc.agent({ lookupFails: false, noHeartbeat: true });
    await until(() => callsTo('/v1/lookup').at(-1)?.status === 200, 10_000);
    await until(() => bmc.agentCounters().lookups > 3);
    // A finished async command asks for an early heartbeat: none is sent, and the agent stays responsive.
    const commands = `${sim.agentUrl}/${NODE}/v1/commands/?agent_token=${TOKEN}`;
    await until(async () => (await fetch(commands)).status === 200, 5_000);
    const step = { step: 'inject_files', interface: 'deploy' };
    const body = JSON.stringify({ name: 'deploy.execute_deploy_step', params: { step, node: { uuid: NODE }, ports: [] } });
    expect((await fetch(commands, { method: 'POST', body })).status).toBe(200);
    await until(async () => {
      const listed = (await (await fetch(commands)).json()) as { commands: AgentCommand[] };
      return listed.commands.at(-1)?.command_status === 'SUCCEEDED';
    }, 5_000);
    expect(ironic.heartbeats.length).toBe(beats);
    bmc.agent({ noHeartbeat: false });
    await until(() => ironic.heartbeats.length > beats, 5_000);
  });
});

describe('software RAID (raid.create_configuration, raid.delete_configuration)', () => {
  const HINTS = [{ name: 's== /dev/sdb' }, { name: 's== /dev/sdc' }];
  const raid1 = (physical: unknown = HINTS) => ({
    logical_disks: [
      { size_gb: 'MAX', raid_level: '1', controller: 'software', is_root_volume: true, physical_disks: physical },
    ],
  });

  async function raidStep(agent: AgentClient, step: string, config: unknown): Promise<AgentCommand> {
    await agent.run('clean.execute_clean_step', {
      step: { step, interface: 'raid', priority: 0 },
      node: { uuid: NODE, properties: {}, instance_info: {}, target_raid_config: config },
      ports: [],
    });
    return agent.waitFor('execute_clean_step');
  }

  it('builds a RAID-1 md device over the hinted disks, writes through it to both members, and deletes it', async () => {
    const { bmc, agent } = await bootedHost();
    const [, sdb, sdc] = bmc.disks();
    const created = await raidStep(agent, 'create_configuration', raid1());
    expect(created).toMatchObject({ command_status: 'SUCCEEDED', command_result: { clean_result: raid1() } });
    const [md, ...more] = bmc.mdDevices();
    expect(more).toEqual([]);
    expect(md).toMatchObject({
      name: '/dev/md0',
      level: '1',
      isRootVolume: true,
      members: [
        { disk: '/dev/sdb', partition: '/dev/sdb1', startBytes: 551 * MIB },
        { disk: '/dev/sdc', partition: '/dev/sdc1', startBytes: 551 * MIB },
      ],
    });
    // IPA's poll.get_hardware_info (what the engine checks the holders against) lists the md device too.
    const hardware = await agent.run('poll.get_hardware_info', {}, true);
    expect(hardware.command_status).toBe('SUCCEEDED');
    const listed = (hardware.command_result as { disks: { name: string }[] }).disks.map((d) => d.name);
    expect(listed).toEqual(['/dev/sda', '/dev/sdb', '/dev/sdc', '/dev/md0']);
    for (const disk of [sdb!, sdc!]) {
      const table = await readPartitionTable(disk.path, disk.sizeBytes);
      expect(table?.partitions).toHaveLength(1);
      // sgdisk reads the table the agent wrote: one partition from 551 MiB.
      expect(execFileSync(tools.sgdisk, ['-i', '1', disk.path], { encoding: 'utf8' })).toMatch(
        new RegExp(`First sector: ${(551 * MIB) / 512} `),
      );
      // mdadm's 1.2 superblock (magic a92b4efc) 4 KiB into the member partition.
      const fd = openSync(disk.path, 'r');
      const magic = Buffer.alloc(4);
      readSync(fd, magic, 0, 4, 551 * MIB + 4096);
      closeSync(fd);
      expect(magic.readUInt32LE(0)).toBe(0xa92b4efc);
    }

    // A write to the root device hinted as the md device lands on the mirror: readable from each member.
    const node = { uuid: NODE, instance_info: { root_device: { name: 's== /dev/md0' } }, properties: {} };
    const result = await deploy(agent, { step: 'write_image', args: { image_info: imageInfo({}) } }, node);
    expect(result.command_result).toMatchObject({
      deploy_result: { result: expect.stringMatching(/written to device \/dev\/md0 /) },
    });
    for (const member of md!.members) {
      const disk = bmc.disks().find((d) => d.name === member.disk)!;
      expect(sha256Of(disk.path, member.startBytes + md!.dataOffsetBytes, raw.sizeBytes)).toBe(raw.sha256);
    }
    expect(sha256Of(bmc.disks()[0]!.path, 0, raw.sizeBytes)).not.toBe(raw.sha256);

    // install_bootloader (UEFI) on an md root: an ESP on each holder before the RAID partition, mirrored as 'esp'.
    const boot = await agent.run('image.install_bootloader', { root_uuid: '0x0', target_boot_mode: 'uefi' });
    expect(boot.command_status).toBe('RUNNING');
    expect((await agent.waitFor('install_bootloader')).command_status).toBe('SUCCEEDED');
    const esp = bmc.mdDevices()[1];
    expect(esp).toMatchObject({
      name: '/dev/md1',
      volumeName: 'esp',
      level: '1',
      dataOffsetBytes: 0,
      members: [
        { disk: '/dev/sdb', partition: '/dev/sdb2', startBytes: MIB, sizeBytes: 550 * MIB },
        { disk: '/dev/sdc', partition: '/dev/sdc2', startBytes: MIB, sizeBytes: 550 * MIB },
      ],
    });
    expect(execFileSync(tools.sgdisk, ['-i', '2', sdb!.path], { encoding: 'utf8' })).toMatch(/EFI system partition/i);

    // The next boot's inventory lists the md device among the disks.
    const before = ironic.inspections.length;
    await bootIso(bmc, deployIso);
    // The new ramdisk inspects, then looks up and serves commands again.
    await until(async () => ironic.inspections.length > before && (await fetch(`${sim.agentUrl}/${NODE}/v1/status`)).ok, 20_000);
    const disks = (ironic.inspections.at(-1)?.['inventory'] as { disks: { name: string; size: number }[] }).disks;
    expect(disks.map((d) => d.name)).toEqual(['/dev/sda', '/dev/sdb', '/dev/sdc', '/dev/md0', '/dev/md1']);
    expect(disks[3]?.size).toBe(md!.sizeBytes);

    // Creating again over the partitioned holders fails as IPA does; deleting stops it and wipes the holders.
    const again = await raidStep(agent, 'create_configuration', raid1());
    expect(again.command_error).toMatchObject({
      type: 'SoftwareRAIDError',
      details: 'Partitions detected on devices /dev/sdb, /dev/sdc during RAID config',
    });
    expect((await raidStep(agent, 'delete_configuration', raid1())).command_status).toBe('SUCCEEDED');
    expect(bmc.mdDevices()).toEqual([]);
    for (const disk of [sdb!, sdc!]) expect(await readPartitionTable(disk.path, disk.sizeBytes)).toBeUndefined();
    expect(existsSync(md!.path)).toBe(false);
    expect(existsSync(esp!.path)).toBe(false);
  });

  it.each([
    {
      scenario: 'a hint that matches no disk',
      config: raid1([{ name: 's== /dev/sdb' }, { serial: 's== NO-SUCH-SERIAL' }]),
      details: /^No candidates for physical disk \{"serial":"s== NO-SUCH-SERIAL"\} from the list /,
    },
    {
      scenario: 'two hints that match the same single disk',
      config: raid1([{ name: 's== /dev/sdb' }, { name: 's== /dev/sdb' }]),
      details: /^No candidates left for physical disk \{"name":"s== \/dev\/sdb"\} from the list \["\/dev\/sdb"\] after picking \["\/dev\/sdb"\]/,
    },
    {
      scenario: 'a first volume that is not RAID-1, and one physical disk',
      config: { logical_disks: [{ size_gb: 'MAX', raid_level: '0', controller: 'software', physical_disks: [{ name: 's== /dev/sdb' }] }] },
      details: new RegExp(
        `^Could not validate Software RAID config for ${NODE}: The physical_disks parameter for software RAID must be a list with at least 2 items, each specifying a disk in the device hints format; Software RAID Configuration requires RAID-1 for the first logical disk$`,
      ),
    },
  ])('refuses $scenario with IPA’s SoftwareRAIDError', async ({ config, details }) => {
    const { bmc, agent } = await bootedHost();
    const failed = await raidStep(agent, 'create_configuration', config);
    expect(failed).toMatchObject({ command_status: 'FAILED', command_error: { type: 'SoftwareRAIDError', code: 500 } });
    expect(failed.command_error?.details).toMatch(details);
    expect(bmc.mdDevices()).toEqual([]);
  });
});
