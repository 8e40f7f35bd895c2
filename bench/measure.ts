/**
 * What the benchmarks measure with, from the outside of the processes they measure: CPU seconds and peak
 * RSS from /proc (a whole process group, so PostgreSQL's backends and a server's children count), and
 * Prometheus text from the servers' own metrics endpoints (Temporal's tasks, the apiserver's requests),
 * never from Tempered's logs.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';

const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function statFields(pid: number | string): string[] | undefined {
  try {
    // The command name may hold spaces and parentheses: fields start after the last ') '.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) of process group `pgid` and every live descendant of it (PostgreSQL's backends
 * make sessions of their own), with the CPU of the children they have reaped (a postmaster's finished
 * backends). A process that died unreaped is not counted.
 */
export function groupCpuSeconds(pgid: number): number {
  const procs = new Map<number, { ppid: number; pgrp: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(entry);
    // After the command: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14).
    if (!f) continue;
    procs.set(Number(entry), { ppid: Number(f[1]), pgrp: Number(f[2]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
  }
  const members = new Set([...procs].filter(([, p]) => p.pgrp === pgid).map(([pid]) => pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!members.has(pid) && members.has(p.ppid)) {
        members.add(pid);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const pid of members) ticks += procs.get(pid)?.ticks ?? 0;
  return ticks / TICKS;
}

/** A memory figure of /proc/<pid>/status (VmHWM, VmRSS...) in MiB; 0 when the process is gone. */
function statusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Peak resident set size (VmHWM) of a process, in MiB; 0 when it is gone. */
export const peakRssMiB = (pid: number): number => statusMiB(pid, 'VmHWM');

/** Resident set size (VmRSS) of a process now, in MiB; 0 when it is gone. */
export const rssMiB = (pid: number): number => statusMiB(pid, 'VmRSS');


/** Least-squares slope of `y` over `x` (0 for fewer than two points). */
export function slope(points: readonly { x: number; y: number }[]): number {
  if (points.length < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / points.length;
  const my = points.reduce((s, p) => s + p.y, 0) / points.length;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
}

/** The p-th percentile (nearest rank) of `values`; 0 for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (what Temporal and the apiserver serve). */
export function parsePrometheus(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const l of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sums the samples named `name` whose labels match `where`, grouped by the `by` labels joined with '/'. */
export function sumBy(samples: MetricSample[], name: string, by: string[], where: (labels: Record<string, string>) => boolean = () => true): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name || !where(s.labels)) continue;
    const key = by.map((b) => s.labels[b] ?? '').join('/');
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/**
 * The q-quantile (0..1) of a Prometheus histogram from its cumulative buckets (upper bound `le` -> count), found
 * as PromQL's histogram_quantile finds it: linearly within the bucket it falls in; the highest finite bound when
 * it falls in +Inf; 0 with no observations.
 */
export function histogramQuantile(q: number, buckets: Map<string, number>): number {
  const sorted = [...buckets].map(([le, count]) => ({ le: le === '+Inf' ? Infinity : Number(le), count })).sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total === 0) return 0;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const { le, count } of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return count === below ? le : lower + ((le - lower) * (rank - below)) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

/** One reading of a Prometheus histogram family, grouped by the `by` labels joined with '/'. */
export interface HistogramReading {
  /** Per key: cumulative count by upper bound (`le`). */
  buckets: Map<string, Map<string, number>>;
  sum: Map<string, number>;
  count: Map<string, number>;
}

/** Reads histogram `name` (its _bucket, _sum and _count samples) grouped by the `by` labels. */
export function histogramReading(samples: MetricSample[], name: string, by: string[], where: (labels: Record<string, string>) => boolean = () => true): HistogramReading {
  const buckets = new Map<string, Map<string, number>>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !where(s.labels)) continue;
    const key = by.map((b) => s.labels[b] ?? '').join('/');
    const les = buckets.get(key) ?? new Map<string, number>();
    const le = s.labels['le'] ?? '+Inf';
    les.set(le, (les.get(le) ?? 0) + s.value);
    buckets.set(key, les);
  }
  return { buckets, sum: sumBy(samples, `${name}_sum`, by, where), count: sumBy(samples, `${name}_count`, by, where) };
}

/**
 * What was observed between two readings, per key with observations, and over all keys as 'all': how many, the
 * mean and the p99 (histogramQuantile's estimate).
 */
export function histogramChange(before: HistogramReading, after: HistogramReading): Record<string, { count: number; mean: number; p99: number }> {
  const out: Record<string, { count: number; mean: number; p99: number }> = {};
  const all = new Map<string, number>();
  let allCount = 0;
  let allSum = 0;
  for (const [key, les] of after.buckets) {
    const count = (after.count.get(key) ?? 0) - (before.count.get(key) ?? 0);
    if (count <= 0) continue;
    const sum = (after.sum.get(key) ?? 0) - (before.sum.get(key) ?? 0);
    const change = difference(before.buckets.get(key) ?? new Map(), les);
    for (const [le, v] of change) all.set(le, (all.get(le) ?? 0) + v);
    allCount += count;
    allSum += sum;
    out[key] = { count, mean: sum / count, p99: histogramQuantile(0.99, change) };
  }
  out['all'] = { count: allCount, mean: allCount ? allSum / allCount : 0, p99: histogramQuantile(0.99, all) };
  return out;
}

/** `after - before` for every key (keys only in `after` count from 0). */
export function difference(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  return new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
}

/** Fetches a plain-HTTP metrics endpoint. */
export async function scrape(url: string): Promise<MetricSample[]> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return parsePrometheus(await res.text());
}

/** Fetches the apiserver's /metrics with the admin client certificate of the local stack. */
export function scrapeApiserver(server: string, tls: { ca: string; cert: string; key: string }): Promise<MetricSample[]> {
  return new Promise((resolve, reject) => {
    const req = request(`${server}/metrics`, { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(parsePrometheus(body)) : reject(new Error(`apiserver /metrics: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** CPU seconds of a process's threads, summed by thread name (`node`, `tokio-runtime-w`, `V8 Worker`...). */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const f = text.slice(text.lastIndexOf(') ') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / TICKS);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}
