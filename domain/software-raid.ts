/**
 * Software RAID as Metal3 asks for it (`spec.raid.softwareRAIDVolumes`), built in-band by the deploy agent the
 * way Ironic and IPA build it: BMO translates the volumes into Ironic's `target_raid_config`
 * (`pkg/provisioner/ironic/raid.go`, `buildTargetSoftwareRAIDCfg`: `controller: software`, `size_gb` or `MAX`,
 * `raid_level`, `physical_disks` as root device hint maps, the first volume the root volume unless hints are set)
 * and manual cleaning runs `raid.delete_configuration`, `deploy.erase_devices_metadata`, then
 * `raid.create_configuration` (`BuildRAIDCleanSteps`). IPA's GenericHardwareManager then makes one partition per
 * holder disk and one md device per volume (`/dev/md0`, ...).
 *
 * Checked before the agent boots, so a spec that cannot work fails `preparing` with a message that names the
 * cause: BMO's webhook and builder rules (not with hardware volumes, the first volume RAID-1), IPA's
 * `validate_configuration` (at most one `MAX` volume), and, when inspection reported the disks, IPA's holder
 * selection (`get_block_devices_for_raid`: each `physicalDisks` entry picks the first matching disk not picked
 * yet; no `physicalDisks` spans every disk) with the disk count each level needs. IPA itself would build a RAID-1
 * over a single disk (it passes `--force` to mdadm, which then makes a one-member mirror); Tempered refuses that.
 */
import type { RaidConfig, SoftwareRaidVolume } from './baremetalhost.schema.ts';
import type { Storage } from './hardware-data.schema.ts';
import { type BlockDevice, findDevicesByHints, translateRootDeviceHints } from './root-device-hints.ts';

/** One logical disk of Ironic's `target_raid_config`, as BMO sends it for software RAID. */
export interface SoftwareLogicalDisk {
  size_gb: number | 'MAX';
  raid_level: SoftwareRaidVolume['level'];
  controller: 'software';
  is_root_volume: boolean;
  physical_disks?: Record<string, string>[];
}

/** Ironic's `target_raid_config`. */
export interface TargetRaidConfig {
  logical_disks: SoftwareLogicalDisk[];
}

/** Software RAID for a prepare operation's agent: Ironic's target and the volumes it came from. */
export interface SoftwareRaidPlan {
  targetRaidConfig: TargetRaidConfig;
  volumes: SoftwareRaidVolume[];
}

/** The fewest holder disks a software RAID level takes (mdadm's levels as Ironic's RAID rules count them). */
export const SOFTWARE_RAID_MIN_DISKS: Readonly<Record<SoftwareRaidVolume['level'], number>> = { '0': 2, '1': 2, '1+0': 4 };

/** BMO's `buildTargetSoftwareRAIDCfg` with `setTargetRAIDCfg`'s root volume: the first, unless hints pick the root. */
export function targetRaidConfig(volumes: readonly SoftwareRaidVolume[], rootDeviceHints: boolean): TargetRaidConfig {
  return {
    logical_disks: volumes.map((volume, index) => ({
      size_gb: volume.sizeGibibytes ? volume.sizeGibibytes : 'MAX',
      raid_level: volume.level,
      controller: 'software',
      is_root_volume: index === 0 && !rootDeviceHints,
      ...(volume.physicalDisks?.length ? { physical_disks: volume.physicalDisks.map((hints) => translateRootDeviceHints(hints)) } : {}),
    })),
  };
}

/**
 * A disk in-band inspection reported, as IPA's block device; undefined for md devices and for disks known only by
 * a BMC's name (out-of-band inspection), which IPA's hints cannot be matched against.
 */
