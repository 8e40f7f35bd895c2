/**
 * How fast this machine is at the moment of a run: a fixed piece of CPU work (the JSON, string and hashing
 * work a controller does on a BareMetalHost, always the same) timed in a fresh Node process, as CPU
 * milliseconds, read before and after a run. On the shared VM these benchmarks run on, per-host CPU figures
 * drift by tens of percent within an hour with no change of code. This reading tells whether one core's raw
 * speed moved with them: if it did, the runs are not comparable; if it did not (as on 2026-12-07, 20-21 ms in
 * most readings while the 50-host engine figure went from 0.26 to 0.37 CPU-s), the drift lies in what a single
 * thread does not see (wake-ups, caches, the hypervisor), and only runs alternated back to back compare. It is
 * a reading, not a correction.
 *
 * Change the workload and the readings stop being comparable: bump `REFERENCE_WORKLOAD` when doing so.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** The workload's version, recorded with every reading. */
export const REFERENCE_WORKLOAD = 1;

/**
 * The workload, as a script for `node -e` (its argument: how many rounds to time): a few warm-up rounds, then
 * the timed rounds of the same work (JSON of a BareMetalHost, a regular expression, SHA-256: built-ins, so the
 * JIT's choices barely move it), each in CPU time; prints the rounds. The fastest of many short rounds in one
 * warm process is steady (within a few percent from one reading to the next here) where one long cold run is not.
 */
const SCRIPT = String.raw`
const { createHash } = require('node:crypto');
const nics = Array.from({ length: 8 }, (_, i) => ({ name: 'eth' + i, mac: '52:54:00:00:00:0' + i, ip: '10.0.0.' + i, speedGbps: 25 }));
const storage = Array.from({ length: 8 }, (_, i) => ({ name: '/dev/sd' + 'abcdefgh'[i], sizeBytes: 960197124096, model: 'SSD', serialNumber: 'S' + i, rotational: false }));
const host = {
  apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost',
  metadata: { name: 'host-0', namespace: 'metal3', labels: { rack: 'r1' }, annotations: {} },
  spec: { bmc: { address: 'redfish+http://127.0.0.1:8000/redfish/v1/Systems/0', credentialsName: 'bmc-0' }, bootMACAddress: '52:54:00:00:00:00', online: true },
  status: { provisioning: { state: 'provisioned' }, hardware: { nics, storage, cpu: { arch: 'x86_64', count: 64 }, ramMebibytes: 262144 } },
};
const block = Buffer.alloc(1 << 20, 7);
let check = 0;
const round = () => {
  const start = process.cpuUsage();
  for (let i = 0; i < 1000; i++) {
    host.metadata.name = 'host-' + i;
    const text = JSON.stringify(host);
    const copy = JSON.parse(text);
    check += copy.status.hardware.nics.length + text.replace(/[0-9]/g, '').length;
  }
  for (let k = 0; k < 8; k++) check += createHash('sha256').update(block).digest()[0];
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};
for (let i = 0; i < 8; i++) round();
const rounds = [];
const count = Number(process.argv[1]);
for (let i = 0; i < count; i++) rounds.push(round());
process.stdout.write(JSON.stringify({ rounds, check }));
`;

/** Timed rounds per reading. */
const ROUNDS = 21;

export interface MachineReading {
  /** The fastest round's CPU milliseconds, the steadiest figure (larger is a slower machine). */
  cpuMs: number;
  /** The median and slowest rounds: how steady the machine was while the reading ran. */
  medianMs: number;
  maxMs: number;
  workload: number;
}

/** Runs the workload once in a fresh process (about a second here). */
export async function machineReference(): Promise<MachineReading> {
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, ['-e', SCRIPT, String(ROUNDS)], { timeout: 60_000 });
  const rounds = (JSON.parse(stdout) as { rounds: number[] }).rounds.sort((a, b) => a - b);
  const tenth = (value: number | undefined) => Math.round((value ?? 0) * 10) / 10;
  return {
    cpuMs: tenth(rounds[0]),
    medianMs: tenth(rounds[Math.floor(rounds.length / 2)]),
    maxMs: tenth(rounds.at(-1)),
    workload: REFERENCE_WORKLOAD,
  };
}

/** One line for a benchmark's output. */
export function describeReading(r: MachineReading): string {
  return `${r.cpuMs} ms (median ${r.medianMs}, slowest ${r.maxMs})`;
}
