/**
 * Streams an image from a URL onto a file or block device, hashing the bytes as they arrive: what a deploy agent
 * does for a raw image (IPA's `stream_raw_images`), shared by the simulated agent and the image benchmark. One GET
 * (no HEAD pre-check, no Range), redirects followed, the body delivered to a Writable by undici's `stream()`; it is
 * gathered into large blocks written at aligned offsets while the next block fills (a few writes in flight, with
 * backpressure on the socket), then one fsync. The digest is computed over exactly the bytes written; a mismatch
 * fails with the expected and the found digest.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { Agent, interceptors, stream, type Dispatcher } from 'undici';
import type { Checksum, ChecksumAlgorithm } from '../domain/image.ts';
import { errorCodeOf, fetchFailure, httpFailure, ImageError } from './image-error.ts';

export interface StreamImageRequest {
  url: string;
  /** A file (created if missing, never truncated) or a block device. */
  target: string;
  /** Where in the target the image starts, in bytes (a multiple of 4096 keeps writes aligned). Default 0. */
  offset?: number;
  /** The digest the bytes must have; without it they are hashed with `algorithm` and the digest returned. */
  checksum?: Checksum;
  /** Used when no `checksum` is given. Default sha256. */
  algorithm?: ChecksumAlgorithm;
  /** Room in the target from `offset`: an image that does not fit fails before it overruns (a disk file grows). */
  capacityBytes?: number;
  /** Bytes per write. Default 8 MiB. */
  blockSize?: number;
  /** Writes in flight while the next block fills. Default 2. */
  writesInFlight?: number;
  onProgress?: (progress: StreamProgress) => void;
  /** Least time between two progress reports. Default 1000 ms. */
  progressIntervalMs?: number;
  signal?: AbortSignal;
  /** Slows the writes to this rate (the simulator's slow disks); unlimited by default. */
  maxBytesPerSecond?: number;
  /** Extra request headers (an `Authorization` for a protected image server). */
  headers?: Record<string, string>;
  /** The HTTP client; default: an agent that follows up to 5 redirects, with IPA's 60 s read timeouts. */
  dispatcher?: Dispatcher;
}

export interface StreamProgress {
  /** Bytes written to the target so far. */
  bytesWritten: number;
  /** The image's size, when the server sent Content-Length. */
  totalBytes?: number;
  elapsedMs: number;
}

export interface StreamImageResult {
  bytes: number;
  /** The digest of the bytes written (equal to the request's checksum when one was given). */
  digest: Checksum;
  elapsedMs: number;
}

let defaultDispatcher: Dispatcher | undefined;

/** One shared client: redirects followed, connect/headers/body timeouts as IPA's download (60 s). */
function dispatcher(): Dispatcher {
  defaultDispatcher ??= new Agent({ connectTimeout: 60_000, headersTimeout: 60_000, bodyTimeout: 60_000 }).compose(
    interceptors.redirect({ maxRedirections: 5 }),
  );
  return defaultDispatcher;
}

const MiB = 1024 * 1024;

/** Errors of a reused connection that the server had closed (its keep-alive ran out first). */
const STALE_CONNECTION = new Set(['UND_ERR_SOCKET', 'ECONNRESET']);

/** A failed write (or open) of the target, as an ImageError. */
function writeFailure(target: string, err: unknown): ImageError {
  if (err instanceof ImageError) return err;
  const code = (err as { code?: string }).code;
  return new ImageError(
    'ImageWriteFailed',
    `writing the image to ${target} failed: ${code ?? (err as Error).message}`,
    { cause: err },
  );
}

interface BlockWriter {
  /** Takes a chunk; returns a promise only when the caller must wait (all buffers in flight, or throttled). */
  add(chunk: Buffer): Promise<void> | undefined;
  /** Writes the last partial block, waits for every write, fsyncs, closes; reports progress one last time. */
  finish(): Promise<void>;
  /** Stops: waits for the writes in flight and closes the target. */
  abort(): Promise<void>;
  /** The first write error, if any. */
  readonly failure: unknown;
}

