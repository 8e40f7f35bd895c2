/**
 * What every Redfish operation shares for one BMC: the client, the timings, and a discovery cache of what does
 * not change while a connection lives (service root, system and manager paths, allowed reset types, virtual
 * media slot paths, ActionInfo), so the pipeline spends its requests on state, not on rediscovery.
 */
import type { RedfishBmcAddress } from '../../../domain/bmc-address.ts';
import type { CallOptions } from '../driver.ts';
import { BmcError } from '../errors.ts';
import { sleep } from '../lock.ts';
import type { RedfishClient, RedfishResponse } from './client.ts';
import { isObject, link, links, normalisePath, obj, str, type Json } from './resources.ts';

/** Waits and retries, from Ironic's defaults unless a test or a vendor needs otherwise. */
export interface RedfishTimings {
  /** Metal3's power_state_change_timeout (Ironic 60 s, ironic-image 120 s). */
  powerTimeoutMs: number;
  /** Ironic's soft_power_off_timeout. */
  softPowerTimeoutMs: number;
  /** First power poll after a request (Ironic: initial_delay=1), then a fixed interval (no backoff). */
  powerPollInitialMs: number;
  powerPollIntervalMs: number;
  /** After a GracefulRestart the state is still On: wait this long before polling (Ironic's 15 s). */
  softRebootSettleMs: number;
  /** Attempts of a whole operation on transient errors (it re-reads state each time), and the default delay. */
  attempts: number;
  retryDelayMs: number;
  /** Longest single wait between attempts (a longer Retry-After is left to the activity's retry policy). */
  maxRetryDelayMs: number;
  /** Wait for a slot to read back empty after an eject (Dell shows Inserted for a moment). */
  mediaSettleMs: number;
  /** Task polling interval without Retry-After. */
  taskPollIntervalMs: number;
  /** A task that answers 404 right after it was created is still starting for this long (Dell, #6). */
  taskNotFoundGraceMs: number;
  /** Default wait for a task to finish (Ironic: firmware_update_overall_timeout 7200 s). */
  taskTimeoutMs: number;
}

export const DEFAULT_REDFISH_TIMINGS: RedfishTimings = {
  powerTimeoutMs: 120_000,
  softPowerTimeoutMs: 600_000,
  powerPollInitialMs: 1000,
  powerPollIntervalMs: 2000,
  softRebootSettleMs: 15_000,
  attempts: 6,
  retryDelayMs: 3000,
  maxRetryDelayMs: 30_000,
  mediaSettleMs: 15_000,
  taskPollIntervalMs: 10_000,
  taskNotFoundGraceMs: 30_000,
  taskTimeoutMs: 7_200_000,
};

/** Discovered once per connection. */
interface Discovered {
  systemPath?: string;
  managerPath?: string | null;
  systemCount?: number;
  resetTypes?: string[];
  mediaCollections?: string[];
  cdSlots?: string[];
  vendor?: string;
  actionInfo: Map<string, Json | null>;
  /** Other discovered facts by key (attribute registries, storage layout), loaded once per connection. */
  memo: Map<string, Promise<unknown>>;
  /** Linked resources the BMC last answered 404 or 501 for (a hint for optional reads, never for state). */
  absent: Set<string>;
}

export class RedfishContext {
  readonly client: RedfishClient;
  readonly address: RedfishBmcAddress;
  readonly timings: RedfishTimings;
  #d: Discovered = { actionInfo: new Map(), memo: new Map(), absent: new Set() };
  #recentEjectAt = 0;

  constructor(client: RedfishClient, address: RedfishBmcAddress, timings: RedfishTimings) {
    this.client = client;
    this.address = address;
    this.timings = timings;
  }

  get endpoint(): string {
    return this.client.endpoint;
  }

  /** Forgets discovered paths (after a 404 on one of them). */
  forget(): void {
    this.#d = { actionInfo: new Map(), memo: new Map(), absent: new Set() };
  }

  /**
   * A fact that does not change while the connection lives, loaded once by `load` under `key`. A failed load
   * is not kept: the next call asks the BMC again.
   */
  remember<T>(key: string, load: () => Promise<T>): Promise<T> {
    const memo = this.#d.memo;
    const known = memo.get(key);
    if (known) return known as Promise<T>;
    const loading = load();
    memo.set(key, loading);
    loading.catch(() => {
      if (memo.get(key) === loading) memo.delete(key);
    });
    return loading;
  }

  /**
   * Records what a linked resource answered: 404 or 501 (not there) marks it absent, anything below 300 present.
   * Only an optional read that would add detail may skip an absent one (`knownAbsent`); reads that decide
   * something (a firmware version after a flash) ask the BMC every time.
   */
  noteAnswer(path: string, status: number): void {
    if (status === 404 || status === 501) this.#d.absent.add(path);
    else if (status < 300) this.#d.absent.delete(path);
  }

  /** Whether the BMC's last answer on this connection for `path` was 404 or 501. */
  knownAbsent(path: string): boolean {
    return this.#d.absent.has(path);
  }

