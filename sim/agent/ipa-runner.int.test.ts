/**
 * The real ironic-python-agent 13.0.0 from PyPI as a simulated host's deploy ramdisk, on loop devices the test
 * creates, driven the way Ironic drives it (test/fakes/ironic-agent-api.ts, until the engine's agent API
 * lands): lookup and heartbeat with the booted token, the inspection inventory, write_image of a raw and a
 * qcow2 image onto the disk root device hints pick with the config drive at the end of the disk,
 * get_partition_uuids, erase_devices_metadata, erase_devices, power_off reaching the host's power, and
 * nothing left behind when the ramdisk stops or its owner dies. The guard's self-tests plant the faults it
 * exists to stop. Runs as root (loop devices, mount namespaces).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipaAgent } from '../../stack/ipa.ts';
import { startImageServer, type ImageServer } from '../../stack/image-server.ts';
import { attachLoopDevice, loopBackingFile, type LoopDevice } from '../../stack/loop-devices.ts';
import { waitUntil } from '../../stack/processes.ts';
import { FakeIronic } from '../../test/fakes/ironic-agent-api.ts';
import {
  isoFile, isoVolumeId, makeConfigDrive, makeRawImage, readAt, readGpt, toQcow2,
} from '../../test/fixtures/disk-images.ts';
import { ipaRunner, type IpaRamdisk } from './ipa-runner.ts';
import type { SimDisk } from './runner.ts';
import { sharedStack } from '../../test/stack-info.ts';

const stack = sharedStack();
const MiB = 1024 * 1024;
const root = join(stack.stateDir, 'ipa-runner-test');
mkdirSync(root, { recursive: true });
const runner = ipaRunner({ stateDir: root, progress: (m) => process.stderr.write(`[ipa] ${m}\n`) });

interface GuardEntry {
  event: 'open' | 'exec';
  decision: 'allowed' | 'refused' | 'absent';
  argv?: string[];
  path?: string;
  device?: string | null;
  devices?: string[];
  reason?: string;
}

function guardEntries(ramdisk: IpaRamdisk): GuardEntry[] {
  return readFileSync(ramdisk.guardLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as GuardEntry);
}

/** Every block device the guard let IPA open or name in a command. */
function devicesTouched(entries: GuardEntry[]): Set<string> {
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.decision !== 'allowed') continue;
    if (e.device) seen.add(e.device);
    for (const d of e.devices ?? []) seen.add(d);
  }
  return seen;
}

/** True when `kname` is one of `loops` (`/dev/loopN`) or a partition of one. */
function ownedBy(loops: string[], kname: string): boolean {
  return loops.some((l) => kname === l.slice(5) || new RegExp(`^${l.slice(5)}p\\d+$`).test(kname));
}

