/**
 * Storage controllers and RAID volumes on a simulated BMC: the controllers a tree's Storage resources describe
 * (drives, SupportedRAIDTypes, a Volumes collection and the apply times it supports), volumes created by a POST
 * to that collection (RAIDType, Links.Drives, optional CapacityBytes and Name) and deleted by a DELETE, checked
 * as a controller checks them (supported level, its own free drives, the count the level takes, alike media, a
 * size that fits), applied at once (`Immediate`, 201 Created) or at the next boot of the host (`OnReset`, 202
 * with a Task that waits for the reboot; the volume shows the pending `Delete` in its `Operations`). The
 * capacity of a volume is computed from its drives.
 *
 * `logicalDisks()` lists the disks the host's OS (or a deploy agent) sees: every volume, and every drive that
 * is not part of one. The simulated hosts' disks follow it (sim/disks.ts), so a deploy agent sees the same.
 */
import type { SimBmc } from './bmc.ts';
import { RedfishError, type Reply, errors } from './http.ts';
import { asObject, type ServiceModel } from './service-model.ts';
import type { Json, JsonObject, MockupTree } from './tree.ts';
import { linkOf } from './tree.ts';

/** A drive a controller has. */
export interface DriveModel {
  readonly path: string;
  readonly id: string;
  readonly capacityBytes: number;
  readonly mediaType: string | null;
  readonly protocol: string | null;
  readonly model: string | null;
  readonly serialNumber: string | null;
}

/** A storage controller (a Storage resource) as the tree describes it. */
export interface ControllerModel {
  /** The Storage resource. */
  readonly path: string;
  readonly id: string;
  readonly name: string;
  readonly raidTypes: readonly string[];
  readonly drives: readonly DriveModel[];
  /** The Volumes collection, or null when the controller has none. */
  readonly volumesPath: string | null;
  readonly applyTimes: readonly string[];
  /** Volumes the tree already has. */
  readonly volumes: readonly string[];
}

/** A volume as the simulator keeps it. */
export interface VolumeState {
  readonly path: string;
  readonly id: string;
  readonly controller: string;
  readonly name: string;
  readonly raidType: string;
  /** Tree paths of its drives. */
  readonly drives: readonly string[];
  readonly capacityBytes: number;
}

/** A change the controller applies at the next boot. */
interface PendingChange {
  readonly kind: 'create' | 'delete';
  readonly volume: VolumeState;
  readonly taskId: string;
}

interface StorageState {
  /** Volumes that exist now, by path (the tree's, as changed). */
  readonly volumes: Map<string, VolumeState>;
  readonly pending: PendingChange[];
  serial: number;
}

/** One disk the host's OS sees. */
export interface LogicalDisk {
  /** `volume` for a RAID volume, `drive` for a drive used as is. */
  readonly kind: 'volume' | 'drive';
  /** The volume's or drive's Id. */
  readonly id: string;
  readonly name: string;
  readonly controller: string | null;
  readonly sizeBytes: number;
  readonly rotational: boolean;
  readonly model: string;
  readonly serialNumber: string;
  /** For a volume: its RAID type and the ids of its drives. */
  readonly raidType: string | null;
  readonly drives: readonly string[];
}

const models = new WeakMap<MockupTree, Map<string, ControllerModel[]>>();
const states = new WeakMap<SimBmc, StorageState>();

const RULES: Record<string, { min: number; max: number; multiple: number; overhead: (n: number) => number }> = {
  RAID0: { min: 1, max: 1000, multiple: 1, overhead: () => 0 },
  RAID1: { min: 2, max: 2, multiple: 2, overhead: (n) => n / 2 },
  RAID5: { min: 3, max: 1000, multiple: 1, overhead: () => 1 },
  RAID6: { min: 4, max: 1000, multiple: 1, overhead: () => 2 },
  RAID10: { min: 4, max: 1000, multiple: 2, overhead: (n) => n / 2 },
  RAID50: { min: 6, max: 1000, multiple: 2, overhead: () => 2 },
  RAID60: { min: 8, max: 1000, multiple: 2, overhead: () => 4 },
};
const VOLUME_PROPERTIES = [
  'RAIDType',
  'CapacityBytes',
  'Name',
  'Links',
  'VolumeType',
  'Encrypted',
  'StripSizeBytes',
  'ReadCachePolicy',
  'WriteCachePolicy',
  'DisplayName',
  'InitializeMethod',
  '@Redfish.OperationApplyTime',
];
const MIB = 1024 * 1024;

