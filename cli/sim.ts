/**
 * `tempered sim`: run the simulated data centre. `redfish` serves one mockup tree (for example one captured
 * from your own hardware) as a stateful Redfish BMC; `datacenter` starts many BMCs and writes their addresses
 * and credentials to a JSON file for the stack and the benchmarks; `profiles` lists vendor profiles and
 * quirks. Both servers run until SIGINT/SIGTERM. Readable progress on stderr for people, `--json` for scripts.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AGENT_KINDS, type AgentKind, type AgentSettings, type BmcSpec, type Layout, PROFILES, PROFILE_IDS, QUIRKS,
  type RamdiskRunner, type SimulatedBmc, type Simulator, startSimulator,
} from '../sim/index.ts';
import { ipaRunner } from '../sim/agent/ipa-runner.ts';

export const usage = [
  'usage: tempered sim <command> [options]',
  '',
  'commands:',
  '  redfish      serve one mockup tree (redfish/v1/.../index.json or DMTF short form) as a stateful Redfish BMC',
  '  datacenter   start N simulated BMCs, write their addresses and credentials to a file, run until stopped',
  '  profiles     list the vendor profiles and quirks',
  '',
  'tempered sim redfish --mockup <dir> [--profile dmtf] [--listen 127.0.0.1:8000] [--username admin --password password]',
  '  --mockup DIR           a tree captured from hardware, or a bundled name (dell-idrac, hpe-ilo5-dl325, ...)',
  '  --profile P            dmtf (default), ilo5|hpe, ami|gigabyte, xcc|lenovo, idrac|dell, supermicro|smc',
  '  --system-id ID         the Systems member that is the host (default: the first)',
  '',
  'tempered sim datacenter --hosts N [--profiles mix|dmtf,idrac,...] [--layout port-per-bmc|shared] --write FILE',
  '  --hosts N              number of BMCs',
  '  --profiles P           mix (default: every profile in turn) or a comma-separated list',
  '  --layout L             port-per-bmc (default) or shared (one port per profile, /redfish/v1/Systems/<id>)',
  '  --write FILE           JSON list of { id, profile, address, username, password, bootMACAddress }',
  '  --base-port N          first port (default: free ports)',
  '  --username U --password P   the same credentials for every BMC (default: admin and a random password each)',
  '  --state-dir DIR        where the hosts\' disk files live (default: <folder of --write>/hosts)',
  '',
  'deploy agent (a host that boots a deploy ISO runs one; its disks are sparse files listed in --write):',
  '  --agent A              sim (default: the simulated agent) or ipa (the real ironic-python-agent on loop devices)',
  '  --boot-delay-ms N      time from booting the ISO to the agent\'s first request (default 0)',
  '  --disk-bytes-per-sec N write speed of the simulated disks (default: unlimited)',
  '  --command-duration-ms N  shortest time an asynchronous agent command runs (default 0)',
  '',
  'common options:',
  '  --power-delay-ms N     time a power change takes (redfish: 0, datacenter: 1000)',
  '  --quirk-window-ms N    length of time-window quirks (default 1000; 0 turns them off)',
  '  --task-duration-ms N   firmware task duration (default 1000)',
  '  --quirks-add a,b       switch quirks on;  --quirks-remove a,b  switch them off (see `tempered sim profiles`)',
  '  --json                 machine-readable output on stdout',
].join('\n');

class UsageError extends Error {}

const options = {
  mockup: { type: 'string' },
  profile: { type: 'string' },
  'system-id': { type: 'string' },
  listen: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  hosts: { type: 'string' },
  profiles: { type: 'string' },
  layout: { type: 'string' },
  write: { type: 'string' },
  'base-port': { type: 'string' },
  'power-delay-ms': { type: 'string' },
  'quirk-window-ms': { type: 'string' },
  'task-duration-ms': { type: 'string' },
  'quirks-add': { type: 'string' },
  'quirks-remove': { type: 'string' },
  'state-dir': { type: 'string' },
  agent: { type: 'string' },
  'boot-delay-ms': { type: 'string' },
  'disk-bytes-per-sec': { type: 'string' },
  'command-duration-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

function integer(value: string | undefined, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) throw new UsageError(`--${name} must be an integer >= ${min}`);
  return number;
}

function list(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** Fields every BMC gets from the common options. */
function common(values: Values, defaultPowerDelayMs: number): BmcSpec {
  const spec: BmcSpec = { powerDelayMs: integer(values['power-delay-ms'], 'power-delay-ms') ?? defaultPowerDelayMs };
  const window = integer(values['quirk-window-ms'], 'quirk-window-ms');
  if (window !== undefined) spec.quirkWindowMs = window;
  const task = integer(values['task-duration-ms'], 'task-duration-ms');
  if (task !== undefined) spec.taskDurationMs = task;
  const add = list(values['quirks-add']);
  const remove = list(values['quirks-remove']);
  if (add || remove) spec.quirks = { ...(add ? { add } : {}), ...(remove ? { remove } : {}) };
  if (values.username !== undefined) spec.username = values.username;
  if (values.password !== undefined) spec.password = values.password;
  const agent = values.agent ?? 'sim';
  if (!AGENT_KINDS.includes(agent as AgentKind)) {
    throw new UsageError(`--agent must be ${AGENT_KINDS.join(' or ')}, got '${agent}'`);
  }
  spec.agent = agent as AgentKind;
  const settings: Partial<AgentSettings> = {};
  const bootDelay = integer(values['boot-delay-ms'], 'boot-delay-ms');
  if (bootDelay !== undefined) settings.bootDelayMs = bootDelay;
  const diskSpeed = integer(values['disk-bytes-per-sec'], 'disk-bytes-per-sec');
  if (diskSpeed !== undefined) settings.diskBytesPerSec = diskSpeed;
  const commandDuration = integer(values['command-duration-ms'], 'command-duration-ms');
  if (commandDuration !== undefined) settings.commandDurationMs = commandDuration;
  if (Object.keys(settings).length > 0) spec.agentSettings = settings;
  return spec;
}