  root(signal?: AbortSignal): Promise<Json> {
    return this.client.root(signal);
  }

  /** The system: the address's path, else the only member of Systems. */
  async systemPath(signal?: AbortSignal): Promise<string> {
    if (this.#d.systemPath) return this.#d.systemPath;
    if (this.address.systemPath) {
      this.#d.systemPath = normalisePath(this.address.systemPath);
      return this.#d.systemPath;
    }
    const root = await this.root(signal);
    const systems = link(root.Systems) ?? '/redfish/v1/Systems';
    const collection = (await this.client.get(systems, { signal })).body;
    const members = links(collection.Members);
    this.#d.systemCount = members.length;
    if (members.length === 1 && members[0]) {
      this.#d.systemPath = normalisePath(members[0]);
      return this.#d.systemPath;
    }
    const example = members[0] ?? '/redfish/v1/Systems/<id>';
    throw new BmcError(
      members.length === 0 ? 'BmcNotFound' : 'BmcAddressInvalid',
      members.length === 0
        ? `the BMC at ${this.endpoint} lists no systems`
        : `the BMC at ${this.endpoint} manages ${members.length} systems; the BMC address must name one, e.g. ${this.address.scheme}://${this.address.host}${this.address.explicitPort ? `:${this.address.port}` : ''}${example}`,
    );
  }

  /**
   * A fresh GET of the system (state is never cached across calls); with `shared`, the first look of an operation
   * may be answered by the activity's read of it since our last change (bmc/reads.ts). A 404 means the address
   * names no such system.
   */
  async system(signal?: AbortSignal, shared = false): Promise<RedfishResponse<Json>> {
    const path = await this.systemPath(signal);
    try {
      const res = await this.client.get(path, { signal, shared });
      this.#learnFromSystem(res.body);
      return res;
    } catch (err) {
      if (err instanceof BmcError && err.code === 'BmcNotFound') {
        throw new BmcError('BmcNotFound', `the BMC at ${this.endpoint} has no system at ${path}; check the system path in the BMC address`, { status: 404, cause: err });
      }
      throw err;
    }
  }

  #learnFromSystem(system: Json): void {
    if (this.#d.managerPath === undefined) {
      const l = obj(system.Links);
      // Huawei 1288H has no ManagedBy; fall back to Managers.
      this.#d.managerPath = links(l.ManagedBy)[0] ?? links(l.Managers)[0] ?? null;
    }
  }

  /** The system's manager as far as this connection has read it, without a request. */
  get knownManagerPath(): string | undefined {
    return this.#d.managerPath ?? undefined;
  }

