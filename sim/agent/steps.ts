/**
 * The deploy and clean steps the simulated agent offers, as IPA's GenericHardwareManager lists them
 * (`get_deploy_steps`, `get_clean_steps`: same names, priorities and flags), plus the custom deploy steps a test
 * registers (Metal3's `customDeploy.method`), and the erase steps' work on the disk files. Steps that have no
 * meaning for a simulated machine (burn-in, pstore, NVRAM, software RAID, file injection) succeed without doing
 * anything and say so in the ramdisk's log; the steps that matter (`write_image`, `erase_devices_metadata`,
 * `erase_devices`, and software RAID's `create_configuration` and `delete_configuration`, sim/agent/software-raid.ts)
 * change the disks.
 */
import { destroyDiskMetadata, zeroDisk } from '../partitions.ts';
import type { SimDisk } from './runner.ts';
import { type MdDevice, holderDisks, mdDisk, metadataRanges, mirror, zeroMd } from './software-raid.ts';

/** One step as IPA lists it. */
export interface StepDefinition {
  step: string;
  priority: number;
  interface: string;
  reboot_requested: boolean;
  abortable?: boolean;
}

/** The hardware manager name and version IPA reports (`hardware_manager_version`). */
export const GENERIC_MANAGER = { name: 'generic_hardware_manager', version: '1.2' } as const;
/** The manager that owns steps registered by tests. */
export const CUSTOM_MANAGER = { name: 'tempered_sim_hardware_manager', version: '1.0' } as const;

/** What a custom deploy step gets. */
export interface CustomStepContext {
  /** The BMC id of the host. */
  hostId: string;
  disks: readonly SimDisk[];
  /** The step's `args`. */
  args: Record<string, unknown>;
  /** The node Ironic sent with the step. */
  node: Record<string, unknown>;
  signal: AbortSignal;
  log(line: string): void;
}

/** A custom deploy step: resolves with the step's result, or throws (an `IpaError` for a typed failure). */
export type CustomDeployStep = (context: CustomStepContext) => Promise<unknown>;

const cleanable = (step: string, priority: number, iface = 'deploy'): StepDefinition => ({
  step,
  priority,
  interface: iface,
  reboot_requested: false,
  abortable: true,
});
const deployable = (step: string, iface = 'deploy'): StepDefinition => ({
  step,
  priority: 0,
  interface: iface,
  reboot_requested: false,
});

/** IPA's clean steps. */
export const CLEAN_STEPS: readonly StepDefinition[] = [
  cleanable('erase_devices', 10),
  cleanable('erase_devices_metadata', 99),
  cleanable('erase_devices_express', 0),
  cleanable('erase_pstore', 0),
  cleanable('clean_uefi_nvram', 0),
  cleanable('delete_configuration', 0, 'raid'),
  cleanable('create_configuration', 0, 'raid'),
  cleanable('burnin_cpu', 0),
  cleanable('burnin_gpu', 0),
  cleanable('burnin_disk', 0),
  cleanable('burnin_memory', 0),
  cleanable('burnin_network', 0),
];

/** IPA's deploy steps. */
export const DEPLOY_STEPS: readonly StepDefinition[] = [
  deployable('erase_devices_metadata'),
  deployable('apply_configuration', 'raid'),
  deployable('clean_uefi_nvram'),
  deployable('write_image'),
  deployable('inject_files'),
  deployable('execute_bootc_install'),
];

/** Steps listed for fidelity that change nothing on a simulated machine. */
export const NO_OP_STEPS = new Set([
  'erase_pstore',
  'clean_uefi_nvram',
  'apply_configuration',
  'inject_files',
  'burnin_cpu',
  'burnin_gpu',
  'burnin_disk',
  'burnin_memory',
  'burnin_network',
]);

/** The `hardware_manager_version` map. */
export function managerVersions(custom: boolean): Record<string, string> {
  return {
    [GENERIC_MANAGER.name]: GENERIC_MANAGER.version,
    ...(custom ? { [CUSTOM_MANAGER.name]: CUSTOM_MANAGER.version } : {}),
  };
}

/** `get_deploy_steps`' `deploy_steps`: IPA's plus the registered custom steps. */
export function deployStepsResult(custom: readonly string[]): Record<string, StepDefinition[]> {
  const out: Record<string, StepDefinition[]> = { GenericHardwareManager: [...DEPLOY_STEPS] };
  if (custom.length > 0) out['TemperedSimHardwareManager'] = custom.map((name) => deployable(name));
  return out;
}

/**
 * `erase_devices_metadata` on every disk; returns how many disks were erased. With software RAID, IPA leaves the
 * RAID members out and erases the md devices instead (their writes reach every member of a mirror).
 */
export async function eraseMetadata(disks: readonly SimDisk[], mdDevices: readonly MdDevice[] = []): Promise<number> {
  const holders = holderDisks(mdDevices);
  const plain = disks.filter((disk) => !holders.has(disk.name));
  // IPA works through devices in reverse name order so partitions go before their disks.
  for (const disk of [...plain].sort((a, b) => b.name.localeCompare(a.name)))
    await destroyDiskMetadata(disk.path, disk.sizeBytes);
  for (const md of mdDevices) {
    const ranges = await metadataRanges(mdDisk(md));
    await destroyDiskMetadata(md.path, md.sizeBytes);
    await mirror(md, disks, ranges);
  }
  return plain.length + mdDevices.length;
}

/** `erase_devices`: every disk zeroed (RAID members through their md devices); IPA's result, `{device: null}` each. */
export async function eraseDevices(disks: readonly SimDisk[], mdDevices: readonly MdDevice[] = []): Promise<Record<string, null>> {
  const holders = holderDisks(mdDevices);
  const result: Record<string, null> = {};
  for (const disk of disks) {
    if (holders.has(disk.name)) continue;
    await zeroDisk(disk.path, disk.sizeBytes);
    result[disk.name] = null;
  }
  for (const md of mdDevices) {
    await zeroMd(md, disks);
    result[md.name] = null;
  }
  return result;
}
