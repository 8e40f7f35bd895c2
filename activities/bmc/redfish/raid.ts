/**
 * Hardware RAID through Redfish Storage: the controllers (SupportedRAIDTypes, drives, the Volumes collection
 * and the apply times it supports) and their volumes read as domain/raid.ts describes them, and a Metal3
 * `spec.raid.hardwareRAIDVolumes` applied as Ironic's Redfish RAID interface does: every existing volume
 * deleted, then the wanted ones created (POST to Volumes with RAIDType, Links.Drives, CapacityBytes unless "as
 * large as possible", Name), each `Immediate` when the controller offers it, else `OnReset`.
 *
 * Safe to call again at any time: changes the BMC holds for the next reboot (a volume whose Operations show a
 * Delete, a task that echoes a POST to Volumes or a DELETE of a volume) mean "reboot, then call again", with
 * nothing sent; a host that already has the wanted volumes needs nothing. The caller loops: apply, reboot while
 * `rebootRequired`, until the state is `unchanged`.
 */
import type { HardwareRaidVolume } from '../../../domain/baremetalhost.schema.ts';
import {
  hardwareRaidStatus,
  planHardwareRaid,
  type RaidController,
  type RaidDrive,
  type RaidVolume,
} from '../../../domain/raid.ts';
import type { CallOptions, RaidApplyResult, RaidReadout } from '../driver.ts';
import { BmcError } from '../errors.ts';
import type { RedfishContext } from './context.ts';
import { RUNNING, inventoryMembers, recentTasks } from './firmware.ts';
import { isObject, link, links, normalisePath, num, obj, str, strings, type Json } from './resources.ts';

/** Volumes that predate RAIDType state only VolumeType. */
const VOLUME_TYPE_RAID: Record<string, string> = {
  NonRedundant: 'RAID0',
  Mirrored: 'RAID1',
  StripedWithParity: 'RAID5',
  SpannedMirrors: 'RAID10',
  SpannedStripesWithParity: 'RAID50',
};
const TOLERATED = [400, 403, 404, 405, 500, 501, 503];

function driveOf(body: Json, path: string): RaidDrive {
  const mediaType = str(body.MediaType);
  return {
    id: str(body.Id) ?? path.split('/').pop() ?? path,
    path: normalisePath(str(body['@odata.id']) ?? path),
    capacityBytes: num(body.CapacityBytes) ?? 0,
    rotational: mediaType === 'HDD' || (num(body.RotationSpeedRPM) ?? 0) > 0,
    mediaType,
    protocol: str(body.Protocol),
  };
}

function volumeOf(body: Json, drives: readonly RaidDrive[]): RaidVolume {
  const path = normalisePath(str(body['@odata.id']) ?? '');
  const operations = (Array.isArray(body.Operations) ? body.Operations : []).filter(isObject);
  const pending = operations.map((o) => str(o.Operation) ?? str(o.OperationName)).find((o) => o !== undefined);
  return {
    id: str(body.Id) ?? path.split('/').pop() ?? path,
    path,
    name: str(body.Name),
    raidType: str(body.RAIDType) ?? VOLUME_TYPE_RAID[str(body.VolumeType) ?? ''],
    capacityBytes: num(body.CapacityBytes) ?? 0,
    drives: links(obj(body.Links).Drives).map(
      (p) => drives.find((d) => d.path.toLowerCase() === normalisePath(p).toLowerCase())?.id ?? p.split('/').pop() ?? p,
    ),
    pendingOperation: pending,
  };
}

/** The system's storage controllers, with their drives and volumes. */
export async function readRaidControllers(ctx: RedfishContext, opts: CallOptions = {}): Promise<RaidController[]> {
  const signal = opts.signal;
  const system = (await ctx.system(signal)).body;
  const storages = await inventoryMembers(ctx, link(system.Storage), signal);
  const out: RaidController[] = [];
  for (const storage of storages?.members ?? []) {
    const path = normalisePath(str(storage['@odata.id']) ?? '');
    const inline = (Array.isArray(storage.StorageControllers) ? storage.StorageControllers : []).filter(isObject);
    const listed = (await inventoryMembers(ctx, link(storage.Controllers), signal))?.members ?? [];
    const raidTypes = [...new Set([...inline, ...listed].flatMap((c) => strings(c.SupportedRAIDTypes)))];
    const drives: RaidDrive[] = [];
    for (const drivePath of links(storage.Drives)) {
      const res = await ctx.client.get(drivePath, { signal, accept: TOLERATED });
      if (res.status < 300 && isObject(res.body)) drives.push(driveOf(res.body, drivePath));
    }
    const volumesPath = link(storage.Volumes);
    let volumes: RaidVolume[] = [];
    let applyTimes: string[] = [];
    if (volumesPath) {
      const collection = await ctx.client.get(volumesPath, { signal, accept: TOLERATED });
      if (collection.status < 300)
        applyTimes = strings(obj(collection.body['@Redfish.OperationApplyTimeSupport']).SupportedValues);
      const read = await inventoryMembers(ctx, volumesPath, signal);
      volumes = (read?.members ?? []).map((v) => volumeOf(v, drives));
    }
    out.push({
      id: str(storage.Id) ?? path.split('/').pop() ?? path,
      path,
      name: str(storage.Name) ?? str(inline[0]?.Name),
      supportedRaidTypes: raidTypes,
      drives,
      volumes,
      volumesPath: volumesPath ? normalisePath(volumesPath) : undefined,
      applyTimes,
    });
  }
  return out;
}

