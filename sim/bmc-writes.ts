/**
 * Writes to a simulated BMC: boot override PATCHes, BIOS settings, virtual media (actions and PATCH), Reset,
 * ResetBios and Dell's OEM configuration import. Each checks its input the way the vendor does, applies the
 * vendor's quirks, changes the host, and counts the side effect once.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ALL_RESET_TYPES, type SimBmc } from './bmc.ts';
import { patchBiosSettings } from './bios.ts';
import type { BootOverride, MediaSlot } from './host.ts';
import { RedfishError, type Reply, errors } from './http.ts';
import { openImage } from './image-fetch.ts';
import { actionInfoValues, asObject } from './service-model.ts';
import type { ActionRef, JsonObject } from './tree.ts';

/** A write as the BMC sees it: the tree URI, the raw and parsed body. */
export interface WriteRequest {
  path: string;
  publicPath: string;
  body: Buffer;
  json: JsonObject | undefined;
  headers: IncomingHttpHeaders;
}

const TARGETS = [
  'None', 'Pxe', 'Floppy', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'Utilities', 'Diags', 'UefiShell', 'UefiTarget', 'SDCard',
  'UefiHttp', 'RemoteDrive', 'UefiBootNext', 'Recovery',
];
const ENABLED = ['Disabled', 'Once', 'Continuous'];
const MODES = ['Legacy', 'UEFI'];
const INSERT_PARAMETERS = ['Image', 'Inserted', 'WriteProtected', 'TransferProtocolType', 'TransferMethod', 'UserName', 'Password', 'MediaType'];
const NO_CONTENT: Reply = { status: 204 };

/** PATCH of a BMC resource (tree URI). */
export async function patchResource(bmc: SimBmc, request: WriteRequest): Promise<Reply> {
  const model = bmc.model;
  const json = request.json;
  if (!json) throw new RedfishError(400, 'Base.1.5.EmptyJSON', 'The request body submitted contained an empty JSON object and the service is unable to process it.');
  if (request.path === model.systemPath) return patchSystem(bmc, json, false);
  if (request.path === model.systemSettingsPath && bmc.has('boot-settings-object')) return patchSystem(bmc, json, true);
  if (request.path === model.biosSettingsPath) return patchBiosSettings(bmc, json);
  const slot = bmc.host.slot(request.path);
  if (slot && bmc.has('vmedia-patch-only')) return patchSlot(bmc, slot, json);
  throw errors.methodNotAllowed('PATCH', request.publicPath, bmc.allow(request.path));
}

