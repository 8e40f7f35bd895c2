/**
 * What the dashboard and the alerts of deploy/components/prometheus query exists: the real worker and bridge
 * processes (encrypted, as production) drive hosts on sushy-tools through a lifecycle (registered, inspected,
 * provisioned with a live ISO, deprovisioned, deleted) and a registration error; then every process's
 * `/metrics` is scraped and every expression of the Grafana dashboard and of the PrometheusRule is checked
 * against what they serve: each metric it selects, each label it groups by, and each label its selectors match on
 * (deploy/promql.ts).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startEngine, type Engine } from '../stack/engine.ts';
import { startImageServer, type ImageServer } from '../stack/image-server.ts';
import { startSushy, type SushyEmulator } from '../stack/sushy.ts';
import { bmhClient } from '../test/bmh.ts';
import { unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import { missingFor, parseExposition, type MetricFamily } from './promql.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMPONENT = join(ROOT, 'deploy', 'components', 'prometheus');
const RUN = unique('metrics').slice(8);
const NS = `metrics-${RUN}`;
const PASSWORD = `Metrics-${RUN}-pw`;

const hosts = bmhClient(stack.kube.kubeconfig, NS);
let sushy: SushyEmulator;
let images: ImageServer;
let engine: Engine;
let families: Map<string, MetricFamily>;

/** Every `expr` of the dashboard's panels. */
function dashboardExprs(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(join(COMPONENT, 'grafana-dashboard.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
}

/** Every alert's `expr` of the PrometheusRule. */
function alertExprs(): { where: string; expr: string }[] {
  const rule = parseYaml(readFileSync(join(COMPONENT, 'prometheusrule.yaml'), 'utf8')) as {
    spec: { groups: { rules: { alert: string; expr: string }[] }[] };
  };
  return rule.spec.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })));
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-metrics-'));
  sushy = await startSushy({ stateDir: join(dir, 'sushy'), systems: 2, password: PASSWORD, progress: () => {} });
  images = await startImageServer({ '/live.iso': Buffer.alloc(256 * 1024, 3) });
  await hosts.createNamespace();
  engine = await startEngine({
    stateDir: join(dir, 'engine'),
    temporal: stack.temporal,
    kubeconfig: stack.kube.kubeconfig,
    hostTaskQueue: `hosts-${RUN}`,
    bridgeTaskQueue: `bridge-${RUN}`,
    watchNamespaces: [NS],
    leaseName: 'tempered-bridge',
    encryption: 'generate',
  });
  const address = (i: number) => `redfish-virtualmedia+http://127.0.0.1:${sushy.port}${sushy.systems[i]?.path}`;
  await hosts.secret('good', sushy.username, PASSWORD);
  await hosts.secret('bad', sushy.username, 'not-the-password');
  // These BMCs boot no deploy agent: automated cleaning is off (the agent's tests run it).
  await hosts.create('host-0', {
    automatedCleaningMode: 'disabled',
    online: false,
    bootMACAddress: sushy.systems[0]?.mac,
    bmc: { address: address(0), credentialsName: 'good' },
  });
  await hosts.create('host-1', {
    automatedCleaningMode: 'disabled',
    online: false,
    bmc: { address: address(1), credentialsName: 'bad' },
  });
  await hosts.inState('host-0', 'available');
  await hosts.patchSpec('host-0', { online: true, image: { url: images.url('/live.iso'), format: 'live-iso' } });
  await hosts.inState('host-0', 'provisioned', (h) => h.status?.poweredOn === true);
  await hosts.patchSpec('host-0', { image: null });
  await hosts.inState('host-0', 'available');
  await hosts.inState('host-1', 'registering', (h) => h.status?.operationalStatus === 'error');
  await hosts.delete('host-0');
  await hosts.gone('host-0');
  // The bridge's scrape sees the hosts it leads for; the worker's the SDK's metrics of the work done.
  const processes = [engine.worker(), ...engine.bridges()];
  const pages = await Promise.all(processes.map((p) => scrape(p.metricsUrl() as string)));
  families = parseExposition(pages.join('\n'));
});

