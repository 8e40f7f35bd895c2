/**
 * BMC driver benchmark: Redfish operations per second through the real driver (one in-flight operation per BMC,
 * many BMCs in parallel) against sushy-tools and the simulator in the same run, and the simulator's memory per
 * 1,000 BMCs. Run with `npm run bench -- bmc` (or `node bench/bmc.ts`). Loopback only, bounded in time.
 *
 * Env: BENCH_BMC_SECONDS (per scenario, default 5), BENCH_BMC_COUNT (BMCs driven in parallel, default 8).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBmcDriver } from '../activities/bmc/factory.ts';
import type { BmcDriver } from '../activities/bmc/driver.ts';
import { spawn } from 'node:child_process';
import { startSimulator } from '../sim/index.ts';
import { endStateDir } from '../stack/keep-state.ts';
import { startSushy, type SushyEmulator } from '../stack/sushy.ts';

const SECONDS = Number(process.env.BENCH_BMC_SECONDS ?? 5);
const COUNT = Number(process.env.BENCH_BMC_COUNT ?? 8);

/** One Redfish endpoint to drive: a Metal3 address and credentials. */
export interface BenchTarget {
  address: string;
  username: string;
  password: string;
}

interface Scenario {
  name: string;
  /** One operation; `i` alternates values so each call is a real change. */
  op: (driver: BmcDriver, i: number) => Promise<unknown>;
}

const SCENARIOS: Scenario[] = [
  { name: 'power-state (1 GET)', op: (d) => d.getPowerState() },
  { name: 'boot override (GET, PATCH, GET)', op: (d, i) => d.setBootOverride({ device: i % 2 ? 'pxe' : 'disk' }) },
  { name: 'power on/off with read-back', op: (d, i) => d.setPower(i % 2 ? 'off' : 'on') },
];

export interface ScenarioResult {
  peer: string;
  scenario: string;
  bmcs: number;
  ops: number;
  opsPerSecond: number;
  requestsPerSecond: number;
  p50ms: number;
  p95ms: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}

/** Drives every target with `scenario` for `seconds`, one operation at a time per BMC. */
export async function measure(peer: string, targets: BenchTarget[], scenario: Scenario, seconds = SECONDS): Promise<ScenarioResult> {
  let requests = 0;
  const drivers = targets.map((t) =>
    createBmcDriver({
      address: t.address,
      credentials: { username: t.username, password: t.password },
      redfish: { timings: { powerPollInitialMs: 0, powerPollIntervalMs: 50, powerTimeoutMs: 20_000 }, client: { onExchange: () => requests++ } },
    }),
  );
  // Warm up: discovery and sessions are per connection, not per operation.
  await Promise.all(drivers.map((d) => d.getPowerState()));
  requests = 0;
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    drivers.map(async (d) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const t0 = performance.now();
        try {
          await scenario.op(d, i);
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all(drivers.map((d) => d.close()));
  latencies.sort((a, b) => a - b);
  return {
    peer,
    scenario: scenario.name,
    bmcs: targets.length,
    ops: latencies.length,
    opsPerSecond: latencies.length / elapsed,
    requestsPerSecond: requests / elapsed,
    p50ms: percentile(latencies, 0.5),
    p95ms: percentile(latencies, 0.95),
    errors,
  };
}

function print(results: ScenarioResult[]): void {
  const rows = results.map((r) => [r.peer, r.scenario, String(r.bmcs), String(r.ops), r.opsPerSecond.toFixed(1), r.requestsPerSecond.toFixed(1), r.p50ms.toFixed(1), r.p95ms.toFixed(1), String(r.errors)]);
  const head = ['peer', 'scenario', 'BMCs', 'ops', 'ops/s', 'req/s', 'p50 ms', 'p95 ms', 'errors'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

/** sushy-tools with COUNT systems (power changes visible on the next GET, as in the integration tier). */
async function sushyResults(): Promise<ScenarioResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-bench-bmc-'));
  let sushy: SushyEmulator | undefined;
  try {
    const { systems, port, username, password } = (sushy = await startSushy({ stateDir: dir, systems: COUNT, progress: () => {} }));
    const targets = systems.map((s) => ({ address: `redfish+http://127.0.0.1:${port}${s.path}`, username, password }));
    const out: ScenarioResult[] = [];
    for (const scenario of SCENARIOS) out.push(await measure('sushy-tools', targets, scenario));
    return out;
  } finally {
    await sushy?.stop();
    console.log((await endStateDir(dir)).line);
  }
}

/** Runs the benchmark and prints its figures. */
export async function run(): Promise<void> {
  console.log(`BMC driver benchmark: ${COUNT} BMCs in parallel, one operation in flight per BMC, ${SECONDS} s per scenario;`);
  console.log('the driver in this process, each peer in its own (sushy-tools: Python/Flask, bcrypt basic auth; simulator: Node)\n');
  const results: ScenarioResult[] = [];
  results.push(...(await simulatorResults()));
  results.push(...(await sushyResults()));
  print(results);
  await simulatorMemory();
}

/**
 * Runs this file again as a child process in one of its helper modes (the simulator in its own process, like
 * sushy-tools, so the driver and the BMCs do not share an event loop), and returns its first stdout line.
 */
function child(mode: string, value: string): { line: Promise<string>; stop: () => void } {
  const proc = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], { env: { ...process.env, [mode]: value }, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = new Promise<string>((resolve, reject) => {
    let text = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) resolve(text.slice(0, nl));
    });
    proc.on('exit', (code) => reject(new Error(`bench child ${mode} exited with ${code}`)));
  });
  return { line, stop: () => proc.kill('SIGTERM') };
}