function patchSystem(bmc: SimBmc, json: JsonObject, settingsObject: boolean): Reply {
  const system = bmc.model.tree.resources.get(bmc.model.systemPath) ?? {};
  for (const key of Object.keys(json)) {
    if (key === 'Boot' || key.startsWith('@')) continue;
    if (key in system) throw errors.propertyNotWritable(key);
    throw errors.propertyUnknown(key);
  }
  const boot = json['Boot'];
  if (boot === undefined) return NO_CONTENT;
  if (!boot || typeof boot !== 'object' || Array.isArray(boot)) throw errors.propertyValueTypeError(JSON.stringify(boot), 'Boot');
  const overrides = Object.keys(boot).filter((key) => key.startsWith('BootSourceOverride') || key === 'UefiTargetBootSourceOverride' || key === 'HttpBootUri');
  if (!settingsObject && overrides.length > 0 && bmc.has('boot-settings-object')) {
    bmc.hit('boot-settings-object');
    throw errors.propertyNotWritable(`Boot/${overrides[0]}`);
  }
  if (bmc.has('patch-during-post') && bmc.within(bmc.host.lastPoweredOnAt)) {
    bmc.hit('patch-during-post');
    throw new RedfishError(400, 'iLO.2.14.UnableToModifyDuringSystemPOST', 'Unable to modify the boot settings while the system is in POST. Retry after POST completes.');
  }
  const baseBoot = asObject(system['Boot']);
  const allowed = (name: string, fallback: string[]): string[] => {
    const list = baseBoot[`${name}@Redfish.AllowableValues`];
    return Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : fallback;
  };
  const patch: Partial<BootOverride> = {};
  const known = ['BootSourceOverrideTarget', 'BootSourceOverrideEnabled', 'BootSourceOverrideMode', 'UefiTargetBootSourceOverride', 'HttpBootUri', 'BootNext', 'BootOrder'];
  for (const key of Object.keys(boot)) {
    if (!known.includes(key)) throw errors.propertyUnknown(`Boot/${key}`);
  }
  if (bmc.has('full-boot-payload-required')) {
    for (const name of ['BootSourceOverrideTarget', 'BootSourceOverrideEnabled', 'BootSourceOverrideMode']) {
      if (!(name in boot)) {
        bmc.hit('full-boot-payload-required');
        throw errors.propertyMissing(`Boot/${name}`);
      }
    }
  }
  const target = boot['BootSourceOverrideTarget'];
  if (target !== undefined) {
    if (typeof target !== 'string' || !allowed('BootSourceOverrideTarget', TARGETS).includes(target)) {
      throw errors.propertyValueNotInList(String(target), 'Boot/BootSourceOverrideTarget');
    }
    patch.target = target;
  }
  const enabled = boot['BootSourceOverrideEnabled'];
  if (enabled !== undefined) {
    if (typeof enabled !== 'string' || !allowed('BootSourceOverrideEnabled', ENABLED).includes(enabled) || !ENABLED.includes(enabled)) {
      throw errors.propertyValueNotInList(String(enabled), 'Boot/BootSourceOverrideEnabled');
    }
    if (enabled === 'Continuous' && bmc.has('continuous-override-rejected')) {
      bmc.hit('continuous-override-rejected');
      throw errors.propertyValueNotInList(enabled, 'Boot/BootSourceOverrideEnabled');
    }
    patch.enabled = enabled as BootOverride['enabled'];
  }
  const mode = boot['BootSourceOverrideMode'];
  if (mode !== undefined) {
    if (!('BootSourceOverrideMode' in baseBoot)) throw errors.propertyUnknown('Boot/BootSourceOverrideMode');
    if (typeof mode !== 'string' || !allowed('BootSourceOverrideMode', MODES).includes(mode)) {
      throw errors.propertyValueNotInList(String(mode), 'Boot/BootSourceOverrideMode');
    }
    patch.mode = mode as BootOverride['mode'];
  }
  const uefiTarget = boot['UefiTargetBootSourceOverride'];
  if (uefiTarget !== undefined) {
    if (uefiTarget !== null && typeof uefiTarget !== 'string') throw errors.propertyValueTypeError(String(uefiTarget), 'Boot/UefiTargetBootSourceOverride');
    patch.uefiTarget = uefiTarget;
  }
  const httpBootUri = boot['HttpBootUri'];
  if (httpBootUri !== undefined) {
    if (httpBootUri !== null && typeof httpBootUri !== 'string') throw errors.propertyValueTypeError(String(httpBootUri), 'Boot/HttpBootUri');
    patch.httpBootUri = httpBootUri;
  }
  if (target !== undefined && enabled === undefined && bmc.has('override-enabled-reverts') && bmc.host.boot.enabled !== 'Once') {
    bmc.hit('override-enabled-reverts');
    patch.enabled = 'Once';
  }
  if (target !== undefined && target !== bmc.host.boot.target && mode === undefined && bmc.has('boot-mode-resets-legacy') && bmc.host.boot.mode !== 'Legacy') {
    bmc.hit('boot-mode-resets-legacy');
    patch.mode = 'Legacy';
  }
  if (overrides.length > 0) {
    bmc.host.setBoot(patch);
    bmc.counters.bootOverrides += 1;
  }
  return NO_CONTENT;
}

async function patchSlot(bmc: SimBmc, slot: MediaSlot, json: JsonObject): Promise<Reply> {
  for (const key of Object.keys(json)) {
    if (!INSERT_PARAMETERS.includes(key)) throw errors.propertyUnknown(key);
  }
  const image = json['Image'];
  const inserted = json['Inserted'];
  if (typeof image === 'string' && image !== '') {
    if (inserted === undefined) {
      bmc.hit('vmedia-patch-only');
      throw errors.propertyMissing('Inserted');
    }
    if (inserted === true) {
      await insertMedia(bmc, slot, image, json, 'Image');
      return NO_CONTENT;
    }
  }
  if (image === null || image === '' || inserted === false) {
    ejectMedia(bmc, slot);
    return NO_CONTENT;
  }
  throw errors.propertyMissing('Image');
}

