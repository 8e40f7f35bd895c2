/**
 * The real ironic-python-agent as the deploy ramdisk of a simulated host: the proof that a stock ramdisk works
 * with Tempered. Each boot attaches the host's disk files to loop devices, writes the booted kernel command
 * line and a description of the host (spec.json), and starts IPA 13.0.0 from PyPI through our launcher in
 * private mount and PID namespaces, on a free loopback port. Our hardware manager shows IPA only those loop devices
 * (with the host's disk identities), one NIC per host MAC, and the host's CPUs and memory; our guard refuses any
 * other block device and the machine's own tools. IPA's `poweroff` reaches the host's power through a control
 * socket. Stopping (power off, reset, owner gone) ends IPA and detaches the loop devices; the stack's reaper
 * does both if the owner dies first. docs/deploy-agent.md has the whole story.
 */
import { mkdirSync, mkdtempSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { basename, join } from 'node:path';
import type { Progress } from '../../stack/binaries.ts';
import { ipaAgent, type IpaInstall } from '../../stack/ipa.ts';
import { attachLoopDevice, type LoopDevice } from '../../stack/loop-devices.ts';
import { freePort } from '../../stack/ports.ts';
import { startProcess, type ProcessExit, type Supervised } from '../../stack/processes.ts';
import type { RamdiskBoot, RamdiskRunner, RunningRamdisk, SimDisk } from './runner.ts';

/** Where the runner keeps each boot's files (spec, command line, logs, IPA's temp files). */
export interface IpaRunnerOptions {
  stateDir: string;
  progress?: Progress;
}

/** A running real IPA, with what tests and tools need to look at it. */
export interface IpaRamdisk extends RunningRamdisk {
  /** The loop device each of the host's disks is attached to, in the host's order. */
  readonly disks: ReadonlyArray<{ disk: SimDisk; device: string }>;
  /** The port IPA listens on at 127.0.0.1 (HTTPS once it has heartbeated with auto TLS). */
  readonly port: number;
  /** This boot's directory, IPA's log and the guard's JSON-lines record of devices and commands. */
  readonly dir: string;
  readonly logFile: string;
  readonly guardLog: string;
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
}

/** A runner that boots the real IPA; one serves every host that uses it. */
export interface IpaRunner extends RamdiskRunner {
  start(boot: RamdiskBoot): Promise<IpaRamdisk>;
}

/** The kernel command line the parsed parameters came from (a bare flag has the empty string as value). */
export function kernelCommandLine(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([key, value]) => (value === '' ? key : `${key}=${value}`))
    .join(' ');
}

