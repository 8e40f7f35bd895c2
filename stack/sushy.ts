/**
 * sushy-tools' Redfish emulator (fake driver, no libvirt) with N systems behind HTTP Basic auth (a bcrypt
 * htpasswd file, so wrong credentials get 401). State lives in a fresh directory per start; virtual-media
 * images it downloads land there too.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sushyVenv, type Progress } from './binaries.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil } from './processes.ts';

export interface SushyOptions {
  stateDir: string;
  systems: number;
  username?: string;
  password?: string;
  /** Seconds before a power change shows; default 0. `'stock'` keeps the emulator's random 1-11 s. */
  powerDelay?: number | 'stock';
  progress: Progress;
}

export interface SushySystem {
  uuid: string;
  name: string;
  mac: string;
  /** The Redfish path of the system, as a Metal3 BMC address carries it. */
  path: string;
}

export interface SushyEmulator {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  username: string;
  password: string;
  systems: SushySystem[];
  /** Requests answered so far, from the emulator's access log (`countSushyRequests`). */
  requests(): number;
  stop(): Promise<void>;
}

// werkzeug's access log colours a request line by its status and method (POST, PATCH, 3xx, 4xx, 5xx) with ANSI
// codes inside the quoted request, so they are removed before the line is matched.
// eslint-disable-next-line no-control-regex -- the ESC byte is what is matched
const ANSI = /\x1b\[[0-9;]*m/g;
const REQUEST_LINE = /"[A-Z]+ \S+ HTTP\/1\.[01]" \d{3} /g;

/** How many requests a sushy-tools access log records: every method and status, coloured or not. */
export function countSushyRequests(log: string): number {
  return (log.replace(ANSI, '').match(REQUEST_LINE) ?? []).length;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Deterministic, distinct identities for the i-th system of the emulator on `port`. */
function systemIdentity(port: number, i: number): SushySystem {
  const uuid = `5a5b0000-${hex(port, 4)}-4000-8000-${hex(i, 12)}`;
  const mac = `52:54:${hex(port >> 8, 2)}:${hex(port & 0xff, 2)}:${hex(i >> 8, 2)}:${hex(i & 0xff, 2)}`;
  return { uuid, name: `node-${i}`, mac, path: `/redfish/v1/Systems/${uuid}` };
}

export async function startSushy(options: SushyOptions): Promise<SushyEmulator> {
  const { python } = await sushyVenv(options.progress);
  const dir = options.stateDir;
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const username = options.username ?? 'admin';
  const password = options.password ?? 'password';
  const port = await freePort();
  const systems = Array.from({ length: options.systems }, (_, i) => systemIdentity(port, i));

  const htpasswd = join(dir, 'htpasswd');
  const line = execFileSync(python, [fileURLToPath(new URL('./python/hash_password.py', import.meta.url)), username], { input: password, encoding: 'utf8' });
  writeFileSync(htpasswd, line, { mode: 0o600 });

  const pySystems = systems.map((s) => `  {'uuid': '${s.uuid}', 'name': '${s.name}', 'power_state': 'Off', 'nics': [{'mac': '${s.mac}'}]},`);
  const config = join(dir, 'sushy.conf');
  writeFileSync(config, [
    `SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'`,
    `SUSHY_EMULATOR_LISTEN_PORT = ${port}`,
    `SUSHY_EMULATOR_FAKE_DRIVER = True`,
    `SUSHY_EMULATOR_STATE_DIR = '${join(dir, 'state')}'`,
    `SUSHY_EMULATOR_AUTH_FILE = '${htpasswd}'`,
    `SUSHY_EMULATOR_FAKE_SYSTEMS = [`,
    ...pySystems,
    `]`,
    '',
  ].join('\n'));

  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: join(dir, 'tmp'), PYTHONUNBUFFERED: '1' };
  if (options.powerDelay !== 'stock') env.TEMPERED_SUSHY_POWER_DELAY = String(options.powerDelay ?? 0);
  const url = `http://127.0.0.1:${port}`;
  options.progress(`starting sushy-tools Redfish emulator on ${url} with ${systems.length} systems`);
  const logFile = join(dir, 'sushy.log');
  const proc = startProcess('sushy-emulator', python, [fileURLToPath(new URL('./python/sushy_launcher.py', import.meta.url)), '--config', config], {
    env,
    logFile,
  });
  await waitUntil('sushy-emulator', async () => (await fetch(`${url}/redfish/v1/`)).ok, { timeoutMs: 30_000, intervalMs: 150, process: proc });
  return { url, port, username, password, systems, requests: () => countSushyRequests(readFileSync(logFile, 'utf8')), stop: () => proc.stop() };
}