function text(value: Json | undefined): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function members(resource: Readonly<JsonObject> | undefined): string[] {
  const list = resource?.['Members'];
  return Array.isArray(list) ? list.map((m) => linkOf(m)).filter((p): p is string => p !== undefined) : [];
}

/** The controllers of the model's system (cached per tree and system). */
export function controllers(model: ServiceModel): ControllerModel[] {
  const tree = model.tree;
  let perTree = models.get(tree);
  if (!perTree) {
    perTree = new Map();
    models.set(tree, perTree);
  }
  const cached = perTree.get(model.systemPath);
  if (cached) return cached;
  const get = (path: string | undefined): Readonly<JsonObject> | undefined =>
    path ? tree.resources.get(tree.resolve(path, model.caseInsensitive) ?? path) : undefined;
  const canon = (path: string): string => tree.resolve(path, model.caseInsensitive) ?? path;
  const system = tree.resources.get(model.systemPath) ?? {};
  const out: ControllerModel[] = [];
  for (const path of members(get(linkOf(system['Storage'])))) {
    const storage = get(path);
    if (!storage) continue;
    const inline = Array.isArray(storage['StorageControllers']) ? storage['StorageControllers'].map(asObject) : [];
    const listed = members(get(linkOf(storage['Controllers']))).map((p) => get(p) ?? {});
    const raidTypes = [
      ...new Set(
        [...inline, ...listed].flatMap((c) => (Array.isArray(c['SupportedRAIDTypes']) ? c['SupportedRAIDTypes'] : [])),
      ),
    ].filter((t): t is string => typeof t === 'string');
    const drives: DriveModel[] = [];
    for (const link of Array.isArray(storage['Drives']) ? storage['Drives'] : []) {
      const drivePath = linkOf(link);
      const drive = drivePath ? get(drivePath) : undefined;
      if (!drivePath || !drive) continue;
      drives.push({
        path: canon(drivePath),
        id: text(drive['Id']) ?? drivePath.split('/').pop() ?? drivePath,
        capacityBytes: typeof drive['CapacityBytes'] === 'number' ? drive['CapacityBytes'] : 0,
        mediaType: text(drive['MediaType']),
        protocol: text(drive['Protocol']),
        model: text(drive['Model']),
        serialNumber: text(drive['SerialNumber']),
      });
    }
    const volumesLink = linkOf(storage['Volumes']);
    const volumesPath = volumesLink ? canon(volumesLink) : null;
    const volumes = volumesPath ? get(volumesPath) : undefined;
    const support = asObject(volumes?.['@Redfish.OperationApplyTimeSupport'])['SupportedValues'];
    out.push({
      path: canon(path),
      id: text(storage['Id']) ?? path.split('/').pop() ?? path,
      name: text(storage['Name']) ?? text(inline[0]?.['Name']) ?? '',
      raidTypes,
      drives,
      volumesPath,
      applyTimes: Array.isArray(support) ? support.filter((v): v is string => typeof v === 'string') : ['Immediate'],
      volumes: members(volumes).map(canon),
    });
  }
  perTree.set(model.systemPath, out);
  return out;
}