/** The simulator with COUNT BMCs of mixed vendor profiles (quirks on), one port each, in its own process. */
async function simulatorResults(): Promise<ScenarioResult[]> {
  const sim = child('BENCH_BMC_SIM_SERVE', String(COUNT));
  try {
    const targets = JSON.parse(await sim.line) as BenchTarget[];
    const out: ScenarioResult[] = [];
    for (const scenario of SCENARIOS) out.push(await measure('simulator', targets, scenario));
    return out;
  } finally {
    sim.stop();
  }
}

/** Child mode: serve a simulated fleet and print its targets as one JSON line. */
async function serveFleet(count: number): Promise<void> {
  const sim = await startSimulator({ bmcs: { count, profiles: 'mix' } });
  console.log(JSON.stringify(sim.bmcs.map((b) => ({ address: b.address, username: b.username, password: b.password }))));
  process.on('SIGTERM', () => void sim.stop().then(() => process.exit(0)));
}

/** Child mode: heap and RSS growth for 1,000 simulated BMCs in a fresh process, printed as one JSON line. */
async function measureFleet(layout: 'port-per-bmc' | 'shared'): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  gc();
  const before = process.memoryUsage();
  const started = performance.now();
  const sim = await startSimulator({ bmcs: { count: 1000, profiles: 'mix' }, layout });
  const startMs = performance.now() - started;
  // Touch every BMC once so per-BMC state built lazily is counted too.
  for (const b of sim.bmcs) {
    const auth = `Basic ${Buffer.from(`${b.username}:${b.password}`).toString('base64')}`;
    await (await fetch(`http://127.0.0.1:${b.port}${b.systemPath}`, { headers: { authorization: auth } })).arrayBuffer();
  }
  gc();
  const after = process.memoryUsage();
  console.log(JSON.stringify({ layout, heap: after.heapUsed - before.heapUsed, rss: after.rss - before.rss, ports: sim.endpoints.length, startMs }));
  await sim.stop();
  process.exit(0);
}

/** The simulator's memory per 1,000 BMCs, each layout measured in a fresh process. */
async function simulatorMemory(): Promise<void> {
  console.log('\nsimulator memory for 1,000 BMCs (mixed profiles, each measured in a fresh process):');
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  for (const layout of ['port-per-bmc', 'shared'] as const) {
    const m = JSON.parse(await child('BENCH_BMC_SIM_MEMORY', layout).line) as { heap: number; rss: number; ports: number; startMs: number };
    console.log(`  ${layout.padEnd(12)}  heap +${mib(m.heap)} MiB, RSS +${mib(m.rss)} MiB (${mib(m.rss / 1000 * 1024)} KiB per BMC), ${m.ports} listening ports, started in ${(m.startMs / 1000).toFixed(2)} s`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.env.BENCH_BMC_SIM_SERVE) await serveFleet(Number(process.env.BENCH_BMC_SIM_SERVE));
  else if (process.env.BENCH_BMC_SIM_MEMORY) await measureFleet(process.env.BENCH_BMC_SIM_MEMORY === 'shared' ? 'shared' : 'port-per-bmc');
  else await run();
}
