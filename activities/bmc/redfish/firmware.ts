/**
 * Firmware through `UpdateService`: the inventory (every FirmwareInventory and SoftwareInventory member, the
 * ones that do not answer reported, not hidden), SimpleUpdate (pull; TransferProtocol sent when the BMC lists it
 * or lists nothing, as iLO requires; Targets when the service has several systems) and multipart push, started
 * exactly once (the BMC's own task list says whether this image is already being or was flashed), and the task
 * that follows: monitor from Location or the Task from the body (iLO 5), judged by TaskState, not by status.
 */
import { randomBytes } from 'node:crypto';
import type {
  CallOptions,
  FirmwareComponent,
  FirmwareInventory,
  FirmwareUpdateRequest,
  FirmwareUpdateStart,
  TaskRef,
  TaskStatus,
} from '../driver.ts';
import { BmcError, parseRetryAfter } from '../errors.ts';
import { sleep } from '../lock.ts';
import type { RedfishResponse } from './client.ts';
import type { RedfishContext } from './context.ts';
import { action, isObject, link, links, num, obj, samePath, str, strings, type Json } from './resources.ts';

export const RUNNING = new Set(['New', 'Starting', 'Running', 'Pending', 'Suspended', 'Stopping', 'Service', 'Cancelling']);

async function updateService(ctx: RedfishContext, signal?: AbortSignal): Promise<{ path: string; body: Json }> {
  const path = link((await ctx.root(signal)).UpdateService);
  if (!path) throw new BmcError('BmcUnsupported', `the BMC at ${ctx.endpoint} has no UpdateService`);
  return { path, body: (await ctx.client.get(path, { signal })).body };
}

/** Where the firmware and software inventories are (UpdateService's links). */
export interface InventoryLinks {
  firmware: string | undefined;
  software: string | undefined;
}

/**
 * UpdateService's inventory links, read once per connection (a firmware reading and an inspection both need them,
 * and they do not change); undefined when the BMC has no UpdateService. A GET that fails is thrown and asked again
 * next time. UpdateService's state (a push in progress, its actions) is still read fresh by those who need it.
 */
export async function inventoryLinks(ctx: RedfishContext, signal?: AbortSignal): Promise<InventoryLinks | undefined> {
  const path = link((await ctx.root(signal)).UpdateService);
  if (!path) return undefined;
  return ctx.remember(`inventory-links:${path}`, async () => {
    const { body } = await ctx.client.get(path, { signal });
    return { firmware: link(body.FirmwareInventory), software: link(body.SoftwareInventory) };
  });
}

const NIC = /\b(nic|ethernet|network|lan|adapter|fastlinq|connectx)\b/i;

/** What an inventory member is: its RelatedItem links first, then its names. */
function roleOf(member: Json, systemPath: string | undefined, managerPath: string | undefined): NonNullable<FirmwareComponent['role']> {
  const related = links(member.RelatedItem);
  const text = `${str(member.Id) ?? ''} ${str(member.Name) ?? ''} ${str(member.Description) ?? ''}`;
  const biosName = /bios|uefi|system rom/i.test(text);
  if (biosName && (related.length === 0 || related.some((r) => samePath(r, systemPath)))) return 'bios';
  if (related.some((r) => samePath(r, managerPath)) || /\b(bmc|ilo|idrac|xcc)\b|remote access|lifecycle controller/i.test(text)) return 'bmc';
  if (biosName) return 'bios';
  return NIC.test(text) ? 'nic' : 'other';
}

/** The system, manager and inventory members a component list is made of. */
export interface FirmwareSources {
  systemPath: string;
  system: Json;
  managerPath: string | undefined;
  manager: Json | undefined;
  firmwareInventory: Json[] | undefined;
  softwareInventory?: Json[] | undefined;
}

/**
 * The firmware components of a host: `bios` (System BiosVersion) and `bmc` (Manager FirmwareVersion) first, as
 * Ironic lists them for HostFirmwareComponents, then every inventory member by its Id (pure).
 */
