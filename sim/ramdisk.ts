/**
 * What a simulated host runs after it boots. From an inserted virtual CD: the ISO's boot configuration is read
 * (GRUB for UEFI, ISOLINUX for legacy BIOS); a kernel command line with `ipa-api-url` (or an inspection
 * callback) starts a deploy ramdisk with the host's runner (`sim` or `ipa`), anything else is a live ISO and
 * nothing more happens. A power-off or reset stops the ramdisk. From its disk: the host records what it found
 * there (the partition table, a `config-2` config drive and its files, the image the agent last wrote), and
 * its simulated operating system (`sim/os/`) boots with the config drive read from those disk bytes: a
 * power-off, a reset or a ramdisk boot stops it.
 */
import { type Iso9660, withFileIso } from '../lib/iso9660.ts';
import type { RamdiskBoot, RamdiskRunner, RunningRamdisk, SimDisk } from './agent/runner.ts';
import type { HostFacts } from './agent/inventory.ts';
import type { HostAgentState, WriteRecord } from './agent/settings.ts';
import { mdDisk } from './agent/software-raid.ts';
import type { SimBmc } from './bmc.ts';
import type { HostOs } from './os/host-os.ts';
import { httpReader, isoKernelParams, redactParams } from './boot-iso.ts';
import type { BootRecord, HostEvent } from './host.ts';
import { type Partition, readPartitionTable } from './partitions.ts';
import { asObject } from './service-model.ts';
import { type JsonObject, linkOf } from './tree.ts';

/** How long reading a booted ISO's boot configuration may take. */
const ISO_READ_TIMEOUT_MS = 60_000;

/** Which ramdisk runner a host uses. */
export type AgentKind = 'sim' | 'ipa';
/** The runner kinds. */
export const AGENT_KINDS: readonly AgentKind[] = ['sim', 'ipa'];

/** The deploy ramdisk a host booted, as `ramdisk()` reports it. */
export interface RamdiskStatus {
  kind: AgentKind;
  /** The boot (`BootRecord.seq`) that started it. */
  bootSeq: number;
  state: 'reading-iso' | 'starting' | 'running' | 'stopped' | 'failed';
  /** The kernel parameters, secrets hidden. */
  params: Record<string, string>;
  startedAt: string;
  error: string | null;
}

/** What a host found on its disk when it booted from it. */
export interface DiskBootRecord {
  seq: number;
  at: string;
  /** The disk booted (the one the agent wrote last, else the first with a partition table), or null. */
  device: string | null;
  partitionTable: 'gpt' | 'dos' | null;
  partitions: Partition[];
  /** The `config-2` volume found on a partition, with the paths of its files. */
  configDrive: { partition: number; files: string[] } | null;
  /** The last image the simulated agent wrote to that disk (null after the real IPA, which keeps its own). */
  image: WriteRecord | null;
}

/** The files of a config drive (`openstack/latest/meta_data.json`, `user_data`, ...), by path without leading slash. */
export type ConfigDriveFiles = Record<string, Buffer>;

/**
 * Reads the config drive on a disk: the partition whose ISO 9660 volume is labelled `config-2`, every file in
 * it. Undefined when the disk has none. This is what a simulated operating system reads at its first boot.
 */
export async function readConfigDrive(
  disk: SimDisk,
): Promise<{ partition: number; files: ConfigDriveFiles } | undefined> {
  const table = await readPartitionTable(disk.path, disk.sizeBytes);
  for (const partition of table?.partitions ?? []) {
    const files = await withFileIso(disk.path, partition.startBytes, async (iso) => {
      if (iso.volumeId.toLowerCase() !== 'config-2') return undefined;
      return collect(iso, '/', {});
    }).catch(() => undefined);
    if (files) return { partition: partition.number, files };
  }
  return undefined;
}

async function collect(iso: Iso9660, dir: string, out: ConfigDriveFiles): Promise<ConfigDriveFiles> {
  for (const entry of (await iso.list(dir)) ?? []) {
    const path = `${dir === '/' ? '' : dir}/${entry.name}`;
    if (entry.directory) await collect(iso, path, out);
    else out[path.slice(1)] = (await iso.readFile(path)) ?? Buffer.alloc(0);
  }
  return out;
}

/** Identity and size of a host as its BMC's mockup describes it (public view: unique MACs and UUID). */
export interface HostIdentity {
  facts: HostFacts;
  cpus: number;
  memoryMiB: number;
  systemUuid: string | undefined;
}

