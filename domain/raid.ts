/**
 * Hardware RAID as Metal3 asks for it (`spec.raid.hardwareRAIDVolumes`) planned against what a BMC's storage
 * controllers have: which volumes to delete, which to create on which controller with which drives and size, or
 * why it cannot be done. Pure, so the same answer comes from a workflow, the bridge (a clear preparation error
 * before anything is sent) and the driver.
 *
 * The rules are BMO's (`buildTargetHardwareRAIDCfg`: unique names, `controller` required with `physicalDisks`,
 * `numberOfPhysicalDisks` equal to their count) and Ironic's Redfish RAID (`raid.py`: levels and their Redfish
 * RAIDType, disk counts, size from the smallest drive and the level's overhead, homogeneous drives of the asked
 * rotation, one controller per volume). As BMO does, a configuration that differs from what the host has
 * replaces it whole: every existing volume is deleted, then the wanted ones are created. `[]` deletes them all;
 * no `hardwareRAIDVolumes` leaves the host as it is.
 */
import type { HardwareRaidVolume } from './baremetalhost.schema.ts';

/** A physical drive behind a controller. */
export interface RaidDrive {
  id: string;
  path: string;
  capacityBytes: number;
  /** HDD rotates; SSD and NVMe do not. */
  rotational: boolean;
  mediaType: string | undefined;
  protocol: string | undefined;
}

/** A volume a controller has. */
export interface RaidVolume {
  id: string;
  path: string;
  name: string | undefined;
  /** Redfish RAIDType (`RAID1`), or undefined when the BMC does not say (such volumes are not Metal3's). */
  raidType: string | undefined;
  capacityBytes: number;
  /** Ids of its drives. */
  drives: string[];
  /** A change the BMC holds for the next reboot (`Delete`), from the volume's `Operations`. */
  pendingOperation: string | undefined;
}

/** A storage controller and what it can do. */
export interface RaidController {
  /** The Storage resource's Id, what Metal3's `controller` names (e.g. `RAID.Integrated.1-1`). */
  id: string;
  path: string;
  name: string | undefined;
  /** SupportedRAIDTypes; empty for a controller that does no RAID (an NVMe backplane, a plain HBA). */
  supportedRaidTypes: string[];
  drives: RaidDrive[];
  volumes: RaidVolume[];
  /** The Volumes collection, where volumes are created; undefined when the controller has none. */
  volumesPath: string | undefined;
  /** `@Redfish.OperationApplyTimeSupport` of the Volumes collection (`Immediate`, `OnReset`). */
  applyTimes: string[];
}

/** A Metal3 RAID level, as Redfish calls it and how many drives it takes. */
interface LevelRule {
  raidType: string;
  minDisks: number;
  maxDisks: number;
  /** Whole drives of capacity spent on redundancy (per the whole volume). */
  overhead: (disks: number) => number;
  /** The disk count must be a multiple of this. */
  multipleOf: number;
}

/** Metal3 level → Redfish RAIDType and disk rules (Ironic's RAID_LEVELS; RAID 2 has no Redfish RAIDType). */
export const RAID_LEVEL_RULES: Readonly<Record<string, LevelRule>> = {
  '0': { raidType: 'RAID0', minDisks: 1, maxDisks: 1000, overhead: () => 0, multipleOf: 1 },
  '1': { raidType: 'RAID1', minDisks: 2, maxDisks: 2, overhead: (n) => n / 2, multipleOf: 2 },
  '5': { raidType: 'RAID5', minDisks: 3, maxDisks: 1000, overhead: () => 1, multipleOf: 1 },
  '6': { raidType: 'RAID6', minDisks: 4, maxDisks: 1000, overhead: () => 2, multipleOf: 1 },
  '1+0': { raidType: 'RAID10', minDisks: 4, maxDisks: 1000, overhead: (n) => n / 2, multipleOf: 2 },
  '5+0': { raidType: 'RAID50', minDisks: 6, maxDisks: 1000, overhead: () => 2, multipleOf: 2 },
  '6+0': { raidType: 'RAID60', minDisks: 8, maxDisks: 1000, overhead: () => 4, multipleOf: 2 },
};

/** The Metal3 level of a Redfish RAIDType, or undefined. */
export function levelOfRaidType(raidType: string | undefined): string | undefined {
  return Object.entries(RAID_LEVEL_RULES).find(([, rule]) => rule.raidType === raidType)?.[0];
}