/** The real ironic-python-agent runner (installs IPA from PyPI on first boot; needs root for loop devices). */
function realIpa(stateDir: string, json: boolean): RamdiskRunner {
  return ipaRunner({ stateDir, progress: (message) => say(json, message, { event: 'progress', message }) });
}

function parseListen(listen: string | undefined): { host: string; port: number } {
  if (listen === undefined) return { host: '127.0.0.1', port: 8000 };
  const match = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(listen);
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isInteger(port) || port > 65535) throw new UsageError(`--listen must be HOST:PORT or PORT, got '${listen}'`);
  return { host: match[1] || '127.0.0.1', port };
}

function describe(bmc: SimulatedBmc): Record<string, unknown> {
  return {
    id: bmc.id,
    profile: bmc.profile,
    address: bmc.address,
    username: bmc.username,
    password: bmc.password,
    bootMACAddress: bmc.bootMACAddress,
    agent: bmc.agentKind(),
    disks: bmc.disks(),
  };
}

/** Resolves when the process gets SIGINT or SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

function say(json: boolean, text: string, record: Record<string, unknown>): void {
  if (json) console.log(JSON.stringify(record));
  else console.error(text);
}

async function serve(sim: Simulator, json: boolean): Promise<number> {
  const signal = await untilSignal();
  say(json, `${signal}: stopping ${sim.bmcs.length} simulated BMC(s)`, { event: 'stopping', signal });
  await sim.stop();
  say(json, 'stopped', { event: 'stopped' });
  return 0;
}

async function redfish(values: Values): Promise<number> {
  if (!values.mockup) throw new UsageError('--mockup is required');
  const { host, port } = parseListen(values.listen);
  const spec: BmcSpec = { ...common(values, 0), mockup: values.mockup, profile: values.profile ?? 'dmtf', port };
  if (values['system-id'] !== undefined) spec.systemId = values['system-id'];
  const json = values.json ?? false;
  const stateDir = values['state-dir'] !== undefined ? resolve(values['state-dir']) : undefined;
  if (spec.agent === 'ipa' && stateDir === undefined) {
    throw new UsageError('--agent ipa needs --state-dir (the real agent keeps its files there)');
  }
  const sim = await startSimulator({
    bmcs: [spec],
    listenHost: host,
    ...(stateDir !== undefined ? { stateDir } : {}),
    ...(spec.agent === 'ipa' ? { runners: { ipa: realIpa(join(stateDir ?? '', 'ipa'), json) } } : {}),
    log: (line) => say(json, line, { event: 'host', line }),
  });
  const [bmc] = sim.bmcs;
  if (!bmc) throw new Error('the simulator started no BMC');
  say(
    json,
    [
      `Serving ${values.mockup} as ${PROFILES[bmc.profile].title}`,
      `  service root  ${bmc.url}`,
      `  BMC address   ${bmc.address}`,
      `  credentials   ${bmc.username} / ${bmc.password}`,
      `  quirks        ${bmc.quirks().join(', ') || '(none)'}`,
      `  disks         ${bmc.disks().map((disk) => `${disk.name} ${disk.sizeBytes} bytes`).join(', ')}`,
      `  disk files    ${sim.stateDir}`,
      `  agent         ${bmc.agentKind()}, agent server and control API at ${sim.agentUrl}`,
      'Press Ctrl-C to stop.',
    ].join('\n'),
    { event: 'listening', ...describe(bmc), url: bmc.url, quirks: bmc.quirks() },
  );
  return serve(sim, json);
}

async function datacenter(values: Values): Promise<number> {
  const hosts = integer(values.hosts, 'hosts', 1);
  if (hosts === undefined) throw new UsageError('--hosts is required');
  if (!values.write) throw new UsageError('--write is required');
  const layout = (values.layout ?? 'port-per-bmc') as Layout;
  if (layout !== 'port-per-bmc' && layout !== 'shared') throw new UsageError(`--layout must be port-per-bmc or shared, got '${values.layout}'`);
  const profiles = values.profiles === undefined || values.profiles === 'mix' ? 'mix' : (list(values.profiles) ?? []);
  const basePort = integer(values['base-port'], 'base-port', 1);
  const json = values.json ?? false;
  say(json, `Starting ${hosts} simulated BMC(s) (${layout}, profiles: ${profiles === 'mix' ? 'mix' : profiles.join(',')})...`, {
    event: 'starting',
    hosts,
    layout,
  });
  const started = performance.now();
  const heapBefore = process.memoryUsage().heapUsed;
  const spec = common(values, 1000);
  const stateDir = resolve(values['state-dir'] ?? join(dirname(values.write), 'hosts'));
  const sim = await startSimulator({
    bmcs: { ...spec, count: hosts, profiles, ...(basePort !== undefined ? { basePort } : {}) },
    layout,
    stateDir,
    ...(spec.agent === 'ipa' ? { runners: { ipa: realIpa(join(stateDir, 'ipa'), json) } } : {}),
    log: (line) => say(json, line, { event: 'host', line }),
  });
  const elapsedMs = Math.round(performance.now() - started);
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
  const file = values.write;
  const temporary = `${file}.tmp-${process.pid}`;
  const listing = { layout, agentUrl: sim.agentUrl, stateDir: sim.stateDir, bmcs: sim.bmcs.map(describe) };
  writeFileSync(temporary, `${JSON.stringify(listing, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
  const ports = sim.endpoints.map((endpoint) => endpoint.port);
  const counts = new Map<string, number>();
  for (const bmc of sim.bmcs) counts.set(bmc.profile, (counts.get(bmc.profile) ?? 0) + 1);
  say(
    json,
    [
      `${sim.bmcs.length} BMC(s) listening on ${sim.endpoints.length} port(s) ${Math.min(...ports)}..${Math.max(...ports)} in ${elapsedMs} ms (heap +${heapMiB.toFixed(1)} MiB)`,
      `  profiles  ${[...counts].map(([profile, count]) => `${profile} ${count}`).join(', ')}`,
      `  agents    ${spec.agent ?? 'sim'}, agent server and control API at ${sim.agentUrl}`,
      `  disks     ${sim.stateDir}`,
      `  wrote     ${file}`,
      'Press Ctrl-C to stop.',
    ].join('\n'),
    {
      event: 'listening',
      count: sim.bmcs.length,
      endpoints: sim.endpoints.length,
      file,
      elapsedMs,
      agentUrl: sim.agentUrl,
      stateDir: sim.stateDir,
    },
  );
  return serve(sim, json);
}

function profiles(json: boolean): number {
  if (json) {
    console.log(JSON.stringify({ profiles: PROFILE_IDS.map((id) => PROFILES[id]), quirks: QUIRKS }, null, 2));
    return 0;
  }
  for (const id of PROFILE_IDS) {
    const profile = PROFILES[id];
    console.log(`${id.padEnd(11)} ${profile.title}  [${profile.scheme}, sim/mockups/${profile.mockup}]`);
    console.log(`            quirks: ${profile.quirks.join(', ')}`);
  }
  console.log('\nquirks:');
  for (const entry of QUIRKS) console.log(`  ${entry.id.padEnd(30)} ${entry.kind === 'structural' ? 'S' : 'B'}  ${entry.description}`);
  return 0;
}

/** Runs `tempered sim <command>`. */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    console.error(`tempered sim: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || !command) {
    (command || parsed.values.help ? console.log : console.error)(usage);
    return command || parsed.values.help ? 0 : 2;
  }
  try {
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
    switch (command) {
      case 'redfish':
        return await redfish(parsed.values);
      case 'datacenter':
        return await datacenter(parsed.values);
      case 'profiles':
        return profiles(parsed.values.json ?? false);
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`tempered sim: ${error.message}\n\n${usage}`);
      return 2;
    }
    console.error(`tempered sim: ${(error as Error).message}`);
    return 1;
  }
}
