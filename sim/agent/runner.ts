/**
 * The boundary between a simulated host and the deploy ramdisk it boots. When a simulated BMC's host powers on
 * from an inserted virtual CD whose kernel command line carries `ipa-api-url`, the simulator starts a ramdisk
 * runner for that host; a power-off or reset stops it. Two runners implement this interface: the simulator's
 * own agent (`sim/agent/`, for scale and faults) and the real ironic-python-agent run as a process against the
 * host's disk files (the proof that stock ramdisks work). The runner is chosen per host (`agent: 'sim' | 'ipa'`).
 */

/** One disk of a simulated host: a sparse file holding its bytes, and what the hardware reports about it. */
export interface SimDisk {
  /** The device name the ramdisk sees, e.g. `/dev/sda` or `/dev/nvme0n1`. */
  name: string;
  /** The file holding the disk's bytes (sparse: no bytes on the host's disk until written). */
  path: string;
  sizeBytes: number;
  model: string;
  vendor: string;
  serial: string;
  wwn?: string;
  rotational: boolean;
  /** SCSI host:channel:target:lun, e.g. `0:0:0:0`; absent for NVMe. */
  hctl?: string;
}

/** What a runner gets when a host boots a deploy ramdisk. */
export interface RamdiskBoot {
  /** The BMC's system id and what the ramdisk needs to identify itself. */
  host: { id: string; macs: string[]; systemUuid?: string; cpus: number; memoryMiB: number };
  /** The booted kernel command line, parsed (ipa-api-url, ipa-agent-token, ipa-inspection-callback-url, ...). */
  params: Record<string, string>;
  disks: SimDisk[];
  bootMode: 'UEFI' | 'Legacy';
  /** What the agent's power_off does: the host powers itself off (the BMC sees it). */
  powerOff(): void;
  log(line: string): void;
}

/** A ramdisk that is running; `stop` ends it (the host lost power or rebooted). */
export interface RunningRamdisk {
  stop(): Promise<void>;
}

/** Starts ramdisks; one runner serves every host that uses it. */
export interface RamdiskRunner {
  start(boot: RamdiskBoot): Promise<RunningRamdisk>;
}