/**
 * Gathers chunks into blocks of `blockSize`, written at consecutive offsets from `offset` while the next block
 * fills; at most `depth` writes in flight. The target is opened lazily, once, at the first block.
 */
function blockWriter(
  req: StreamImageRequest,
  o: {
    blockSize: number;
    depth: number;
    offset: number;
    started: number;
    interval: number;
    totalBytes: number | undefined;
    hash: Hash;
  },
): BlockWriter {
  const free: Buffer[] = Array.from({ length: o.depth + 1 }, () => Buffer.allocUnsafeSlow(o.blockSize));
  const inFlight = new Set<Promise<void>>();
  let file: Promise<FileHandle> | undefined;
  let failure: unknown;
  let block: Buffer | undefined = free.pop();
  let fill = 0;
  let position = o.offset;
  let written = 0;
  let lastReport = o.started;

  const report = (force = false) => {
    const now = performance.now();
    if (!req.onProgress || (!force && now - lastReport < o.interval)) return;
    lastReport = now;
    req.onProgress({
      bytesWritten: written,
      ...(o.totalBytes === undefined ? {} : { totalBytes: o.totalBytes }),
      elapsedMs: now - o.started,
    });
  };
  // O_CREAT for a file that does not exist yet; no O_TRUNC: a disk file keeps its size and what lies beyond.
  const target = () =>
    (file ??= open(req.target, constants.O_WRONLY | constants.O_CREAT, 0o644).catch((err: unknown) => {
      const code = (err as { code?: string }).code;
      throw new ImageError(
        'ImageWriteFailed',
        `cannot open ${req.target} to write the image: ${code ?? (err as Error).message}`,
        { cause: err },
      );
    }));
  const submit = (buffer: Buffer, size: number) => {
    const at = position;
    position += size;
    // Hashed in block order as it is handed to the write: the digest covers exactly the bytes written.
    o.hash.update(buffer.subarray(0, size));
    const task = (async () => {
      const handle = await target();
      let done = 0;
      while (done < size) done += (await handle.write(buffer, done, size - done, at + done)).bytesWritten;
      written += size;
      free.push(buffer);
      report();
    })().catch((err: unknown) => {
      failure ??= err;
    });
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
  };
  /** Waits until a buffer is free (and the throttle allows the bytes so far); throws the first write error. */
  const next = async (): Promise<void> => {
    if (req.maxBytesPerSecond) {
      const due = ((position - o.offset) / req.maxBytesPerSecond) * 1000 - (performance.now() - o.started);
      if (due > 0) await sleep(due, undefined, req.signal ? { signal: req.signal } : undefined);
    }
    while (free.length === 0 && failure === undefined) await Promise.race(inFlight);
    if (failure !== undefined) throw writeFailure(req.target, failure);
    block = free.pop();
  };
  const closeTarget = async () => {
    if (file) await (await file.catch(() => undefined))?.close();
  };

  return {
    get failure() {
      return failure;
    },
    add(chunk) {
      let used = 0;
      while (used < chunk.length) {
        if (!block) {
          // The rest of this chunk waits for a free buffer.
          const rest = chunk.subarray(used);
          return next().then(() => this.add(rest));
        }
        const n = chunk.copy(block, fill, used);
        used += n;
        fill += n;
        if (fill === o.blockSize) {
          submit(block, fill);
          block = free.pop();
          fill = 0;
          if (!block || req.maxBytesPerSecond) {
            const rest = chunk.subarray(used);
            return next().then(() => (rest.length > 0 ? this.add(rest) : undefined));
          }
        }
      }
      return undefined;
    },
    async finish() {
      if (block && fill > 0) submit(block, fill);
      await Promise.all(inFlight);
      if (failure !== undefined) throw writeFailure(req.target, failure);
      const handle = await target();
      await handle.sync();
      await closeTarget();
      report(true);
    },
    async abort() {
      await Promise.allSettled(inFlight);
      await closeTarget();
    },
  };
}

