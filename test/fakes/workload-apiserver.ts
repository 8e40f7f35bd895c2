/**
 * A small fake of a workload cluster's apiserver for the simulator's unit tests: what a simulated kubelet
 * calls once its host has joined (register the Node, read it, post its status, create and renew its Lease),
 * over HTTPS with a certificate from a CA made with openssl and a client certificate for the simulated hosts
 * (stack/pki.ts, as the real workload cluster makes them). It keeps the Nodes and Leases and counts each
 * node's heartbeats, so a test can see a kubelet post and then fall silent. The real apiserver (node lifecycle
 * controller and all) is exercised by the capi tier.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCert, makeCa } from '../../stack/pki.ts';
import type { NodeCredential } from '../../sim/os/credential.ts';

/** One answered request. */
export interface WorkloadCall {
  method: string;
  path: string;
  status: number;
}

export interface FakeWorkloadApiserver {
  /** `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** A kubelet's credential for this apiserver (hold it in the simulator's `clusters`). */
  readonly credential: NodeCredential;
  /** Every request, in order. */
  readonly calls: WorkloadCall[];
  /** The Nodes registered, by name. */
  readonly nodes: Map<string, Record<string, unknown>>;
  /** Lease renewals (creation included) and status posts answered per node. */
  heartbeats(node: string): { leases: number; statuses: number };
  /**
   * Cloud-config user data whose `kubeadm join` joins this apiserver as `nodeName` with the `metal3.io/uuid`
   * label (file discovery: the kubeconfig is written by cloud-init; the token discovery is the capi tier's).
   */
  joinUserData(nodeName: string, uid: string): string;
  close(): Promise<void>;
}

const NODE = /^\/api\/v1\/nodes\/([^/]+)$/;
const NODE_STATUS = /^\/api\/v1\/nodes\/([^/]+)\/status$/;
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
const LEASE = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/kube-node-lease\/leases\/([^/]+)$/;

async function body(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** Starts the fake on 127.0.0.1 with a fresh CA, serving certificate and kubelet client certificate. */
export async function startFakeWorkloadApiserver(): Promise<FakeWorkloadApiserver> {
  const dir = mkdtempSync(join(tmpdir(), 'fake-workload-apiserver-'));
  let ca: { cert: string; key: string };
  let serving: { cert: string; key: string };
  let client: { cert: string; key: string };
  try {
    ca = makeCa(dir, 'ca', '/CN=fake-workload-ca');
    serving = issueCert(dir, 'serving', ca, { subject: '/CN=kube-apiserver', usage: 'server', sans: ['IP:127.0.0.1'] });
    client = issueCert(dir, 'kubelet', ca, { subject: '/O=system:nodes/CN=system:node:sim', usage: 'client' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const pem = (path: string) => readFileSync(path, 'utf8');
  const caPem = pem(ca.cert);
  const credential = { caPem, certPem: pem(client.cert), keyPem: pem(client.key) };
  const serverPems = { cert: pem(serving.cert), key: pem(serving.key) };
  rmSync(dir, { recursive: true, force: true });

  const calls: WorkloadCall[] = [];
  const nodes = new Map<string, Record<string, unknown>>();
  const leases = new Set<string>();
  const counts = new Map<string, { leases: number; statuses: number }>();
  const count = (node: string) => {
    const found = counts.get(node) ?? { leases: 0, statuses: 0 };
    counts.set(node, found);
    return found;
  };

  const answer = (request: IncomingMessage, response: ServerResponse, status: number, payload: unknown) => {
    calls.push({ method: request.method ?? 'GET', path: request.url ?? '/', status });
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
  };
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const method = request.method ?? 'GET';
    const payload = method === 'GET' ? {} : await body(request);
    let m: RegExpExecArray | null;
    if (method === 'POST' && path === '/api/v1/nodes') {
      const name = String((payload.metadata as { name?: string } | undefined)?.name ?? '');
      if (nodes.has(name)) return answer(request, response, 409, { kind: 'Status', reason: 'AlreadyExists' });
      const node = { ...payload, metadata: { ...(payload.metadata as object), uid: randomUUID() } };
      nodes.set(name, node);
      return answer(request, response, 201, node);
    }
    if (method === 'GET' && (m = NODE.exec(path))) {
      const node = nodes.get(m[1] ?? '');
      return node ? answer(request, response, 200, node) : answer(request, response, 404, { kind: 'Status' });
    }
    if (method === 'PATCH' && (m = NODE_STATUS.exec(path))) {
      const name = m[1] ?? '';
      const node = nodes.get(name);
      if (!node) return answer(request, response, 404, { kind: 'Status' });
      node.status = payload.status;
      count(name).statuses += 1;
      return answer(request, response, 200, node);
    }
    if (method === 'PATCH' && (m = LEASE.exec(path))) {
      const name = m[1] ?? '';
      if (!leases.has(name)) return answer(request, response, 404, { kind: 'Status' });
      count(name).leases += 1;
      return answer(request, response, 200, payload);
    }
    if (method === 'POST' && path === LEASES) {
      const name = String((payload.metadata as { name?: string } | undefined)?.name ?? '');
      if (leases.has(name)) return answer(request, response, 409, { kind: 'Status', reason: 'AlreadyExists' });
      leases.add(name);
      count(name).leases += 1;
      return answer(request, response, 201, payload);
    }
    return answer(request, response, 404, { kind: 'Status', message: `${method} ${path} is not faked` });
  };
  // Only the holders of a certificate from its CA get in, as with the real apiserver's client-certificate auth.
  const tls = { ...serverPems, ca: caPem, requestCert: true, rejectUnauthorized: true };
  const server = createServer(tls, (request, response) => {
    handle(request, response).catch((error: unknown) =>
      answer(request, response, 500, { kind: 'Status', message: (error as Error).message }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server: origin,
    credential: { server: origin, ...credential },
    calls,
    nodes,
    heartbeats: (node) => ({ ...count(node) }),
    joinUserData: (nodeName, uid) =>
      [
        '#cloud-config',
        'write_files:',
        '  - path: /run/kubeadm/discovery.conf',
        '    content: |',
        '      apiVersion: v1',
        '      kind: Config',
        '      clusters:',
        `        - cluster: {server: "${origin}"}`,
        '          name: workload',
        '  - path: /run/kubeadm/kubeadm-join-config.yaml',
        '    content: |',
        '      apiVersion: kubeadm.k8s.io/v1beta4',
        '      kind: JoinConfiguration',
        '      discovery:',
        '        file:',
        '          kubeConfigPath: /run/kubeadm/discovery.conf',
        '      nodeRegistration:',
        `        name: ${nodeName}`,
        '        kubeletExtraArgs:',
        '          - name: node-labels',
        `            value: metal3.io/uuid=${uid}`,
        'runcmd:',
        '  - kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml',
        '',
      ].join('\n'),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