/** Reads the host's identity, CPUs, memory and firmware from the BMC's system and processors. */
export function hostIdentity(bmc: SimBmc): HostIdentity {
  const model = bmc.model;
  const system: JsonObject = bmc.toPublic(bmc.render(model.systemPath) ?? {});
  const text = (value: unknown) => (typeof value === 'string' ? value.trim() : '');
  const summary = asObject(system['ProcessorSummary']);
  const memory = asObject(system['MemorySummary']);
  const processorsPath = linkOf(system['Processors']);
  const processorLinks = processorsPath
    ? model.tree.resources.get(bmc.rewriter.toBase(processorsPath))?.['Members']
    : undefined;
  const firstLink = Array.isArray(processorLinks) ? linkOf(processorLinks[0]) : undefined;
  const processor = firstLink ? (model.tree.resources.get(bmc.rewriter.toBase(firstLink)) ?? {}) : {};
  const count = typeof summary['Count'] === 'number' ? summary['Count'] : 1;
  const threads = typeof processor['TotalThreads'] === 'number' ? processor['TotalThreads'] * count : undefined;
  const logical = typeof summary['LogicalProcessorCount'] === 'number' ? summary['LogicalProcessorCount'] : undefined;
  const gib = typeof memory['TotalSystemMemoryGiB'] === 'number' ? memory['TotalSystemMemoryGiB'] : 16;
  const arch =
    text(processor['ProcessorArchitecture']) === 'ARM' || /aarch64|arm/i.test(text(processor['InstructionSet']))
      ? 'aarch64'
      : 'x86_64';
  const manufacturer = text(system['Manufacturer']);
  return {
    facts: {
      manufacturer,
      productName: text(system['Model']),
      serialNumber: text(system['SerialNumber']),
      biosVendor: manufacturer,
      biosVersion: text(system['BiosVersion']),
      cpuModel: text(processor['Model']) || text(summary['Model']),
      cpuMHz: typeof processor['MaxSpeedMHz'] === 'number' ? processor['MaxSpeedMHz'] : null,
      architecture: arch,
    },
    cpus: logical ?? threads ?? count,
    memoryMiB: Math.round(gib * 1024),
    systemUuid: typeof system['UUID'] === 'string' ? system['UUID'] : undefined,
  };
}

/** What a host's boot controller needs. */
export interface HostBootOptions {
  bmc: SimBmc;
  kind: AgentKind;
  runners: Partial<Record<AgentKind, RamdiskRunner>>;
  state: HostAgentState;
  /** Creates the host's disk files if they do not exist yet. */
  ensureDisks(): Promise<void>;
  /** The operating system the host runs when it boots from its disk. */
  os?: HostOs;
  log(line: string): void;
}

/** Follows one host's boots: starts and stops its deploy ramdisk, records its disk boots. */
export class HostBoots {
  kind: AgentKind;
  private status: RamdiskStatus | null = null;
  private diskBoot: DiskBootRecord | null = null;
  /** The ramdisk of the current boot, from the moment its runner is asked to start it. */
  private current: { status: RamdiskStatus; ramdisk: Promise<RunningRamdisk | undefined> } | null = null;
  /** Bumped by every boot and power-off, so work started for an older boot notices it is stale. */
  private generation = 0;
  private readonly listeners = new Set<(record: DiskBootRecord) => void>();
  private readonly unsubscribe: () => void;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly options: HostBootOptions;

  constructor(options: HostBootOptions) {
    this.options = options;
    this.kind = options.kind;
    this.unsubscribe = options.bmc.host.on((event) => this.onEvent(event));
  }

  /** The deploy ramdisk of the current or last boot. */
  ramdisk(): RamdiskStatus | null {
    return this.status ? { ...this.status, params: { ...this.status.params } } : null;
  }

  /** The last disk boot. */
  lastDiskBoot(): DiskBootRecord | null {
    return this.diskBoot;
  }

