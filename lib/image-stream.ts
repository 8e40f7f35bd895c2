/**
 * Streams an image from a URL onto a file or block device, hashing the bytes as they arrive: what a deploy agent
 * does for a raw image (IPA's `stream_raw_images`), shared by the simulated agent and the image benchmark. One GET
 * (no HEAD pre-check, no Range), redirects followed; the body is gathered into large blocks written at aligned
 * offsets while the next block fills (a few writes in flight), then one fsync. The digest is computed over exactly
 * the bytes written; a mismatch fails with the expected and the found digest.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import type { Checksum, ChecksumAlgorithm } from '../domain/image.ts';
import { fetchFailure, httpFailure, ImageError } from './image-error.ts';

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

/** Drops a response body we stop reading (undici reports the abort as an error event: expected here). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
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

  let response: Dispatcher.ResponseData;
  try {
    response = await request(req.url, {
      method: 'GET',
      dispatcher: req.dispatcher ?? dispatcher(),
      ...(req.headers ? { headers: req.headers } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
  } catch (err) {
    req.signal?.throwIfAborted();
    throw fetchFailure('the image', req.url, err);
  }
  if (response.statusCode < 200 || response.statusCode > 299) {
    discard(response.body);
    throw httpFailure('the image', req.url, response.statusCode);
  }
  const length = Number(response.headers['content-length']);
  const totalBytes = Number.isFinite(length) && length >= 0 ? length : undefined;

  const tooLarge = (size: number) =>
    new ImageError('ImageWriteFailed', `the image ${req.url} has ${size} bytes, more than the ${req.capacityBytes} bytes of ${req.target}`, {
      expected: `at most ${req.capacityBytes} bytes`,
      found: `${size} bytes`,
    });
  if (req.capacityBytes !== undefined && totalBytes !== undefined && totalBytes > req.capacityBytes) {
    discard(response.body);
    throw tooLarge(totalBytes);
  }

  const hash = createHash(algorithm);
  // O_CREAT for a file that does not exist yet; no O_TRUNC: a disk file keeps its size and what lies beyond.
  let file: FileHandle;
  try {
    file = await open(req.target, constants.O_WRONLY | constants.O_CREAT, 0o644);
  } catch (err) {
    discard(response.body);
    const code = (err as { code?: string }).code;
    throw new ImageError('ImageWriteFailed', `cannot open ${req.target} to write the image: ${code ?? (err as Error).message}`, { cause: err });
  }
  const free: Buffer[] = Array.from({ length: depth + 1 }, () => Buffer.allocUnsafeSlow(blockSize));
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let position = offset;
  let received = 0;
  let written = 0;
  let lastReport = started;
  const report = (force = false) => {
    const now = performance.now();
    if (!req.onProgress || (!force && now - lastReport < interval)) return;
    lastReport = now;
    req.onProgress({ bytesWritten: written, ...(totalBytes === undefined ? {} : { totalBytes }), elapsedMs: now - started });
  };
  const submit = async (buffer: Buffer, size: number) => {
    const at = position;
    position += size;
    if (req.maxBytesPerSecond) {
      const due = ((at - offset + size) / req.maxBytesPerSecond) * 1000 - (performance.now() - started);
      if (due > 0) await sleep(due, undefined, req.signal ? { signal: req.signal } : undefined);
    }
    const task = (async () => {
      let done = 0;
      while (done < size) done += (await file.write(buffer, done, size - done, at + done)).bytesWritten;
      written += size;
      free.push(buffer);
      report();
    })().catch((err: unknown) => {
      failure ??= err;
    });
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
  };
  const takeBuffer = async (): Promise<Buffer> => {
    while (free.length === 0) await Promise.race(inFlight);
    if (failure) throw failure;
    return free.pop() as Buffer;
  };

  try {
    let block = await takeBuffer();
    let fill = 0;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        received += chunk.length;
        if (req.capacityBytes !== undefined && received > req.capacityBytes) throw tooLarge(received);
        let used = 0;
        while (used < chunk.length) {
          const n = chunk.copy(block, fill, used);
          used += n;
          fill += n;
          if (fill === blockSize) {
            await submit(block, fill);
            block = await takeBuffer();
            fill = 0;
          }
        }
      }
    } catch (err) {
      if (failure || err instanceof ImageError) throw failure ?? err;
      req.signal?.throwIfAborted();
      throw fetchFailure('the image', req.url, err);
    }
    if (totalBytes !== undefined && received !== totalBytes) {
      throw new ImageError('ImageFetchFailed', `the image ${req.url} ended after ${received} of ${totalBytes} bytes`, { expected: String(totalBytes), found: String(received) });
    }
    if (fill > 0) await submit(block, fill);
    await Promise.all(inFlight);
    if (failure) throw failure;
    await file.sync();
  } catch (err) {
    discard(response.body);
    await Promise.allSettled(inFlight);
    if (err instanceof ImageError) throw err;
    req.signal?.throwIfAborted();
    const code = (err as { code?: string }).code;
    throw new ImageError('ImageWriteFailed', `writing the image to ${req.target} failed: ${code ?? (err as Error).message}`, { cause: err });
  } finally {
    await file.close();
  }
  report(true);
  const value = hash.digest('hex');
  const elapsedMs = performance.now() - started;
  if (req.checksum && value !== req.checksum.value.toLowerCase()) {
    throw new ImageError(
      'ImageChecksumMismatch',
      `the image ${req.url} has ${algorithm} ${value}, but spec.image.checksum expects ${req.checksum.value.toLowerCase()} (${received} bytes written to ${req.target})`,
      { expected: req.checksum.value.toLowerCase(), found: value },
    );
  }
  return { bytes: received, digest: { algorithm, value }, elapsedMs };
}