/** The largest volume `disks` drives make at `level`: the smallest drive times the drives that hold data. */
export function raidCapacityBytes(level: string, disks: readonly Pick<RaidDrive, 'capacityBytes'>[]): number {
  const rule = RAID_LEVEL_RULES[level];
  if (!rule || disks.length === 0) return 0;
  const smallest = Math.min(...disks.map((d) => d.capacityBytes));
  return smallest * (disks.length - rule.overhead(disks.length));
}

/** Whether `count` drives can make a volume at `level`. */
export function diskCountFits(level: string, count: number): boolean {
  const rule = RAID_LEVEL_RULES[level];
  return rule !== undefined && count >= rule.minDisks && count <= rule.maxDisks && count % rule.multipleOf === 0;
}

/** One volume to create. */
export interface RaidCreate {
  /** Index of the volume in `hardwareRAIDVolumes`. */
  index: number;
  controller: string;
  volumesPath: string;
  raidType: string;
  /** Paths of the drives (what Redfish `Links.Drives` takes) and their ids. */
  drives: string[];
  driveIds: string[];
  /** Undefined for "as large as possible": the controller computes it (Ironic omits CapacityBytes for MAX). */
  capacityBytes: number | undefined;
  name: string | undefined;
}

/** What to do to reach a RAID configuration. */
export type RaidPlan =
  | { ok: true; unchanged: boolean; deletes: { controller: string; volume: RaidVolume }[]; creates: RaidCreate[] }
  | { ok: false; message: string };

const GIB = 1024 ** 3;

function refuse(message: string): RaidPlan {
  return { ok: false, message };
}

function describeVolume(index: number, volume: HardwareRaidVolume): string {
  return `hardwareRAIDVolumes[${index}]${volume.name ? ` (${volume.name})` : ''}`;
}

/** Checks that `spec` is well formed (BMO's webhook-level rules), whatever the host. */
function checkSpec(volumes: readonly HardwareRaidVolume[]): string | undefined {
  const names = new Map<string, number>();
  for (const [index, volume] of volumes.entries()) {
    if (volume.name) {
      const seen = names.get(volume.name);
      if (seen !== undefined) {
        const pair = `hardwareRAIDVolumes[${index}] and hardwareRAIDVolumes[${seen}]`;
        return `the names (${volume.name}) of ${pair} are repeated`;
      }
      names.set(volume.name, index);
    }
    if (volume.physicalDisks?.length && !volume.controller) {
      return `${describeVolume(index, volume)}: 'controller' must be specified if 'physicalDisks' are used`;
    }
    if (
      volume.numberOfPhysicalDisks !== undefined &&
      volume.physicalDisks?.length &&
      volume.numberOfPhysicalDisks !== volume.physicalDisks.length
    ) {
      const counts = `numberOfPhysicalDisks (${volume.numberOfPhysicalDisks})`;
      return `${describeVolume(index, volume)}: ${counts} is not the number of physicalDisks (${volume.physicalDisks.length})`;
    }
    if (!RAID_LEVEL_RULES[volume.level]) {
      const levels = Object.keys(RAID_LEVEL_RULES).join(', ');
      return `${describeVolume(index, volume)}: RAID level ${volume.level} cannot be built through Redfish (levels: ${levels})`;
    }
  }
  return undefined;
}

function findController(controllers: readonly RaidController[], name: string): RaidController | undefined {
  return controllers.find((c) => c.id === name || c.name === name || c.path === name);
}

