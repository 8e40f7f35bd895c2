/**
 * A fake of the Temporal Cloud Ops API's HTTP surface for namespaces and async operations, as
 * github.com/temporalio/cloud-api v0.19.1 describes it (cli/cloud-ops.ts lists the proto files): a node:http
 * server on 127.0.0.1 that
 * - answers 401 without `Authorization: Bearer <a key it knows>`, 403 for a key without permission, 400
 *   without the `temporal-cloud-api-version` header (grpc-gateway error bodies: `{code, message}`);
 * - serves GetNamespace (`GET /cloud/namespaces/{namespace}`, 404 when unknown), UpdateNamespace (`POST` there,
 *   409 when `resourceVersion` is not the current one, 400 when it would delete a search attribute or change
 *   its type, which the proto says is not supported) and GetAsyncOperation (`GET /cloud/operations/{id}`);
 * - applies an update only when its operation is fulfilled: the operation is PENDING, then IN_PROGRESS, then
 *   FULFILLED (or FAILED when the test says so), one step per poll; the new spec then replaces the old one and
 *   the resource version changes.
 * It is what Tempered's Cloud path is tested against; nothing here has been compared with Temporal Cloud.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, unknown>;

export interface FakeCloudNamespace {
  namespace: string;
  resourceVersion: string;
  spec: Json;
  state: string;
  asyncOperationId?: string;
}

interface FakeOperation {
  id: string;
  namespace: string;
  spec: Json;
  polls: number;
  state: string;
  failureReason?: string;
}

export interface FakeCloudOpsOptions {
  /** Keys allowed to update namespaces. */
  adminKeys: string[];
  /** Keys that authenticate but may not update (403). */
  readOnlyKeys?: string[];
  /** Polls an operation takes before it ends (default 2: PENDING → IN_PROGRESS → FULFILLED). */
  pollsToFinish?: number;
  /** How a stale resource version is answered: 409 ABORTED (default) or 400 FAILED_PRECONDITION. */
  staleAs?: 409 | 400;
  /** Called when an update is applied, before its operation reports FULFILLED (e.g. to mirror it elsewhere). */
  onApplied?: (namespace: string, spec: Json) => Promise<void> | void;
}

export interface FakeCloudOps {
  url: string;
  namespaces: Map<string, FakeCloudNamespace>;
  /** Every request, without its Authorization header's value. */
  requests: { method: string; path: string; body?: Json }[];
  /** Runs once, on the next UpdateNamespace, before its version check: another writer got there first. */
  beforeNextUpdate(change: (namespace: FakeCloudNamespace) => void): void;
  /** The next operation ends FAILED with this reason. */
  failNextOperation(reason: string): void;
  /** Error messages repeat the request's Authorization header: a careless server, to prove the client redacts. */
  echoAuthorization: boolean;
  close(): Promise<void>;
}

/** A namespace as Cloud would hold it: a spec with more than search attributes, so a test sees them kept. */
export function cloudNamespace(namespace: string, searchAttributes: Record<string, string> = {}): FakeCloudNamespace {
  return {
    namespace,
    resourceVersion: randomUUID(),
    state: 'RESOURCE_STATE_ACTIVE',
    spec: {
      name: namespace.split('.')[0],
      regions: ['aws-us-east-1'],
      retentionDays: 30,
      apiKeyAuth: { enabled: true },
      codecServer: { endpoint: 'https://codec.example.com', passAccessToken: true },
      searchAttributes,
    },
  };
}

