/**
 * Deploy ISOs made on demand: the base ramdisk ISO (the configured IPA ISO, or a PreprovisioningImage's) is
 * fetched once and cached, then remastered per boot with that boot's kernel parameters (`ipa-api-url`, the
 * boot's `ipa-agent-token`, `boot_method=vmedia`, ...), as Ironic's `prepare_ramdisk` builds a per-node ISO.
 * Both live in a cache directory of this process only: any replica builds the same ISO from the same signed
 * URL, so a lost cache costs a rebuild, never a boot. Remastered ISOs are dropped some time after their last
 * read, base ISOs are revalidated with the server (ETag / Last-Modified) after a while.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/** Kernel parameters in order: `key=value`, or `true` for a bare flag. */
export type KernelParams = Record<string, string | true>;

/** Rewrites a base ISO's boot configuration (grub, isolinux) to carry kernel parameters; writes `output`. */
export type RemasterIso = (input: { baseIso: string; kernelParams: KernelParams; output: string }) => Promise<unknown>;

/** A base ISO that could not be fetched: the agent API answers 502 naming it. */
export class BaseIsoError extends Error {
  override readonly name = 'BaseIsoError';
}

export interface DeployIsoStoreOptions {
  dir: string;
  remaster: RemasterIso;
  fetch?: typeof fetch;
  /** A base ISO fetched less than this long ago is used without asking its server (default 10 minutes). */
  baseFreshMs?: number;
  /** A remastered ISO not read for this long is deleted (default 2 hours). */
  isoIdleMs?: number;
  /** Longest wait for a base ISO download (default 30 minutes: a real IPA ISO is about 500 MB). */
  downloadTimeoutMs?: number;
}

interface BaseMeta {
  url: string;
  fetchedAt: number;
  etag?: string;
  lastModified?: string;
}

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);

/** The cache (see the file header). */
export class DeployIsoStore {
  readonly #o: Required<Omit<DeployIsoStoreOptions, 'fetch'>> & { fetch: typeof fetch };
  readonly #inFlight = new Map<string, Promise<string>>();
  /** Counters for tests and logs. */
  readonly counters = { baseDownloads: 0, baseRevalidations: 0, remasters: 0 };

  constructor(options: DeployIsoStoreOptions) {
    this.#o = { baseFreshMs: 10 * 60_000, isoIdleMs: 2 * 3600_000, downloadTimeoutMs: 30 * 60_000, fetch: globalThis.fetch, ...options };
    mkdirSync(join(this.#o.dir, 'base'), { recursive: true });
    mkdirSync(join(this.#o.dir, 'boot'), { recursive: true });
  }

  /**
   * The path of the deploy ISO for `key` (one boot: host, boot id, purpose, base), made from `baseIso` with
   * `kernelParams` if not cached. Concurrent calls for one key share one build.
   */
  async get(key: string, baseIso: string, kernelParams: KernelParams): Promise<string> {
    const path = join(this.#o.dir, 'boot', `${hash(key)}.iso`);
    if (existsSync(path)) {
      touch(path);
      return path;
    }
    return this.#once(`boot:${path}`, async () => {
      const base = await this.#base(baseIso);
      const tmp = `${path}.${process.pid}.tmp`;
      try {
        await this.#o.remaster({ baseIso: base, kernelParams, output: tmp });
        renameSync(tmp, path);
      } finally {
        rmSync(tmp, { force: true });
      }
      this.counters.remasters += 1;
      return path;
    });
  }

  /** Deletes remastered ISOs idle for longer than `isoIdleMs`; returns how many. */
  sweep(now = Date.now()): number {
    let removed = 0;
    const dir = join(this.#o.dir, 'boot');
    for (const file of readdirSync(dir)) {
      const path = join(dir, file);
      try {
        if (now - statSync(path).atimeMs > this.#o.isoIdleMs) {
          rmSync(path, { force: true });
          removed += 1;
        }
      } catch {
        // deleted meanwhile
      }
    }
    return removed;
  }

  async #base(url: string): Promise<string> {
    const path = join(this.#o.dir, 'base', `${hash(url)}.iso`);
    const metaPath = `${path}.json`;
    const meta = existsSync(path) && existsSync(metaPath) ? (JSON.parse(readFileSync(metaPath, 'utf8')) as BaseMeta) : undefined;
    if (meta && Date.now() - meta.fetchedAt < this.#o.baseFreshMs) return path;
    return this.#once(`base:${path}`, async () => {
      const headers: Record<string, string> = {};
      if (meta?.etag) headers['if-none-match'] = meta.etag;
      else if (meta?.lastModified) headers['if-modified-since'] = meta.lastModified;
      let response: Response;
      try {
        response = await this.#o.fetch(url, { headers, signal: AbortSignal.timeout(this.#o.downloadTimeoutMs), redirect: 'follow' });
      } catch (error) {
        throw new BaseIsoError(`the base ramdisk ISO ${url} cannot be fetched: ${(error as Error).message}`);
      }
      if (meta && response.status === 304) {
        await response.body?.cancel();
        this.counters.baseRevalidations += 1;
        writeFileSync(metaPath, JSON.stringify({ ...meta, fetchedAt: Date.now() }));
        return path;
      }
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw new BaseIsoError(`the base ramdisk ISO ${url} answers ${response.status} ${response.statusText}`);
      }
      const tmp = `${path}.${process.pid}.tmp`;
      try {
        await pipeline(Readable.fromWeb(response.body as WebReadableStream), createWriteStream(tmp));
        renameSync(tmp, path);
      } catch (error) {
        throw new BaseIsoError(`reading the base ramdisk ISO ${url} failed: ${(error as Error).message}`);
      } finally {
        rmSync(tmp, { force: true });
      }
      const etag = response.headers.get('etag');
      const lastModified = response.headers.get('last-modified');
      const next: BaseMeta = { url, fetchedAt: Date.now(), ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
      writeFileSync(metaPath, JSON.stringify(next));
      this.counters.baseDownloads += 1;
      // ISOs remastered from an older base are stale now: they were keyed by the base's URL, not its bytes.
      if (meta) this.#dropBootIsos();
      return path;
    });
  }

  #dropBootIsos(): void {
    const dir = join(this.#o.dir, 'boot');
    for (const file of readdirSync(dir)) if (file.endsWith('.iso')) rmSync(join(dir, file), { force: true });
  }

  #once(key: string, build: () => Promise<string>): Promise<string> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    const promise = build().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, promise);
    return promise;
  }
}

function touch(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, statSync(path).mtime);
  } catch {
    // swept meanwhile: the caller's read fails and the BMC retries
  }
}
