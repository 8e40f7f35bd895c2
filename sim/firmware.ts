/**
 * Firmware updates on a simulated BMC: `#UpdateService.SimpleUpdate` (the BMC pulls the image over HTTP),
 * pushes to `HttpPushUri` (raw body) and `MultipartHttpPushUri` (multipart/form-data with `UpdateParameters`
 * and `UpdateFile`), and `#UpdateService.StartUpdate` for pushes staged with `OnStartUpdateRequest`.
 * Each creates a Task that echoes its request (`Payload`, so a client can find its own task again) and takes
 * `taskDurationMs`, or, with `firmwareCompression`, a realistic flash time (FIRMWARE_SECONDS) divided by it.
 * When it completes, the version of the targeted FirmwareInventory member changes (and System BiosVersion /
 * Manager FirmwareVersion), once; vendor quirks make a BIOS flash wait for a host reboot, a BMC flash end
 * with the BMC rebooting (unreachable meanwhile), and inventory ids carry the version (Dell).
 *
 * Every accepted update is counted per image file and logged with its task and outcome (`state().flashes`),
 * so a test can prove an image was flashed exactly once.
 *
 * The new version is read from the image file name: the last dotted number (`bios-2.3.4.bin` → `2.3.4`), else
 * the last number group (`fw_1_2` → `1_2`), else the name without extension. Without `Targets` the component is guessed from the name (`bios`, `uefi`, `rom` → BIOS;
 * `bmc`, `idrac`, `ilo`, `xcc` → BMC), else the BIOS.
 */
import type { SimBmc } from './bmc.ts';
import { actionInfoAllowed, type WriteRequest } from './bmc-writes.ts';
import { RedfishError, type Reply, errors } from './http.ts';
import { openImage } from './image-fetch.ts';
import type { TaskOutcome } from './tasks.ts';
import type { ActionRef, Json, JsonObject } from './tree.ts';

/** What a firmware component is, for how long its flash takes and what else happens (reboots). */
export type FirmwareKind = 'bios' | 'bmc' | 'nic' | 'other';

/**
 * Realistic durations, in seconds, of a flash by component and of a BMC's own reboot after it flashed itself:
 * what `firmwareCompression` divides (a factor of 100 turns a 7-minute BIOS flash into 4.2 s).
 */
export const FIRMWARE_SECONDS: Readonly<Record<FirmwareKind | 'bmcReboot', number>> = {
  bios: 420,
  bmc: 600,
  nic: 240,
  other: 300,
  bmcReboot: 150,
};

/** One line saying how firmware time is compressed, for benchmarks and demos to print. */
export function describeFirmwareTiming(compression: number): string {
  const show = (seconds: number): string => `${seconds} s -> ${(seconds / compression).toFixed(seconds / compression < 10 ? 2 : 1)} s`;
  return (
    `simulated firmware time compressed ${compression}x: BIOS flash ${show(FIRMWARE_SECONDS.bios)}, ` +
    `BMC flash ${show(FIRMWARE_SECONDS.bmc)} plus BMC reboot ${show(FIRMWARE_SECONDS.bmcReboot)}, ` +
    `NIC ${show(FIRMWARE_SECONDS.nic)}, other ${show(FIRMWARE_SECONDS.other)}`
  );
}

/** One accepted update, as `state().flashes` lists it. */
export interface FlashRecord {
  /** The image's file name (the last segment of ImageURI, or the pushed file's name). */
  image: string;
  /** ImageURI for pulls, null for pushes. */
  imageUri: string | null;
  /** Public URIs of the FirmwareInventory members it targets. */
  targets: string[];
  version: string;
  taskId: string;
  startedAt: string;
  endedAt: string | null;
  outcome: 'running' | 'completed' | 'failed' | 'cancelled';
}

const KEEP_FLASHES = 50;

/** The kind of a FirmwareInventory member (tree URI). */
export function firmwareKind(bmc: SimBmc, target: string): FirmwareKind {
  const model = bmc.model;
  if (target === model.biosFirmware) return 'bios';
  if (target === model.bmcFirmware) return 'bmc';
  const item = model.tree.resources.get(target) ?? {};
  const text = [item['Id'], item['Name'], item['Description']].filter((part) => typeof part === 'string').join(' ');
  return /\b(nic|ethernet|network|lan|adapter|fastlinq|connectx)\b/i.test(text) ? 'nic' : 'other';
}