/** Unfinished tasks of RAID changes (a POST to a Volumes collection, a DELETE of a volume) the BMC holds. */
async function pendingRaidTasks(
  ctx: RedfishContext,
  controllers: readonly RaidController[],
  signal?: AbortSignal,
): Promise<string[]> {
  const collections = controllers.map((c) => c.volumesPath?.toLowerCase()).filter((p): p is string => p !== undefined);
  if (collections.length === 0) return [];
  const out: string[] = [];
  for (const task of await recentTasks(ctx, signal)) {
    if (!RUNNING.has(str(task.TaskState) ?? '')) continue;
    const target = normalisePath(str(obj(task.Payload).TargetUri) ?? '').toLowerCase();
    if (collections.some((c) => target === c || target.startsWith(`${c}/`))) out.push(str(task['@odata.id']) ?? target);
  }
  return out;
}

/** What the host's controllers hold now, and the RAID changes it holds for the next reboot. */
export async function readRaid(ctx: RedfishContext, opts: CallOptions = {}): Promise<RaidReadout> {
  const controllers = await readRaidControllers(ctx, opts);
  const pendingTasks = await pendingRaidTasks(ctx, controllers, opts.signal);
  const pendingVolumes = controllers.flatMap((c) =>
    c.volumes.filter((v) => v.pendingOperation !== undefined).map((v) => v.path),
  );
  return {
    controllers,
    status: hardwareRaidStatus(controllers),
    pending: { tasks: pendingTasks, volumes: pendingVolumes },
  };
}

/** The Task a 202 names: the body's Task (what the task list shows), else Location (a monitor). */
function taskUri(res: { location: string | undefined; body: unknown }): string | undefined {
  const body = obj(res.body);
  return (str(body.TaskState) !== undefined ? str(body['@odata.id']) : undefined) ?? res.location;
}

/** Immediate when the controller offers it, else OnReset, else none (Ironic's `_get_apply_time`). */
function applyTimeFor(controller: RaidController | undefined): string | undefined {
  const times = controller?.applyTimes ?? [];
  if (times.includes('Immediate')) return 'Immediate';
  if (times.includes('OnReset')) return 'OnReset';
  return undefined;
}

/**
 * Applies `spec.raid.hardwareRAIDVolumes` (see the file comment). Throws RaidConfigInvalid, with nothing sent,
 * when the host cannot have that configuration.
 */
export async function applyRaid(
  ctx: RedfishContext,
  volumes: readonly HardwareRaidVolume[] | null | undefined,
  opts: CallOptions = {},
): Promise<RaidApplyResult> {
  const signal = opts.signal;
  const before = await readRaid(ctx, opts);
  const result = (state: RaidApplyResult['state'], extra: Partial<RaidApplyResult> = {}): RaidApplyResult => ({
    state,
    rebootRequired: state === 'pending',
    deleted: [],
    created: [],
    tasks: [],
    ...extra,
  });
  if (before.pending.tasks.length > 0 || before.pending.volumes.length > 0) {
    return result('pending', { tasks: before.pending.tasks });
  }
  const plan = planHardwareRaid(before.controllers, volumes);
  if (!plan.ok)
    throw new BmcError(
      'RaidConfigInvalid',
      `the RAID configuration cannot be built on ${ctx.endpoint}: ${plan.message}`,
    );
  if (plan.unchanged) return result('unchanged');

  const byId = new Map(before.controllers.map((c) => [c.id, c]));
  const deleted: string[] = [];
  const tasks: string[] = [];
  let held = false;
  for (const { controller, volume } of plan.deletes) {
    const applyTime = applyTimeFor(byId.get(controller));
    const body = applyTime ? { '@Redfish.OperationApplyTime': applyTime } : undefined;
    const res = await ctx.client.request('DELETE', volume.path, { ...(body ? { body } : {}), signal });
    deleted.push(volume.path);
    if (res.status === 202) {
      held = true;
      const task = taskUri(res);
      if (task) tasks.push(task);
    }
  }
  // Drives of a volume deleted at the next reboot are not free before it: create after that reboot.
  if (held) return result('pending', { deleted, tasks });

  const created: string[] = [];
  for (const create of plan.creates) {
    const applyTime = applyTimeFor(byId.get(create.controller));
    const body: Json = { RAIDType: create.raidType, Links: { Drives: create.drives.map((d) => ({ '@odata.id': d })) } };
    if (create.capacityBytes !== undefined) body.CapacityBytes = create.capacityBytes;
    if (create.name) body.Name = create.name;
    if (applyTime) body['@Redfish.OperationApplyTime'] = applyTime;
    const res = await ctx.client.post(create.volumesPath, body, { signal });
    if (res.status === 202) {
      held = true;
      const task = taskUri(res);
      if (task) tasks.push(task);
    } else {
      created.push(res.location ?? str(obj(res.body)['@odata.id']) ?? create.volumesPath);
    }
  }
  return result(held ? 'pending' : 'applied', { deleted, created, tasks });
}