function blockDevice(disk: Storage): BlockDevice | undefined {
  const name = disk.alternateNames?.find((n) => n.startsWith('/dev/') && !n.startsWith('/dev/disk/')) ?? disk.name;
  if (!name || !name.startsWith('/dev/') || name.startsWith('/dev/disk/') || /^\/dev\/md/.test(name)) return undefined;
  return {
    name,
    size: disk.sizeBytes ?? 0,
    model: disk.model ?? null,
    vendor: disk.vendor ?? null,
    serial: disk.serialNumber ?? null,
    wwn: disk.wwn ?? null,
    wwn_with_extension: disk.wwnWithExtension ?? null,
    wwn_vendor_extension: disk.wwnVendorExtension ?? null,
    rotational: disk.rotational ?? null,
    hctl: disk.hctl ?? null,
    by_path: disk.alternateNames?.find((n) => n.startsWith('/dev/disk/by-path/')) ?? null,
  };
}

const describe = (index: number, volume: SoftwareRaidVolume) => `softwareRAIDVolumes[${index}] (RAID ${volume.level})`;

/**
 * Why `raid` cannot be built as software RAID on a host with the inspected `storage` (undefined when it can, or
 * when it asks for no software RAID). Without disks known by their Linux names (no in-band inspection) only the
 * spec is checked here; the deploy agent's own disk list is checked before the RAID is built (`checkHolders`).
 */
export function checkSoftwareRaid(raid: RaidConfig | undefined, storage: readonly Storage[] | undefined): string | undefined {
  const volumes = raid?.softwareRAIDVolumes ?? [];
  if (volumes.length === 0) return undefined;
  if ((raid?.hardwareRAIDVolumes ?? []).length > 0) {
    return 'spec.raid sets both hardwareRAIDVolumes and softwareRAIDVolumes: they cannot be set at the same time; remove one of them';
  }
  if (volumes[0]?.level !== '1') {
    return `the level in the first volume of software RAID must be RAID1 (softwareRAIDVolumes[0] asks for RAID ${volumes[0]?.level}); the first volume holds the root file system`;
  }
  if (volumes.length === 2 && !volumes[0]?.sizeGibibytes && !volumes[1]?.sizeGibibytes) {
    return "software RAID can have only one volume with size 'MAX' (both softwareRAIDVolumes leave sizeGibibytes unset); give the first one a size";
  }
  const disks = (storage ?? []).map(blockDevice).filter((d): d is BlockDevice => d !== undefined);
  if (disks.length === 0) return undefined;
  return checkHolders(volumes, disks);
}

/** The disks of IPA's `list_hardware_info()` (`poll.get_hardware_info`) that can hold software RAID: not md devices. */
export function agentDisks(hardwareInfo: unknown): BlockDevice[] {
  const disks = (hardwareInfo as { disks?: unknown } | null)?.disks;
  if (!Array.isArray(disks)) return [];
  return (disks as BlockDevice[]).filter((d) => typeof d?.name === 'string' && !/^\/dev\/md/.test(d.name));
}

/**
 * Why `volumes` cannot be built on `disks` (IPA's holder selection, `get_block_devices_for_raid`, and the disks
 * each level takes), or undefined.
 */
export function checkHolders(volumes: readonly SoftwareRaidVolume[], disks: readonly BlockDevice[]): string | undefined {
  const names = disks.map((d) => d.name).join(', ') || 'none';
  for (const [index, volume] of volumes.entries()) {
    let holders: string[];
    if (volume.physicalDisks?.length) {
      holders = [];
      for (const [hintIndex, hints] of volume.physicalDisks.entries()) {
        const candidates = findDevicesByHints(disks, translateRootDeviceHints(hints)).map((d) => d.name);
        const what = `${describe(index, volume)}: physicalDisks[${hintIndex}] ${JSON.stringify(hints)}`;
        if (candidates.length === 0) return `${what} matches no disk of the host (disks: ${names})`;
        const free = candidates.find((name) => !holders.includes(name));
        if (!free) return `${what} matches only ${candidates.join(', ')}, already picked by an earlier entry`;
        holders.push(free);
      }
    } else {
      holders = disks.map((d) => d.name);
    }
    const needed = SOFTWARE_RAID_MIN_DISKS[volume.level];
    if (holders.length < needed) {
      const on = holders.length === 0 ? 'no disk' : `${holders.length} disk${holders.length === 1 ? '' : 's'} (${holders.join(', ')})`;
      return `${describe(index, volume)} needs at least ${needed} disks, and the host has ${on}; add disks or choose another level`;
    }
  }
  return undefined;
}
