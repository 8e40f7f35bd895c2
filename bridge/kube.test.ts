import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeError, createKube, isConflict, isNotFound, toKubeError } from './kube.ts';

/** A scripted HTTP apiserver: each request gets the next answer. */
async function fakeApiserver(answers: ((req: IncomingMessage, res: ServerResponse) => void)[]): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const answer = answers.shift() ?? ((_q, r) => r.writeHead(500).end());
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}
const json = (code: number, body: unknown, headers: Record<string, string> = {}) => (_q: IncomingMessage, r: ServerResponse) =>
  r.writeHead(code, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
const status = (code: number, reason: string, message: string) => json(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });
const host = { apiVersion: 'metal3.io/v1alpha1', kind: 'BareMetalHost', metadata: { name: 'h', namespace: 'ns', resourceVersion: '5' } };

function kubeFor(url: string, retry = { attempts: 3, baseMs: 5, maxMs: 50 }, onRetry?: Parameters<typeof createKube>[0]['onRetry'], more: Partial<Parameters<typeof createKube>[0]> = {}) {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token-never-logged' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  });
  return createKube({ kubeConfig: kc, qps: 0, burst: 1, retry, onRetry, ...more });
}

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

describe('createKube against a scripted apiserver', () => {
  it('retries 503 and 429 (honouring Retry-After) and then succeeds', async () => {
    const tooMany = (q: IncomingMessage, r: ServerResponse) => json(429, { kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'slow down' }, { 'retry-after': '1' })(q, r);
    const fake = await fakeApiserver([status(503, 'ServiceUnavailable', 'etcd leader changed'), tooMany, json(200, host)]);
    server = fake.server;
    const retries: { code: number; delayMs: number }[] = [];
    const kube = kubeFor(fake.url, { attempts: 3, baseMs: 5, maxMs: 50 }, (_w, e, _a, delayMs) => retries.push({ code: e.code, delayMs }));
    const got = await kube.hosts.get('ns', 'h');
    expect(got?.metadata.name).toBe('h');
    // Backoff for the 503; Retry-After (1 s, capped at maxMs) for the 429.
    expect(retries).toEqual([{ code: 503, delayMs: 5 }, { code: 429, delayMs: 50 }]);
    expect(kube.counters).toMatchObject({ reads: 3, retries: 2 });
  });

  it("tells how long each request waited for the budget, as client-go's rate limiter latency", async () => {
    const fake = await fakeApiserver([json(200, host), json(200, host), json(200, host)]);
    server = fake.server;
    let now = 0;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    const waits: [string, number, string][] = [];
    const kube = kubeFor(fake.url, undefined, undefined, { qps: 4, burst: 2, clock, onRateLimited: (method, seconds, apiHost) => waits.push([method, seconds, apiHost]) });
    await kube.hosts.get('ns', 'h');
    await kube.hosts.patchStatus('ns', 'h', { status: {} });
    await kube.hosts.get('ns', 'h'); // the burst of 2 is spent: a quarter second for the next token
    const apiHost = new URL(fake.url).host;
    expect(waits).toEqual([['GET', 0, apiHost], ['PATCH', 0, apiHost], ['GET', 0.25, apiHost]]);
  });

  it('gives up after the retries with a retryable KubeError', async () => {
    const fake = await fakeApiserver(Array.from({ length: 4 }, () => status(500, 'InternalError', 'boom')));
    server = fake.server;
    const error = await kubeFor(fake.url).hosts.get('ns', 'h').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeError);
    expect(error).toMatchObject({ code: 500, reason: 'InternalError', retryable: true });
    expect(fake.requests).toHaveLength(4);
  });

  it('maps 404 to undefined and does not retry 4xx', async () => {
    const fake = await fakeApiserver([status(404, 'NotFound', 'not found'), status(404, 'NotFound', 'not found'), status(422, 'Invalid', 'status.errorType: Unsupported value: "x"')]);
    server = fake.server;
    const kube = kubeFor(fake.url);
    expect(await kube.hosts.get('ns', 'h')).toBeUndefined();
    expect(await kube.hosts.patchStatus('ns', 'h', { status: {} })).toBeUndefined();
    const error = await kube.hosts.patchStatus('ns', 'h', { status: { errorType: 'x' } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 422, reason: 'Invalid', retryable: false });
    expect(String((error as Error).message)).toBe('patch baremetalhosts/status ns/h: status.errorType: Unsupported value: "x"');
    expect(fake.requests).toHaveLength(3);
  });

  it('update: re-reads and retries on 409 with the fresh resourceVersion as precondition', async () => {
    const bodies: unknown[] = [];
    const capture = (answer: (q: IncomingMessage, r: ServerResponse) => void) => (q: IncomingMessage, r: ServerResponse) => {
      let data = '';
      q.on('data', (c: Buffer) => (data += c.toString()));
      q.on('end', () => {
        bodies.push({ contentType: q.headers['content-type'], body: JSON.parse(data) as unknown });
        answer(q, r);
      });
    };
    const fake = await fakeApiserver([
      capture(status(409, 'Conflict', 'the object has been modified')),
      json(200, { ...host, metadata: { ...host.metadata, resourceVersion: '6', finalizers: ['other'] } }),
      capture(json(200, { ...host, metadata: { ...host.metadata, resourceVersion: '7', finalizers: ['other', 'mine'] } })),
    ]);
    server = fake.server;
    const kube = kubeFor(fake.url);
    const updated = await kube.hosts.update('ns', 'h', (cur) => ({ metadata: { finalizers: [...(cur.metadata.finalizers ?? []), 'mine'] } }), host);
    expect(updated?.metadata.finalizers).toEqual(['other', 'mine']);
    expect(fake.requests.map((r) => r.split('?')[0])).toEqual([
      'PATCH /apis/metal3.io/v1alpha1/namespaces/ns/baremetalhosts/h',
      'GET /apis/metal3.io/v1alpha1/namespaces/ns/baremetalhosts/h',
      'PATCH /apis/metal3.io/v1alpha1/namespaces/ns/baremetalhosts/h',
    ]);
    expect(bodies).toEqual([
      { contentType: 'application/merge-patch+json', body: { metadata: { finalizers: ['mine'], resourceVersion: '5' } } },
      { contentType: 'application/merge-patch+json', body: { metadata: { finalizers: ['other', 'mine'], resourceVersion: '6' } } },
    ]);
    expect(kube.counters.conflicts).toBe(1);
  });

  it('reaches nobody: a network error is a retryable KubeError with code 0', async () => {
    const fake = await fakeApiserver([]);
    fake.server.close();
    const error = await kubeFor(fake.url, { attempts: 1, baseMs: 1, maxMs: 1 }).hosts.get('ns', 'h').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 0, reason: 'NetworkError', retryable: true });
  });
});

describe('toKubeError', () => {
  it('keeps the Status message and drops headers and bodies', () => {
    const raw = new k8s.ApiException(409, 'HTTP-Code: 409 Headers: {"authorization":"Bearer x"}', '{"message":"conflict","reason":"Conflict"}', { authorization: 'Bearer x' });
    const error = toKubeError(raw, 'patch x');
    expect(error.message).toBe('patch x: conflict');
    expect(JSON.stringify({ ...error, message: error.message })).not.toContain('Bearer');
    expect(isConflict(error)).toBe(true);
    expect(isNotFound(error)).toBe(false);
  });
});
