/**
 * The admission webhook on the real kube-apiserver: our HTTPS server with a certificate from the stack's
 * PKI, registered as a ValidatingWebhookConfiguration, and `kubectl apply` (real and `--dry-run=server`) of
 * every refused case of the table, the admitted hosts and the upstream samples.
 *
 * The apiserver is shared with other test files, so the webhook is limited (namespaceSelector) to
 * namespaces carrying this run's label, and removed afterwards. Every manifest is first applied with
 * `--dry-run=server` in a namespace without the label (the control): what the CRD schema alone accepts
 * there must be refused by the webhook with our message; what the schema refuses first is allowed only
 * for cases that say why (v0.14 fields the installed v0.13 CRD lacks, Kubernetes' own name rules).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMITTED, ADMITTED_NAMESPACE, bmh, REFUSED, statusOf, type Manifest, type RefusedCase } from './cases.fixture.ts';
import { RULES, type RuleId } from './rules.ts';
import { makeLocalWebhookCertificates } from './local-certs.ts';
import { registerAdmissionWebhook, unregisterAdmissionWebhook, WEBHOOK_NAME } from './register.ts';
import { startAdmissionServer, VALIDATE_BAREMETALHOST_PATH, type AdmissionServer } from './server.ts';
import { kubectlOutcome } from '../../test/kubectl.ts';
import { waitFor } from '../../test/wait.ts';
import { sharedStack } from '../../test/stack-info.ts';

const stack = sharedStack();
const token = `${process.pid}-${Date.now().toString(36)}`;
const LABEL = 'tempered.dev/admission-test';
const NS = ADMITTED_NAMESPACE;
const CONTROL_NS = 'admission-control';
const SAMPLE_NS = 'openshift-machine-api';
const CONFIGURATION = `tempered-admission-test-${token}`;
const DENIED = `admission webhook "${WEBHOOK_NAME}" denied the request`;
const SAMPLES = new URL('../../test/fixtures/metal3/samples/', import.meta.url);

/** The stack's kubectl as the admin; resolves with how it ended, a refusal included. */
const kubectl = (args: string[], input?: string) => kubectlOutcome(stack.kube, args, input);

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const result = await kubectl(args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** The host as a user would apply it, paused so that a bridge running for another test leaves it alone. */
function manifest(host: Manifest): string {
  const annotations = { ...host.metadata.annotations, 'baremetalhost.metal3.io/paused': 'admission-test' };
  return JSON.stringify({ ...host, metadata: { ...host.metadata, annotations } });
}

const apply = (namespace: string, body: string, dryRun: boolean) => kubectl(['apply', '-n', namespace, ...(dryRun ? ['--dry-run=server'] : []), '-f', '-'], body);

let server: AdmissionServer;
let certDir: string;
const kc = new k8s.KubeConfig();
/** Names the webhook admitted, from the server's own log: proof the apiserver asked us. */
const admitted: string[] = [];
/** How each rule was proven on the apiserver: refused by our webhook, or by the CRD schema before it. */
const proven = new Map<RuleId, Set<'webhook' | 'schema'>>();
const prove = (rule: RuleId, by: 'webhook' | 'schema') => proven.set(rule, (proven.get(rule) ?? new Set()).add(by));

beforeAll(async () => {
  kc.loadFromFile(stack.kube.kubeconfig);
  const namespace = (name: string, labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  const namespaces = [namespace(NS, { [LABEL]: token }), namespace(SAMPLE_NS, { [LABEL]: token }), namespace(CONTROL_NS, {})];
  await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }));

  certDir = mkdtempSync(join(tmpdir(), 'tempered-webhook-'));
  const certs = makeLocalWebhookCertificates(certDir);
  server = await startAdmissionServer({
    ...certs,
    logger: {
      debug: (fields, msg) => {
        if (msg === 'BareMetalHost admitted') admitted.push(`${String(fields.namespace)}/${String(fields.name)}`);
      },
      info: () => {},
      warn: () => {},
    },
  });
  await registerAdmissionWebhook(kc, {
    name: CONFIGURATION,
    clientConfig: { url: server.validateUrl, caBundle: server.caBundle },
    namespaceSelector: { matchLabels: { [LABEL]: token } },
  });

  // The apiserver picks up webhook configurations asynchronously: wait until it calls ours.
  const probe = manifest(bmh('07564256-96ae-4315-ab03-8d34ece60fbb'));
  let last = '';
  await waitFor(
    'the webhook to be active',
    async () => {
      const result = await apply(NS, probe, true);
      last = `${result.code} ${result.stderr}`;
      return result.stderr.includes(DENIED);
    },
    { timeoutMs: 30_000, intervalMs: 250, detail: () => `last answer: ${last}` },
  );
});