/** The action at a tree URI: advertised in the tree, or a standard VirtualMedia action the simulator adds. */
export function actionAt(bmc: SimBmc, path: string): ActionRef | undefined {
  const found = bmc.model.tree.action(path, bmc.model.caseInsensitive);
  if (found) return found;
  for (const slot of bmc.model.slots) {
    for (const name of ['VirtualMedia.InsertMedia', 'VirtualMedia.EjectMedia']) {
      if (path === `${slot.path}/Actions/${name}` && !bmc.has('vmedia-patch-only')) return { resource: slot.path, name, info: {} };
    }
  }
  return undefined;
}

/** POST of an action (other than UpdateService actions, handled in firmware.ts). */
export async function postAction(bmc: SimBmc, action: ActionRef, request: WriteRequest): Promise<Reply | undefined> {
  const json = request.json ?? {};
  switch (action.name) {
    case 'ComputerSystem.Reset':
      return reset(bmc, json);
    case 'VirtualMedia.InsertMedia':
    case 'HpeiLOVirtualMedia.InsertVirtualMedia': {
      const slot = bmc.host.slot(action.resource);
      if (!slot) return undefined;
      return insertAction(bmc, slot, action, json);
    }
    case 'VirtualMedia.EjectMedia':
    case 'HpeiLOVirtualMedia.EjectVirtualMedia': {
      const slot = bmc.host.slot(action.resource);
      if (!slot) return undefined;
      if (request.body.length === 0 && bmc.has('eject-needs-body')) {
        bmc.hit('eject-needs-body');
        throw new RedfishError(415, 'Base.1.5.UnrecognizedRequestBody', 'The service detected a malformed request body that it was unable to interpret.');
      }
      ejectMedia(bmc, slot);
      return NO_CONTENT;
    }
    case 'Bios.ResetBios':
      if (request.body.length === 0 && bmc.has('reset-bios-needs-body')) {
        bmc.hit('reset-bios-needs-body');
        throw new RedfishError(400, 'Base.1.5.UnrecognizedRequestBody', 'The service detected a malformed request body that it was unable to interpret.');
      }
      bmc.host.bios.resetPending = true;
      bmc.counters.biosResets += 1;
      return NO_CONTENT;
    case 'Manager.Reset':
      return NO_CONTENT;
    case 'OemManager.ImportSystemConfiguration':
    case 'EID_674_Manager.ImportSystemConfiguration':
      return importConfiguration(bmc, json);
    case 'DellJobService.DeleteJobQueue':
      return { status: 200, body: { '@Message.ExtendedInfo': [{ MessageId: 'IDRAC.2.8.SUP020', Message: 'Successfully Completed Request', Severity: 'Informational' }] } };
    default:
      return undefined;
  }
}