/** Picks drives for a volume without `physicalDisks`: unused, of the asked rotation, alike, as few as it needs. */
function pickDrives(
  controller: RaidController,
  volume: HardwareRaidVolume,
  used: ReadonlySet<string>,
): RaidDrive[] | undefined {
  const rule = RAID_LEVEL_RULES[volume.level];
  if (!rule) return undefined;
  const count = volume.numberOfPhysicalDisks ?? rule.minDisks;
  const free = controller.drives.filter(
    (d) => !used.has(d.path) && (volume.rotational === undefined || d.rotational === volume.rotational),
  );
  // Homogeneous drives (Ironic groups by media, protocol and size): the group with the smallest drives that is
  // large enough goes first, so big drives stay for later volumes.
  const groups = new Map<string, RaidDrive[]>();
  for (const drive of free) {
    const key = `${drive.rotational}|${drive.mediaType ?? ''}|${drive.protocol ?? ''}|${drive.capacityBytes}`;
    groups.set(key, [...(groups.get(key) ?? []), drive]);
  }
  const candidates = [...groups.values()]
    .filter((g) => g.length >= count)
    .sort((a, b) => (a[0]?.capacityBytes ?? 0) - (b[0]?.capacityBytes ?? 0));
  const wanted = volume.sizeGibibytes ? volume.sizeGibibytes * GIB : 0;
  const group = candidates.find((g) => raidCapacityBytes(volume.level, g.slice(0, count)) >= wanted);
  return group?.slice(0, count);
}

/** Plans one volume on the (already emptied) controllers; `used` holds drives earlier volumes took. */
function planVolume(
  controllers: readonly RaidController[],
  volume: HardwareRaidVolume,
  index: number,
  used: Set<string>,
): RaidCreate | string {
  const rule = RAID_LEVEL_RULES[volume.level];
  const what = describeVolume(index, volume);
  if (!rule) return `${what}: RAID level ${volume.level} is not supported`;
  const raidCapable = controllers.filter((c) => c.supportedRaidTypes.length > 0 && c.volumesPath);
  if (raidCapable.length === 0) {
    const seen = controllers.map((c) => c.id).join(', ');
    const storage = seen ? ` (its storage ${seen} does no RAID)` : '';
    return `${what}: the host has no hardware RAID controller${storage}; use softwareRAIDVolumes or remove raid`;
  }
  let candidates = raidCapable;
  if (volume.controller) {
    const named = findController(controllers, volume.controller);
    if (!named) {
      const ids = controllers.map((c) => c.id).join(', ');
      return `${what}: there is no controller ${volume.controller} (controllers: ${ids})`;
    }
    if (!raidCapable.includes(named)) return `${what}: controller ${named.id} does no hardware RAID`;
    candidates = [named];
  }
  const supporting = candidates.filter((c) => c.supportedRaidTypes.includes(rule.raidType));
  if (supporting.length === 0) {
    const offered = candidates.map((c) => `${c.id}: ${c.supportedRaidTypes.join(', ')}`).join('; ');
    const which = candidates.length === 1 ? 'controller' : 'any controller';
    return `${what}: level ${volume.level} (${rule.raidType}) is not supported by ${which} (${offered})`;
  }
  for (const controller of supporting) {
    let drives: RaidDrive[] | undefined;
    if (volume.physicalDisks?.length) {
      drives = [];
      for (const id of volume.physicalDisks) {
        const drive = controller.drives.find((d) => d.id === id || d.path === id);
        if (!drive) {
          const ids = controller.drives.map((d) => d.id).join(', ');
          return `${what}: controller ${controller.id} has no drive ${id} (drives: ${ids})`;
        }
        if (used.has(drive.path)) return `${what}: drive ${id} is already used by another volume`;
        drives.push(drive);
      }
    } else {
      drives = pickDrives(controller, volume, used);
      if (!drives) continue;
    }
    if (!diskCountFits(volume.level, drives.length)) {
      const more = rule.maxDisks === rule.minDisks ? '' : ' or more';
      const multiple = rule.multipleOf > 1 ? `, a multiple of ${rule.multipleOf}` : '';
      return `${what}: ${drives.length} drive(s) cannot make RAID level ${volume.level} (it takes ${rule.minDisks}${more}${multiple})`;
    }
    const max = raidCapacityBytes(volume.level, drives);
    const wanted = volume.sizeGibibytes ? volume.sizeGibibytes * GIB : undefined;
    if (wanted !== undefined && wanted > max) {
      const on = drives.map((d) => d.id).join(', ');
      return `${what}: ${volume.sizeGibibytes} GiB does not fit on ${on} (at most ${Math.floor(max / GIB)} GiB at level ${volume.level})`;
    }
    for (const drive of drives) used.add(drive.path);
    return {
      index,
      controller: controller.id,
      volumesPath: controller.volumesPath ?? '',
      raidType: rule.raidType,
      drives: drives.map((d) => d.path),
      driveIds: drives.map((d) => d.id),
      capacityBytes: wanted,
      name: volume.name,
    };
  }
  const rotation = volume.rotational === undefined ? '' : volume.rotational ? ' rotational' : ' non-rotational';
  const count = volume.numberOfPhysicalDisks ?? rule.minDisks;
  const size = volume.sizeGibibytes ? ` and ${volume.sizeGibibytes} GiB` : '';
  return `${what}: no controller has ${count} free${rotation} drives of one kind for level ${volume.level}${size}`;
}