afterAll(async () => {
  await unregisterAdmissionWebhook(kc, CONFIGURATION);
  await server?.stop();
  for (const ns of [NS, SAMPLE_NS]) await kubectl(['delete', 'bmh', '--all', '-n', ns, '--wait=false', '--ignore-not-found']);
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('the webhook refuses each invalid BareMetalHost with BMO\'s message', () => {
  const creates = REFUSED.filter((c) => !c.before);

  it.concurrent.each(creates.map((c) => [c.scenario, c] as const))('%s', async (_, c: RefusedCase) => {
    const body = manifest(c.host);
    const control = await apply(CONTROL_NS, body, true);
    const dryRun = await apply(NS, body, true);
    const real = await apply(NS, body, false);
    if (control.code !== 0) {
      // The CRD schema (or Kubernetes' name rules) refused it before any webhook: only for cases that say so.
      expect(c.apiserverMayRefuse, `the apiserver refused "${c.scenario}" on its own: ${control.stderr}`).toBeDefined();
      expect(control.stderr).toMatch(/unknown field|Unsupported value|metadata.name: Invalid value/);
      for (const result of [dryRun, real]) {
        expect(result.code).not.toBe(0);
        expect(result.stderr).not.toContain(DENIED);
      }
      prove(c.rule, 'schema');
      return;
    }
    for (const result of [dryRun, real]) {
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(DENIED);
      expect(result.stderr).toContain(c.message);
    }
    prove(c.rule, 'webhook');
    const stored = await kubectl(['get', 'bmh', c.host.metadata.name, '-n', NS, '-o', 'name']);
    expect(stored.stderr).toContain('NotFound');
  });
});

describe('updates', () => {
  it.concurrent.each(REFUSED.filter((c) => c.before).map((c) => [c.scenario, c] as const))('%s', async (_, c: RefusedCase) => {
    const before = c.before;
    if (!before) throw new Error('update case without a before state');
    const name = before.host.metadata.name;
    await kubectlOk(['apply', '-n', NS, '-f', '-'], manifest(before.host));
    await kubectlOk(['patch', 'bmh', name, '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: before.status })]);
    for (const dryRun of [true, false]) {
      const result = await apply(NS, manifest(c.host), dryRun);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(DENIED);
      expect(result.stderr).toContain(c.message);
    }
    prove(c.rule, 'webhook');
    const stored = JSON.parse(await kubectlOk(['get', 'bmh', name, '-n', NS, '-o', 'json'])) as { spec: Record<string, unknown> };
    expect(stored.spec).toMatchObject(before.host.spec as Record<string, unknown>);
  });

  it('lets the BMC address change while registering, and once detached', async () => {
    const host = bmh('replace-bmc');
    const moved = (ip: string) => bmh('replace-bmc', { bmc: { address: `redfish-virtualmedia://${ip}/redfish/v1/Systems/1`, credentialsName: 'c' } });
    await kubectlOk(['apply', '-n', NS, '-f', '-'], manifest(host));
    const setStatus = (status: Record<string, unknown>) =>
      kubectlOk(['patch', 'bmh', 'replace-bmc', '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    await setStatus(statusOf('registering'));
    await kubectlOk(['apply', '-n', NS, '-f', '-'], manifest(moved('192.0.2.51')));
    await setStatus(statusOf('provisioned'));
    expect((await apply(NS, manifest(moved('192.0.2.52')), false)).stderr).toContain('BMC address can not be changed');
    await setStatus(statusOf('provisioned', 'detached'));
    await kubectlOk(['apply', '-n', NS, '-f', '-'], manifest(moved('192.0.2.52')));
    const stored = JSON.parse(await kubectlOk(['get', 'bmh', 'replace-bmc', '-n', NS, '-o', 'json'])) as { spec: { bmc: { address: string } } };
    expect(stored.spec.bmc.address).toBe('redfish-virtualmedia://192.0.2.52/redfish/v1/Systems/1');
  });

  it('lets a provisioned host\'s BMC address change with tempered.dev/replace-bmc in the same change, and only then (BMO #1458)', async () => {
    const name = 'replace-bmc-annotated';
    const REPLACE = 'tempered.dev/replace-bmc';
    const moved = (ip: string, annotations?: Record<string, string>) =>
      bmh(name, { bmc: { address: `redfish-virtualmedia://${ip}/redfish/v1/Systems/1`, credentialsName: 'c' } }, annotations);
    const stored = async () =>
      JSON.parse(await kubectlOk(['get', 'bmh', name, '-n', NS, '-o', 'json'])) as {
        metadata: { annotations?: Record<string, string> };
        spec: { bmc: { address: string } };
      };
    const admissions = () => admitted.filter((x) => x === `${NS}/${name}`).length;
    await kubectlOk(['apply', '-n', NS, '-f', '-'], manifest(bmh(name)));
    await kubectlOk(['patch', 'bmh', name, '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: statusOf('provisioned') })]);
    const original = (await stored()).spec.bmc.address;

    // Without the annotation: refused by our webhook, whose message names the annotation as the way out.
    for (const dryRun of [true, false]) {
      const result = await apply(NS, manifest(moved('192.0.2.61')), dryRun);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(DENIED);
      expect(result.stderr).toContain('BMC address can not be changed if the BMH is not in the Registering state, or if the BMH is not detached');
      expect(result.stderr).toContain(`set the ${REPLACE} annotation in the same change`);
    }
    expect((await stored()).spec.bmc.address).toBe(original);

    // With it, in the same change: the webhook is asked and admits it, the host stays provisioned.
    const before = admissions();
    for (const dryRun of [true, false]) {
      const result = await apply(NS, manifest(moved('192.0.2.61', { [REPLACE]: 'BMC board swapped' })), dryRun);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    expect(admissions()).toBe(before + 2);
    const replaced = await stored();
    expect(replaced.spec.bmc.address).toBe('redfish-virtualmedia://192.0.2.61/redfish/v1/Systems/1');
    expect(replaced.metadata.annotations?.[REPLACE]).toBe('BMC board swapped');

    // The annotation on the old object does not carry over: a further change that drops it is refused.
    const again = await apply(NS, manifest(moved('192.0.2.62')), false);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(DENIED);
    expect(again.stderr).toContain('BMC address can not be changed');
    expect((await stored()).spec.bmc.address).toBe('redfish-virtualmedia://192.0.2.61/redfish/v1/Systems/1');
  });
});

describe('coverage', () => {
  it('refused at least one object per rule on the apiserver, by the webhook wherever the CRD has the field', () => {
    const missing = (Object.keys(RULES) as RuleId[]).filter((rule) => !proven.has(rule));
    expect(missing).toEqual([]);
    const schemaOnly = [...proven].filter(([, by]) => !by.has('webhook')).map(([rule]) => rule);
    const mayBeSchemaOnly = new Set(REFUSED.filter((c) => c.apiserverMayRefuse).map((c) => c.rule));
    expect(schemaOnly.filter((rule) => !mayBeSchemaOnly.has(rule))).toEqual([]);
  });
});

describe('accepted BareMetalHosts', () => {
  it.concurrent.each(ADMITTED.map((c) => [c.scenario, c] as const))('%s', async (_, c) => {
    const body = manifest(c.host);
    const control = await apply(CONTROL_NS, body, true);
    if (control.code !== 0) {
      expect(c.apiserverMayRefuse, `the apiserver refused "${c.scenario}" on its own: ${control.stderr}`).toBeDefined();
      return;
    }
    const result = await apply(NS, body, true);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(admitted).toContain(`${NS}/${c.host.metadata.name}`);
  });

  it('admits the upstream samples as they are', async () => {
    const example = readFileSync(new URL('example-host.yaml', SAMPLES), 'utf8');
    await kubectlOk(['apply', '-n', NS, '-f', '-'], example);
    // worker-0's userData names openshift-machine-api, the namespace the sample was written for.
    const worker = readFileSync(new URL('worker-0.yaml', SAMPLES), 'utf8');
    await kubectlOk(['apply', '-n', SAMPLE_NS, '-f', '-'], worker);
    expect(admitted).toEqual(expect.arrayContaining([`${NS}/example-baremetalhost`, `${SAMPLE_NS}/worker-0`]));
    expect(await kubectlOk(['get', 'bmh', 'example-baremetalhost', '-n', NS, '-o', 'name'])).toContain('example-baremetalhost');
    expect(await kubectlOk(['get', 'bmh', 'worker-0', '-n', SAMPLE_NS, '-o', 'name'])).toContain('worker-0');
  });

  it('leaves the placeholder sample to the CRD schema, which refuses it', async () => {
    // config/samples' BareMetalHost has `foo: bar` and no `online`: invalid against upstream's own CRD.
    const sample = readFileSync(new URL('metal3.io_v1alpha1_baremetalhost.yaml', SAMPLES), 'utf8');
    const result = await kubectl(['apply', '-n', NS, '--dry-run=server', '-f', '-'], sample);
    expect(result.code).not.toBe(0);
    expect(result.stderr).not.toContain(DENIED);
  });
});

describe('the server', () => {
  function call(path: string, method: string, body?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${server.url}${path}`, { method, ca: readFileSync(join(certDir, 'webhook-ca.crt')), headers: { 'content-type': 'application/json' } }, (res) => {
        let data = '';
        res.on('data', (d: Buffer) => (data += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('serves health and refuses malformed requests without falling over', async () => {
    expect(await call('/healthz', 'GET')).toEqual({ status: 200, body: 'ok' });
    expect((await call(VALIDATE_BAREMETALHOST_PATH, 'GET')).status).toBe(405);
    expect((await call('/validate-something-else', 'POST', '{}')).status).toBe(404);
    expect((await call(VALIDATE_BAREMETALHOST_PATH, 'POST', '{not json')).status).toBe(400);
    expect((await call(VALIDATE_BAREMETALHOST_PATH, 'POST', JSON.stringify({ kind: 'AdmissionReview' }))).status).toBe(400);
    expect((await call(VALIDATE_BAREMETALHOST_PATH, 'POST', 'x'.repeat(9 * 1024 * 1024))).status).toBe(413);
    const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', operation: 'CREATE', kind: { group: 'metal3.io', kind: 'BareMetalHost' }, object: bmh('ok') } };
    const answer = await call(VALIDATE_BAREMETALHOST_PATH, 'POST', JSON.stringify(review));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u1', allowed: true } });
    expect(await call('/healthz', 'GET')).toEqual({ status: 200, body: 'ok' });
  });
});

describe('failure policy', () => {
  it('refuses BareMetalHost writes while the webhook does not answer (failurePolicy Fail)', async () => {
    await server.stop();
    const result = await apply(NS, manifest(bmh('while-down')), true);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`failed calling webhook "${WEBHOOK_NAME}"`);
  });
});