/** Downloads `url` onto `target`, verifying the digest; see the file header. */
export async function streamImageToTarget(req: StreamImageRequest): Promise<StreamImageResult> {
  const started = performance.now();
  const algorithm = req.checksum?.algorithm ?? req.algorithm ?? 'sha256';
  const blockSize = req.blockSize ?? 8 * MiB;
  const depth = Math.max(1, req.writesInFlight ?? 2);
  const offset = req.offset ?? 0;
  const interval = req.progressIntervalMs ?? 1000;
  req.signal?.throwIfAborted();

  const hash = createHash(algorithm);
  let writer: BlockWriter | undefined;
  let answered = false;
  let received = 0;
  const tooLarge = (size: number) =>
    new ImageError(
      'ImageWriteFailed',
      `the image ${req.url} has ${size} bytes, more than the ${req.capacityBytes} bytes of ${req.target}`,
      {
        expected: `at most ${req.capacityBytes} bytes`,
        found: `${size} bytes`,
      },
    );

  /** The answer's headers are in: refuse a bad status or size, else return the Writable the body goes to. */
  const onResponse = ({
    statusCode,
    headers,
  }: {
    statusCode: number;
    headers: Record<string, string | string[] | undefined>;
  }): Writable => {
    answered = true;
    if (statusCode < 200 || statusCode > 299) throw httpFailure('the image', req.url, statusCode);
    const length = Number(headers['content-length']);
    const totalBytes = Number.isFinite(length) && length >= 0 ? length : undefined;
    if (req.capacityBytes !== undefined && totalBytes !== undefined && totalBytes > req.capacityBytes)
      throw tooLarge(totalBytes);
    const blocks = blockWriter(req, { blockSize, depth, offset, started, interval, totalBytes, hash });
    writer = blocks;
    return new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (req.capacityBytes !== undefined && received > req.capacityBytes) {
          callback(tooLarge(received));
          return;
        }
        const wait = blocks.add(chunk);
        if (wait) wait.then(() => callback(), callback);
        else callback();
      },
      final(callback) {
        if (totalBytes !== undefined && received !== totalBytes) {
          callback(
            new ImageError('ImageFetchFailed', `the image ${req.url} ended after ${received} of ${totalBytes} bytes`, {
              expected: String(totalBytes),
              found: String(received),
            }),
          );
          return;
        }
        blocks.finish().then(() => callback(), callback);
      },
    });
  };

  let value: string;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        // stream(): the body goes straight to a Writable (half the CPU of iterating a response body, measured).
        const options = {
          method: 'GET' as const,
          dispatcher: req.dispatcher ?? dispatcher(),
          ...(req.headers ? { headers: req.headers } : {}),
          ...(req.signal ? { signal: req.signal } : {}),
        };
        await stream(req.url, options, onResponse);
        break;
      } catch (err) {
        // A kept-alive connection the server closed meanwhile fails before any answer: a GET is safe to resend.
        if (answered || attempt >= 3 || !STALE_CONNECTION.has(errorCodeOf(err) ?? '')) throw err;
      }
    }
    value = hash.digest('hex');
  } catch (err) {
    await writer?.abort();
    if (err instanceof ImageError) throw err;
    req.signal?.throwIfAborted();
    if (writer?.failure !== undefined) throw writeFailure(req.target, writer.failure);
    throw fetchFailure('the image', req.url, err);
  }
  const elapsedMs = performance.now() - started;
  if (req.checksum && value !== req.checksum.value.toLowerCase()) {
    throw new ImageError(
      'ImageChecksumMismatch',
      `the image ${req.url} has ${algorithm} ${value}, but spec.image.checksum expects ` +
        `${req.checksum.value.toLowerCase()} (${received} bytes written to ${req.target})`,
      { expected: req.checksum.value.toLowerCase(), found: value },
    );
  }
  return { bytes: received, digest: { algorithm, value }, elapsedMs };
}