afterAll(async () => {
  await engine?.stop();
  await images?.stop();
  await sushy?.stop();
});

const samples = (name: string) => families.get(name)?.samples ?? [];

describe('metrics the dashboard and the alerts query', () => {
  it('every panel of the Grafana dashboard queries metrics and labels the processes serve', () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(30);
    const problems = exprs.flatMap(({ where, expr }) => missingFor(expr, families).map((p) => `${where}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('every alert of the PrometheusRule queries metrics and labels the processes serve', () => {
    const exprs = alertExprs();
    expect(exprs.map((e) => e.where)).toEqual(
      expect.arrayContaining([
        'alert TemperedHostStuckInState',
        'alert TemperedBridgeLeaderMissing',
        'alert TemperedStatusLagHigh',
      ]),
    );
    const problems = exprs.flatMap(({ where, expr }) => missingFor(expr, families).map((p) => `${where}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('the lifecycle shows in them: states, operations, BMC calls and errors, status lag, leader, the SDK', () => {
    const changes = samples('metal3_provisioning_state_change_total').map(
      (s) => `${s.labels['prev_state']}>${s.labels['new_state']}`,
    );
    expect(changes).toEqual(
      expect.arrayContaining(['registering>inspecting', 'available>provisioning', 'provisioning>provisioned']),
    );
    expect(samples('metal3_host_error_total').map((s) => s.labels['error_type'])).toContain('RegistrationError');
    expect(samples('metal3_operation_provision_duration_seconds').length).toBeGreaterThan(0);
    const operations = samples('tempered_operation_duration_seconds').map(
      (s) => `${s.labels['operation']}:${s.labels['result']}`,
    );
    expect(operations).toEqual(expect.arrayContaining(['register:ok', 'provision:ok', 'register:BmcAuthFailed']));
    const errors = samples('tempered_bmc_errors_total').map((s) => `${s.labels['call']}:${s.labels['code']}`);
    expect(errors).toContain('registerBmc:BmcAuthFailed');
    expect(samples('tempered_bmc_call_duration_seconds').some((s) => s.labels['protocol'] === 'redfish')).toBe(true);
    expect(
      samples('tempered_status_lag_seconds').find((s) => s.name === 'tempered_status_lag_seconds_count'),
    ).toBeDefined();
    expect(samples('leader_election_master_status').map((s) => [s.labels, s.value])).toEqual([
      [{ name: 'tempered-bridge' }, 1],
    ]);
    expect(samples('tempered_hosts').map((s) => s.labels['provisioning_state'])).toContain('registering');
    expect(samples('rest_client_requests_total').map((s) => `${s.labels['method']} ${s.labels['code']}`)).toEqual(
      expect.arrayContaining(['GET 200', 'PATCH 200']),
    );
    expect(samples('temporal_workflow_completed').length).toBeGreaterThan(0);
  });

  it("one scrape per process carries both its own and the Temporal SDK's metrics", async () => {
    const worker = parseExposition(await scrape(engine.worker().metricsUrl() as string));
    expect(worker.has('process_resident_memory_bytes')).toBe(true);
    expect(worker.has('tempered_bmc_call_duration_seconds')).toBe(true);
    expect(worker.has('temporal_workflow_task_schedule_to_start_latency')).toBe(true);
    const bridge = parseExposition(await scrape(engine.bridges()[0]?.metricsUrl() as string));
    expect(bridge.has('workqueue_depth')).toBe(true);
    expect(bridge.has('temporal_activity_schedule_to_start_latency')).toBe(true);
    await waitFor('the leader reporting itself', async () => {
      const page = parseExposition(await scrape(engine.bridges()[0]?.metricsUrl() as string));
      return page.get('leader_election_master_status')?.samples.length === 1;
    });
  });
});
