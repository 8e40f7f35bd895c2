/**
 * A tiny HTTP server on 127.0.0.1 that serves image files for tests, the demo and benchmarks (live ISOs the BMCs
 * fetch, disk images and checksum files the deploy agents fetch), counting the requests each path receives, with
 * an optional delay per full download (to catch a worker mid-insert). It answers single `Range` requests (206) as
 * image servers do, can serve a file from disk without loading it, redirect, answer a fixed status, and refuse
 * HEAD with 403 the way presigned object-store URLs do.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a path serves: bytes, a file on disk, a redirect, or a bare status. */
export type ServedFile = Buffer | string | { path: string } | { redirect: string } | { status: number };

export interface ImageServerOptions {
  /** Answer 403 to every HEAD (presigned URLs are signed for GET only). */
  refuseHead?: boolean;
}

export interface ImageServer {
  url(path: string): string;
  /** Full-body GET requests served per path (a ranged probe is not a download and counts in `rangedGets`). */
  gets(path: string): number;
  /** GET requests with a Range header, per path. */
  rangedGets(path: string): number;
  heads(path: string): number;
  setDelay(ms: number): void;
  /** Adds, replaces or (with undefined) removes what a path serves. */
  set(path: string, file: ServedFile | undefined): void;
  stop(): Promise<void>;
}

/** Parses a single `bytes=a-b` / `bytes=a-` / `bytes=-n` range against `size`; undefined when unsatisfiable. */
function byteRange(header: string, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start <= end && start < size ? { start, end } : undefined;
}

export async function startImageServer(
  files: Record<string, ServedFile>,
  options: ImageServerOptions = {},
): Promise<ImageServer> {
  const served = new Map<string, ServedFile>(Object.entries(files));
  const counts = { get: new Map<string, number>(), ranged: new Map<string, number>(), head: new Map<string, number>() };
  const bump = (map: Map<string, number>, path: string) => map.set(path, (map.get(path) ?? 0) + 1);
  let delayMs = 0;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const file = served.get(path);
      if (file === undefined) {
        res.writeHead(404).end('not found');
        return;
      }
      if (req.method === 'HEAD') {
        bump(counts.head, path);
        if (options.refuseHead) {
          res.writeHead(403).end();
          return;
        }
      }
      if (!Buffer.isBuffer(file) && typeof file === 'object' && 'redirect' in file) {
        res.writeHead(302, { location: file.redirect }).end();
        return;
      }
      if (!Buffer.isBuffer(file) && typeof file === 'object' && 'status' in file) {
        res.writeHead(file.status).end();
        return;
      }
      const onDisk = !Buffer.isBuffer(file) && typeof file === 'object' ? file.path : undefined;
      const body = onDisk === undefined ? (Buffer.isBuffer(file) ? file : Buffer.from(file as string)) : undefined;
      const size = body ? body.length : (await stat(onDisk as string)).size;
      const rangeHeader = req.method === 'GET' ? req.headers.range : undefined;
      if (req.method === 'GET') bump(rangeHeader ? counts.ranged : counts.get, path);
      let start = 0;
      let end = size - 1;
      let status = 200;
      const headers: Record<string, string | number> = {
        'content-type': 'application/octet-stream',
        'accept-ranges': 'bytes',
      };
      if (rangeHeader) {
        const range = byteRange(rangeHeader, size);
        if (!range) {
          res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
          return;
        }
        ({ start, end } = range);
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${size}`;
      }
      headers['content-length'] = size === 0 ? 0 : end - start + 1;
      const send = () => {
        res.writeHead(status, headers);
        if (req.method === 'HEAD' || size === 0) res.end();
        else if (body) res.end(body.subarray(start, end + 1));
        else createReadStream(onDisk as string, { start, end, highWaterMark: 1024 * 1024 }).pipe(res);
      };
      if (delayMs > 0 && req.method === 'GET' && !rangeHeader) setTimeout(send, delayMs);
      else send();
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    gets: (path) => counts.get.get(path) ?? 0,
    rangedGets: (path) => counts.ranged.get(path) ?? 0,
    heads: (path) => counts.head.get(path) ?? 0,
    setDelay: (ms) => {
      delayMs = ms;
    },
    set: (path, file) => {
      if (file === undefined) served.delete(path);
      else served.set(path, file);
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
