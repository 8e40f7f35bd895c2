/**
 * The owners of the FirmwareSchemas that hosts share. As in BMO, every HostFirmwareSettings that uses a schema is
 * one of its owners, so the schema is garbage-collected with the last of them. One schema serves every host of a
 * model in a namespace, so its owner list grows with the fleet, and each write of it costs the apiserver in
 * proportion to that list: growing one schema to 5,000 owners in 1,852 patches, one at a time, took the apiserver
 * 578 CPU-s (docs/performance.md, "The FirmwareSchema's owners").
 *
 * So owners are kept level-triggered and off every publication's path:
 * - `want` is told of each HostFirmwareSettings the informer delivers that names a schema. That covers a
 *   publication's write of the settings' status, and a restarted bridge's first list, which repairs an owner a
 *   bridge that died did not write.
 * - One loop per schema writes the owners it is missing, one merge patch at a time, computed from the owners
 *   last seen (concurrent patches, each from its own stale copy, drop one another's owners).
 * - After each patch the loop rests in proportion to how long the patch took. A large schema is written
 *   seldom, and each write carries many owners.
 * - A failed patch is retried with backoff. No publication waits for any of it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { METAL3_API_VERSION } from '../domain/names.ts';
import type { HfsObject, SchemaObject } from './firmware-status.ts';
import type { Kube } from './kube.ts';
import { objectKey, splitKey, type KubeObject } from './objects.ts';

/** The rest after a patch: at least this, */
const MIN_REST_MS = 1_000;
/** and this many times the patch's own duration (the schema takes at most a fifth of the apiserver's time). */
const REST_PER_PATCH_MS = 4;
/** Backoff after a failed patch: doubled per failure, up to the maximum. */
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;

export interface SchemaOwnersDeps {
  kube: Pick<Kube, 'firmwareSchemas'>;
  /** The FirmwareSchemas as last seen (informer, with the bridge's own writes overlaid). */
  schemas: { get(key: string): SchemaObject | undefined; wrote(object: SchemaObject): void };
  /** The HostFirmwareSettings as last seen: an owner is written only while its object exists. */
  hfs: { get(key: string): HfsObject | undefined };
  logger: Logger;
  /** Ends every loop (the leadership term's end). */
  signal: AbortSignal;
  /** Milliseconds, monotonic (default `performance.now`). */
  now?: () => number;
  /** Waits (default a timer that the signal cancels). */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The rest after a patch that took `tookMs` (default `restAfter`; the benchmark compares others). */
  rest?: (tookMs: number) => number;
}

/** The rest after a patch that took `tookMs`. */
export const restAfter = (tookMs: number): number => Math.max(MIN_REST_MS, REST_PER_PATCH_MS * tookMs);

interface Loop {
  /** Owners to add, by HostFirmwareSettings uid. */
  pending: Map<string, { key: string; reference: Record<string, unknown> }>;
  running: boolean;
  /** When the next patch may go (monotonic ms). */
  notBefore: number;
  failures: number;
}

const ownerOf = (hfs: HfsObject): Record<string, unknown> => ({
  apiVersion: METAL3_API_VERSION,
  kind: 'HostFirmwareSettings',
  name: hfs.metadata.name,
  uid: hfs.metadata.uid ?? '',
});

export class SchemaOwners {
  readonly #deps: SchemaOwnersDeps;
  readonly #loops = new Map<string, Loop>();
  /** Owner uids of each schema, for the resourceVersion they were read from. */
  readonly #known = new Map<string, { version: string; uids: Set<string> }>();
  readonly #running = new Set<Promise<void>>();

  constructor(deps: SchemaOwnersDeps) {
    this.#deps = deps;
  }