/** The drives of a volume resource in the tree (tree paths). */
function treeVolume(model: ServiceModel, controller: ControllerModel, path: string): VolumeState {
  const volume = model.tree.resources.get(path) ?? {};
  const links = asObject(volume['Links'])['Drives'];
  const drives = (Array.isArray(links) ? links : [])
    .map((l) => linkOf(l))
    .filter((p): p is string => p !== undefined)
    .map((p) => model.tree.resolve(p, model.caseInsensitive) ?? p);
  return {
    path,
    id: text(volume['Id']) ?? path.split('/').pop() ?? path,
    controller: controller.path,
    name: text(volume['Name']) ?? '',
    raidType: text(volume['RAIDType']) ?? '',
    drives,
    capacityBytes: typeof volume['CapacityBytes'] === 'number' ? volume['CapacityBytes'] : 0,
  };
}

function stateOf(bmc: SimBmc): StorageState {
  let state = states.get(bmc);
  if (!state) {
    const volumes = new Map<string, VolumeState>();
    for (const controller of controllers(bmc.model)) {
      for (const path of controller.volumes) volumes.set(path, treeVolume(bmc.model, controller, path));
    }
    state = { volumes, pending: [], serial: 0 };
    states.set(bmc, state);
    // Changes held for the next boot apply when the host boots (after settings, as the firmware would).
    bmc.host.on((event) => {
      if (event.type !== 'boot' || !state) return;
      for (const change of state.pending.splice(0)) {
        if (change.kind === 'create') state.volumes.set(change.volume.path, change.volume);
        else state.volumes.delete(change.volume.path);
        bmc.counters.volumeChangesApplied += 1;
      }
    });
  }
  return state;
}

function controllerOfVolumes(bmc: SimBmc, path: string): ControllerModel | undefined {
  return controllers(bmc.model).find((c) => c.volumesPath === path);
}

/** Drives in use by a volume, or reserved by one pending creation. */
function usedDrives(state: StorageState): Set<string> {
  const used = new Set<string>();
  for (const volume of state.volumes.values()) for (const drive of volume.drives) used.add(drive);
  for (const change of state.pending)
    if (change.kind === 'create') for (const drive of change.volume.drives) used.add(drive);
  return used;
}

/** The largest volume of `raidType` on `drives`, rounded down to a MiB as controllers do. */
export function volumeCapacityBytes(raidType: string, drives: readonly DriveModel[]): number {
  const rule = RULES[raidType];
  if (!rule || drives.length === 0) return 0;
  const smallest = Math.min(...drives.map((d) => d.capacityBytes));
  const bytes = smallest * (drives.length - rule.overhead(drives.length));
  return Math.floor(bytes / MIB) * MIB;
}

/** The apply time a request asks for (`@Redfish.OperationApplyTime`), checked against the collection's support. */
function applyTimeOf(json: JsonObject | undefined, controller: ControllerModel): string {
  const asked = json?.['@Redfish.OperationApplyTime'];
  if (asked === undefined) return controller.applyTimes[0] ?? 'Immediate';
  if (typeof asked !== 'string' || !controller.applyTimes.includes(asked))
    throw errors.propertyValueNotInList(String(asked), '@Redfish.OperationApplyTime');
  return asked;
}

/** A Task that completes at the host's next boot, for changes held until then. */
function taskAtNextBoot(
  bmc: SimBmc,
  name: string,
  targetUri: string,
  method: string,
  body: JsonObject | undefined,
): { id: string; reply: Reply } {
  const task = bmc.tasks.create({
    bmcId: bmc.id,
    name,
    durationMs: 0,
    work: bmc
      .nextBoot()
      .then(() => ({ ok: true, messageId: 'Base.1.5.Success', message: `${name}: applied at the reboot.` })),
    payload: { targetUri, httpOperation: method, jsonBody: body ? JSON.stringify(body) : '' },
  });
  task.phase = 'Pending';
  // The phase lasts until the boot resolves the work.
  void bmc.nextBoot().then(() => {
    task.phase = null;
  });
  return {
    id: task.id,
    reply: {
      status: 202,
      headers: { Location: bmc.tasks.monitorPath(task.id), 'Retry-After': '5' },
      body: bmc.tasks.render(task),
    },
  };
}

