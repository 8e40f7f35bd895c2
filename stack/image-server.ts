/**
 * A tiny HTTP server on 127.0.0.1 that serves image files for tests and the demo (live ISOs the BMCs fetch),
 * counting the requests each path receives, with an optional delay per response (to catch a worker mid-insert).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImageServer {
  url(path: string): string;
  /** GET requests served per path. */
  gets(path: string): number;
  setDelay(ms: number): void;
  stop(): Promise<void>;
}

export async function startImageServer(files: Record<string, Buffer | string>): Promise<ImageServer> {
  const counts = new Map<string, number>();
  let delayMs = 0;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const body = files[path];
    if (body === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    if (req.method === 'GET') counts.set(path, (counts.get(path) ?? 0) + 1);
    const send = () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (delayMs > 0 && req.method === 'GET') setTimeout(send, delayMs);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    gets: (path) => counts.get(path) ?? 0,
    setDelay: (ms) => {
      delayMs = ms;
    },
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