function sparseDisk(dir: string, disk: Omit<SimDisk, 'path'>): SimDisk {
  const path = join(dir, `${disk.name.slice(5)}.img`);
  writeFileSync(path, '');
  truncateSync(path, disk.sizeBytes);
  return { ...disk, path };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function allZero(file: string): boolean {
  const size = statSync(file).size;
  for (let offset = 0; offset < size; offset += 8 * MiB) {
    if (!readAt(file, offset, Math.min(8 * MiB, size - offset)).every((b) => b === 0)) return false;
  }
  return true;
}

interface Host {
  ironic: FakeIronic;
  ramdisk: IpaRamdisk;
  disks: SimDisk[];
  token: string;
  mac: string;
  poweredOff: Promise<void>;
}

async function bootHost(
  id: string, disks: SimDisk[], bootMode: 'UEFI' | 'Legacy', node: Partial<FakeIronic['node']> = {},
): Promise<Host> {
  const mac = `52:54:00:${randomBytes(3).toString('hex').match(/../g)?.join(':')}`;
  const token = randomBytes(32).toString('base64url');
  const ironic = await FakeIronic.start({
    node: { uuid: randomUUID(), properties: {}, instance_info: {}, driver_internal_info: {}, ...node },
    macs: [mac],
  });
  let powerOff = () => {};
  const poweredOff = new Promise<void>((resolve) => (powerOff = resolve));
  const ramdisk = await runner.start({
    host: { id, macs: [mac], cpus: 4, memoryMiB: 8192 },
    params: {
      'ipa-api-url': ironic.url,
      'ipa-agent-token': token,
      'ipa-inspection-callback-url': `${ironic.url}/v1/continue_inspection`,
      'ipa-insecure': '1',
      boot_method: 'vmedia',
      'ipa-debug': '1',
    },
    disks,
    bootMode,
    powerOff: () => powerOff(),
    log: (line) => process.stderr.write(`[${id}] ${line}\n`),
  });
  // Fail fast, with the log's name and its last lines, when the agent dies before it heartbeats: the suite's state
  // directory, the log with it, is gone once the run ends.
  await Promise.race([ironic.heartbeat(), ramdisk.exited.then((exit) => {
    let tail: string;
    try {
      tail = readFileSync(ramdisk.logFile, 'utf8').trimEnd().split('\n').slice(-40).join('\n');
    } catch (err) {
      tail = `(unreadable: ${String(err)})`;
    }
    throw new Error(`IPA exited (${exit.signal ?? exit.code}) before heartbeating; see ${ramdisk.logFile}, which ends:\n${tail}`);
  })]);
  return { ironic, ramdisk, disks, token, mac, poweredOff };
}

describe('the real IPA deploys a simulated host on loop devices', () => {
  let host: Host;
  let images: ImageServer;
  let raw: Buffer;
  let qcow2: Buffer;
  let configDrive: { iso: Buffer; encoded: string };
  const userData = `#cloud-config\nhostname: ipa-deploy-${Date.now()}\n`;
  const dir = join(root, `deploy-${Date.now()}`);
  const GiB = 1024 * MiB;

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    raw = await makeRawImage(join(dir, 'image.raw'), 64);
    qcow2 = await toQcow2(join(dir, 'image.raw'), join(dir, 'image.qcow2'));
    configDrive = await makeConfigDrive({ uuid: 'host-uid-1', 'metal3-name': 'ipa-deploy' }, userData);
    images = await startImageServer({ '/image.raw': raw, '/image.qcow2': qcow2 });
    const disks = [
      sparseDisk(dir, { name: '/dev/sda', sizeBytes: 4.5 * GiB, model: 'ST4000NM0035', vendor: 'SEAGATE',
        serial: 'SN-ROT-0', wwn: '0x5000c500aa000001', rotational: true, hctl: '0:0:0:0' }),
      sparseDisk(dir, { name: '/dev/sdb', sizeBytes: 4.25 * GiB, model: 'SAMSUNG MZ7LH480', vendor: 'ATA',
        serial: 'SN-SSD-1', wwn: '0x5002538e00000002', rotational: false, hctl: '1:0:0:0' }),
    ];
    host = await bootHost('ipa-deploy', disks, 'UEFI');
  });

  afterAll(async () => {
    await host?.ramdisk.stop();
    await host?.ironic.close();
    await images?.stop();
  });

  it('looks up by MAC and heartbeats with the booted token, advertising its own port over auto TLS', async () => {
    const { ironic, ramdisk, token, mac } = host;
    expect(ironic.lookups[0]?.get('addresses')?.split(',')).toEqual([mac]);
    const hb = await ironic.heartbeat();
    expect(hb.agent_token).toBe(token);
    expect(hb.agent_version).toBe('13.0.0');
    expect(hb.callback_url).toBe(`https://127.0.0.1:${ramdisk.port}`);
    expect(hb.agent_verify_ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // The command API answers only with the token, over TLS pinned to that certificate.
    expect((await ironic.agent('GET', '/v1/commands/')).status).toBe(200);
  });

  it('sees the booted command line as /proc/cmdline and the machine\'s system directories read-only', () => {
    // The agent is the launcher's child in its own PID namespace; look at the machine through its eyes.
    const agent = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === host.ramdisk.pid;
      } catch {
        return false;
      }
    });
    expect(agent).toBeDefined();
    const cmdline = readFileSync(`/proc/${agent}/root/proc/cmdline`, 'utf8');
    expect(cmdline).toContain(`ipa-agent-token=${host.token}`);
    expect(cmdline).not.toBe(readFileSync('/proc/cmdline', 'utf8'));
    const mounts = new Map(readFileSync(`/proc/${agent}/mountinfo`, 'utf8').split('\n').filter(Boolean).map((line) => {
      const fields = line.split(' ');
      return [fields[4] ?? '', { options: fields[5] ?? '', fs: fields[fields.indexOf('-') + 1] ?? '' }] as const;
    }));
    for (const dir of ['/etc', '/usr', '/var', '/root']) expect(mounts.get(dir)?.options, dir).toMatch(/^ro\b/);
    expect(mounts.get('/var/log')?.fs).toBe('tmpfs');
    expect(mounts.get('/run/ironic-python-agent')?.fs).toBe('tmpfs');
    expect(mounts.get(host.ramdisk.dir)?.options).toMatch(/^rw\b/);
  });

  it('reports exactly the host\'s loop devices and its NIC in the inspection inventory', () => {
    const inventory = host.ironic.inspections[0]?.inventory as {
      disks: Array<Record<string, unknown>>; interfaces: Array<Record<string, unknown>>;
      cpu: { count: number }; memory: { physical_mb: number }; boot: { current_boot_mode: string };
    };
    expect(inventory.disks).toEqual(host.ramdisk.disks.map(({ disk, device }) => expect.objectContaining({
      name: device, model: disk.model, vendor: disk.vendor, serial: disk.serial, wwn: disk.wwn,
      rotational: disk.rotational, hctl: disk.hctl, size: disk.sizeBytes,
    })));
    expect(inventory.interfaces).toEqual([expect.objectContaining({ name: 'eth0', mac_address: host.mac })]);
    expect(inventory.cpu.count).toBe(4);
    expect(inventory.memory.physical_mb).toBe(8192);
    expect(inventory.boot.current_boot_mode).toBe('uefi');
  });

  async function writeImage(id: string, format: 'raw' | 'qcow2', hints: Record<string, unknown>) {
    const bytes = format === 'raw' ? raw : qcow2;
    host.ironic.node = { ...host.ironic.node, instance_info: { root_device: hints } };
    return host.ironic.step('deploy', {
      interface: 'deploy', step: 'write_image', priority: 80,
      args: {
        image_info: {
          id, urls: [images.url(`/image.${format}`)], disk_format: format, container_format: 'bare',
          stream_raw_images: true, os_hash_algo: 'sha256', os_hash_value: sha256(bytes),
          node_uuid: host.ironic.node.uuid,
        },
        configdrive: configDrive.encoded,
      },
    });
  }

  /** The image's bytes are on `disk` (but for the GPT, which IPA rewrites to add the config drive). */
  async function expectImageAndConfigDrive(disk: SimDisk) {
    const gptEnd = 34 * 512;
    const backupStart = raw.length - 33 * 512;
    expect(sha256(readAt(disk.path, gptEnd, backupStart - gptEnd))).toBe(sha256(raw.subarray(gptEnd, backupStart)));
    const gpt = readGpt(disk.path);
    expect(gpt?.partitions[0]).toMatchObject({ index: 1, firstLba: 2048, name: 'root' });
    // The config drive: a new partition in the last 64 MiB of the disk, holding the ISO with the user data.
    const last = gpt?.partitions.at(-1);
    expect(gpt?.partitions).toHaveLength(2);
    const sectors = disk.sizeBytes / 512;
    expect(last?.firstLba).toBeGreaterThanOrEqual(sectors - (64 * MiB) / 512 - 2048);
    expect(last?.lastLba).toBeLessThan(sectors);
    const start = (last?.firstLba ?? 0) * 512;
    const length = ((last?.lastLba ?? 0) - (last?.firstLba ?? 0) + 1) * 512;
    expect(isoVolumeId(readAt(disk.path, start, 64 * 1024))).toBe('config-2');
    const volume = join(dir, `configdrive-${disk.name.slice(5)}.iso`);
    writeFileSync(volume, readAt(disk.path, start, Math.min(length, configDrive.iso.length)));
    expect(await isoFile(volume, '/openstack/latest/user_data')).toBe(userData);
    expect(JSON.parse(await isoFile(volume, '/openstack/latest/meta_data.json'))).toMatchObject({ uuid: 'host-uid-1' });
  }

  it('writes a raw image onto the disk the serial hint picks, with the config drive at the disk\'s end', async () => {
    const [sda, sdb] = host.disks as [SimDisk, SimDisk];
    const result = await writeImage('image-raw', 'raw', { serial: 's== SN-SSD-1' });
    expect(result.command_status, JSON.stringify(result.command_error)).toBe('SUCCEEDED');
    await expectImageAndConfigDrive(sdb);
    expect(statSync(sda.path).blocks, 'the other disk was never written').toBe(0);
  });

  it('converts a qcow2 image onto the disk the rotational and size hints pick', async () => {
    const result = await writeImage('image-qcow2', 'qcow2', { rotational: true, size: '>= 4' });
    expect(result.command_status, JSON.stringify(result.command_error)).toBe('SUCCEEDED');
    await expectImageAndConfigDrive(host.disks[0] as SimDisk);
  });

  it('reports the root disk identifier through get_partition_uuids', async () => {
    const result = await host.ironic.command('standby.get_partition_uuids', {});
    expect(result.command_status).toBe('SUCCEEDED');
    expect(result.command_result).toEqual({ 'root uuid': expect.stringMatching(/^0x[0-9a-f]{8}$/) });
  });

  it('leaves the EFI variables alone when Ironic asks for a UEFI bootloader on a whole-disk image', async () => {
    const uuids = await host.ironic.command('standby.get_partition_uuids', {});
    const root = (uuids.command_result as Record<string, string>)['root uuid'];
    const result = await host.ironic.command('image.install_bootloader', {
      root_uuid: root, efi_system_part_uuid: null, prep_boot_part_uuid: null, target_boot_mode: 'uefi',
    });
    // A GPT whole-disk image has no MBR disk signature (root uuid 0x00000000): with no efibootmgr on the host,
    // IPA has nothing to do and says so, as a stock ramdisk without efibootmgr would.
    expect(root).toBe('0x00000000');
    expect(result.command_status, JSON.stringify(result.command_error)).toBe('SUCCEEDED');
    const efibootmgr = guardEntries(host.ramdisk).filter((e) => e.argv?.[0] === 'efibootmgr');
    expect(efibootmgr.length).toBeGreaterThan(0);
    expect(efibootmgr.every((e) => e.decision === 'absent')).toBe(true);
  });

  it('fails a root device hint that names a device outside the host, without touching it', async () => {
    const result = await writeImage('image-elsewhere', 'raw', { name: 's== /dev/vda' });
    expect(result.command_status).toBe('FAILED');
    expect(result.command_error?.details).toMatch(/No suitable device was found/);
  });

  it('erases the partition tables and signatures of every disk with erase_devices_metadata', async () => {
    const before = host.disks.map((d) => readGpt(d.path)?.partitions.at(-1));
    const step = { interface: 'deploy', step: 'erase_devices_metadata', priority: 99 };
    const result = await host.ironic.step('clean', step);
    expect(result.command_status, JSON.stringify(result.command_error)).toBe('SUCCEEDED');
    host.disks.forEach((disk, i) => {
      expect(readGpt(disk.path), `${disk.name} still has a GPT`).toBeUndefined();
      expect(isoVolumeId(readAt(disk.path, (before[i]?.firstLba ?? 0) * 512, 64 * 1024))).toBeUndefined();
    });
  });

  it('only ever opened or named the host\'s own loop devices', () => {
    const loops = host.ramdisk.disks.map((d) => d.device);
    const entries = guardEntries(host.ramdisk);
    for (const kname of devicesTouched(entries)) expect(ownedBy(loops, kname), kname).toBe(true);
    // IPA never even asked for another device (a refused command names the refused path in `devices`).
    expect(entries.filter((e) => e.decision === 'refused' && (e.event === 'open' || e.devices?.length))).toEqual([]);
  });

  it('powers the host off through the host\'s power when told to, and leaves no loop device when stopped', async () => {
    const result = await host.ironic.command('standby.power_off', {});
    expect(result.command_status, JSON.stringify(result.command_error)).toBe('SUCCEEDED');
    await host.poweredOff;
    const { disks } = host.ramdisk;
    await host.ramdisk.stop();
    expect((await host.ramdisk.exited).code).not.toBe(0);
    for (const { disk, device } of disks) expect(loopBackingFile(device)).not.toBe(disk.path);
  });
});

