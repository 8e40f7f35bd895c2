/**
 * A client of the Temporal Cloud Ops API for one task: adding custom search attributes to a Cloud namespace.
 *
 * Temporal Cloud does not take search attributes through the namespace endpoint's OperatorService; its
 * control plane does, through `UpdateNamespace` with the attributes in `spec.search_attributes` (what `tcld
 * namespace search-attributes add`, the Terraform provider and the Cloud UI call). This client uses the Ops
 * API's HTTP/JSON surface (grpc-gateway: lowerCamelCase fields, enums by name) with `fetch`, so no gRPC stubs
 * of the Cloud protos are needed.
 *
 * Followed: github.com/temporalio/cloud-api v0.19.1 (commit d4a0349),
 *   temporal/api/cloud/cloudservice/v1/service.proto: the google.api.http annotations
 *     GetNamespace      GET  /cloud/namespaces/{namespace}
 *     UpdateNamespace   POST /cloud/namespaces/{namespace}  body "*"
 *     GetAsyncOperation GET  /cloud/operations/{async_operation_id}
 *   temporal/api/cloud/cloudservice/v1/request_response.proto: UpdateNamespaceRequest {namespace, spec,
 *     resource_version, async_operation_id}, UpdateNamespaceResponse {async_operation}
 *   temporal/api/cloud/namespace/v1/message.proto: Namespace {resource_version, spec, state,
 *     async_operation_id}; NamespaceSpec.search_attributes map<string, SearchAttributeType> (min version
 *     v0.3.0; the older custom_search_attributes string map is not used); deleting an attribute is not supported
 *   temporal/api/cloud/operation/v1/message.proto: AsyncOperation {id, state, check_duration, failure_reason}
 *   README.md: endpoint saas-api.tmprl.cloud:443, the `temporal-cloud-api-version` header on every request,
 *     `Authorization: Bearer <API key>` (service.proto's OpenAPI description).
 * Tested against test/fakes/cloud-ops-api.ts, a fake of that surface; never against Temporal Cloud itself.
 */
import { randomUUID } from 'node:crypto';

/** Where the Cloud Ops API answers (HTTP and gRPC share the host). */
export const CLOUD_OPS_ENDPOINT = 'https://saas-api.tmprl.cloud';
/** The API version this client was written against, sent as `temporal-cloud-api-version`. */
export const CLOUD_OPS_API_VERSION = 'v0.19.1';

/** Tempered's type names (domain/names.ts) → the Cloud's `SearchAttributeType` enum names. */
const CLOUD_TYPE: Record<string, string> = {
  Text: 'SEARCH_ATTRIBUTE_TYPE_TEXT',
  Keyword: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD',
  Int: 'SEARCH_ATTRIBUTE_TYPE_INT',
  Double: 'SEARCH_ATTRIBUTE_TYPE_DOUBLE',
  Bool: 'SEARCH_ATTRIBUTE_TYPE_BOOL',
  Datetime: 'SEARCH_ATTRIBUTE_TYPE_DATETIME',
  KeywordList: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD_LIST',
};
const CLOUD_TYPE_BY_NUMBER = ['UNSPECIFIED', 'TEXT', 'KEYWORD', 'INT', 'DOUBLE', 'BOOL', 'DATETIME', 'KEYWORD_LIST'];
const OPERATION_STATE_BY_NUMBER = ['UNSPECIFIED', 'PENDING', 'IN_PROGRESS', 'FAILED', 'CANCELLED', 'FULFILLED', 'REJECTED'];

/** Why a Cloud Ops call failed, as a stable string. */
export type CloudOpsErrorCode = 'Unauthenticated' | 'PermissionDenied' | 'NamespaceNotFound' | 'StaleResourceVersion' | 'OperationFailed' | 'OperationTimeout' | 'Rejected' | 'Unreachable';

/** A Cloud Ops failure whose message names the namespace and what to do; it never contains the API key. */
export class CloudOpsError extends Error {
  readonly code: CloudOpsErrorCode;
  constructor(code: CloudOpsErrorCode, message: string) {
    super(message);
    this.name = 'CloudOpsError';
    this.code = code;
  }
}

/** What the Cloud namespace had and what this call added. */
export interface CloudSearchAttributeResult {
  added: string[];
  present: string[];
  conflicts: { name: string; has: string; wants: string }[];
  /** The UpdateNamespace operation that added them, when one ran. */
  operationId?: string;
}

