/**
 * The simulated data centre (sim/) run as a supervised process of its own, with a loopback control port for
 * its counters and fault switches: the fleet benchmark measures its CPU apart from the engine's, and the
 * chaos run reads its side-effect counters while it kills processes around it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentCounters, BmcCounters, BmcSpec, FaultSettings } from '../sim/index.ts';
import { startProcess, waitUntil, type Supervised } from './processes.ts';

/** One simulated BMC as a BareMetalHost needs it. */
export interface SimulatorBmc {
  id: string;
  profile: string;
  address: string;
  username: string;
  password: string;
  bootMACAddress: string | null;
}

export interface SimulatorProcess {
  bmcs: SimulatorBmc[];
  proc: Supervised;
  /** Every BMC's side-effect counters, by BMC id. */
  counters(): Promise<Record<string, BmcCounters>>;
  /** Every host's deploy-agent counters (ramdisk boots, image writes, erases), by BMC id. */
  agentCounters(): Promise<Record<string, AgentCounters>>;
  /** Sets fault switches on some BMCs (all when `ids` is absent). */
  faults(set: Partial<FaultSettings>, ids?: string[]): Promise<void>;
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./simulator-process.ts', import.meta.url));

/** Starts the BMCs of `specs` in a child process; resolves once they all listen. */
export async function startSimulatorProcess(options: { stateDir: string; specs: BmcSpec[] }): Promise<SimulatorProcess> {
  const specFile = join(options.stateDir, 'bmc-specs.json');
  const readyFile = join(options.stateDir, 'bmcs.json');
  writeFileSync(specFile, JSON.stringify(options.specs), { mode: 0o600 });
  const proc = startProcess('tempered-sim', process.execPath, [SCRIPT, specFile, readyFile], { logFile: join(options.stateDir, 'sim.log') });
  await waitUntil('simulated data centre', async () => existsSync(readyFile), { timeoutMs: 120_000, intervalMs: 100, process: proc });
  const ready = JSON.parse(readFileSync(readyFile, 'utf8')) as { control: string; bmcs: SimulatorBmc[] };
  return {
    bmcs: ready.bmcs,
    proc,
    async counters() {
      const res = await fetch(`${ready.control}/counters`);
      if (!res.ok) throw new Error(`simulator counters: HTTP ${res.status}`);
      return (await res.json()) as Record<string, BmcCounters>;
    },
    async agentCounters() {
      const res = await fetch(`${ready.control}/agent-counters`);
      if (!res.ok) throw new Error(`simulator agent counters: HTTP ${res.status}`);
      return (await res.json()) as Record<string, AgentCounters>;
    },
    async faults(set, ids) {
      const res = await fetch(`${ready.control}/faults`, { method: 'POST', body: JSON.stringify({ set, ...(ids ? { ids } : {}) }) });
      if (!res.ok) throw new Error(`simulator faults: HTTP ${res.status} ${await res.text()}`);
    },
    stop: () => proc.stop(),
  };
}
