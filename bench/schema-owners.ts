/**
 * The owners of one FirmwareSchema that a fleet of one model shares, written by the bridge's SchemaOwners
 * (bridge/schema-owners.ts) against a real kube-apiserver and etcd: N HostFirmwareSettings arrive at a steady
 * rate, each wanting to be an owner. Printed per rest policy: patches, the apiserver's and etcd's CPU seconds,
 * wall time, and the owner lag (arrival -> owner written) p50/p99.
 *
 *   npm run bench -- schema-owners [--owners 2000] [--per-second 20] [--policy paced,eager]
 *
 * `paced` is the bridge's rest (`restAfter`); `eager` writes again as soon as the last patch returned, as the
 * bridge did before (one patch at a time, with every owner that arrived meanwhile). Each policy gets a fresh
 * apiserver. Loopback only; ends by itself.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createKube, loadKubeConfig } from '../bridge/kube.ts';
import type { HfsObject, SchemaObject } from '../bridge/firmware-status.ts';
import { objectKey } from '../bridge/objects.ts';
import { restAfter, SchemaOwners } from '../bridge/schema-owners.ts';
import { PROJECT_CRD_DIR } from '../stack/index.ts';
import { startKube } from '../stack/kube.ts';
import { percentile } from './measure.ts';
import { recordResult } from './results.ts';

const NS = 'bench';
const SCHEMA = 'schema-bench';
const POLICIES: Record<string, ((tookMs: number) => number) | undefined> = { paced: restAfter, eager: () => 0 };

/** CPU seconds (user + system) of one process. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function runPolicy(policy: string, owners: number, perSecond: number) {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-bench-schema-'));
  const kube = await startKube({ stateDir: dir, crdDirs: [PROJECT_CRD_DIR], progress: () => {} });
  try {
    const client = createKube({ kubeConfig: loadKubeConfig(kube.kubeconfig), qps: 1000, burst: 1000 });
    await kube.kubectlRun(['create', 'namespace', NS]);
    let schema = (await client.firmwareSchemas.create(NS, {
      apiVersion: 'metal3.io/v1alpha1',
      kind: 'FirmwareSchema',
      metadata: { name: SCHEMA, namespace: NS },
      spec: { schema: { BootMode: { attribute_type: 'Enumeration', allowable_values: ['Uefi', 'Bios'] } } },
    })) as SchemaObject;
    const wantedAt = new Map<string, number>();
    const lags: number[] = [];
    let patches = 0;
    const settings = new Map<string, HfsObject>();
    const abort = new AbortController();
    const keeper = new SchemaOwners({
      kube: client,
      schemas: {
        get: (key) => (key === objectKey(NS, SCHEMA) ? schema : undefined),
        wrote: (written) => {
          patches += 1;
          const at = performance.now();
          for (const o of written.metadata.ownerReferences ?? []) {
            const since = wantedAt.get(o.uid);
            if (since !== undefined) {
              lags.push((at - since) / 1000);
              wantedAt.delete(o.uid);
            }
          }
          schema = written;
        },
      },
      hfs: { get: (key) => settings.get(key) },
      logger: pino({ level: 'warn' }),
      signal: abort.signal,
      ...(POLICIES[policy] ? { rest: POLICIES[policy] } : {}),
    });
    const pids = kube.processes().map((p) => p.pid);
    const before = pids.map(cpuSeconds);
    const started = performance.now();
    // Arrivals at a steady rate, in ticks of 100 ms.
    for (let i = 0; i < owners; ) {
      const due = Math.min(owners, Math.floor(((performance.now() - started) / 1000) * perSecond) + 1);
      for (; i < due; i++) {
        const name = `host-${String(i).padStart(5, '0')}`;
        const hfs: HfsObject = { metadata: { name, namespace: NS, uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` }, spec: { settings: {} }, status: { settings: {}, schema: { name: SCHEMA, namespace: NS } } };
        settings.set(objectKey(NS, name), hfs);
        wantedAt.set(hfs.metadata.uid ?? '', performance.now());
        keeper.want(hfs);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await keeper.idle();
    const seconds = (performance.now() - started) / 1000;
    const [etcd, apiserver] = pids.map((pid, i) => cpuSeconds(pid) - (before[i] ?? 0));
    abort.abort();
    const sorted = [...lags].sort((a, b) => a - b);
    return {
      policy,
      owners,
      perSecond,
      written: (schema.metadata.ownerReferences ?? []).length,
      patches,
      seconds: Number(seconds.toFixed(1)),
      apiserverCpuSeconds: Number((apiserver ?? 0).toFixed(1)),
      etcdCpuSeconds: Number((etcd ?? 0).toFixed(1)),
      ownerLagSeconds: { p50: Number(percentile(sorted, 50).toFixed(2)), p99: Number(percentile(sorted, 99).toFixed(2)), max: Number((sorted.at(-1) ?? 0).toFixed(2)) },
    };
  } finally {
    await kube.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(args: string[]): Promise<unknown> {
  const { values } = parseArgs({ args, options: { owners: { type: 'string', default: '2000' }, 'per-second': { type: 'string', default: '20' }, policy: { type: 'string', default: 'paced,eager' } } });
  const owners = Number(values.owners);
  const perSecond = Number(values['per-second']);
  const results = [];
  for (const policy of String(values.policy).split(',')) {
    if (!(policy in POLICIES)) throw new Error(`unknown policy '${policy}'; known: ${Object.keys(POLICIES).join(', ')}`);
    const r = await runPolicy(policy, owners, perSecond);
    console.log(
      `${policy.padEnd(6)} ${r.written}/${owners} owners at ${perSecond}/s: ${r.patches} patches in ${r.seconds} s; apiserver ${r.apiserverCpuSeconds} CPU-s, etcd ${r.etcdCpuSeconds} CPU-s; owner lag p50 ${r.ownerLagSeconds.p50} s, p99 ${r.ownerLagSeconds.p99} s`,
    );
    results.push(r);
  }
  console.log(`written to ${recordResult('schema-owners', { results })}`);
  return results;
}