  #now(): number {
    return this.#deps.now?.() ?? performance.now();
  }

  #ownerUids(key: string, schema: SchemaObject): Set<string> {
    const version = schema.metadata.resourceVersion ?? '';
    const known = this.#known.get(key);
    if (known && known.version === version) return known.uids;
    const uids = new Set((schema.metadata.ownerReferences ?? []).map((o) => o.uid));
    this.#known.set(key, { version, uids });
    return uids;
  }

  /**
   * A HostFirmwareSettings object as last seen: when its status names a schema that does not list it as an
   * owner, its schema's loop adds it. A schema not seen yet is retried when it is (`schemaSeen`).
   */
  want(hfs: HfsObject): void {
    const ref = hfs.status?.schema;
    const uid = hfs.metadata.uid;
    if (!ref || !uid || this.#deps.signal.aborted) return;
    const key = objectKey(ref.namespace, ref.name);
    const schema = this.#deps.schemas.get(key);
    if (!schema || this.#ownerUids(key, schema).has(uid)) return;
    let loop = this.#loops.get(key);
    if (!loop) {
      loop = { pending: new Map(), running: false, notBefore: 0, failures: 0 };
      this.#loops.set(key, loop);
    }
    loop.pending.set(uid, { key: objectKey(hfs.metadata.namespace ?? '', hfs.metadata.name), reference: ownerOf(hfs) });
    if (!loop.running) {
      loop.running = true;
      const run = this.#drain(key, loop).finally(() => {
        loop.running = false;
        this.#running.delete(run);
      });
      this.#running.add(run);
    }
  }

  /** Resolves when no loop is writing or resting (tests; the term's end). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }

  async #drain(key: string, loop: Loop): Promise<void> {
    const { kube, logger, signal } = this.#deps;
    const wait = this.#deps.wait ?? ((ms: number, s: AbortSignal) => sleep(ms, undefined, { signal: s }).catch(() => {}));
    const { namespace, name } = splitKey(key);
    // Settings delivered together (an informer's list) go in one patch.
    await new Promise((resolve) => setImmediate(resolve));
    while (loop.pending.size > 0 && !signal.aborted) {
      const rest = loop.notBefore - this.#now();
      if (rest > 0) await wait(rest, signal);
      if (signal.aborted) return;
      const schema = this.#deps.schemas.get(key);
      if (!schema) {
        // Gone (or not seen yet): its owners are wanted again when it is seen.
        loop.pending.clear();
        return;
      }
      const owners = schema.metadata.ownerReferences ?? [];
      const have = this.#ownerUids(key, schema);
      const taken = [...loop.pending.entries()].filter(([uid, { key: hfsKey }]) => !have.has(uid) && this.#deps.hfs.get(hfsKey)?.metadata.uid === uid);
      const adding = taken.map(([, { reference }]) => reference);
      loop.pending.clear();
      if (adding.length === 0) continue;
      const started = this.#now();
      try {
        const result = (await kube.firmwareSchemas.patch(namespace, name, { metadata: { ownerReferences: [...owners, ...adding] } })) as SchemaObject | undefined;
        if (result) this.#deps.schemas.wrote(result);
        const took = this.#now() - started;
        loop.failures = 0;
        loop.notBefore = this.#now() + (this.#deps.rest ?? restAfter)(took);
        logger.debug({ schema: key, added: adding.length, owners: owners.length + adding.length, ms: Math.round(took) }, 'FirmwareSchema owners written');
      } catch (error) {
        // Not written: taken again after the backoff (unless newer ones were queued for the same objects).
        for (const [uid, entry] of taken) if (!loop.pending.has(uid)) loop.pending.set(uid, entry);
        loop.failures += 1;
        const backoff = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (loop.failures - 1));
        loop.notBefore = this.#now() + backoff;
        logger.warn({ schema: key, owners: adding.length, failures: loop.failures, retryInMs: backoff, err: error instanceof Error ? error.message : String(error) }, 'FirmwareSchema owners not written; retrying');
      }
    }
  }
}

/** The HostFirmwareSettings that name `schema` in their status. */
export function settingsUsing(schema: KubeObject, settings: Iterable<HfsObject>): HfsObject[] {
  const out: HfsObject[] = [];
  for (const hfs of settings) {
    const ref = hfs.status?.schema;
    if (ref?.name === schema.metadata.name && ref.namespace === schema.metadata.namespace) out.push(hfs);
  }
  return out;
}
