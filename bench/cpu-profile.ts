/**
 * Where a Node process spent its CPU, from a V8 `.cpuprofile` (`node --cpu-prof`, which the fleet
 * benchmark's `--cpu-prof` turns on for the worker and the bridge): self time by function and by module
 * (a package under node_modules, or a file of ours), largest first.
 *
 *   node bench/cpu-profile.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** A module name for a script URL: `pkg` or `@scope/pkg` under node_modules, our path otherwise. */
export function moduleOf(url: string): string {
  if (url === '') return '(native / V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url;
  const ours = /\/(activities|bridge|domain|workflows|workers|sim|stack)\/[^/]+$/.exec(url);
  return ours ? ours[0].slice(1) : url;
}

/** Self time in ms by function and by module, and the profile's length in ms. */
export function summarizeCpuProfile(profile: CpuProfile): { totalMs: number; byFunction: Map<string, number>; byModule: Map<string, number> } {
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const selfMs = new Map<number, number>();
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    selfMs.set(id, (selfMs.get(id) ?? 0) + (deltas[i] ?? 0) / 1000);
  }
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  for (const node of profile.nodes) {
    const ms = selfMs.get(node.id) ?? 0;
    if (ms === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'} ${url ? `${moduleOf(url)}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
    const mod = functionName === '(garbage collector)' ? '(garbage collector)' : functionName === '(idle)' ? '(idle)' : functionName === '(program)' ? '(program)' : moduleOf(url);
    byModule.set(mod, (byModule.get(mod) ?? 0) + ms);
  }
  return { totalMs: (profile.endTime - profile.startTime) / 1000, byFunction, byModule };
}

function top(map: Map<string, number>, n: number, busyMs: number): string[] {
  return [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${v.toFixed(0).padStart(8)} ms ${((100 * v) / busyMs).toFixed(1).padStart(5)} %  ${k}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, count] = process.argv.slice(2);
  if (!file) throw new Error('usage: node bench/cpu-profile.ts <file.cpuprofile> [top]');
  const summary = summarizeCpuProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  const busy = [...summary.byModule].filter(([k]) => k !== '(idle)').reduce((s, [, v]) => s + v, 0);
  console.log(`${file}: ${(summary.totalMs / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s busy on the main thread`);
  console.log('by module (self time, share of busy):');
  console.log(top(new Map([...summary.byModule].filter(([k]) => k !== '(idle)')), 20, busy).join('\n'));
  console.log('by function:');
  console.log(top(new Map([...summary.byFunction].filter(([k]) => !k.startsWith('(idle)'))), Number(count ?? 30), busy).join('\n'));
}
