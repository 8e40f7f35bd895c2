/**
 * Firmware through `UpdateService`: the inventory, SimpleUpdate (pull; TransferProtocol sent when the BMC lists it
 * or lists nothing, as iLO requires; Targets when the service has several systems) and multipart push, and the
 * task that follows: monitor from Location or the Task from the body (iLO 5), judged by TaskState, not by status.
 */
import { randomBytes } from 'node:crypto';
import type { CallOptions, FirmwareComponent, TaskRef, TaskStatus } from '../driver.ts';
import { BmcError, parseRetryAfter } from '../errors.ts';
import { sleep } from '../lock.ts';
import type { RedfishResponse } from './client.ts';
import type { RedfishContext } from './context.ts';
import { action, isObject, link, num, str, strings, type Json } from './resources.ts';

const RUNNING = new Set(['New', 'Starting', 'Running', 'Pending', 'Suspended', 'Stopping', 'Service', 'Cancelling']);

async function updateService(ctx: RedfishContext, signal?: AbortSignal): Promise<{ path: string; body: Json }> {
  const path = link((await ctx.root(signal)).UpdateService);
  if (!path) throw new BmcError('BmcUnsupported', `the BMC at ${ctx.endpoint} has no UpdateService`);
  return { path, body: (await ctx.client.get(path, { signal })).body };
}

export async function listFirmware(ctx: RedfishContext, opts: CallOptions = {}): Promise<FirmwareComponent[]> {
  const { body } = await updateService(ctx, opts.signal);
  const inventory = link(body.FirmwareInventory);
  if (!inventory) return [];
  const { members } = await ctx.members(inventory, opts.signal, [404, 500, 501]);
  return members
    .filter((f) => str(f.Version))
    .map((f) => {
      const id = str(f.Id) ?? '';
      return { component: id, id, name: str(f.Name) ?? id, version: str(f.Version) ?? '', updateable: typeof f.Updateable === 'boolean' ? f.Updateable : undefined, path: str(f['@odata.id']) };
    });
}

function taskRef(res: RedfishResponse<Json>): TaskRef {
  const body = isObject(res.body) ? res.body : {};
  const bodyId = str(body['@odata.id']);
  const isTask = bodyId !== undefined && (str(body['@odata.type'])?.includes('Task') || 'TaskState' in body);
  return { monitor: res.location ?? str(body.TaskMonitor), task: isTask ? bodyId : undefined };
}

export async function simpleUpdate(ctx: RedfishContext, request: { imageUrl: string; targets?: string[]; forceUpdate?: boolean }, opts: CallOptions = {}): Promise<TaskRef> {
  const { body } = await updateService(ctx, opts.signal);
  const act = action(body, '#UpdateService.SimpleUpdate');
  if (!act) throw new BmcError('BmcUnsupported', `the BMC at ${ctx.endpoint} offers no SimpleUpdate`);
  const payload: Json = { ImageURI: request.imageUrl };
  const protocols = await ctx.allowableValues(act.annotations, 'TransferProtocol', opts.signal);
  const scheme = request.imageUrl.split(':')[0]?.toUpperCase() ?? 'HTTP';
  if (!protocols || protocols.includes(scheme)) payload.TransferProtocol = scheme;
  const targets = request.targets ?? (ctx.systemCount !== undefined && ctx.systemCount > 1 ? [await ctx.systemPath(opts.signal)] : undefined);
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
    const parameters: Json = { Targets: request.targets ?? [] };
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

export async function waitTask(ctx: RedfishContext, ref: TaskRef, opts: CallOptions & { timeoutMs?: number } = {}): Promise<TaskStatus> {
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? ctx.timings.taskTimeoutMs);
  let seen = false;
  for (;;) {
    let status: Awaited<ReturnType<typeof getTask>>;
    try {
      status = await getTask(ctx, ref, opts);
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
