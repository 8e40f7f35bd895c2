/**
 * Virtual media: slots on the System (ComputerSystem v1_13+) or on its Managers, CD or DVD; InsertMedia/EjectMedia
 * actions or PATCH on the slot (XCC, SD530); eject before insert; the adaptive InsertMedia body (TransferProtocolType,
 * TransferMethod, placeholder credentials) and the empty-body EjectMedia retry of sushy; every change read back.
 */
import type { CallOptions, VirtualMediaResult, VirtualMediaSlot } from '../driver.ts';
import { BmcError, type RedfishErrorInfo } from '../errors.ts';
import { sleep } from '../lock.ts';
import type { Headers } from './client.ts';
import type { RedfishContext } from './context.ts';
import { action, link, links, normalisePath, obj, samePath, str, strings, type Json } from './resources.ts';

function allows(headers: Headers, method: string): boolean {
  const allow = headers.allow;
  const text = Array.isArray(allow) ? allow.join(',') : (allow ?? '');
  return text.split(',').some((m) => m.trim().toUpperCase() === method);
}

function isCdSlot(slot: Json): boolean {
  const types = strings(slot.MediaTypes);
  if (types.length === 0) return /cd|dvd/i.test(`${str(slot.Id) ?? ''} ${str(slot.Name) ?? ''}`);
  return types.includes('CD') || types.includes('DVD');
}

export function readSlot(path: string, body: Json, headers: Headers): VirtualMediaSlot {
  const insert = action(body, '#VirtualMedia.InsertMedia');
  return {
    path: normalisePath(path),
    id: str(body.Id) ?? path.split('/').pop() ?? path,
    mediaTypes: strings(body.MediaTypes),
    inserted: body.Inserted === true || (body.Inserted === undefined && !!str(body.Image)),
    image: str(body.Image),
    writeProtected: typeof body.WriteProtected === 'boolean' ? body.WriteProtected : undefined,
    connectedVia: str(body.ConnectedVia),
    method: insert ? 'action' : allows(headers, 'PATCH') ? 'patch' : 'none',
  };
}

/** Where the slot collections are: the System's, else each manager's (cached per connection). */
async function collections(ctx: RedfishContext, signal?: AbortSignal): Promise<string[]> {
  if (ctx.cachedMediaCollections) return ctx.cachedMediaCollections;
  const system = (await ctx.system(signal, true)).body;
  const found: string[] = [];
  const onSystem = link(system.VirtualMedia);
  if (onSystem) found.push(onSystem);
  if (found.length === 0) {
    const managers = [...links(obj(system.Links).ManagedBy), ...links(obj(system.Links).Managers)];
    const manager = managers[0] ?? (await ctx.managerPath(signal));
    for (const m of manager ? [manager] : []) {
      const res = await ctx.client.get(m, { signal, accept: [404, 501] });
      const vm = res.status < 300 ? link(res.body.VirtualMedia) : undefined;
      if (vm && !found.some((f) => samePath(f, vm))) found.push(vm);
    }
  }
  // An empty answer is not cached: the next call looks again.
  if (found.length > 0) ctx.cachedMediaCollections = found;
  return found;
}

interface SlotRead {
  slot: VirtualMediaSlot;
  etag: string | undefined;
  body: Json;
}

async function readOne(ctx: RedfishContext, path: string, signal?: AbortSignal, shared = false): Promise<SlotRead> {
  const res = await ctx.client.get(path, { signal, shared });
  return { slot: readSlot(path, res.body, res.headers), etag: res.etag, body: res.body };
}

/**
 * The CD/DVD slots with their current state (slot paths discovered once per connection); `shared` for the first
 * look of an operation (bmc/reads.ts).
 */
async function readSlots(ctx: RedfishContext, signal?: AbortSignal, shared = false): Promise<SlotRead[]> {
  if (ctx.cachedCdSlots) {
    const out: SlotRead[] = [];
    for (const p of ctx.cachedCdSlots) out.push(await readOne(ctx, p, signal, shared));
    return out;
  }
  const out: SlotRead[] = [];
  for (const collection of await collections(ctx, signal)) {
    const res = await ctx.client.get(collection, { signal, shared });
    for (const path of links(res.body.Members)) {
      const read = await readOne(ctx, path, signal, shared);
      if (isCdSlot(read.body)) out.push(read);
    }
  }
  if (out.length > 0) ctx.cachedCdSlots = out.map((r) => r.slot.path);
  return out;
}

/** Slot paths with their current state; the CD/DVD ones only. */
export async function listSlots(ctx: RedfishContext, signal?: AbortSignal): Promise<VirtualMediaSlot[]> {
  return (await readSlots(ctx, signal)).map((r) => r.slot);
}

function mentions(info: { messages: string[]; messageIds: string[] }, word: string): boolean {
  return [...info.messages, ...info.messageIds].some((m) => m.toLowerCase().includes(word.toLowerCase()));
}

