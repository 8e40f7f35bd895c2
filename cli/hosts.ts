/**
 * `tempered hosts [-n NS] [--watch] [--json]`: every BareMetalHost with what an operator asks first: its
 * state and operational status (the object's status, as `kubectl get bmh` has them), the operation running
 * now and since when (the host's running operation child in Temporal), its error, its power. A table for
 * people; `--json` for scripts. `--watch` keeps going: the table again on each change (a line per changed host
 * when stdout is not a terminal; JSON lines with `--json`), until Ctrl-C.
 */
import * as k8s from '@kubernetes/client-node';
import { parseArgs } from 'node:util';
import { createKube } from '../bridge/kube.ts';
import { METAL3_GROUP, METAL3_VERSION } from '../domain/names.ts';
import { humanDuration, isUsageError, kubeConfig, openTemporal, table, type CliTemporal } from './connect.ts';
import { whereOf } from './timeline.ts';

export const usage = [
  'usage: tempered hosts [-n NAMESPACE] [--watch] [--json] [--kubeconfig FILE]',
  '',
  'Lists BareMetalHosts (all namespaces unless -n): state, operational status, the running operation and since',
  'when, error, power. --watch shows changes as they happen, until Ctrl-C.',
].join('\n');

/** One host as `tempered hosts` shows it. */
export interface HostRow {
  namespace: string;
  name: string;
  state: string;
  operationalStatus: string;
  /** The operation child running now, if any, and when it started. */
  operation: { name: string; workflowId: string; startedAt: string } | null;
  poweredOn: boolean | null;
  errorType: string;
  errorMessage: string;
  errorCount: number;
}