function createVolume(
  bmc: SimBmc,
  controller: ControllerModel,
  json: JsonObject | undefined,
  publicPath: string,
): Reply {
  if (!json) throw errors.propertyMissing('RAIDType');
  for (const key of Object.keys(json)) {
    if (!VOLUME_PROPERTIES.includes(key) && !key.startsWith('@odata')) throw errors.propertyUnknown(key);
  }
  const raidType = json['RAIDType'];
  if (raidType === undefined) throw errors.propertyMissing('RAIDType');
  if (typeof raidType !== 'string' || !controller.raidTypes.includes(raidType) || !RULES[raidType]) {
    bmc.counters.volumeRefusals += 1;
    throw errors.propertyValueNotInList(String(raidType), 'RAIDType');
  }
  const rule = RULES[raidType];
  const links = asObject(json['Links'])['Drives'];
  if (!Array.isArray(links) || links.length === 0) throw errors.propertyMissing('Links/Drives');
  const state = stateOf(bmc);
  const used = usedDrives(state);
  const drives: DriveModel[] = [];
  for (const link of links) {
    const asked = linkOf(link);
    const path = asked ? bmc.rewriter.toBase(asked) : undefined;
    const canonical = path ? (bmc.model.tree.resolve(path, bmc.model.caseInsensitive) ?? path) : undefined;
    const drive = controller.drives.find((d) => d.path === canonical);
    if (!drive) {
      bmc.counters.volumeRefusals += 1;
      throw errors.propertyValueNotInList(asked ?? JSON.stringify(link), 'Links/Drives');
    }
    if (used.has(drive.path) || drives.includes(drive)) {
      bmc.counters.volumeRefusals += 1;
      throw new RedfishError(
        400,
        'Base.1.5.ResourceInUse',
        `The drive ${asked ?? drive.id} is already part of a volume.`,
        { related: ['#/Links/Drives'] },
      );
    }
    drives.push(drive);
  }
  const count = drives.length;
  if (!rule || count < rule.min || count > rule.max || count % rule.multiple !== 0) {
    bmc.counters.volumeRefusals += 1;
    throw new RedfishError(
      400,
      'Base.1.8.PropertyValueConflict',
      `The property Links/Drives (${count} drives) conflicts with RAIDType ${raidType}, which takes ${rule?.min ?? '?'}${rule && rule.max !== rule.min ? ' or more' : ''} drives.`,
      {
        args: ['Links/Drives', 'RAIDType'],
        related: ['#/Links/Drives', '#/RAIDType'],
      },
    );
  }
  if (new Set(drives.map((d) => d.mediaType)).size > 1) {
    bmc.counters.volumeRefusals += 1;
    throw new RedfishError(
      400,
      'Base.1.8.PropertyValueConflict',
      'The property Links/Drives mixes HDDs and SSDs, which one volume cannot.',
      { args: ['Links/Drives', 'MediaType'], related: ['#/Links/Drives'] },
    );
  }
  const max = volumeCapacityBytes(raidType, drives);
  const capacity = json['CapacityBytes'];
  if (
    capacity !== undefined &&
    capacity !== null &&
    (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity <= 0)
  ) {
    throw errors.propertyValueTypeError(JSON.stringify(capacity), 'CapacityBytes');
  }
  if (typeof capacity === 'number' && capacity > max) {
    bmc.counters.volumeRefusals += 1;
    throw new RedfishError(
      400,
      'Base.1.8.PropertyValueOutOfRange',
      `The value ${capacity} for the property CapacityBytes is not in the supported range of acceptable values (at most ${max} on these drives).`,
      {
        args: [String(capacity), 'CapacityBytes'],
        related: ['#/CapacityBytes'],
      },
    );
  }
  const applyTime = applyTimeOf(json, controller);
  state.serial += 1;
  // Dell names volumes after the controller (Disk.Virtual.0:RAID.Integrated.1-1), the others number them.
  const number = controller.volumes.length + state.serial;
  const id = bmc.profile.id === 'idrac' ? `Disk.Virtual.${number - 1}:${controller.id}` : String(number);
  const volume: VolumeState = {
    path: `${controller.volumesPath ?? ''}/${id}`,
    id,
    controller: controller.path,
    name: typeof json['Name'] === 'string' ? json['Name'] : `Volume ${id}`,
    raidType,
    drives: drives.map((d) => d.path),
    capacityBytes: typeof capacity === 'number' ? capacity : max,
  };
  bmc.counters.volumeCreates += 1;
  if (applyTime === 'Immediate') {
    state.volumes.set(volume.path, volume);
    const location = bmc.rewriter.toPublic(volume.path);
    return { status: 201, headers: { Location: location }, body: bmc.toPublic(renderVolume(bmc, volume)) };
  }
  const { id: taskId, reply } = taskAtNextBoot(bmc, `Create volume ${id}`, publicPath, 'POST', json);
  state.pending.push({ kind: 'create', volume, taskId });
  return reply;
}

