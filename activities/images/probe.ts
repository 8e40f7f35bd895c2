/**
 * URL checks made by the worker before anything slow starts: a small ranged GET (never HEAD: presigned URLs answer
 * 403 to HEAD and 200 to GET) that proves the URL answers, reads the first bytes for format detection and the size
 * from Content-Range. A definite refusal (4xx) is permanent and names the URL and status; a network failure or a
 * 5xx is transient. `checkImageUrl` is the live-ISO check, where an unreachable URL is tolerated because the BMC
 * may sit on a network the worker cannot see.
 */
import { FORMAT_PROBE_BYTES } from '../../domain/image.ts';
import { fetchFailure, httpFailure, ImageError } from '../../lib/image-error.ts';

export interface ProbeOptions {
  fetch?: typeof fetch;
  /** Where the URL comes from, named in a 4xx message as the thing to fix ("spec.image.url"). */
  field?: string;
  signal?: AbortSignal;
  /** Per request. Default 30 s (IPA's `ipa-http-request-timeout`). */
  timeoutMs?: number;
}

export interface ProbeResult {
  /** The first bytes (at most the bytes asked for; fewer when the file is shorter). */
  head: Uint8Array;
  /** The whole file's size, from Content-Range (206) or Content-Length (200), when the server says. */
  sizeBytes?: number;
}

/** Parses an http(s) URL or fails with ImageUrlInvalid naming the field. */
export function httpUrl(url: string, field: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ImageError('ImageUrlInvalid', `${field} '${url}' cannot be parsed as a URL`, { found: url });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ImageError(
      'ImageUrlInvalid',
      `${field} '${url}' must be an http:// or https:// URL, not ${parsed.protocol}`,
      { expected: 'http or https', found: parsed.protocol },
    );
  }
  return parsed;
}

function signalFor(options: ProbeOptions): AbortSignal {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  return options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
}

/** Reads at most `limit` bytes of a body, then lets the rest go (the connection is closed). */
async function readAtMost(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array> {
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const out = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const part of parts) {
    const n = Math.min(part.length, out.length - at);
    out.set(part.subarray(0, n), at);
    at += n;
    if (at === out.length) break;
  }
  return out;
}

/**
 * GETs the first `bytes` of `url` (`Range: bytes=0-…`; a server that ignores Range answers 200 and is cut off
 * after them). `what` names the URL in messages ("the image", "the checksum file").
 */
export async function probeUrl(
  url: string,
  what: string,
  options: ProbeOptions & { bytes?: number } = {},
): Promise<ProbeResult> {
  const bytes = options.bytes ?? FORMAT_PROBE_BYTES;
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'GET',
      headers: { range: `bytes=0-${bytes - 1}` },
      redirect: 'follow',
      signal: signalFor(options),
    });
  } catch (err) {
    options.signal?.throwIfAborted();
    throw fetchFailure(what, url, err);
  }
  if (response.status === 416) {
    // Range Not Satisfiable for bytes=0-…: the file is empty (Content-Range: bytes */0).
    await response.body?.cancel().catch(() => undefined);
    return { head: new Uint8Array(), sizeBytes: 0 };
  }
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel().catch(() => undefined);
    throw httpFailure(what, url, response.status, response.statusText, options.field);
  }
  let head: Uint8Array;
  try {
    head = await readAtMost(response.body, bytes);
  } catch (err) {
    options.signal?.throwIfAborted();
    throw fetchFailure(what, url, err);
  }
  const total =
    response.status === 206
      ? Number(/\/(\d+)\s*$/.exec(response.headers.get('content-range') ?? '')?.[1])
      : Number(response.headers.get('content-length') ?? NaN);
  return { head, ...(Number.isFinite(total) && total >= 0 ? { sizeBytes: total } : {}) };
}

/** GETs a whole small text file (a checksum file), refusing one over `maxBytes`. */
export async function fetchText(
  url: string,
  what: string,
  options: ProbeOptions & { maxBytes?: number } = {},
): Promise<string> {
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, { method: 'GET', redirect: 'follow', signal: signalFor(options) });
  } catch (err) {
    options.signal?.throwIfAborted();
    throw fetchFailure(what, url, err);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw httpFailure(what, url, response.status, response.statusText, options.field);
  }
  let body: Uint8Array;
  try {
    body = await readAtMost(response.body, maxBytes + 1);
  } catch (err) {
    options.signal?.throwIfAborted();
    throw fetchFailure(what, url, err);
  }
  if (body.length > maxBytes) {
    throw new ImageError(
      'ImageChecksumFileInvalid',
      `${what} ${url} is larger than ${maxBytes} bytes; is it a checksum file?`,
      { expected: `at most ${maxBytes} bytes`, found: 'more' },
    );
  }
  return new TextDecoder().decode(body);
}

/**
 * The live-ISO check before a BMC is asked to fetch the image: the URL must parse and, when the worker can reach
 * it, must not be refused. Unreachable from here is not an error (the BMC's network may differ).
 */
export async function checkImageUrl(
  url: string,
  options: ProbeOptions = {},
): Promise<{ sizeBytes?: number; reachable: boolean }> {
  httpUrl(url, 'the image URL');
  try {
    const probe = await probeUrl(url, 'the image URL', { field: 'spec.image.url', ...options, bytes: 1 });
    return { reachable: true, ...(probe.sizeBytes ? { sizeBytes: probe.sizeBytes } : {}) };
  } catch (err) {
    if (err instanceof ImageError && err.code === 'ImageFetchFailed' && err.status === undefined)
      return { reachable: false };
    throw err;
  }
}
