/**
 * Firmware updates on a simulated BMC: `#UpdateService.SimpleUpdate` (the BMC pulls the image over HTTP),
 * pushes to `HttpPushUri` (raw body) and `MultipartHttpPushUri` (multipart/form-data with `UpdateParameters`
 * and `UpdateFile`), and `#UpdateService.StartUpdate` for pushes staged with `OnStartUpdateRequest`.
 * Each creates a Task that takes `taskDurationMs` and, when it completes, changes the version of the
 * targeted FirmwareInventory member (and System BiosVersion / Manager FirmwareVersion), once.
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
import type { ActionRef, Json } from './tree.ts';

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
      const canonical = model.tree.resolve(path, model.caseInsensitive) ?? path;
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

/** Starts a firmware task: `work` must resolve when the image has been received. */
function startFirmwareTask(bmc: SimBmc, targets: string[], version: string, work: Promise<TaskOutcome>, locationStyle: 'task' | 'monitor'): Reply {
  if (bmc.has('update-service-busy') && bmc.updateBusy()) {
    bmc.hit('update-service-busy');
    throw errors.unavailable(Math.max(1, Math.ceil(bmc.timings.taskDurationMs / 1000)));
  }
  bmc.counters.firmwareUpdates += 1;
  const duration = bmc.timings.taskDurationMs;
  const newMs = bmc.has('task-starts-new') ? Math.floor(duration / 3) : 0;
  const task = bmc.tasks.create({
    bmcId: bmc.id,
    name: `Firmware update ${version}`,
    durationMs: duration,
    newMs,
    work,
    onComplete: () => {
      for (const target of targets) {
        if (bmc.has('bios-firmware-staged') && target === bmc.model.biosFirmware) {
          bmc.hit('bios-firmware-staged');
          bmc.host.stagedFirmware.set(target, version);
        } else {
          bmc.host.firmware.set(target, version);
        }
      }
      bmc.counters.firmwareFlashes += 1;
    },
  });
  const body = bmc.tasks.render(task);
  const headers: Record<string, string> = { 'Retry-After': '1' };
  if (bmc.has('update-202-no-location')) {
    bmc.hit('update-202-no-location');
  } else if (bmc.has('task-location-is-task') || locationStyle === 'task') {
    if (bmc.has('task-location-is-task')) bmc.hit('task-location-is-task');
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
  return startFirmwareTask(bmc, targets, version, work, 'monitor');
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
  return startFirmwareTask(bmc, targets, version, work, 'monitor');
}