  /** The system's manager (the BMC itself), from Links.ManagedBy, else Links.Managers, else the only Manager. */
  async managerPath(signal?: AbortSignal): Promise<string | undefined> {
    if (this.#d.managerPath === undefined) await this.system(signal);
    if (this.#d.managerPath) return this.#d.managerPath;
    const root = await this.root(signal);
    const managers = link(root.Managers);
    if (!managers) return undefined;
    const res = await this.client.get(managers, { signal, accept: [404, 501] });
    const members = res.status < 300 ? links(res.body.Members) : [];
    this.#d.managerPath = members.length === 1 ? (members[0] ?? null) : null;
    return this.#d.managerPath ?? undefined;
  }

  /** ServiceRoot `Vendor`, else the system's Manufacturer, lower-cased (Ironic's detect_vendor); cached. */
  async vendor(signal?: AbortSignal, system?: Json): Promise<string> {
    if (this.#d.vendor !== undefined) return this.#d.vendor;
    const root = await this.root(signal);
    const fromRoot = str(root.Vendor);
    this.#d.vendor = (fromRoot ?? str((system ?? (await this.system(signal, true)).body).Manufacturer) ?? '').toLowerCase();
    return this.#d.vendor;
  }

  /** Whether `$expand=.($levels=1)` may be used (root ProtocolFeaturesSupported.ExpandQuery). */
  async expandSupported(signal?: AbortSignal): Promise<boolean> {
    const root = await this.root(signal);
    const expand = obj(obj(root.ProtocolFeaturesSupported).ExpandQuery);
    return expand.ExpandAll === true || (expand.Levels === true && expand.NoLinks !== false) || expand.Levels === true;
  }

  /** GETs a collection's members (expanded in one request when the BMC supports it). */
  async members(collection: string, signal?: AbortSignal, accept: number[] = []): Promise<{ status: number; members: Json[] }> {
    const expand = await this.expandSupported(signal);
    const path = expand ? `${collection}${collection.includes('?') ? '&' : '?'}$expand=.($levels=1)` : collection;
    const res = await this.client.get(path, { signal, accept });
    if (res.status >= 300) return { status: res.status, members: [] };
    const out: Json[] = [];
    for (const m of Array.isArray(res.body.Members) ? res.body.Members : []) {
      if (!isObject(m)) continue;
      const id = str(m['@odata.id']);
      const expanded = Object.keys(m).some((k) => !k.startsWith('@odata'));
      if (expanded || !id) {
        out.push(m);
        continue;
      }
      const member = await this.client.get(id, { signal, accept });
      if (member.status < 300) out.push(member.body);
    }
    return { status: res.status, members: out };
  }

  /** An action's ActionInfo resource (cached; null when absent or unreadable). */
  async actionInfo(annotations: Json, signal?: AbortSignal): Promise<Json | null> {
    const uri = str(annotations['@Redfish.ActionInfo']);
    if (!uri) return null;
    if (this.#d.actionInfo.has(uri)) return this.#d.actionInfo.get(uri) ?? null;
    // Only a definite absence is cached; a server error is thrown (transient) and asked again next time.
    const res = await this.client.get(uri, { signal, accept: [400, 404, 405, 501] });
    const info = res.status < 300 ? res.body : null;
    this.#d.actionInfo.set(uri, info);
    return info;
  }

  /**
   * The allowed values of an action parameter: inline `<param>@Redfish.AllowableValues`, then the ActionInfo,
   * else undefined (the caller assumes the standard enum).
   */
  async allowableValues(annotations: Json, parameter: string, signal?: AbortSignal, known?: readonly string[]): Promise<string[] | undefined> {
    // With `known` (the schema's enum), a list holding values outside it is malformed (Supermicro X12 publishes
    // "GracefulShutdownGracefulRestart") and not trusted: the next source is asked instead.
    const valid = (list: string[]) => !known || list.every((v) => known.includes(v));
    const inline = annotations[`${parameter}@Redfish.AllowableValues`];
    if (Array.isArray(inline)) {
      const list = inline.filter((v): v is string => typeof v === 'string');
      if (valid(list)) return list;
    }
    const info = await this.actionInfo(annotations, signal);
    const params = Array.isArray(info?.Parameters) ? info.Parameters : [];
    for (const p of params) {
      if (isObject(p) && p.Name === parameter && Array.isArray(p.AllowableValues)) {
        const list = p.AllowableValues.filter((v): v is string => typeof v === 'string');
        if (valid(list)) return list;
      }
    }
    return undefined;
  }

  get cachedResetTypes(): string[] | undefined {
    return this.#d.resetTypes;
  }

  set cachedResetTypes(v: string[] | undefined) {
    this.#d.resetTypes = v;
  }

  get cachedMediaCollections(): string[] | undefined {
    return this.#d.mediaCollections;
  }

  set cachedMediaCollections(v: string[] | undefined) {
    this.#d.mediaCollections = v;
  }

  /** Number of systems behind the service, when it was counted (Ironic sends SimpleUpdate Targets when > 1). */
  /** Paths of the CD/DVD slots, once listed (their state is read each time). */
  get cachedCdSlots(): string[] | undefined {
    return this.#d.cdSlots;
  }

  set cachedCdSlots(v: string[] | undefined) {
    this.#d.cdSlots = v;
  }

  get systemCount(): number | undefined {
    return this.#d.systemCount;
  }

  /**
   * How many systems the service has (read once per connection): more than one means a multi-node BMC, whose
   * service-wide operations (firmware updates, their tasks) must name the system.
   */
  async systemsInService(signal?: AbortSignal): Promise<number> {
    if (this.#d.systemCount !== undefined) return this.#d.systemCount;
    const root = await this.root(signal);
    const systems = link(root.Systems);
    const res = systems ? await this.client.get(systems, { signal, accept: [404, 500, 501] }) : undefined;
    this.#d.systemCount = res && res.status < 300 ? links(res.body.Members).length : 1;
    return this.#d.systemCount;
  }

  markEjected(): void {
    this.#recentEjectAt = Date.now();
  }

  /** An eject happened in the last few seconds (Dell reports Inserted for a moment after one). */
  get ejectedRecently(): boolean {
    return Date.now() - this.#recentEjectAt < 10_000;
  }

  /**
   * Runs an operation that re-reads state before acting, again on transient failures, waiting the BMC's
   * Retry-After (or a vendor pacing) between attempts. Permanent failures and exhausted attempts are thrown.
   */
  async converge<T>(what: string, opts: CallOptions, fn: (attempt: number) => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (err) {
        // Only the BMC's own transient states are retried here; the rest is left to the activity's retry policy.
        if (!(err instanceof BmcError) || err.disposition !== 'transient' || attempt >= this.timings.attempts) throw err;
        const bmcTransient = err.code === 'BmcBusy' || err.code === 'BmcServerError' || (err.code === 'BmcUnreachable' && err.connectionLost);
        if (!bmcTransient) throw err;
        // A Retry-After longer than we wait here goes to the activity's retry policy; vendor pacing is capped.
        if (err.retryAfterFromBmc && (err.retryAfterMs ?? 0) > this.timings.maxRetryDelayMs) throw err;
        const delay = Math.min(err.retryAfterMs ?? this.timings.retryDelayMs, this.timings.maxRetryDelayMs);
        opts.onProgress?.({ what, elapsedMs: Date.now() - started, detail: `retrying after ${err.code}: ${err.message}` });
        await sleep(delay, opts.signal);
      }
    }
  }
}