export function firmwareComponents(sources: FirmwareSources): FirmwareComponent[] {
  const out: FirmwareComponent[] = [];
  const biosVersion = str(sources.system.BiosVersion);
  const bmcVersion = str(sources.manager?.FirmwareVersion);
  if (biosVersion) out.push({ component: 'bios', id: 'bios', name: 'BIOS', version: biosVersion, updateable: undefined, path: sources.systemPath, source: 'System', role: 'bios' });
  if (bmcVersion && sources.managerPath) {
    out.push({ component: 'bmc', id: 'bmc', name: 'BMC', version: bmcVersion, updateable: undefined, path: sources.managerPath, source: 'Manager', role: 'bmc' });
  }
  const add = (members: Json[] | undefined, source: 'FirmwareInventory' | 'SoftwareInventory') => {
    for (const f of members ?? []) {
      const path = str(f['@odata.id']);
      const id = str(f.Id) ?? path?.replace(/\/+$/, '').split('/').pop() ?? '';
      out.push({
        component: id,
        id,
        name: str(f.Name) ?? id,
        version: str(f.Version) ?? '',
        updateable: typeof f.Updateable === 'boolean' ? f.Updateable : undefined,
        path,
        source,
        role: roleOf(f, sources.systemPath, sources.managerPath),
        softwareId: str(f.SoftwareId),
        releaseDate: str(f.ReleaseDate),
        manufacturer: str(f.Manufacturer),
        lowestSupportedVersion: str(f.LowestSupportedVersion),
        relatedItems: links(f.RelatedItem),
      });
    }
  };
  add(sources.firmwareInventory, 'FirmwareInventory');
  add(sources.softwareInventory, 'SoftwareInventory');
  return out;
}

const MEMBER_TOLERATED = [400, 403, 404, 405, 410, 500, 501, 503];

/**
 * Every member of an inventory collection, one request at a time (or one expanded request), with the members
 * that did not answer. Undefined when the collection itself is not there.
 */
export async function inventoryMembers(ctx: RedfishContext, collection: string | undefined, signal?: AbortSignal): Promise<{ members: Json[]; missing: { path: string; status: number }[] } | undefined> {
  if (!collection) return undefined;
  const expand = await ctx.expandSupported(signal);
  const res = await ctx.client.get(expand ? `${collection}?$expand=.($levels=1)` : collection, { signal, accept: MEMBER_TOLERATED });
  ctx.noteAnswer(collection, res.status);
  if (res.status >= 300) return undefined;
  const members: Json[] = [];
  const missing: { path: string; status: number }[] = [];
  for (const m of Array.isArray(res.body.Members) ? res.body.Members : []) {
    if (!isObject(m)) continue;
    const id = str(m['@odata.id']);
    if (Object.keys(m).some((k) => !k.startsWith('@odata')) || !id) {
      members.push(m);
      continue;
    }
    const member = await ctx.client.get(id, { signal, accept: MEMBER_TOLERATED });
    if (member.status < 300 && isObject(member.body)) members.push(member.body);
    else missing.push({ path: id, status: member.status });
  }
  return { members, missing };
}

/** The whole firmware inventory of the host. */
export async function readFirmwareInventory(ctx: RedfishContext, opts: CallOptions = {}): Promise<FirmwareInventory> {
  const signal = opts.signal;
  const inventories = await inventoryLinks(ctx, signal);
  if (!inventories) throw new BmcError('BmcUnsupported', `the BMC at ${ctx.endpoint} has no UpdateService`);
  const systemPath = await ctx.systemPath(signal);
  // A reading, not a wait: the activity's reads of the system and manager since our last change may answer.
  const system = (await ctx.system(signal, true)).body;
  const managerPath = await ctx.managerPath(signal);
  const manager = managerPath ? await ctx.client.get(managerPath, { signal, accept: MEMBER_TOLERATED, shared: true }) : undefined;
  const firmware = await inventoryMembers(ctx, inventories.firmware, signal);
  const software = await inventoryMembers(ctx, inventories.software, signal);
  const components = firmwareComponents({
    systemPath,
    system,
    managerPath,
    manager: manager && manager.status < 300 ? manager.body : undefined,
    firmwareInventory: firmware?.members,
    softwareInventory: software?.members,
  });
  return { components, missing: [...(firmware?.missing ?? []), ...(software?.missing ?? [])] };
}