interface HostObject {
  metadata: { namespace?: string; name?: string; resourceVersion?: string };
  status?: {
    provisioning?: { state?: string };
    operationalStatus?: string;
    poweredOn?: boolean;
    errorType?: string;
    errorMessage?: string;
    errorCount?: number;
  };
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/** Running operation children, by host key: one visibility query for all hosts (or one namespace's). */
async function runningOperations(
  temporal: CliTemporal,
  namespace: string | undefined,
): Promise<Map<string, HostRow['operation']>> {
  const prefix = namespace ? `bmh/${namespace}/` : 'bmh/';
  const running = new Map<string, HostRow['operation']>();
  const query = `WorkflowId STARTS_WITH "${prefix}" AND ExecutionStatus = "Running"`;
  for await (const execution of temporal.client.workflow.list({ query })) {
    const parts = execution.workflowId.split('/');
    if (parts.length < 5) continue; // the host workflow itself
    const [, ns = '', name = ''] = parts;
    const operation = whereOf(execution.workflowId).split('/')[0] ?? '';
    running.set(key(ns, name), {
      name: operation,
      workflowId: execution.workflowId,
      startedAt: execution.startTime.toISOString(),
    });
  }
  return running;
}

export function rowOf(host: HostObject, operation: HostRow['operation'] | undefined): HostRow {
  const s = host.status ?? {};
  return {
    namespace: host.metadata.namespace ?? '',
    name: host.metadata.name ?? '',
    state: s.provisioning?.state ?? '',
    operationalStatus: s.operationalStatus ?? '',
    operation: operation ?? null,
    poweredOn: typeof s.poweredOn === 'boolean' ? s.poweredOn : null,
    errorType: s.errorType ?? '',
    errorMessage: s.errorMessage ?? '',
    errorCount: s.errorCount ?? 0,
  };
}

/** The table people read; long errors are cut (`--json` has them whole). */
export function hostsTable(rows: HostRow[], now = Date.now()): string {
  const cells = rows.map((r) => [
    r.namespace,
    r.name,
    r.state || '-',
    r.operationalStatus || '-',
    r.operation ? `${r.operation.name} (${humanDuration(now - Date.parse(r.operation.startedAt))})` : '-',
    r.poweredOn === null ? '-' : r.poweredOn ? 'on' : 'off',
    r.errorType
      ? `${r.errorType}: ${r.errorMessage.length > 70 ? `${r.errorMessage.slice(0, 69)}…` : r.errorMessage}`
      : '',
  ]);
  return table(['NAMESPACE', 'NAME', 'STATE', 'STATUS', 'OPERATION (FOR)', 'POWER', 'ERROR'], cells);
}

/** Entry point of `tempered hosts`. */
export async function run(args: string[]): Promise<number> {
  let temporal: CliTemporal | undefined;
  try {
    const { values } = parseArgs({
      args,
      options: {
        namespace: { type: 'string', short: 'n' },
        watch: { type: 'boolean', short: 'w', default: false },
        json: { type: 'boolean', default: false },
        kubeconfig: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help) return console.log(usage), 0;
    const namespace = values.namespace;
    const kc = kubeConfig(values.kubeconfig);
    // The bridge's client: pages through long lists, retries what the apiserver asks to retry (429 with
    // Retry-After, as while its storage initialises; 5xx), within a small request budget.
    const retry = { attempts: 10, baseMs: 200, maxMs: 5000 };
    const hostList = createKube({ kubeConfig: kc, qps: 5, burst: 10, retry }).hosts.listWatch(namespace);
    temporal = await openTemporal();
    const t = temporal;
    const list = async (): Promise<{ hosts: HostObject[]; resourceVersion: string }> => {
      const { items, resourceVersion } = await hostList.list();
      return { hosts: items as HostObject[], resourceVersion };
    };
    const sorted = (rows: HostRow[]) =>
      rows.sort((a, b) => key(a.namespace, a.name).localeCompare(key(b.namespace, b.name)));
    const { hosts, resourceVersion } = await list();
    const operations = await runningOperations(t, namespace);
    const rows = new Map(
      hosts.map((h) => [
        key(h.metadata.namespace ?? '', h.metadata.name ?? ''),
        rowOf(h, operations.get(key(h.metadata.namespace ?? '', h.metadata.name ?? ''))),
      ]),
    );
    if (values.json && !values.watch) console.log(JSON.stringify(sorted([...rows.values()]), null, 2));
    else if (values.json) for (const row of sorted([...rows.values()])) console.log(JSON.stringify(row));
    else
      console.log(
        rows.size === 0
          ? `no BareMetalHosts${namespace ? ` in ${namespace}` : ''}`
          : hostsTable(sorted([...rows.values()])),
      );
    if (!values.watch) return 0;
    return await watch({ kc, namespace, resourceVersion, hosts, rows, temporal: t, json: values.json });
  } catch (error) {
    if (isUsageError(error)) {
      console.error(`tempered hosts: ${(error as Error).message}\n\n${usage}`);
      return 2;
    }
    console.error(`tempered hosts: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await temporal?.close();
  }
}

/**
 * Follows the BareMetalHosts (a Kubernetes watch) and the running operations (a visibility query every few
 * seconds), showing each host whose row changed; ends on SIGINT/SIGTERM.
 */
async function watch(options: {
  kc: k8s.KubeConfig;
  namespace: string | undefined;
  resourceVersion: string;
  hosts: HostObject[];
  rows: Map<string, HostRow>;
  temporal: CliTemporal;
  json: boolean;
}): Promise<number> {
  const { rows, temporal, namespace, json } = options;
  const redraw = process.stdout.isTTY && !json;
  const objectsByKey = new Map(options.hosts.map((h) => [key(h.metadata.namespace ?? '', h.metadata.name ?? ''), h]));
  let operations = await runningOperations(temporal, namespace);
  const show = (changed: HostRow[]) => {
    if (changed.length === 0) return;
    if (redraw) {
      process.stdout.write('\x1b[2J\x1b[H');
      console.log(`${new Date().toISOString()}  (Ctrl-C to stop)\n`);
      console.log(
        hostsTable([...rows.values()].sort((a, b) => key(a.namespace, a.name).localeCompare(key(b.namespace, b.name)))),
      );
      return;
    }
    for (const row of changed)
      console.log(json ? JSON.stringify(row) : `${new Date().toISOString()}  ${hostsTable([row]).split('\n')[1]}`);
  };
  const update = (k: string, row: HostRow | undefined): HostRow[] => {
    const before = rows.get(k);
    if (!row) {
      rows.delete(k);
      return before ? [{ ...before, state: 'deleted', operation: null }] : [];
    }
    if (before && JSON.stringify(before) === JSON.stringify(row)) return [];
    rows.set(k, row);
    return [row];
  };
  const path = namespace
    ? `/apis/${METAL3_GROUP}/${METAL3_VERSION}/namespaces/${namespace}/baremetalhosts`
    : `/apis/${METAL3_GROUP}/${METAL3_VERSION}/baremetalhosts`;
  let resourceVersion = options.resourceVersion;
  let stopped = false;
  let request: AbortController | undefined;
  const done = new Promise<void>((resolve) => {
    const stop = () => {
      stopped = true;
      request?.abort();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const start = async (): Promise<void> => {
    if (stopped) return;
    request = await new k8s.Watch(options.kc).watch(
      path,
      { resourceVersion, allowWatchBookmarks: true },
      (type: string, object: HostObject) => {
        if (object.metadata.resourceVersion) resourceVersion = object.metadata.resourceVersion;
        if (type === 'BOOKMARK') return;
        const k = key(object.metadata.namespace ?? '', object.metadata.name ?? '');
        if (type === 'DELETED') objectsByKey.delete(k);
        else objectsByKey.set(k, object);
        show(update(k, type === 'DELETED' ? undefined : rowOf(object, operations.get(k))));
      },
      () => {
        // The server ends watches now and then: go on from where it stopped.
        if (!stopped) setTimeout(() => void start().catch(() => {}), 500);
      },
    );
  };
  await start();
  // Operations start and end without the object changing: look at them every few seconds.
  const poll = setInterval(() => {
    void runningOperations(temporal, namespace).then(
      (next) => {
        operations = next;
        const changed: HostRow[] = [];
        for (const [k, row] of rows) {
          const object = objectsByKey.get(k);
          const fresh = object ? rowOf(object, next.get(k)) : { ...row, operation: next.get(k) ?? null };
          changed.push(...update(k, fresh));
        }
        show(changed);
      },
      () => {},
    );
  }, 3000);
  await done;
  clearInterval(poll);
  return 0;
}