/** How long flashing a component takes on this BMC, in ms. */
export function flashDurationMs(bmc: SimBmc, kind: FirmwareKind): number {
  const compression = bmc.timings.firmwareCompression;
  return compression ? Math.round((FIRMWARE_SECONDS[kind] * 1000) / compression) : bmc.timings.taskDurationMs;
}

/** How long this BMC is away when it reboots after flashing itself, in ms. */
export function bmcRebootMs(bmc: SimBmc): number {
  const compression = bmc.timings.firmwareCompression;
  return compression ? Math.round((FIRMWARE_SECONDS.bmcReboot * 1000) / compression) : bmc.timings.bmcRebootMs;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function fileName(uri: string): string {
  return decodeURIComponent(uri.split(/[?#]/)[0]?.split('/').pop() ?? uri) || uri;
}

const SIMPLE_UPDATE_PARAMETERS = ['ImageURI', 'TransferProtocol', 'Targets', 'Username', 'Password', 'ForceUpdate', 'Stage', 'LocalImage', 'ExcludeTargets', '@Redfish.OperationApplyTime'];

/** The version a firmware file name carries. */
export function versionFromName(name: string): string {
  const file = decodeURIComponent(name.split(/[?#]/)[0]?.split('/').pop() ?? name);
  const stem = file.replace(/\.(bin|exe|img|iso|fwpkg|zip|tar|gz|hpb|uxz|efi|pldm|cap|rom|signed)$/gi, '');
  const dotted = stem.match(/\d+(?:\.\d+)+/g);
  const matches = dotted ?? stem.match(/\d+(?:[_-]\d+)+/g);
  return matches?.[matches.length - 1] ?? (stem || file);
}

/** The FirmwareInventory members (tree URIs) an update applies to. */
function resolveTargets(bmc: SimBmc, targets: Json | undefined, name: string): string[] {
  const model = bmc.model;
  if (Array.isArray(targets) && targets.length > 0) {
    return targets.map((target) => {
      if (typeof target !== 'string') throw errors.actionParameterValueNotInList(JSON.stringify(target), 'Targets', 'SimpleUpdate');
      const path = bmc.rewriter.toBase(target.replace(/\/+$/, ''));
      const renamed = inventoryEntries(bmc).find((entry) => entry.path === path && !entry.previous)?.base;
      const canonical = renamed ?? model.tree.resolve(path, model.caseInsensitive) ?? path;
      if (model.firmwareItems.includes(canonical)) return canonical;
      if (canonical === model.systemPath && model.biosFirmware) return model.biosFirmware;
      if (canonical === model.managerPath && model.bmcFirmware) return model.bmcFirmware;
      throw errors.actionParameterValueNotInList(target, 'Targets', 'SimpleUpdate');
    });
  }
  const lower = name.toLowerCase();
  if (/bmc|idrac|ilo|xcc/.test(lower) && model.bmcFirmware) return [model.bmcFirmware];
  const byId = model.firmwareItems.find((item) => lower.includes((item.split('/').pop() ?? '').toLowerCase()));
  if (byId && !/bios|uefi|rom/.test(lower)) return [byId];
  const fallback = model.biosFirmware ?? model.firmwareItems[0];
  if (!fallback) throw new RedfishError(400, 'Base.1.5.ActionNotSupported', 'This BMC has no firmware inventory to update.');
  return [fallback];
}

/** What a firmware task is for. */
interface FirmwareRequest {
  targets: string[];
  version: string;
  image: string;
  imageUri: string | null;
  /** Resolves when the image has been received (downloaded or pushed, and released by StartUpdate). */
  work: Promise<TaskOutcome>;
  payload: { targetUri: string; httpOperation: string; jsonBody: string };
}

/** Starts a firmware task and answers 202 the way this vendor does. */
function startFirmwareTask(bmc: SimBmc, request: FirmwareRequest): Reply {
  if (bmc.has('update-service-busy') && bmc.updateBusy()) {
    bmc.hit('update-service-busy');
    throw errors.unavailable(Math.max(1, Math.ceil(bmc.timings.taskDurationMs / 1000)));
  }
  const { targets, version, image } = request;
  bmc.counters.firmwareUpdates += 1;
  bmc.counters.firmwareUpdatesByImage[image] = (bmc.counters.firmwareUpdatesByImage[image] ?? 0) + 1;
  const kinds = targets.map((target) => firmwareKind(bmc, target));
  const duration = Math.max(...kinds.map((kind) => flashDurationMs(bmc, kind)));
  const newMs = bmc.has('task-starts-new') ? Math.floor(duration / 3) : 0;
  const staged = (target: string): boolean => bmc.has('bios-firmware-staged') && target === bmc.model.biosFirmware;
  const waitsForReboot = bmc.has('bios-update-waits-for-reboot') && kinds.includes('bios') && !targets.some(staged);
  const rebootsBmc = bmc.has('bmc-reboots-after-update') && kinds.includes('bmc') && bmcRebootMs(bmc) > 0;
  const record: FlashRecord = {
    image,
    imageUri: request.imageUri,
    targets: targets.map((target) => bmc.rewriter.toPublic(target)),
    version,
    taskId: '',
    startedAt: new Date().toISOString(),
    endedAt: null,
    outcome: 'running',
  };
  // The work after the image arrived: a BIOS update may wait for the host to reboot, a BMC one ends in a reboot.
  const work = request.work.then(async (outcome): Promise<TaskOutcome> => {
    if (!outcome.ok) return outcome;
    if (waitsForReboot) {
      bmc.hit('bios-update-waits-for-reboot');
      task.phase = 'Starting';
      await bmc.nextBoot();
      task.phase = null;
      task.runningSince = Date.now();
      await delay(duration);
    }
    if (rebootsBmc) {
      const started = task.runningSince;
      await delay(Math.max(0, started + duration - Date.now()));
      bmc.hit('bmc-reboots-after-update');
      await bmc.rebootBmc(bmcRebootMs(bmc));
    }
    return outcome;
  });
  const task = bmc.tasks.create({
    bmcId: bmc.id,
    name: `Firmware update ${image}`,
    durationMs: duration,
    newMs,
    work,
    payload: request.payload,
    onComplete: () => {
      for (const target of targets) {
        if (staged(target)) {
          bmc.hit('bios-firmware-staged');
          bmc.host.stagedFirmware.set(target, version);
        } else {
          bmc.host.firmware.set(target, version);
        }
      }
      bmc.counters.firmwareFlashes += 1;
    },
    onFinish: (state) => {
      record.outcome = state === 'Completed' ? 'completed' : state === 'Cancelled' ? 'cancelled' : 'failed';
      record.endedAt = new Date().toISOString();
    },
  });
  record.taskId = task.id;
  bmc.flashes.push(record);
  if (bmc.flashes.length > KEEP_FLASHES) bmc.flashes.splice(0, bmc.flashes.length - KEEP_FLASHES);
  const body = bmc.tasks.render(task);
  const headers: Record<string, string> = { 'Retry-After': '1' };
  if (bmc.has('update-202-no-location')) {
    bmc.hit('update-202-no-location');
  } else if (bmc.has('task-location-is-task')) {
    bmc.hit('task-location-is-task');
    headers['Location'] = `${bmc.tasks.tasksPath}/${task.id}`;
  } else {
    headers['Location'] = bmc.tasks.monitorPath(task.id);
  }
  return { status: 202, headers, body };
}

/** `#UpdateService.SimpleUpdate`. */
export function simpleUpdate(bmc: SimBmc, action: ActionRef, request: WriteRequest): Reply {
  const json = request.json ?? {};
  for (const key of Object.keys(json)) {
    if (!SIMPLE_UPDATE_PARAMETERS.includes(key)) throw errors.actionParameterUnknown('SimpleUpdate', key);
  }
  const uri = json['ImageURI'];
  if (typeof uri !== 'string' || uri === '') throw errors.actionParameterMissing('SimpleUpdate', 'ImageURI');
  const protocol = json['TransferProtocol'];
  const allowed = actionInfoAllowed(bmc, action, 'TransferProtocol');
  if (protocol !== undefined && allowed && !allowed.includes(String(protocol))) {
    throw errors.actionParameterValueNotInList(String(protocol), 'TransferProtocol', 'SimpleUpdate');
  }
  const targets = resolveTargets(bmc, json['Targets'], uri);
  const version = versionFromName(uri);
  const image = fileName(uri);
  const work = (async (): Promise<TaskOutcome> => {
    try {
      const image = await openImage(uri, (bytes) => {
        bmc.counters.firmwareBytesRead += bytes;
      });
      const size = await image.done;
      return { ok: true, messageId: 'Update.1.0.UpdateSuccessful', message: `Installed ${version} (${size} bytes read from ${uri}).` };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { ok: false, messageId: error instanceof RedfishError ? error.messageId : 'Update.1.0.TransferFailed', message };
    }
  })();
  const payload = { targetUri: request.publicPath, httpOperation: 'POST', jsonBody: JSON.stringify({ ...json, Password: undefined }) };
  return startFirmwareTask(bmc, { targets, version, image, imageUri: uri, work, payload });
}

/** `#UpdateService.StartUpdate`: releases pushed images staged with `OnStartUpdateRequest`. */
export function startUpdate(bmc: SimBmc): Reply {
  const waiting = bmc.awaitingStart.splice(0);
  if (waiting.length === 0) throw new RedfishError(400, 'Base.1.5.ActionNotSupported', 'There is no staged update to start.');
  for (const release of waiting) release();
  return { status: 204 };
}

/** A push to `HttpPushUri` (raw image body) or `MultipartHttpPushUri` (multipart/form-data). */
export async function pushUpdate(bmc: SimBmc, request: WriteRequest, multipart: boolean): Promise<Reply> {
  let fileName = 'image.bin';
  let size = request.body.length;
  let targetsJson: Json | undefined;
  let applyTime: string | undefined;
  if (multipart) {
    const type = request.headers['content-type'] ?? '';
    if (!type.startsWith('multipart/form-data')) {
      throw new RedfishError(415, 'Base.1.5.UnrecognizedRequestBody', 'MultipartHttpPushUri takes multipart/form-data.');
    }
    let form: FormData;
    try {
      form = await new Response(request.body, { headers: { 'content-type': type } }).formData();
    } catch {
      throw new RedfishError(400, 'Base.1.5.UnrecognizedRequestBody', 'The multipart body could not be parsed.');
    }
    const file = form.get('UpdateFile');
    if (!file || typeof file === 'string') throw errors.actionParameterMissing('MultipartHttpPushUri', 'UpdateFile');
    fileName = file.name || fileName;
    size = file.size;
    const parameters = form.get('UpdateParameters');
    if (parameters !== null) {
      const text = typeof parameters === 'string' ? parameters : await parameters.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw errors.malformedJson();
      }
      const object = parsed && typeof parsed === 'object' ? (parsed as Record<string, Json>) : {};
      targetsJson = object['Targets'];
      const time = object['@Redfish.OperationApplyTime'];
      if (typeof time === 'string') applyTime = time;
    }
  } else {
    const disposition = request.headers['content-disposition'];
    const match = typeof disposition === 'string' ? /filename="?([^";]+)"?/.exec(disposition) : null;
    if (match?.[1]) fileName = match[1];
  }
  if (size === 0) throw errors.actionParameterMissing('HttpPushUri', 'UpdateFile');
  bmc.counters.firmwareBytesRead += size;
  const targets = resolveTargets(bmc, targetsJson, fileName);
  const version = versionFromName(fileName);
  const done: TaskOutcome = { ok: true, messageId: 'Update.1.0.UpdateSuccessful', message: `Installed ${version} (${size} bytes pushed).` };
  const work =
    applyTime === 'OnStartUpdateRequest'
      ? new Promise<TaskOutcome>((resolve) => bmc.awaitingStart.push(() => resolve(done)))
      : Promise.resolve(done);
  const parameters: JsonObject = { UpdateFile: fileName };
  if (targetsJson !== undefined) parameters['Targets'] = targetsJson;
  if (applyTime !== undefined) parameters['@Redfish.OperationApplyTime'] = applyTime;
  const payload = { targetUri: request.publicPath, httpOperation: 'POST', jsonBody: JSON.stringify(parameters) };
  return startFirmwareTask(bmc, { targets, version, image: fileName, imageUri: null, work, payload });
}

/** Dell's inventory ids: `Installed-<component>-<version>` (also `Current-`), renamed by a flash. */
const VERSIONED_ID = /^(?:Installed|Current)-([^-]+)-(.+)$/;
/** The member `firmware-inventory-dangling-member` lists and nobody serves. */
const DANGLING_ID = 'Removed-Component';

interface InventoryEntry {
  /** The public-facing tree-space URI of the member. */
  path: string;
  /** The tree resource it is rendered from. */
  base: string;
  /** Id and Version to show instead of the tree's (renamed members). */
  id: string | null;
  version: string | null;
  previous: boolean;
}

/** The members of the FirmwareInventory collection as this BMC lists them now. */
function inventoryEntries(bmc: SimBmc): InventoryEntry[] {
  const model = bmc.model;
  const collection = model.firmwareCollection ?? '';
  const entries: InventoryEntry[] = [];
  for (const item of model.firmwareItems) {
    const flashed = bmc.host.firmware.get(item);
    const id = item.slice(item.lastIndexOf('/') + 1);
    const match = VERSIONED_ID.exec(id);
    if (flashed !== undefined && match && bmc.has('firmware-id-carries-version')) {
      const [, component, old] = match;
      entries.push({ path: `${collection}/Installed-${component}-${flashed}`, base: item, id: `Installed-${component}-${flashed}`, version: flashed, previous: false });
      entries.push({ path: `${collection}/Previous-${component}-${old}`, base: item, id: `Previous-${component}-${old}`, version: old ?? null, previous: true });
      continue;
    }
    entries.push({ path: item, base: item, id: null, version: null, previous: false });
  }
  return entries;
}

/**
 * This BMC's view of the firmware inventory: the collection (renamed and dangling members per quirk) and its
 * members with flashed versions. Returns null when `path` is not part of it, undefined when it is but
 * nothing is there (404).
 */
export function renderFirmwareInventory(bmc: SimBmc, path: string): JsonObject | undefined | null {
  const model = bmc.model;
  const collection = model.firmwareCollection;
  if (!collection) return null;
  const key = (p: string): string => (model.caseInsensitive ? p.toLowerCase() : p);
  if (key(path) === key(collection)) {
    const base = model.tree.resources.get(collection);
    if (!base) return undefined;
    const entries = inventoryEntries(bmc);
    const dangling = bmc.has('firmware-inventory-dangling-member');
    if (!dangling && entries.every((entry) => entry.id === null)) return base;
    const members = entries.map((entry) => ({ '@odata.id': entry.path }));
    if (dangling) members.push({ '@odata.id': `${collection}/${DANGLING_ID}` });
    return { ...base, 'Members@odata.count': members.length, Members: members };
  }
  if (!key(path).startsWith(`${key(collection)}/`)) return null;
  if (key(path) === key(`${collection}/${DANGLING_ID}`) && bmc.has('firmware-inventory-dangling-member')) {
    bmc.hit('firmware-inventory-dangling-member');
    return undefined;
  }
  const entry = inventoryEntries(bmc).find((candidate) => key(candidate.path) === key(path));
  if (!entry) return model.firmwareItems.includes(path) ? undefined : null;
  const base = model.tree.resources.get(entry.base);
  if (!base) return undefined;
  if (entry.id === null) {
    const version = bmc.host.firmware.get(entry.base);
    return version !== undefined ? { ...base, Version: version } : base;
  }
  bmc.hit('firmware-id-carries-version');
  const out: JsonObject = { ...base, '@odata.id': entry.path, Id: entry.id, Version: entry.version };
  if (entry.previous) out['Updateable'] = false;
  return out;
}