/**
 * The version of one component, read with as few requests as it takes: `bios` from the System's BiosVersion,
 * `bmc` from the Manager's FirmwareVersion, an inventory member by its Id; undefined when the BMC does not say.
 * Members whose Id carries the version (Dell) are matched by the Id's stem, the installed one preferred.
 */
export async function readComponentVersion(ctx: RedfishContext, component: string, opts: CallOptions = {}): Promise<string | undefined> {
  const signal = opts.signal;
  if (component === 'bios') return str((await ctx.system(signal)).body.BiosVersion);
  if (component === 'bmc') {
    const managerPath = await ctx.managerPath(signal);
    if (!managerPath) return undefined;
    const manager = await ctx.client.get(managerPath, { signal, accept: MEMBER_TOLERATED });
    return manager.status < 300 ? str(manager.body.FirmwareVersion) : undefined;
  }
  const inventory = await readFirmwareInventory(ctx, opts);
  const exact = inventory.components.find((c) => c.id === component || c.component === component);
  if (exact) return exact.version;
  const installed = inventory.components.find((c) => c.id.startsWith('Installed-') && c.id.includes(component));
  return installed?.version;
}

export async function listFirmware(ctx: RedfishContext, opts: CallOptions = {}): Promise<FirmwareComponent[]> {
  return (await readFirmwareInventory(ctx, opts)).components;
}

function taskRef(res: RedfishResponse<Json>): TaskRef {
  const body = isObject(res.body) ? res.body : {};
  const bodyId = str(body['@odata.id']);
  const isTask = bodyId !== undefined && (str(body['@odata.type'])?.includes('Task') || 'TaskState' in body);
  return { monitor: res.location ?? str(body.TaskMonitor), task: isTask ? bodyId : undefined };
}

/** `[system]` when the service has several systems (Ironic sends Targets then), else undefined. */
async function ownSystemTargets(ctx: RedfishContext, signal?: AbortSignal): Promise<string[] | undefined> {
  return (await ctx.systemsInService(signal)) > 1 ? [await ctx.systemPath(signal)] : undefined;
}

export async function simpleUpdate(ctx: RedfishContext, request: { imageUrl: string; targets?: string[]; forceUpdate?: boolean }, opts: CallOptions = {}): Promise<TaskRef> {
  const { body } = await updateService(ctx, opts.signal);
  const act = action(body, '#UpdateService.SimpleUpdate');
  if (!act) throw new BmcError('BmcUnsupported', `the BMC at ${ctx.endpoint} offers no SimpleUpdate`);
  const payload: Json = { ImageURI: request.imageUrl };
  const protocols = await ctx.allowableValues(act.annotations, 'TransferProtocol', opts.signal);
  const scheme = request.imageUrl.split(':')[0]?.toUpperCase() ?? 'HTTP';
  if (!protocols || protocols.includes(scheme)) payload.TransferProtocol = scheme;
  const targets = request.targets ?? (await ownSystemTargets(ctx, opts.signal));
  if (targets) payload.Targets = targets;
  if (request.forceUpdate !== undefined) payload.ForceUpdate = request.forceUpdate;
  const res = await ctx.client.post(act.target, payload, { signal: opts.signal });
  const ref = taskRef(res);
  if (!ref.monitor && !ref.task) return { monitor: undefined, task: undefined };
  return ref;
}