export interface CloudOpsOptions {
  /** A Temporal Cloud API key of a user or service account allowed to update the namespace. */
  apiKey: string;
  /** The Cloud namespace id (`name.account`). */
  namespace: string;
  /** Attribute name → Tempered type name (`Keyword`…). */
  wanted: Record<string, string>;
  /** Default {@link CLOUD_OPS_ENDPOINT}; tests point it at a fake. */
  endpoint?: string;
  /** How long to follow the async operation (default 5 minutes). */
  timeoutMs?: number;
  /** Poll interval ceiling for the operation (default 2 s; the server's check_duration is used when shorter). */
  pollMs?: number;
}

type Json = Record<string, unknown>;

/** `KEYWORD` from `SEARCH_ATTRIBUTE_TYPE_KEYWORD` or 2. */
function cloudTypeName(value: unknown): string {
  if (typeof value === 'number') return CLOUD_TYPE_BY_NUMBER[value] ?? String(value);
  return String(value).replace(/^SEARCH_ATTRIBUTE_TYPE_/, '');
}

/** `FULFILLED` from `STATE_FULFILLED`, 5, or the pre-v0.3.0 `fulfilled`. */
function operationState(operation: Json): string {
  const state = operation['state'] ?? operation['stateDeprecated'];
  if (typeof state === 'number') return OPERATION_STATE_BY_NUMBER[state] ?? String(state);
  return String(state ?? 'UNSPECIFIED').replace(/^STATE_/, '').toUpperCase();
}

/** A google.protobuf.Duration in JSON (`"1.5s"`) in milliseconds. */
function durationMs(value: unknown): number | undefined {
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(value) : null;
  return match ? Number(match[1]) * 1000 : undefined;
}

/**
 * Adds the attributes of `wanted` that the Cloud namespace lacks, keeping every other part of its spec as the
 * API returned it; an attribute it has with another type is a conflict, reported and left alone. A stale
 * resource version (someone else updated the namespace between our read and our write) is retried once from
 * a fresh read. Follows the async operation until it is fulfilled or `timeoutMs` runs out.
 */