/** The InsertMedia body, adapted to what the slot advertises. */
async function insertBody(ctx: RedfishContext, annotations: Json, url: string, signal?: AbortSignal): Promise<Json> {
  const body: Json = { Image: url };
  const protocols = await ctx.allowableValues(annotations, 'TransferProtocolType', signal);
  const scheme = url.split(':')[0]?.toUpperCase() ?? 'HTTP';
  if (protocols?.includes(scheme)) body.TransferProtocolType = scheme;
  const methods = await ctx.allowableValues(annotations, 'TransferMethod', signal);
  if (methods?.includes('Stream')) body.TransferMethod = 'Stream';
  return body;
}

async function insertWithAction(ctx: RedfishContext, slotBody: Json, url: string, opts: CallOptions): Promise<void> {
  const insert = action(slotBody, '#VirtualMedia.InsertMedia');
  if (!insert) throw new BmcError('BmcUnsupported', 'the slot has no InsertMedia action');
  const body = await insertBody(ctx, insert.annotations, url, opts.signal);
  let serverRetries = 0;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      await ctx.client.post(insert.target, body, { signal: opts.signal });
      return;
    } catch (err) {
      if (!(err instanceof BmcError)) throw err;
      const info: RedfishErrorInfo = { messageIds: err.messageIds, messages: [err.message] };
      const missing = err.messageIds.some((id) => /ActionParameterMissing|PropertyMissing|ActionParameterUnknown|GeneralError/.test(id)) || err.code === 'BmcBadRequest';
      if (err.code === 'BmcServerError' && serverRetries < 3 && !mentions(info, 'image')) {
        // iDRAC: an insert right after an eject gets a 5xx while the eject finishes.
        serverRetries++;
        attempt--;
        await sleep(ctx.timings.retryDelayMs, opts.signal);
        continue;
      }
      if (!missing) throw err;
      if (mentions(info, 'TransferProtocolType') && body.TransferProtocolType === undefined) {
        body.TransferProtocolType = url.split(':')[0]?.toUpperCase() ?? 'HTTP';
      } else if (mentions(info, 'TransferMethod') && body.TransferMethod === undefined) {
        body.TransferMethod = 'Stream';
      } else if ((mentions(info, 'UserName') || mentions(info, 'Password')) && body.UserName === undefined) {
        body.UserName = 'none';
        body.Password = 'none';
      } else {
        throw err;
      }
    }
  }
  throw new BmcError('VirtualMediaFailed', `the BMC at ${ctx.endpoint} refused every InsertMedia variant for ${url}`);
}

function imageMatches(slot: VirtualMediaSlot, body: Json, url: string): boolean {
  if (slot.image === url) return true;
  const name = url.split('/').pop() ?? url;
  return (slot.image !== undefined && url.endsWith(slot.image)) || str(body.ImageName) === name;
}

/** Ejects one slot (action, empty-body retry, or PATCH) and confirms it is empty. */
async function ejectSlot(ctx: RedfishContext, read: SlotRead, opts: CallOptions): Promise<void> {
  const { slot, body, etag } = read;
  const eject = action(body, '#VirtualMedia.EjectMedia');
  try {
    if (eject) {
      try {
        await ctx.client.post(eject.target, undefined, { signal: opts.signal });
      } catch (err) {
        // HPE iLO wants a body: retry with {} on 400/415.
        if (!(err instanceof BmcError) || (err.status !== 400 && err.status !== 415)) throw err;
        await ctx.client.post(eject.target, {}, { signal: opts.signal });
      }
    } else if (slot.method === 'patch') {
      await ctx.client.patch(slot.path, { Image: null, Inserted: false }, { etag, signal: opts.signal });
    } else {
      throw new BmcError('BmcUnsupported', `the virtual media slot ${slot.path} has neither EjectMedia nor PATCH`);
    }
  } catch (err) {
    // sushy: after a 5xx, 400 or 409 the eject may still have happened.
    if (!(err instanceof BmcError) || !(err.status !== undefined && (err.status >= 500 || err.status === 400 || err.status === 409))) throw err;
    const after = await readOne(ctx, slot.path, opts.signal);
    if (!after.slot.inserted) return;
    throw err;
  }
  ctx.markEjected();
  // Dell keeps showing Inserted for a moment after an eject: wait for the read-back instead of ejecting again.
  const started = Date.now();
  for (;;) {
    const after = await readOne(ctx, slot.path, opts.signal);
    if (!after.slot.inserted) return;
    if (Date.now() - started >= ctx.timings.mediaSettleMs) {
      throw new BmcError('BmcServerError', `the BMC at ${ctx.endpoint} accepted the eject of ${slot.path} but still reports media inserted after ${Math.round(ctx.timings.mediaSettleMs / 1000)} s`);
    }
    opts.onProgress?.({ what: 'eject virtual media', elapsedMs: Date.now() - started, detail: 'still inserted' });
    await sleep(ctx.timings.powerPollIntervalMs, opts.signal);
  }
}