/** multipart/form-data with UpdateParameters (JSON) and UpdateFile (the image), as DSP0266 specifies. */
export function multipartBody(parameters: Json, image: Uint8Array, filename: string): { data: Uint8Array; contentType: string } {
  const boundary = `----tempered${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="UpdateParameters"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(parameters)}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="UpdateFile"; filename="${filename.replace(/"/g, '')}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { data: Buffer.concat([head, Buffer.from(image), tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}

export async function pushUpdate(ctx: RedfishContext, request: { image: Uint8Array; filename: string; targets?: string[]; applyTime?: string }, opts: CallOptions = {}): Promise<TaskRef> {
  const { body } = await updateService(ctx, opts.signal);
  if (body.HttpPushUriTargetsBusy === true) throw new BmcError('BmcBusy', `the UpdateService of ${ctx.endpoint} is busy with another push (HttpPushUriTargetsBusy)`, { retryAfterMs: 30_000 });
  const multipart = str(body.MultipartHttpPushUri);
  if (multipart) {
    const parameters: Json = { Targets: request.targets ?? (await ownSystemTargets(ctx, opts.signal)) ?? [] };
    if (request.applyTime) parameters['@Redfish.OperationApplyTime'] = request.applyTime;
    const res = await ctx.client.request<Json>('POST', multipart, { raw: multipartBody(parameters, request.image, request.filename), signal: opts.signal });
    return taskRef(res);
  }
  const push = str(body.HttpPushUri);
  if (!push) throw new BmcError('BmcUnsupported', `the BMC at ${ctx.endpoint} accepts no pushed firmware (no MultipartHttpPushUri or HttpPushUri)`);
  const res = await ctx.client.request<Json>('POST', push, { raw: { data: request.image, contentType: 'application/octet-stream' }, signal: opts.signal });
  return taskRef(res);
}

export function readTask(body: Json): TaskStatus {
  const taskState = str(body.TaskState) ?? 'Unknown';
  const status = str(body.TaskStatus);
  const done = !RUNNING.has(taskState) && taskState !== 'Unknown';
  const messages = (Array.isArray(body.Messages) ? body.Messages : []).filter(isObject).map((m) => str(m.Message) ?? str(m.MessageId) ?? '').filter(Boolean);
  return {
    state: taskState,
    status,
    percent: num(body.PercentComplete),
    messages,
    done,
    ok: taskState === 'Completed' && (status === undefined || status === 'OK' || status === 'Warning'),
    vanished: false,
  };
}

/** Reads a task: the Task resource if known (iLO 5, iDRAC), else the monitor (202 = running). */
export async function getTask(ctx: RedfishContext, ref: TaskRef, opts: CallOptions = {}): Promise<TaskStatus & { retryAfterMs: number | undefined }> {
  const path = ref.task ?? ref.monitor;
  if (!path) return { state: 'Completed', status: 'OK', percent: 100, messages: [], done: true, ok: true, vanished: false, retryAfterMs: undefined };
  const res = await ctx.client.get(path, { signal: opts.signal, accept: [404, 410] });
  const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
  if (res.status === 404 || res.status === 410) {
    if (ref.task && ref.monitor && path === ref.task) return getTask(ctx, { monitor: ref.monitor, task: undefined }, opts);
    return { state: 'Unknown', status: undefined, percent: undefined, messages: [`task ${path} disappeared`], done: true, ok: false, vanished: true, retryAfterMs };
  }
  const body = isObject(res.body) ? res.body : {};
  if ('TaskState' in body) return { ...readTask(body), retryAfterMs };
  // A monitor: 202 while running; any other success is the operation's final answer.
  if (res.status === 202) return { state: 'Running', status: undefined, percent: undefined, messages: [], done: false, ok: false, vanished: false, retryAfterMs };
  return { state: 'Completed', status: 'OK', percent: 100, messages: strings(body.Messages), done: true, ok: true, vanished: false, retryAfterMs };
}

/** Runs one BMC exchange under the driver's per-BMC lock (the default runs it as is). */
export type Guard = <T>(fn: () => Promise<T>) => Promise<T>;
const unguarded: Guard = (fn) => fn();

/**
 * Polls a task until it ends. Each poll holds the per-BMC lock (`guard`); the waits between polls do not, so
 * other operations on the BMC interleave with a long task. Connection failures and 5xx are "try again at the
 * next poll": a BMC flashing itself reboots and drops everything meanwhile.
 */
export async function waitTask(ctx: RedfishContext, ref: TaskRef, opts: CallOptions & { timeoutMs?: number } = {}, guard: Guard = unguarded): Promise<TaskStatus> {
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? ctx.timings.taskTimeoutMs);
  let seen = false;
  for (;;) {
    let status: Awaited<ReturnType<typeof getTask>>;
    try {
      status = await guard(() => getTask(ctx, ref, opts));
    } catch (err) {
      // A BMC updating itself drops connections and answers 5xx: try again at the next poll.
      if (!(err instanceof BmcError) || err.disposition !== 'transient' || Date.now() >= deadline) throw err;
      await sleep(ctx.timings.taskPollIntervalMs, opts.signal);
      continue;
    }
    const { retryAfterMs, ...task } = status;
    if (task.vanished && !seen && Date.now() - started < ctx.timings.taskNotFoundGraceMs) {
      // Dell answers 404 for a task it has just created (#6): still starting.
      await sleep(ctx.timings.taskPollIntervalMs, opts.signal);
      continue;
    }
    if (!task.vanished) seen = true;
    if (task.done) {
      if (!task.ok && !task.vanished) throw new BmcError('BmcTaskFailed', `the task ${ref.task ?? ref.monitor ?? ''} on ${ctx.endpoint} ended ${task.state}/${task.status ?? '-'}: ${task.messages.join('; ') || 'no message'}`);
      return task;
    }
    opts.onProgress?.({ what: 'task', elapsedMs: Date.now() - started, detail: `${task.state} ${task.percent ?? '?'}%` });
    if (Date.now() >= deadline) throw new BmcError('BmcTimeout', `the task ${ref.task ?? ref.monitor ?? ''} on ${ctx.endpoint} is still ${task.state} after ${Math.round((Date.now() - started) / 1000)} s`);
    await sleep(Math.min(retryAfterMs ?? ctx.timings.taskPollIntervalMs, Math.max(0, deadline - Date.now())), opts.signal);
  }
}

/** A task's own URI, and its monitor when it names one. */
function refOf(task: Json): TaskRef {
  return { task: str(task['@odata.id']), monitor: str(task.TaskMonitor) };
}

/**
 * Whether a task was created by an update of this image: by the request it echoes (Payload), else by its name.
 * With `system` (a BMC with several systems), only a request that targeted that system counts: the nodes of a
 * chassis flash the same image through one task service.
 */
export function taskIsFor(task: Json, request: Pick<FirmwareUpdateRequest, 'imageUrl' | 'push'>, system?: string): boolean {
  const body = str(obj(task.Payload).JsonBody);
  const file = request.push?.filename ?? decodeURIComponent(request.imageUrl.split(/[?#]/)[0]?.split('/').pop() ?? '');
  if (body) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.includes(request.push ? file : request.imageUrl);
    }
    const json = obj(parsed);
    const same = request.push ? str(json.UpdateFile) === file : str(json.ImageURI) === request.imageUrl;
    return same && (system === undefined || strings(json.Targets).some((target) => samePath(target, system)));
  }
  // Without the request echoed, a task of a BMC with several systems cannot be told apart.
  if (system !== undefined) return false;
  // No Payload: only a task that names the image file counts (some BMCs title tasks after the package).
  const texts = [str(task.Name), ...(Array.isArray(task.Messages) ? task.Messages.filter(isObject).map((m) => str(m.Message)) : [])];
  return file !== '' && texts.some((text) => text?.includes(file));
}

const KEEP_LOOKING_AT = 100;

/** The BMC's tasks, newest last (the last KEEP_LOOKING_AT of them). */
export async function recentTasks(ctx: RedfishContext, signal?: AbortSignal): Promise<Json[]> {
  const service = link((await ctx.root(signal)).Tasks);
  if (!service) return [];
  const res = await ctx.client.get(service, { signal, accept: MEMBER_TOLERATED });
  const collection = res.status < 300 ? link(res.body.Tasks) : undefined;
  if (!collection) return [];
  const listed = await ctx.client.get(collection, { signal, accept: MEMBER_TOLERATED });
  if (listed.status >= 300) return [];
  const members = (Array.isArray(listed.body.Members) ? listed.body.Members : []).filter(isObject).slice(-KEEP_LOOKING_AT);
  const out: Json[] = [];
  for (const m of members) {
    if (Object.keys(m).some((k) => !k.startsWith('@odata'))) {
      out.push(m);
      continue;
    }
    const id = str(m['@odata.id']);
    if (!id) continue;
    // A task the collection lists but that answers 404 may be one Dell has just created (#6): it could be this
    // update's, so it is asked again for a while rather than ignored (ignoring it could start a second flash).
    const deadline = Date.now() + ctx.timings.taskNotFoundGraceMs;
    for (;;) {
      const task = await ctx.client.get(id, { signal, accept: MEMBER_TOLERATED });
      if (task.status < 300 && isObject(task.body)) out.push(task.body);
      if (task.status !== 404 || Date.now() >= deadline) break;
      await sleep(ctx.timings.taskPollIntervalMs, signal);
    }
  }
  return out;
}

/**
 * Starts a firmware update unless the BMC's own state says it is already under way or done: a task for this
 * image running, or completed since `since`; or the component already at `version`. Failed and cancelled
 * tasks do not count (the update is tried again).
 */
export async function startFirmwareUpdate(ctx: RedfishContext, request: FirmwareUpdateRequest, opts: CallOptions = {}): Promise<FirmwareUpdateStart> {
  const since = request.since ? Date.parse(request.since) : Number.NEGATIVE_INFINITY;
  const several = (await ctx.systemsInService(opts.signal)) > 1;
  const system = several ? (request.targets?.[0] ?? (await ctx.systemPath(opts.signal))) : undefined;
  const mine = (await recentTasks(ctx, opts.signal)).filter((task) => {
    const startTime = Date.parse(str(task.StartTime) ?? '');
    return taskIsFor(task, request, system) && (Number.isNaN(startTime) || startTime >= since);
  });
  const running = mine.find((task) => RUNNING.has(str(task.TaskState) ?? ''));
  if (running) return { state: 'running', taskUri: str(running['@odata.id']), ref: refOf(running) };
  const completed = mine.filter((task) => readTask(task).ok).at(-1);
  if (completed) return { state: 'completed', taskUri: str(completed['@odata.id']), ref: refOf(completed) };
  if (request.component && request.version) {
    const components = await listFirmware(ctx, opts);
    const current = components.find((c) => c.component === request.component || c.id === request.component);
    if (current?.version === request.version) return { state: 'current', taskUri: undefined, ref: { task: undefined, monitor: undefined } };
  }
  const ref = request.push
    ? await pushUpdate(ctx, { image: request.push.image, filename: request.push.filename, ...(request.targets ? { targets: request.targets } : {}), ...(request.push.applyTime ? { applyTime: request.push.applyTime } : {}) }, opts)
    : await simpleUpdate(ctx, { imageUrl: request.imageUrl, ...(request.targets ? { targets: request.targets } : {}), ...(request.forceUpdate !== undefined ? { forceUpdate: request.forceUpdate } : {}) }, opts);
  return { state: 'started', taskUri: ref.task ?? ref.monitor, ref };
}

/** Reads a task by URI: a Task resource, or a task monitor. */
export async function readTaskAt(ctx: RedfishContext, uri: string, opts: CallOptions = {}): Promise<TaskStatus> {
  const { retryAfterMs: _ignored, ...status } = await getTask(ctx, { task: uri, monitor: undefined }, opts);
  return status;
}