export async function addCloudSearchAttributes(options: CloudOpsOptions): Promise<CloudSearchAttributeResult> {
  const endpoint = (options.endpoint ?? CLOUD_OPS_ENDPOINT).replace(/\/+$/, '');
  const { namespace, apiKey } = options;
  const redact = (text: string): string => (apiKey.length > 0 ? text.split(apiKey).join('[redacted]') : text);
  const where = `Temporal Cloud namespace ${namespace} (Cloud Ops API ${endpoint})`;

  async function call(method: 'GET' | 'POST', path: string, body?: Json): Promise<Json> {
    let response: Response;
    try {
      response = await fetch(`${endpoint}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          'temporal-cloud-api-version': CLOUD_OPS_API_VERSION,
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      throw new CloudOpsError('Unreachable', redact(`${where}: ${method} ${path} failed: ${(error as Error).message}${cause ? ` (${cause})` : ''}`));
    }
    const text = await response.text();
    let parsed: Json;
    try {
      parsed = text ? (JSON.parse(text) as Json) : {};
    } catch {
      parsed = { message: text.slice(0, 200) };
    }
    if (response.ok) return parsed;
    const said = redact(String(parsed['message'] ?? response.statusText));
    const status = `HTTP ${response.status}${parsed['code'] !== undefined ? `, gRPC code ${String(parsed['code'])}` : ''}`;
    switch (response.status) {
      case 401:
        throw new CloudOpsError(
          'Unauthenticated',
          `${where} rejected the API key (${status}: ${said}). Give a Temporal Cloud API key of a user or service account ` +
            '(Cloud UI > API Keys, or `tcld apikey create`) with --cloud-api-key-file or TEMPORAL_CLOUD_API_KEY; check it has not expired.',
        );
      case 403:
        throw new CloudOpsError(
          'PermissionDenied',
          `${where}: the API key may not update this namespace (${status}: ${said}). Adding search attributes needs an API key ` +
            `whose user or service account is Namespace Admin of ${namespace} or has an account role that manages namespaces ` +
            '(Account Admin/Owner); a namespace-scoped key, such as the one the workers use for TEMPORAL_API_KEY, is usually not enough.',
        );
      case 404:
        throw new CloudOpsError(
          'NamespaceNotFound',
          `${where}: ${method} ${path} found nothing (${status}: ${said}). Use the namespace id with its account suffix ` +
            '(TEMPORAL_NAMESPACE or --namespace, e.g. metal.a1b2c) and an API key of the account that owns it.',
        );
      case 409:
        throw new CloudOpsError('StaleResourceVersion', `${where} changed while we updated it (${status}: ${said})`);
      case 400:
        // The protos do not say which code a stale version gets; FAILED_PRECONDITION (400 through the gateway)
        // naming the resource version is taken as one too.
        if (method === 'POST' && /resource[ _-]?version/i.test(said)) {
          throw new CloudOpsError('StaleResourceVersion', `${where} changed while we updated it (${status}: ${said})`);
        }
        throw new CloudOpsError('Rejected', `${where}: ${method} ${path} answered ${status}: ${said}`);
      default:
        throw new CloudOpsError('Rejected', `${where}: ${method} ${path} answered ${status}: ${said}`);
    }
  }

  const path = `/cloud/namespaces/${encodeURIComponent(namespace)}`;
  for (let attempt = 1; ; attempt++) {
    const current = ((await call('GET', path))['namespace'] ?? {}) as Json;
    const spec = (current['spec'] ?? {}) as Json;
    const existing = (spec['searchAttributes'] ?? {}) as Json;
    const result: CloudSearchAttributeResult = { added: [], present: [], conflicts: [] };
    const toAdd: Record<string, string> = {};
    for (const [name, type] of Object.entries(options.wanted)) {
      const cloudType = CLOUD_TYPE[type];
      if (!cloudType) throw new Error(`search attribute ${name}: no Temporal Cloud type for '${type}'`);
      if (!(name in existing)) toAdd[name] = cloudType;
      else if (cloudTypeName(existing[name]) === cloudTypeName(cloudType)) result.present.push(name);
      else result.conflicts.push({ name, has: cloudTypeName(existing[name]), wants: type });
    }
    if (Object.keys(toAdd).length === 0) return result;

    const asyncOperationId = `tempered-setup-${randomUUID()}`;
    let update: Json;
    try {
      update = await call('POST', path, {
        namespace,
        spec: { ...spec, searchAttributes: { ...existing, ...toAdd } },
        resourceVersion: current['resourceVersion'],
        asyncOperationId,
      });
    } catch (error) {
      if (error instanceof CloudOpsError && error.code === 'StaleResourceVersion' && attempt === 1) continue;
      if (error instanceof CloudOpsError && error.code === 'StaleResourceVersion') {
        throw new CloudOpsError(error.code, `${error.message}, twice; run the command again, or add the attributes in the Cloud UI`);
      }
      throw error;
    }

    let operation = (update['asyncOperation'] ?? {}) as Json;
    const operationId = String(operation['id'] ?? asyncOperationId);
    const deadline = Date.now() + (options.timeoutMs ?? 300_000);
    const pollMs = options.pollMs ?? 2000;
    for (;;) {
      const state = operationState(operation);
      if (state === 'FULFILLED') break;
      if (state === 'FAILED' || state === 'CANCELLED' || state === 'REJECTED') {
        const reason = operation['failureReason'] ? `: ${redact(String(operation['failureReason']))}` : '';
        throw new CloudOpsError(
          'OperationFailed',
          `${where}: adding ${Object.keys(toAdd).join(', ')} ended ${state} (operation ${operationId})${reason}. ` +
            'Nothing of it is guaranteed applied; check the namespace in the Cloud UI and run this command again.',
        );
      }
      if (Date.now() > deadline) {
        throw new CloudOpsError(
          'OperationTimeout',
          `${where}: operation ${operationId} adding ${Object.keys(toAdd).join(', ')} is still ${state} after ` +
            `${Math.round((options.timeoutMs ?? 300_000) / 1000)} s. Follow it (GET /cloud/operations/${operationId}, or the Cloud UI) ` +
            'and run this command again once it is fulfilled.',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, durationMs(operation['checkDuration']) ?? pollMs)));
      operation = ((await call('GET', `/cloud/operations/${encodeURIComponent(operationId)}`))['asyncOperation'] ?? {}) as Json;
    }
    result.added = Object.keys(toAdd);
    result.operationId = operationId;
    return result;
  }
}
