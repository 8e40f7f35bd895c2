/**
 * lib/kube-client.ts: clients made with `pooledApiClient` keep their TLS connections, where the client's own
 * `makeApiClient` opens one per request (the premise, checked here too, so the test notices if a client
 * release fixes it). A local HTTPS server with a client-certificate kubeconfig, as the apiserver's, counts
 * the TLS connections it accepts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pooledApiClient } from '../lib/kube-client.ts';
import { base64File, issueCert, makeCa } from '../stack/pki.ts';

let server: Server;
let connections = 0;
const kc = new k8s.KubeConfig();

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-kube-client-'));
  const ca = makeCa(dir, 'ca', '/CN=test-ca');
  const serving = issueCert(dir, 'server', ca, { subject: '/CN=localhost', usage: 'server', sans: ['IP:127.0.0.1'] });
  const client = issueCert(dir, 'client', ca, { subject: '/CN=admin/O=system:masters', usage: 'client' });
  server = createServer({ key: readFileSync(serving.key), cert: readFileSync(serving.cert), ca: readFileSync(ca.cert), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bmc', namespace: 'default', resourceVersion: '1' }, data: {} }));
  });
  server.on('secureConnection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, [
    'apiVersion: v1', 'kind: Config',
    `clusters: [{name: c, cluster: {server: 'https://127.0.0.1:${port}', certificate-authority-data: ${base64File(ca.cert)}}}]`,
    `users: [{name: u, user: {client-certificate-data: ${base64File(client.cert)}, client-key-data: ${base64File(client.key)}}}]`,
    'contexts: [{name: x, context: {cluster: c, user: u}}]', 'current-context: x', '',
  ].join('\n'));
  kc.loadFromFile(file);
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function connectionsFor(api: k8s.CoreV1Api, requests: number): Promise<number> {
  const before = connections;
  for (let i = 0; i < requests; i++) expect((await api.readNamespacedSecret({ namespace: 'default', name: 'bmc' })).metadata?.name).toBe('bmc');
  return connections - before;
}

describe('pooledApiClient', () => {
  it("the client's own makeApiClient opens a TLS connection per request (why pooling exists)", async () => {
    expect(await connectionsFor(kc.makeApiClient(k8s.CoreV1Api), 5)).toBe(5);
  });

  it('keeps its connections for later requests, shared by every client of the KubeConfig', async () => {
    // The first request's connection returns to the pool a moment after its response, so the second
    // request may open one more; after that, none.
    expect(await connectionsFor(pooledApiClient(kc, k8s.CoreV1Api), 5)).toBeLessThanOrEqual(2);
    expect(await connectionsFor(pooledApiClient(kc, k8s.CoreV1Api), 10)).toBe(0);
  });
});