function deleteVolume(bmc: SimBmc, volume: VolumeState, json: JsonObject | undefined, publicPath: string): Reply {
  const state = stateOf(bmc);
  const controller = controllers(bmc.model).find((c) => c.path === volume.controller);
  if (!controller) throw errors.notFound(publicPath);
  if (state.pending.some((change) => change.kind === 'delete' && change.volume.path === volume.path)) {
    throw new RedfishError(
      400,
      'Base.1.5.ResourceInUse',
      `The volume ${volume.id} is already to be deleted at the next reboot.`,
    );
  }
  const applyTime = applyTimeOf(json, controller);
  bmc.counters.volumeDeletes += 1;
  if (applyTime === 'Immediate') {
    state.volumes.delete(volume.path);
    return { status: 204 };
  }
  const { id: taskId, reply } = taskAtNextBoot(bmc, `Delete volume ${volume.id}`, publicPath, 'DELETE', json);
  state.pending.push({ kind: 'delete', volume, taskId });
  return reply;
}

/** A Volume resource. */
function renderVolume(bmc: SimBmc, volume: VolumeState): JsonObject {
  const base = bmc.model.tree.resources.get(volume.path);
  const pendingDelete = stateOf(bmc).pending.find(
    (change) => change.kind === 'delete' && change.volume.path === volume.path,
  );
  const out: JsonObject = {
    '@odata.type': '#Volume.v1_9_0.Volume',
    ...base,
    '@odata.id': volume.path,
    Id: volume.id,
    Name: volume.name,
    RAIDType: volume.raidType,
    CapacityBytes: volume.capacityBytes,
    Status: { State: 'Enabled', Health: 'OK' },
    Links: { ...asObject(base?.['Links']), Drives: volume.drives.map((path) => ({ '@odata.id': path })) },
  };
  if (pendingDelete) {
    out['Operations'] = [
      {
        Operation: 'Delete',
        OperationName: 'Delete',
        AssociatedTask: { '@odata.id': `${bmc.tasks.tasksPath}/${pendingDelete.taskId}` },
      },
    ];
  }
  return out;
}

/**
 * This BMC's view of a storage resource: Volumes collections and volumes as they are now. Returns null when
 * `path` is none of them, undefined when it names a volume that is gone (404).
 */
export function renderStorage(bmc: SimBmc, path: string): JsonObject | undefined | null {
  const list = controllers(bmc.model);
  if (list.length === 0) return null;
  const controller = controllerOfVolumes(bmc, path);
  if (controller) {
    const base = bmc.model.tree.resources.get(path) ?? {};
    const volumes = [...stateOf(bmc).volumes.values()].filter((v) => v.controller === controller.path);
    return { ...base, 'Members@odata.count': volumes.length, Members: volumes.map((v) => ({ '@odata.id': v.path })) };
  }
  const owner = list.find((c) => c.volumesPath !== null && path.startsWith(`${c.volumesPath}/`));
  if (!owner) return null;
  const state = stateOf(bmc);
  const volume = state.volumes.get(path);
  const untouched = owner.volumes.includes(path) && !state.pending.some((change) => change.volume.path === path);
  if (volume && untouched) return bmc.model.tree.resources.get(path) ?? renderVolume(bmc, volume);
  if (volume) return renderVolume(bmc, volume);
  // Deeper resources of a tree volume (its Actions) are served from the tree as they are.
  return owner.volumes.some((v) => path.startsWith(`${v}/`)) ? null : undefined;
}

