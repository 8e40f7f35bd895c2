/**
 * Free TCP ports on 127.0.0.1 for the servers the stack and the tests start: below the kernel's ephemeral range.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const handedOut = new Set<number>();

/** A port in the ephemeral range that was free a moment ago and that this process has not handed out before. */
async function ephemeralPort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const found = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(found));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** The kernel's ephemeral range, where outgoing connections take their local ports. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: assume the IANA range
  }
  return [49152, 65535];
}

/** True when 127.0.0.1:port can be bound now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free port on 127.0.0.1 below the ephemeral range, for a server that binds it after it is chosen (every
 * server the stack starts is another process, and the real IPA listens only after lookup). A port in the
 * ephemeral range, found by binding port 0 and releasing it, can be taken meanwhile by any outgoing connection or
 * any listen on port 0 on the machine: one `.ci/run` on 9312bb7 saw the agent API's metrics endpoint (port 0)
 * get the very port just chosen for its API, and the API fail with EADDRINUSE. One from below the range can be
 * taken only by another server choosing it.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const base = Math.max(10_000, Math.min(low, 32_768) - 12_000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = base + Math.floor(Math.random() * (Math.min(low, 65_536) - base));
    if (handedOut.has(port)) continue;
    handedOut.add(port); // before the probe, so two calls at once cannot both take it
    if (await bindable(port)) return port;
    handedOut.delete(port);
  }
  return ephemeralPort();
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export async function isListening(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