function reset(bmc: SimBmc, json: JsonObject): Reply {
  const resetType = json['ResetType'];
  if (resetType === undefined) throw errors.actionParameterMissing('Reset', 'ResetType');
  for (const key of Object.keys(json)) {
    if (key !== 'ResetType') throw errors.actionParameterUnknown('Reset', key);
  }
  const allowed = bmc.model.resetAllowed ?? ALL_RESET_TYPES;
  if (typeof resetType !== 'string' || !allowed.includes(resetType)) {
    if (bmc.model.resetAllowedSource === 'actioninfo') bmc.hit('reset-actioninfo-only');
    if (resetType === 'ForceOn') bmc.hit('reset-no-force-on');
    throw errors.actionParameterValueNotInList(String(resetType), 'ResetType', 'Reset');
  }
  const host = bmc.host;
  if (bmc.has('power-change-too-fast') && bmc.within(bmc.lastResetAt)) {
    bmc.hit('power-change-too-fast');
    throw new RedfishError(400, 'iLO.2.14.InvalidOperationForSystemState', 'The operation was not successful due to the current power state (for example, attempting to turn the power off when it is already off).');
  }
  const turningOn = resetType === 'On' || resetType === 'ForceOn';
  const offSince = host.transition?.to === 'Off' ? Date.now() : host.lastPoweredOffAt;
  if (turningOn && bmc.has('power-on-conflict-after-off') && bmc.within(offSince)) {
    bmc.hit('power-on-conflict-after-off');
    throw new RedfishError(409, 'Base.1.12.ActionParameterValueConflict', 'The parameter ResetType with value On conflicts with the current state of the system (it was powered off recently). Retry in a few seconds.', {
      args: ['ResetType', 'On'],
    });
  }
  const heading = host.transition?.to ?? host.power;
  const offTypes = ['ForceOff', 'GracefulShutdown'];
  if (bmc.has('already-in-state-409') && ((turningOn && heading === 'On') || (offTypes.includes(resetType) && heading === 'Off'))) {
    bmc.hit('already-in-state-409');
    throw new RedfishError(409, 'Base.1.5.NoOperation', `Unable to perform the operation because the server is already powered ${heading}.`);
  }
  host.reset(resetType);
  bmc.counters.resetActions[resetType] = (bmc.counters.resetActions[resetType] ?? 0) + 1;
  bmc.lastResetAt = Date.now();
  if (bmc.has('reset-202-task')) {
    bmc.hit('reset-202-task');
    const target = host.transition ? 'pending' : 'done';
    const work = new Promise<{ ok: boolean; messageId: string; message: string }>((resolve) => {
      const done = (): void => resolve({ ok: true, messageId: 'Base.1.5.Success', message: `Reset ${resetType} completed.` });
      if (target === 'done') {
        done();
        return;
      }
      const off = host.on(() => {
        if (!host.transition) {
          off();
          done();
        }
      });
    });
    const task = bmc.tasks.create({ bmcId: bmc.id, name: `Reset ${resetType}`, durationMs: 0, work });
    return {
      status: 202,
      headers: { Location: bmc.tasks.monitorPath(task.id), 'Retry-After': '1' },
      body: bmc.tasks.render(task),
    };
  }
  return NO_CONTENT;
}

async function insertAction(bmc: SimBmc, slot: MediaSlot, action: ActionRef, json: JsonObject): Promise<Reply> {
  const image = json['Image'];
  for (const key of Object.keys(json)) {
    if (!INSERT_PARAMETERS.includes(key)) throw errors.actionParameterUnknown('InsertMedia', key);
  }
  if (typeof image !== 'string' || image === '') throw errors.actionParameterMissing('InsertMedia', 'Image');
  if (bmc.has('insert-rejects-default-flags')) {
    const flag = ['Inserted', 'WriteProtected'].find((name) => name in json);
    if (flag) {
      bmc.hit('insert-rejects-default-flags');
      throw errors.actionParameterNotSupported(flag, 'InsertMedia');
    }
  }
  if (bmc.has('transfer-protocol-required') && json['TransferProtocolType'] === undefined) {
    bmc.hit('transfer-protocol-required');
    throw errors.actionParameterMissing('InsertMedia', 'TransferProtocolType');
  }
  for (const name of ['TransferProtocolType', 'TransferMethod']) {
    const list = action.info[`${name}@Redfish.AllowableValues`];
    const value = json[name];
    if (value !== undefined && Array.isArray(list) && !list.includes(value)) {
      throw errors.actionParameterValueNotInList(String(value), name, 'InsertMedia');
    }
  }
  if (json['Inserted'] === false) return NO_CONTENT;
  await insertMedia(bmc, slot, image, json, 'InsertMedia');
  return NO_CONTENT;
}

