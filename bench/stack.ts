/**
 * Start-up figures of the local stack with a warm cache: each server alone (time to ready), then the whole
 * stack as the test tier starts it, over a few rounds. The target: warm `npm start` to a live stack ≤ 20 s.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack } from '../stack/index.ts';
import { startIpmiSim } from '../stack/ipmi.ts';
import { endStateDir } from '../stack/keep-state.ts';
import { startKube } from '../stack/kube.ts';
import { startSushy } from '../stack/sushy.ts';
import { startTemporal } from '../stack/temporal.ts';

const quiet = () => {};

async function timed(name: string, start: (dir: string) => Promise<{ stop(): Promise<void> }>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), `tempered-bench-${name}-`));
  try {
    const t0 = performance.now();
    const server = await start(dir);
    const ms = performance.now() - t0;
    await server.stop();
    return ms;
  } finally {
    // One directory per round: said only when kept.
    const end = await endStateDir(dir);
    if (end.kept) console.log(end.line);
  }
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  return `median ${(median / 1000).toFixed(2)} s (min ${((sorted[0] ?? 0) / 1000).toFixed(2)}, max ${((sorted.at(-1) ?? 0) / 1000).toFixed(2)}, n=${values.length})`;
}

export async function run(args: string[]): Promise<void> {
  const rounds = Number(args[0] ?? 3);
  const parts: [string, (dir: string) => Promise<{ stop(): Promise<void> }>][] = [
    ['temporal dev server', (stateDir) => startTemporal({ stateDir, progress: quiet })],
    ['etcd + kube-apiserver + CRDs', (stateDir) => startKube({ stateDir, crdDirs: [new URL('../deploy/crds/', import.meta.url).pathname], progress: quiet })],
    ['sushy-tools (10 systems)', (stateDir) => startSushy({ stateDir, systems: 10, progress: quiet })],
    ['ipmi_sim', (stateDir) => startIpmiSim({ stateDir, progress: quiet })],
  ];
  for (const [name, start] of parts) {
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) times.push(await timed(name, start));
    console.log(`${name.padEnd(32)} ${summary(times)}`);
  }
  const whole: number[] = [];
  for (let i = 0; i < rounds; i++) {
    whole.push(await timed('stack', (stateDir) => startStack({ stateDir, temporal: { ui: true }, sushy: { systems: 5 }, ipmi: { bmcs: 1 } })));
  }
  console.log(`${'whole stack (parallel start)'.padEnd(32)} ${summary(whole)}`);
}