export async function ejectAll(ctx: RedfishContext, opts: CallOptions = {}): Promise<VirtualMediaResult[]> {
  return ctx.converge('eject virtual media', opts, async () => {
    const out: VirtualMediaResult[] = [];
    for (const read of await readSlots(ctx, opts.signal)) {
      if (!read.slot.inserted) continue;
      await ejectSlot(ctx, read, opts);
      out.push({ slot: read.slot.path, image: read.slot.image, changed: true });
    }
    return out;
  });
}

/**
 * Inserts `url` as a CD: a slot already holding exactly this image is kept (unless we ejected a moment ago: Dell's
 * Inserted flag lies right after an eject); anything else inserted is ejected first and confirmed empty; slots
 * that refuse (Cisco KVM slots: 400, 405) are skipped for the next one; Dell tries slot "1" first.
 */
export async function insert(ctx: RedfishContext, url: string, opts: CallOptions = {}): Promise<VirtualMediaResult> {
  return ctx.converge('insert virtual media', opts, async (attempt) => {
    // The first attempt may start from the activity's read of the slots; a retry reads them again.
    const reads = await readSlots(ctx, opts.signal, attempt === 1);
    const dell = (await ctx.vendor(opts.signal)).includes('dell');
    // iDRAC10 boots only from slot "1" (#9): try it first on Dell.
    const usable = reads.filter((r) => r.slot.method !== 'none').sort((a, b) => (dell ? Number(b.slot.id === '1') - Number(a.slot.id === '1') : 0));
    if (usable.length === 0) {
      throw new BmcError('BmcUnsupported', reads.length ? `the BMC at ${ctx.endpoint} has CD slots but none accepts InsertMedia or PATCH` : `the BMC at ${ctx.endpoint} has no virtual media CD/DVD slot`);
    }
    const holding = usable.find((r) => r.slot.inserted && r.slot.image === url);
    const others = reads.filter((r) => r.slot.inserted && r !== holding);
    // Same image already in: nothing to do, unless we ejected a moment ago (Dell shows a stale Inserted, #8).
    if (holding && !ctx.ejectedRecently && others.length === 0) return { slot: holding.slot.path, image: url, changed: false };

    const ejected = new Set<string>();
    for (const r of reads.filter((x) => x.slot.inserted)) {
      await ejectSlot(ctx, r, opts);
      ejected.add(r.slot.path);
    }
    let lastError: unknown;
    for (const read of usable) {
      const slot = read.slot;
      try {
        // A slot just ejected changed: its ETag and body are re-read; the others are as listed.
        const { body, etag } = ejected.has(slot.path) ? await readOne(ctx, slot.path, opts.signal) : read;
        if (slot.method === 'action') await insertWithAction(ctx, body, url, opts);
        else await ctx.client.patch(slot.path, { Image: url, Inserted: true, WriteProtected: true }, { etag, signal: opts.signal });
      } catch (err) {
        lastError = err;
        if (err instanceof BmcError && (err.status === 400 || err.status === 405) && usable.length > 1 && !/image/i.test(err.message)) continue;
        throw err instanceof BmcError ? insertFailure(err, url) : err;
      }
      const after = await readOne(ctx, slot.path, opts.signal);
      if (!after.slot.inserted || !imageMatches(after.slot, after.body, url)) {
        throw new BmcError('VirtualMediaFailed', `the BMC at ${ctx.endpoint} accepted ${url} in ${slot.path} but reads back Inserted=${after.slot.inserted} Image=${after.slot.image ?? 'none'}`);
      }
      return { slot: slot.path, image: url, changed: true };
    }
    throw lastError instanceof BmcError ? insertFailure(lastError, url) : new BmcError('VirtualMediaFailed', `no virtual media slot of ${ctx.endpoint} accepted ${url}`);
  });
}

/**
 * Names an insert failure by its cause: a refused request is VirtualMediaFailed (permanent), a BMC that could not
 * download the image is ImageFetchFailed (sushy-tools: 400 on an HTTP 4xx, 500 or 502 when unreachable).
 */
export function insertFailure(err: BmcError, url: string): BmcError {
  const aboutImage = /fetch|download|image|url|connection/i.test(err.message);
  if (err.code === 'BmcServerError' && aboutImage) {
    return new BmcError('ImageFetchFailed', `the BMC could not download virtual media ${url}: ${err.message}`, { status: err.status, messageIds: err.messageIds, cause: err });
  }
  if (err.code === 'BmcBadRequest') {
    return new BmcError('VirtualMediaFailed', `the BMC refused virtual media ${url}: ${err.message}`, { status: err.status, messageIds: err.messageIds, cause: err });
  }
  return err;
}