describe('erase_devices on the real IPA', () => {
  let host: Host;
  let decoy: LoopDevice;
  let decoyHash: string;
  const dir = join(root, `erase-${Date.now()}`);

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    const disks = [
      sparseDisk(dir, { name: '/dev/sda', sizeBytes: 96 * MiB, model: 'SMALL-A', vendor: 'TEMPERED', serial: 'E-A',
        rotational: true }),
      sparseDisk(dir, { name: '/dev/sdb', sizeBytes: 80 * MiB, model: 'SMALL-B', vendor: 'TEMPERED', serial: 'E-B',
        rotational: false }),
    ];
    for (const d of disks) writeFileSync(d.path, randomBytes(d.sizeBytes));
    // A neighbour block device on the same machine that the host does not own.
    const decoyFile = join(dir, 'decoy.img');
    writeFileSync(decoyFile, randomBytes(32 * MiB));
    decoyHash = sha256(readFileSync(decoyFile));
    decoy = await attachLoopDevice(decoyFile);
    host = await bootHost('ipa-erase', disks, 'Legacy', {
      driver_internal_info: { agent_erase_devices_iterations: 0, agent_erase_devices_zeroize: true },
    });
  });

  afterAll(async () => {
    await host?.ramdisk.stop();
    await host?.ironic.close();
    await decoy?.detach();
  });

  it('will not give a disk file to a second ramdisk while the first one runs', async () => {
    await expect(runner.start({
      host: { id: 'ipa-erase-twin', macs: ['52:54:00:00:00:99'], cpus: 1, memoryMiB: 1024 }, params: {},
      disks: host.disks, bootMode: 'Legacy', powerOff: () => {}, log: () => {},
    })).rejects.toThrow(/still attached to the running ramdisk of ipa-erase/);
  });

  it('zeroes every disk of the host and never touches a device it does not own', async () => {
    const inventory = host.ironic.inspections[0]?.inventory as { disks: Array<{ name: string }> };
    expect(inventory.disks.map((d) => d.name)).toEqual(host.ramdisk.disks.map((d) => d.device));
    const result = await host.ironic.step('clean', { interface: 'deploy', step: 'erase_devices', priority: 10 });
    expect(result.command_status, JSON.stringify(result.command_error)).toBe('SUCCEEDED');
    for (const d of host.disks) expect(allZero(d.path), `${d.name} is all zeros`).toBe(true);
    expect(sha256(readFileSync(decoy.file))).toBe(decoyHash);
    const entries = guardEntries(host.ramdisk);
    const loops = host.ramdisk.disks.map((d) => d.device);
    const touched = devicesTouched(entries);
    for (const kname of touched) expect(ownedBy(loops, kname), kname).toBe(true);
    expect(entries.some((e) => e.argv?.[0] === 'shred' && e.decision === 'allowed')).toBe(true);
    const decoyName = new RegExp(`(^|/)${decoy.device.slice(5)}(p\\d+)?$`);
    const mentioned = entries.flatMap((e) => [...(e.argv ?? []), e.path ?? '', e.device ?? '', ...(e.devices ?? [])]);
    expect(mentioned.filter((m) => decoyName.test(m))).toEqual([]);
  });
});

