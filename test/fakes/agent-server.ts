/**
 * A small fake of a deploy agent's command API (ironic-python-agent's `/v1/commands/`) for the agent client's
 * unit tests: the token check on the `agent_token` query parameter, one command at a time (409 while one
 * runs), sync and async commands with programmable results and durations, and IPA's auto TLS (a self-signed
 * certificate for 127.0.0.1 made with openssl, whose PEM a heartbeat would carry). Counters record how often
 * each command was started, so tests prove a command ran once. The real agents (the simulator's, the real
 * IPA) are exercised by the integration tier.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openssl } from '../../stack/binaries.ts';

/** How a command behaves: its result or error, and how long it stays RUNNING. */
export interface FakeCommandBehaviour {
  durationMs?: number;
  result?: unknown;
  error?: { type: string; code?: number; message: string; details?: string };
  /** Result reported while RUNNING (e.g. `{ progress: { bytes_written } }`). */
  runningResult?: unknown;
  /** Called when the command starts, with its parameters (e.g. power_off turning the fake BMC's power off). */
  onStart?: (params: Record<string, unknown>) => void;
}

export interface FakeAgent {
  url: string;
  /** The PEM of its self-signed certificate (undefined over plain HTTP). */
  pem: string | undefined;
  /** Starts of each command name (`deploy.execute_deploy_step`). */
  started: Map<string, number>;
  /** Tokens seen on requests. */
  tokens: string[];
  /** Every command started, with its parameters, in order. */
  params: { name: string; params: Record<string, unknown> }[];
  behave(name: string, behaviour: FakeCommandBehaviour): void;
  /** The next `count` POSTs are accepted but the answer is dropped (the connection is destroyed). */
  dropAnswers(count: number): void;
  /** Forgets every command, as an agent that restarted. */
  restart(): void;
  stop(): Promise<void>;
}

interface Command {
  id: string;
  command_name: string;
  command_status: string;
  command_error: unknown;
  command_result: unknown;
  endsAt: number;
  behaviour: FakeCommandBehaviour;
  step?: unknown;
}

/** A self-signed certificate for 127.0.0.1, as IPA's auto TLS makes one (EC key, IP SAN). */
export function selfSignedCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fake-agent-tls-'));
  try {
    execFileSync(openssl(), ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-days', '1', '-keyout', 'key.pem', '-out', 'cert.pem', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=critical,IP:127.0.0.1'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startFakeAgent(options: { token: string | ((token: string) => boolean); tls?: boolean }): Promise<FakeAgent> {
  const tokenOk = typeof options.token === 'string' ? (t: string) => t === options.token : options.token;
  const behaviours = new Map<string, FakeCommandBehaviour>();
  const started = new Map<string, number>();
  const tokens: string[] = [];
  const params: { name: string; params: Record<string, unknown> }[] = [];
  let commands: Command[] = [];
  let drops = 0;
  let counter = 0;

  const refresh = () => {
    const now = Date.now();
    for (const c of commands) {
      if (c.command_status !== 'RUNNING' || c.endsAt > now) continue;
      if (c.behaviour.error) {
        c.command_status = 'FAILED';
        c.command_error = c.behaviour.error;
        c.command_result = null;
      } else {
        c.command_status = 'SUCCEEDED';
        c.command_result = c.behaviour.result ?? (c.step ? { deploy_result: null, deploy_step: c.step } : null);
      }
    }
  };
  const view = (c: Command) => ({ id: c.id, command_name: c.command_name, command_status: c.command_status, command_error: c.command_error, command_result: c.command_result });
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const token = url.searchParams.get('agent_token') ?? '';
    tokens.push(token);
    if (url.pathname !== '/v1/commands/' && url.pathname !== '/v1/commands') return send(res, 404, { faultcode: 'Client', faultstring: 'not found' });
    if (!tokenOk(token)) return send(res, 401, { faultcode: 'Client', faultstring: '401 Unauthorized: Token invalid.' });
    refresh();
    if (req.method === 'GET') return send(res, 200, { commands: commands.map(view) });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { name: string; params: Record<string, unknown> };
    const last = commands.at(-1);
    if (last && last.command_status === 'RUNNING') return send(res, 409, { faultcode: 'Client', faultstring: `Agent is busy: executing command ${last.command_name}` });
    const behaviour = behaviours.get(body.name);
    if (!behaviour) return send(res, 400, { faultcode: 'Client', faultstring: `Invalid command: ${body.name}` });
    started.set(body.name, (started.get(body.name) ?? 0) + 1);
    params.push({ name: body.name, params: body.params });
    behaviour.onStart?.(body.params);
    counter += 1;
    const step = (body.params['step'] as { step?: string } | undefined) ?? undefined;
    const command: Command = {
      id: `cmd-${counter}`,
      command_name: body.name.slice(body.name.indexOf('.') + 1),
      command_status: 'RUNNING',
      command_error: null,
      command_result: behaviour.runningResult ?? null,
      endsAt: Date.now() + (behaviour.durationMs ?? 0),
      behaviour,
      ...(step ? { step } : {}),
    };
    commands.push(command);
    const wait = url.searchParams.get('wait') === 'true';
    if (wait) {
      // IPA's `wait=true`: answer when the command ends (a poll of the fake's own clock-driven state, not a test wait).
      while (command.command_status === 'RUNNING') {
        await new Promise((r) => setTimeout(r, 10));
        refresh();
      }
    } else {
      refresh();
    }
    if (drops > 0) {
      drops -= 1;
      req.socket.destroy();
      return;
    }
    send(res, 200, view(command));
  };

  const tls = options.tls ? selfSignedCertificate() : undefined;
  const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, (q, s) => void handler(q, s)) : createHttpServer((q, s) => void handler(q, s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    pem: tls?.cert,
    started,
    tokens,
    params,
    behave: (name, behaviour) => behaviours.set(name, behaviour),
    dropAnswers: (count) => {
      drops = count;
    },
    restart: () => {
      commands = [];
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