/**
 * Whether the controllers already hold exactly the wanted volumes (then nothing is done). Drives are compared
 * when the spec named them (`physicalDisks`); otherwise only how many a volume has.
 */
function alreadyThere(
  controllers: readonly RaidController[],
  wanted: readonly { create: RaidCreate; namedDrives: boolean }[],
): boolean {
  const existing = controllers.flatMap((c) =>
    c.volumes.filter((v) => v.pendingOperation === undefined).map((v) => ({ controller: c, volume: v })),
  );
  if (existing.length !== wanted.length) return false;
  const left = [...existing];
  for (const { create, namedDrives } of wanted) {
    const at = left.findIndex(({ controller, volume }) => {
      if (controller.id !== create.controller || volume.raidType !== create.raidType) return false;
      if (create.name !== undefined && volume.name !== create.name) return false;
      if (create.capacityBytes !== undefined && Math.abs(volume.capacityBytes - create.capacityBytes) > GIB)
        return false;
      if (volume.drives.length !== create.driveIds.length) return false;
      const have = new Set(volume.drives);
      return !namedDrives || create.driveIds.every((id) => have.has(id));
    });
    if (at < 0) return false;
    left.splice(at, 1);
  }
  return true;
}

/**
 * Plans the hardware RAID configuration `volumes` on `controllers`: `undefined`/`null` leaves the host as it is,
 * `[]` deletes every volume, a list replaces what the host has (unless it has exactly that already).
 */
export function planHardwareRaid(
  controllers: readonly RaidController[],
  volumes: readonly HardwareRaidVolume[] | null | undefined,
): RaidPlan {
  if (volumes === undefined || volumes === null) return { ok: true, unchanged: true, deletes: [], creates: [] };
  const invalid = checkSpec(volumes);
  if (invalid) return refuse(invalid);
  const existing = controllers.flatMap((c) =>
    c.volumes.filter((v) => v.pendingOperation === undefined).map((volume) => ({ controller: c.id, volume })),
  );
  const used = new Set<string>();
  const creates: RaidCreate[] = [];
  for (const [index, volume] of volumes.entries()) {
    const planned = planVolume(controllers, volume, index, used);
    if (typeof planned === 'string') return refuse(planned);
    creates.push(planned);
  }
  // Drives the planner picked (no physicalDisks) may differ from the host's and still make the same volume.
  const wanted = creates.map((create, i) => ({ create, namedDrives: Boolean(volumes[i]?.physicalDisks?.length) }));
  if (alreadyThere(controllers, wanted)) return { ok: true, unchanged: true, deletes: [], creates: [] };
  return { ok: true, unchanged: false, deletes: existing, creates };
}

/** What a host's controllers hold, in the shape of BareMetalHost `status.raid.hardwareRAIDVolumes`. */
export function hardwareRaidStatus(controllers: readonly RaidController[]): HardwareRaidVolume[] {
  const out: HardwareRaidVolume[] = [];
  for (const controller of controllers) {
    for (const volume of controller.volumes) {
      const level = levelOfRaidType(volume.raidType);
      if (!level || volume.pendingOperation !== undefined) continue;
      const drives = volume.drives
        .map((id) => controller.drives.find((d) => d.id === id))
        .filter((d): d is RaidDrive => d !== undefined);
      const entry: HardwareRaidVolume = {
        level: level as HardwareRaidVolume['level'],
        controller: controller.id,
        sizeGibibytes: Math.floor(volume.capacityBytes / GIB),
      };
      if (volume.name) entry.name = volume.name;
      if (volume.drives.length > 0) {
        entry.physicalDisks = [...volume.drives];
        entry.numberOfPhysicalDisks = volume.drives.length;
      }
      if (drives.length > 0 && drives.length === volume.drives.length)
        entry.rotational = drives.every((d) => d.rotational);
      out.push(entry);
    }
  }
  return out;
}