describe('the guard (self-tests: each plants the fault it exists to stop)', () => {
  it('refuses every attempt on a block device the host does not own, and the machine\'s own tools', async () => {
    const { python, pluginPath } = await ipaAgent(() => {});
    const dir = join(root, `guard-${Date.now()}`);
    mkdirSync(join(dir, 'host-bin'), { recursive: true });
    writeFileSync(join(dir, 'owned.img'), randomBytes(4 * MiB));
    writeFileSync(join(dir, 'decoy.img'), randomBytes(4 * MiB));
    const owned = await attachLoopDevice(join(dir, 'owned.img'));
    const decoy = await attachLoopDevice(join(dir, 'decoy.img'));
    const before = sha256(readFileSync(decoy.file));
    try {
      const script = `
import json, os, subprocess, sys
from tempered_ipa import guard
owned, decoy, d = sys.argv[1], sys.argv[2], sys.argv[3]
guard.install({os.path.basename(owned)}, os.path.join(d, 'host-bin'), os.path.join(d, 'guard.jsonl'))
os.symlink(decoy, os.path.join(d, 'alias'))
def attempt(name, fn):
    try:
        fn(); return [name, 'done']
    except OSError as e:
        return [name, e.__class__.__name__]
run = lambda *a: subprocess.run(list(a), capture_output=True)
results = [
  attempt('read decoy', lambda: open(decoy, 'rb').read(512)),
  attempt('write decoy', lambda: open(decoy, 'r+b').write(b'x')),
  attempt('os.open decoy', lambda: os.open(decoy, os.O_RDWR)),
  attempt('open alias', lambda: open(os.path.join(d, 'alias'), 'r+b')),
  attempt('dd onto decoy', lambda: run('dd', 'if=/dev/zero', 'of=' + decoy, 'count=1')),
  attempt('wipefs decoy', lambda: run('wipefs', '-a', decoy)),
  attempt('sgdisk alias', lambda: run('sgdisk', '-Z', os.path.join(d, 'alias'))),
  attempt('relative path', lambda: subprocess.run(['wipefs', '-a', 'alias'], cwd=d, capture_output=True)),
  attempt('partprobe all', lambda: run('partprobe')),
  attempt('shell', lambda: run('sh', '-c', 'true')),
  attempt('machine tool', lambda: run('dmesg')),
  attempt('aliased machine tool', lambda: run('iptables', '-L')),
  attempt('sysctl write', lambda: open('/proc/sys/vm/drop_caches', 'w')),
  attempt('read owned', lambda: open(owned, 'rb').read(512)),
  attempt('blkid owned', lambda: run('blkid', owned)),
]
print(json.dumps(results))
`;
      const out = await new Promise<string>((resolve, reject) => {
        const env = { ...process.env, PYTHONPATH: pluginPath };
        const child = spawn(python, ['-c', script, owned.device, decoy.device, dir], { env });
        let text = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (text += c.toString()));
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('exit', (code) => {
          if (code === 0) resolve(text);
          else reject(new Error(`guard self-test exited ${code}: ${err}`));
        });
      });
      expect(Object.fromEntries(JSON.parse(out) as Array<[string, string]>)).toEqual({
        'read decoy': 'PermissionError',
        'write decoy': 'PermissionError',
        'os.open decoy': 'PermissionError',
        'open alias': 'PermissionError',
        'dd onto decoy': 'PermissionError',
        'wipefs decoy': 'PermissionError',
        'sgdisk alias': 'PermissionError',
        'relative path': 'PermissionError',
        'partprobe all': 'PermissionError',
        shell: 'PermissionError',
        'machine tool': 'FileNotFoundError',
        'aliased machine tool': 'FileNotFoundError',
        'sysctl write': 'PermissionError',
        'read owned': 'done',
        'blkid owned': 'done',
      });
      expect(sha256(readFileSync(decoy.file))).toBe(before);
    } finally {
      await owned.detach();
      await decoy.detach();
    }
  });

  it('will not start IPA in the machine\'s own mount namespace', async () => {
    const { python, pluginPath } = await ipaAgent(() => {});
    const dir = join(root, `namespace-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    const cmdline = readFileSync('/proc/cmdline', 'utf8');
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({
      hostId: 'outside', disks: [], nics: [], cpus: 1, memoryMiB: 1024, bootMode: 'UEFI', stateDir: dir,
      runnerMountNamespace: readlinkSync('/proc/self/ns/mnt'),
      cmdlineFile: join(dir, 'cmdline'), guardLog: join(dir, 'guard.jsonl'),
    }));
    writeFileSync(join(dir, 'cmdline'), 'ipa-api-url=http://127.0.0.1:9\n');
    const result = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const env = { ...process.env, PYTHONPATH: pluginPath };
      const child = spawn(python, ['-m', 'tempered_ipa.launch', spec], { env });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('exit', (code) => resolve({ code, err }));
    });
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/not in a private mount namespace/);
    expect(readFileSync('/proc/cmdline', 'utf8')).toBe(cmdline);
  });
});

describe('a real IPA whose owner dies', () => {
  it('leaves neither the agent nor its loop devices behind when the owner is killed', async () => {
    const script = fileURLToPath(new URL('../../test/fixtures/ipa-owner.ts', import.meta.url));
    const dir = join(root, `owner-${Date.now()}`);
    const owner = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    owner.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitUntil('the owner to start IPA', async () => out.includes('\n'), { timeoutMs: 120_000, intervalMs: 200 });
    type Started = { pid: number; disks: Array<{ device: string; file: string }> };
    const started = JSON.parse(out.split('\n')[0] ?? '{}') as Started;
    expect(started.disks.length).toBeGreaterThan(0);
    for (const d of started.disks) expect(loopBackingFile(d.device)).toBe(d.file);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    // Any process whose command line names this boot's files: the launcher, IPA, the tools it runs.
    const leftovers = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    });
    expect(leftovers().length).toBeGreaterThan(0);
    owner.kill('SIGKILL');
    await waitUntil('IPA and its loop devices to be gone', async () => !alive(started.pid) && leftovers().length === 0
      && started.disks.every((d) => loopBackingFile(d.device) !== d.file), { timeoutMs: 30_000, intervalMs: 200 });
  });
});