/** Checks, really fetches and inserts an image; shared by the action and the PATCH way. */
async function insertMedia(bmc: SimBmc, slot: MediaSlot, image: string, json: JsonObject, via: string): Promise<void> {
  if (bmc.has('image-url-no-query') && /[?&]/.test(image)) {
    bmc.hit('image-url-no-query');
    throw new RedfishError(400, 'Base.1.5.ActionParameterValueFormatError', `The value ${image} for the parameter Image in the action ${via} is of a different format than the parameter can accept.`, {
      args: [image, 'Image', via],
    });
  }
  if (slot.inserted && bmc.has('eject-before-insert')) {
    bmc.hit('eject-before-insert');
    throw new RedfishError(400, 'IDRAC.2.8.VRM0012', 'The requested operation cannot be performed because the virtual media is already attached. Eject it first.');
  }
  if (bmc.has('insert-after-eject-5xx') && bmc.within(slot.ejectedAt)) {
    bmc.hit('insert-after-eject-5xx');
    throw new RedfishError(500, 'IDRAC.2.8.VRM0021', 'The virtual media is still being detached. Retry the operation.');
  }
  if (bmc.inserting.has(slot.path)) throw errors.resourceInUse();
  bmc.inserting.add(slot.path);
  try {
    const opened = await openImage(image, (bytes) => {
      slot.bytesRead += bytes;
      bmc.counters.mediaBytesRead += bytes;
    }).catch((error: unknown) => {
      bmc.counters.mediaReadFailures += 1;
      throw error;
    });
    bmc.readers.get(slot.path)?.cancel();
    const protocol = typeof json['TransferProtocolType'] === 'string' ? json['TransferProtocolType'] : image.startsWith('https:') ? 'HTTPS' : 'HTTP';
    bmc.host.insert(slot, image, json['WriteProtected'] !== false, protocol);
    bmc.readers.set(slot.path, opened);
    opened.done.catch((error: unknown) => {
      if (slot.image === image) slot.readError = error instanceof Error ? error.message : String(error);
    });
    bmc.counters.mediaInserts += 1;
  } finally {
    bmc.inserting.delete(slot.path);
  }
}

function ejectMedia(bmc: SimBmc, slot: MediaSlot): void {
  if (!slot.inserted) return;
  bmc.readers.get(slot.path)?.cancel();
  bmc.readers.delete(slot.path);
  bmc.host.eject(slot);
  bmc.counters.mediaEjects += 1;
}

/** Dell's OEM ImportSystemConfiguration, as Ironic's idrac virtual media boot uses it (quirk #1, #2). */
function importConfiguration(bmc: SimBmc, json: JsonObject): Reply {
  const buffer = json['ImportBuffer'];
  if (typeof buffer !== 'string') throw errors.actionParameterMissing('ImportSystemConfiguration', 'ImportBuffer');
  if (!json['ShareParameters']) throw errors.actionParameterMissing('ImportSystemConfiguration', 'ShareParameters');
  if (Object.keys(bmc.host.bios.pending).length > 0) {
    throw new RedfishError(400, 'IDRAC.2.8.LC068', 'Unable to perform the import or export operation because there are pending attribute changes or a configuration job is in progress.');
  }
  if (bmc.tasks.all().some((task) => task.bmcId === bmc.id && task.name === 'Import Configuration' && task.final === null)) {
    throw new RedfishError(400, 'IDRAC.2.8.RAC0679', 'A job operation is already running. Retry the operation after the existing job is completed.');
  }
  const attribute = (name: string): string | undefined => {
    const match = new RegExp(`Name="${name.replace('.', '\\.')}"\\s*>\\s*([^<\\s]+)\\s*<`).exec(buffer);
    return match?.[1];
  };
  const once = attribute('ServerBoot.1#BootOnce');
  const device = attribute('ServerBoot.1#FirstBootDevice');
  const task = bmc.tasks.create({
    bmcId: bmc.id,
    name: 'Import Configuration',
    durationMs: Math.max(1, Math.floor(bmc.timings.taskDurationMs / 2)),
    work: Promise.resolve({ ok: true, messageId: 'IDRAC.2.8.SYS053', message: 'Successfully imported and applied Server Configuration Profile.' }),
    onComplete: () => {
      if (once === 'Enabled' && device) bmc.host.oemBootOnce = device;
    },
  });
  if (once === 'Enabled' && device) bmc.counters.bootOverrides += 1;
  const taskPath = `${bmc.tasks.tasksPath}/${task.id}`;
  return { status: 202, headers: { Location: taskPath }, body: bmc.tasks.render(task) };
}

/** The ActionInfo AllowableValues of a parameter, when the action links one. */
export function actionInfoAllowed(bmc: SimBmc, action: ActionRef, name: string): string[] | null {
  const inline = action.info[`${name}@Redfish.AllowableValues`];
  if (Array.isArray(inline)) return inline.filter((item): item is string => typeof item === 'string');
  const link = action.info['@Redfish.ActionInfo'];
  if (typeof link !== 'string') return null;
  const tree = bmc.model.tree;
  const canonical = tree.resolve(link, bmc.model.caseInsensitive);
  return actionInfoValues(canonical ? tree.resources.get(canonical) : undefined, name);
}