/** Answers the simulated host's `poweroff` (tempered_ipa/host_tools.py) with the host's own power-off. */
function controlServer(path: string, boot: RamdiskBoot): Promise<Server> {
  const server = createServer((socket) => {
    let line = '';
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('data', (chunk: string) => {
      line += chunk;
      if (!line.includes('\n')) return;
      const verb = line.trim();
      if (verb === 'poweroff') {
        boot.log('ipa: the agent powered the host off');
        socket.end('ok\n');
        setImmediate(() => boot.powerOff());
      } else {
        socket.end(`unknown request ${JSON.stringify(verb)}\n`);
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

/** Creates the runner; IPA and its tools are installed on first use (cached across runs). */
export function ipaRunner(options: IpaRunnerOptions): IpaRunner {
  const progress = options.progress ?? (() => {});
  let install: Promise<IpaInstall> | undefined;
  mkdirSync(options.stateDir, { recursive: true });
  // A disk file serves one ramdisk at a time: two loop devices over one file would each cache its own view.
  const holders = new Map<string, { hostId: string; released?: Promise<void> }>();

  return {
    async start(boot) {
      for (const disk of boot.disks) {
        const holder = holders.get(disk.path);
        if (holder?.released) await holder.released;
        else if (holder) throw new Error(`${disk.path} is still attached to the running ramdisk of ${holder.hostId}`);
      }
      const holder: { hostId: string; released?: Promise<void> } = { hostId: boot.host.id };
      for (const disk of boot.disks) holders.set(disk.path, holder);
      const loops: LoopDevice[] = [];
      let server: Server | undefined;
      let proc: Supervised | undefined;
      const release = () => (holder.released ??= (async () => {
        try {
          await proc?.stop();
          await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
          for (const loop of loops.reverse()) await loop.detach();
        } finally {
          for (const disk of boot.disks) if (holders.get(disk.path) === holder) holders.delete(disk.path);
        }
      })());
      try {
        install ??= ipaAgent(progress);
        const { python, pluginPath, tools } = await install;
        const safeId = boot.host.id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40);
        const dir = mkdtempSync(join(options.stateDir, `ipa-${safeId}-`));
        const tmp = join(dir, 'tmp');
        mkdirSync(tmp);
        for (const disk of boot.disks) loops.push(await attachLoopDevice(disk.path, tools.losetup));
        const port = await freePort();
        const cmdlineFile = join(dir, 'cmdline');
        writeFileSync(cmdlineFile, `${kernelCommandLine(boot.params)}\n`);
        // In Linux's abstract namespace: no file, and no limit from the 107 bytes a socket path may have (the
        // run's directory can be deep: test/run-tiers.ts puts a whole test run under one).
        const controlSocket = `\0tempered-ipa-${process.pid}-${basename(dir)}`;
        server = await controlServer(controlSocket, boot);
        const guardLog = join(dir, 'guard.jsonl');
        const specFile = join(dir, 'spec.json');
        const spec = {
          hostId: boot.host.id,
          systemSerial: boot.host.systemUuid ?? boot.host.id,
          cpus: boot.host.cpus,
          memoryMiB: boot.host.memoryMiB,
          bootMode: boot.bootMode,
          disks: boot.disks.map((disk, i) => ({
            device: loops[i]?.device, name: disk.name, model: disk.model, vendor: disk.vendor, serial: disk.serial,
            wwn: disk.wwn, rotational: disk.rotational, hctl: disk.hctl, sizeBytes: disk.sizeBytes,
          })),
          nics: boot.host.macs.map((mac, i) => ({ name: `eth${i}`, mac, ipv4: i === 0 ? '127.0.0.1' : undefined })),
          stateDir: dir,
          // The launcher refuses to mount anything while still in this namespace (the machine's).
          runnerMountNamespace: readlinkSync('/proc/self/ns/mnt'),
          cmdlineFile,
          controlSocket,
          guardLog,
          // The listen and advertise address are the runner's (a free loopback port), as the ramdisk's network
          // would give them. No waiting for disks: the loop devices exist before IPA starts, and the wait would
          // have IPA's generic manager scan the machine's own disks for a root device.
          ipaArgs: ['--listen_host', '127.0.0.1', '--listen_port', String(port),
            '--advertise_host', '127.0.0.1', '--advertise_port', String(port), '--disk_wait_attempts', '0'],
        };
        writeFileSync(specFile, `${JSON.stringify(spec, null, 2)}\n`);
        const logFile = join(dir, 'ipa.log');
        // A private mount namespace for the launcher's mounts, and a PID namespace with its own /proc: IPA's
        // `fuser` (is anyone holding the disk?) then sees the simulated host's processes, as in a ramdisk.
        proc = startProcess(`ironic-python-agent ${boot.host.id}`, tools.unshare, [
          '--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', '--kill-child', '--',
          python, '-m', 'tempered_ipa.launch', specFile,
        ], {
          logFile,
          env: {
            ...process.env,
            PYTHONPATH: pluginPath,
            TEMPERED_IPA_SPEC: specFile,
            TMPDIR: tmp,
            PYTHONUNBUFFERED: '1',
            // Images come from this machine's loopback; a proxy in the environment must not catch them.
            NO_PROXY: '127.0.0.1,localhost',
            no_proxy: '127.0.0.1,localhost',
          },
        });
        const running = proc;
        boot.log(`ipa: ironic-python-agent started (pid ${running.pid}, port ${port}, disks ` +
          `${loops.map((l, i) => `${boot.disks[i]?.name}=${l.device}`).join(' ')}, log ${logFile})`);
        void running.exited.then((exit) => boot.log(`ipa: ironic-python-agent exited (${exit.signal ?? exit.code})`));
        return {
          disks: boot.disks.map((disk, i) => ({ disk, device: loops[i]?.device ?? '' })),
          port,
          dir,
          logFile,
          guardLog,
          pid: running.pid,
          exited: running.exited,
          stop: release,
        };
      } catch (e) {
        await release();
        throw e;
      }
    },
  };
}