/** POST to a Volumes collection or DELETE of a volume; undefined when `path` is neither. */
export function storageWrite(
  bmc: SimBmc,
  method: string,
  path: string,
  publicPath: string,
  json: JsonObject | undefined,
): Reply | undefined {
  if (controllers(bmc.model).length === 0) return undefined;
  if (method === 'POST') {
    const controller = controllerOfVolumes(bmc, path);
    return controller ? createVolume(bmc, controller, json, publicPath) : undefined;
  }
  if (method === 'DELETE') {
    const volume = stateOf(bmc).volumes.get(path);
    return volume ? deleteVolume(bmc, volume, json, publicPath) : undefined;
  }
  return undefined;
}

/** The Allow header of a storage resource, or null when `path` is none. */
export function storageAllow(bmc: SimBmc, path: string): string | null {
  if (controllers(bmc.model).length === 0) return null;
  if (controllerOfVolumes(bmc, path)) return 'GET, HEAD, POST';
  if (stateOf(bmc).volumes.has(path)) return 'GET, HEAD, DELETE';
  return null;
}

/** The controllers and volumes as they are now (public URIs), for `SimulatedBmc.storage()`. */
export function storageState(bmc: SimBmc): {
  controllers: { id: string; path: string; raidTypes: string[]; drives: string[]; applyTimes: string[] }[];
  volumes: VolumeState[];
  pending: { kind: 'create' | 'delete'; volume: string }[];
} {
  const pub = (p: string): string => bmc.rewriter.toPublic(p);
  const state = stateOf(bmc);
  return {
    controllers: controllers(bmc.model).map((c) => ({
      id: c.id,
      path: pub(c.path),
      raidTypes: [...c.raidTypes],
      drives: c.drives.map((d) => pub(d.path)),
      applyTimes: [...c.applyTimes],
    })),
    volumes: [...state.volumes.values()].map((v) => ({
      ...v,
      path: pub(v.path),
      controller: pub(v.controller),
      drives: v.drives.map(pub),
    })),
    pending: state.pending.map((change) => ({ kind: change.kind, volume: pub(change.volume.path) })),
  };
}

/**
 * The disks the host's OS sees now: every volume (its size, rotational when all its drives are HDDs) and every
 * drive of a Storage controller that is not in a volume. A change held for the next boot shows after that boot.
 */
export function logicalDisks(bmc: SimBmc): LogicalDisk[] {
  const state = stateOf(bmc);
  const out: LogicalDisk[] = [];
  const inVolume = new Set<string>();
  for (const volume of state.volumes.values()) for (const drive of volume.drives) inVolume.add(drive);
  for (const controller of controllers(bmc.model)) {
    for (const volume of [...state.volumes.values()].filter((v) => v.controller === controller.path)) {
      const drives = volume.drives
        .map((p) => controller.drives.find((d) => d.path === p))
        .filter((d): d is DriveModel => d !== undefined);
      out.push({
        kind: 'volume',
        id: volume.id,
        name: volume.name,
        controller: controller.id,
        sizeBytes: volume.capacityBytes,
        rotational: drives.length > 0 && drives.every((d) => d.mediaType === 'HDD'),
        model: `${controller.name} ${volume.raidType}`.trim(),
        serialNumber: volume.id,
        raidType: volume.raidType,
        drives: drives.map((d) => d.id),
      });
    }
    for (const drive of controller.drives) {
      if (inVolume.has(drive.path)) continue;
      out.push({
        kind: 'drive',
        id: drive.id,
        name: drive.id,
        controller: controller.id,
        sizeBytes: drive.capacityBytes,
        rotational: drive.mediaType === 'HDD',
        model: drive.model ?? '',
        serialNumber: drive.serialNumber ?? '',
        raidType: null,
        drives: [],
      });
    }
  }
  return out;
}