/** Starts the fake on 127.0.0.1 and an ephemeral port. */
export async function startFakeCloudOps(options: FakeCloudOpsOptions): Promise<FakeCloudOps> {
  const namespaces = new Map<string, FakeCloudNamespace>();
  const operations = new Map<string, FakeOperation>();
  const requests: FakeCloudOps['requests'] = [];
  let pendingChange: ((namespace: FakeCloudNamespace) => void) | undefined;
  let pendingFailure: string | undefined;
  const pollsToFinish = options.pollsToFinish ?? 2;

  const fake: FakeCloudOps = {
    url: '',
    namespaces,
    requests,
    echoAuthorization: false,
    beforeNextUpdate(change) {
      pendingChange = change;
    },
    failNextOperation(reason) {
      pendingFailure = reason;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: Json): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    // grpc-gateway's error body; the gRPC code matches the HTTP status the gateway maps it to.
    const fail = (status: number, code: number, message: string): void => {
      const echoed = fake.echoAuthorization ? ` (authorization: ${req.headers.authorization ?? ''})` : '';
      send(status, { code, message: `${message}${echoed}`, details: [] });
    };
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = raw ? (JSON.parse(raw) as Json) : undefined;
    requests.push({ method: req.method ?? '', path: url.pathname, ...(body ? { body } : {}) });

    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!key || !(options.adminKeys.includes(key) || options.readOnlyKeys?.includes(key))) return fail(401, 16, 'Request unauthenticated');
    if (!req.headers['temporal-cloud-api-version']) return fail(400, 3, 'temporal-cloud-api-version header is required');

    const ns = /^\/cloud\/namespaces\/([^/]+)$/.exec(url.pathname);
    const op = /^\/cloud\/operations\/([^/]+)$/.exec(url.pathname);
    if (ns && req.method === 'GET') {
      const namespace = namespaces.get(decodeURIComponent(ns[1]!));
      if (!namespace) return fail(404, 5, 'namespace not found');
      return send(200, { namespace });
    }
    if (ns && req.method === 'POST') {
      if (!options.adminKeys.includes(key)) return fail(403, 7, 'permission denied');
      const namespace = namespaces.get(decodeURIComponent(ns[1]!));
      if (!namespace) return fail(404, 5, 'namespace not found');
      const change = pendingChange;
      pendingChange = undefined;
      if (change) {
        change(namespace);
        namespace.resourceVersion = randomUUID();
      }
      if (body?.['resourceVersion'] !== namespace.resourceVersion) {
        return options.staleAs === 400 ? fail(400, 9, 'resource version mismatch: the namespace was modified') : fail(409, 10, 'resource version mismatch: the namespace was modified');
      }
      const spec = (body?.['spec'] ?? {}) as Json;
      const before = (namespace.spec['searchAttributes'] ?? {}) as Record<string, string>;
      const after = (spec['searchAttributes'] ?? {}) as Record<string, string>;
      for (const [name, type] of Object.entries(before)) {
        if (!(name in after)) return fail(400, 3, `deleting search attribute ${name} is not supported`);
        if (after[name] !== type) return fail(400, 3, `changing the type of search attribute ${name} is not supported`);
      }
      const operation: FakeOperation = { id: String(body?.['asyncOperationId'] || randomUUID()), namespace: namespace.namespace, spec, polls: 0, state: 'STATE_PENDING' };
      if (pendingFailure !== undefined) operation.failureReason = pendingFailure;
      pendingFailure = undefined;
      operations.set(operation.id, operation);
      namespace.state = 'RESOURCE_STATE_UPDATING';
      namespace.asyncOperationId = operation.id;
      return send(200, { asyncOperation: view(operation) });
    }
    if (op && req.method === 'GET') {
      const operation = operations.get(decodeURIComponent(op[1]!));
      if (!operation) return fail(404, 5, 'async operation not found');
      if (operation.state === 'STATE_PENDING' || operation.state === 'STATE_IN_PROGRESS') {
        operation.polls++;
        if (operation.polls < pollsToFinish) operation.state = 'STATE_IN_PROGRESS';
        else if (operation.failureReason !== undefined) operation.state = 'STATE_FAILED';
        else {
          const namespace = namespaces.get(operation.namespace)!;
          await options.onApplied?.(namespace.namespace, operation.spec);
          namespace.spec = operation.spec;
          namespace.resourceVersion = randomUUID();
          operation.state = 'STATE_FULFILLED';
        }
        if (operation.state !== 'STATE_IN_PROGRESS') namespaces.get(operation.namespace)!.state = 'RESOURCE_STATE_ACTIVE';
      }
      return send(200, { asyncOperation: view(operation) });
    }
    return fail(404, 5, `no route ${req.method} ${url.pathname}`);
  }

  function view(operation: FakeOperation): Json {
    return {
      id: operation.id,
      state: operation.state,
      checkDuration: '0.010s',
      operationType: 'update_namespace',
      ...(operation.state === 'STATE_FAILED' ? { failureReason: operation.failureReason } : {}),
    };
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => res.writeHead(500).end(String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