  /** Subscribes to disk boots (the hook for a simulated OS); returns the unsubscribe function. */
  onDiskBoot(listener: (record: DiskBootRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when the boot work started so far (ISO reads, ramdisk starts, disk inspection) has settled. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Stops the ramdisk and stops following the host. */
  async dispose(): Promise<void> {
    this.unsubscribe();
    this.generation += 1;
    this.options.os?.powerOff();
    await this.stopRamdisk();
    await this.settled();
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) =>
      this.options.log(`boot handling failed: ${(error as Error).message}`),
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  private onEvent(event: HostEvent): void {
    if (event.type === 'power') {
      if (event.state === 'Off') {
        this.generation += 1;
        this.options.os?.powerOff();
        this.track(this.stopRamdisk());
      }
      return;
    }
    this.generation += 1;
    // Whatever the host boots now, the OS that ran before is gone.
    this.options.os?.powerOff();
    const record = event.record;
    if (record.failure) return;
    if (record.image && (record.slot !== null || record.source === 'UefiHttp'))
      this.track(this.bootIso(record, this.generation));
    else if (record.source === 'Hdd') this.track(this.bootDisk(record, this.generation));
  }

  private async stopRamdisk(): Promise<void> {
    const current = this.current;
    this.current = null;
    if (!current) return;
    const ramdisk = await current.ramdisk;
    await ramdisk?.stop();
    if (current.status.state !== 'failed') current.status.state = 'stopped';
    this.options.log('deploy ramdisk stopped');
  }

  private async bootIso(record: BootRecord, generation: number): Promise<void> {
    const image = record.image ?? '';
    const kind = this.kind;
    const status: RamdiskStatus = {
      kind,
      bootSeq: record.seq,
      state: 'reading-iso',
      params: {},
      startedAt: new Date().toISOString(),
      error: null,
    };
    this.status = status;
    let params: Record<string, string> | undefined;
    try {
      // A server that stops answering must not leave the boot hanging: firmware gives up too.
      params = await isoKernelParams(httpReader(image, AbortSignal.timeout(ISO_READ_TIMEOUT_MS)), record.mode);
    } catch (error) {
      this.options.log(
        `booted ${image}: not a readable ISO 9660 image (${(error as Error).message}); treated as a live ISO`,
      );
    }
    const isRamdisk =
      params !== undefined &&
      (params['ipa-api-url'] !== undefined || params['ipa-inspection-callback-url'] !== undefined);
    // A live ISO, or a boot the host has already left (it powered off while the ISO was read).
    if (!params || !isRamdisk || generation !== this.generation) {
      if (this.status === status) this.status = null;
      return;
    }
    status.params = redactParams(params);
    status.state = 'starting';
    const runner = this.options.runners[kind];
    if (!runner) {
      status.state = 'failed';
      status.error = `no '${kind}' ramdisk runner is configured in this simulator`;
      this.options.log(status.error);
      return;
    }
    this.options.state.counters.ramdiskBoots += 1;
    const bmc = this.options.bmc;
    const identity = hostIdentity(bmc);
    const boot: RamdiskBoot = {
      host: {
        id: bmc.id,
        macs: [...bmc.macs],
        ...(identity.systemUuid ? { systemUuid: identity.systemUuid } : {}),
        cpus: identity.cpus,
        memoryMiB: identity.memoryMiB,
      },
      params,
      disks: bmc.disks.map((disk) => ({ ...disk })),
      bootMode: record.mode,
      powerOff: () => {
        bmc.host.reset('ForceOff');
      },
      log: (line) => this.options.log(line),
    };
    const ramdisk = (async () => {
      await this.options.ensureDisks();
      return runner.start(boot);
    })().catch((error: unknown) => {
      status.state = 'failed';
      status.error = (error as Error).message;
      this.options.log(`the ${kind} ramdisk did not start: ${status.error}`);
      return undefined;
    });
    // Set at once, so a power-off from now on finds it and stops it (when it has started).
    this.current = { status, ramdisk };
    if ((await ramdisk) && status.state === 'starting') {
      status.state = 'running';
      this.options.log(`deploy ramdisk (${kind}) running: ${JSON.stringify(status.params)}`);
    }
  }

  private async bootDisk(record: BootRecord, generation: number): Promise<void> {
    await this.options.ensureDisks();
    const state = this.options.state;
    // The OS assembles the software RAID the agent built and boots from the md device that holds the image.
    const disks = [...state.mdDevices.map(mdDisk), ...this.options.bmc.disks];
    state.counters.diskBoots += 1;
    let chosen: SimDisk | undefined = disks.find((disk) => state.writes.has(disk.name));
    let table = chosen ? await readPartitionTable(chosen.path, chosen.sizeBytes) : undefined;
    if (!chosen || !table) {
      for (const disk of disks) {
        table = await readPartitionTable(disk.path, disk.sizeBytes);
        if (table) {
          chosen = disk;
          break;
        }
      }
    }
    const drive = chosen && table ? await readConfigDrive(chosen) : undefined;
    const found: DiskBootRecord = {
      seq: record.seq,
      at: record.at,
      device: table && chosen ? chosen.name : null,
      partitionTable: table?.type ?? null,
      partitions: table?.partitions ?? [],
      configDrive: drive ? { partition: drive.partition, files: Object.keys(drive.files).sort() } : null,
      image: chosen && table ? (state.writes.get(chosen.name) ?? null) : null,
    };
    if (generation !== this.generation) return;
    this.diskBoot = found;
    this.options.log(
      `booted from disk ${found.device ?? '(none bootable)'}${found.configDrive ? ' with a config drive' : ''}`,
    );
    if (found.device !== null && this.options.os) {
      // What identifies the installation: a new image (or new partitions) on the disk is a new OS.
      const installation = JSON.stringify([
        found.device,
        found.partitions.map((p) => p.uuid ?? `${p.startBytes}+${p.sizeBytes}`),
        found.image?.at ?? null,
      ]);
      const device = drive ? partitionDevice(found.device, drive.partition) : found.device;
      this.options.os.bootFromDisk(drive?.files ?? null, device, installation);
    }
    for (const listener of this.listeners) listener(found);
  }
}

/** Linux's name of a disk's partition: `/dev/sda2`, `/dev/nvme0n1p2`. */
export function partitionDevice(disk: string, partition: number): string {
  return `${disk}${/\d$/.test(disk) ? 'p' : ''}${partition}`;
}
