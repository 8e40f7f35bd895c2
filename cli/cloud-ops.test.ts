/**
 * The Cloud Ops client (cli/cloud-ops.ts) against test/fakes/cloud-ops-api.ts, a fake of the documented HTTP
 * surface: it adds only what is missing and keeps the rest of the spec, retries a stale resource version once,
 * reports conflicts without touching them, and says what to do on 401/403/404 or a failed operation, with the
 * API key in no message.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cloudNamespace, startFakeCloudOps, type FakeCloudOps } from '../test/fakes/cloud-ops-api.ts';
import { SEARCH_ATTRIBUTES } from '../domain/names.ts';
import { addCloudSearchAttributes, CloudOpsError, type CloudOpsOptions } from './cloud-ops.ts';

const ADMIN_KEY = 'tcld-admin-key-3f9a1c7e';
const READ_KEY = 'tcld-read-key-88d2e4b0';
const NS = 'metal.a1b2c';
const ALL = Object.keys(SEARCH_ATTRIBUTES);

let fake: FakeCloudOps;
beforeEach(async () => {
  fake = await startFakeCloudOps({ adminKeys: [ADMIN_KEY], readOnlyKeys: [READ_KEY] });
});
afterEach(async () => {
  await fake.close();
});

function add(overrides: Partial<CloudOpsOptions> = {}) {
  return addCloudSearchAttributes({ apiKey: ADMIN_KEY, namespace: NS, wanted: { ...SEARCH_ATTRIBUTES }, endpoint: fake.url, pollMs: 10, ...overrides });
}

async function failure(promise: Promise<unknown>): Promise<CloudOpsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CloudOpsError);
  return error as CloudOpsError;
}

describe('addCloudSearchAttributes', () => {
  it('adds only the missing attributes, keeps the rest of the spec, and follows the operation to the end', async () => {
    const before = cloudNamespace(NS, { BmhName: 'SEARCH_ATTRIBUTE_TYPE_KEYWORD', CustomerTier: 'SEARCH_ATTRIBUTE_TYPE_INT' });
    fake.namespaces.set(NS, structuredClone(before));

    const result = await add();
    expect(result.present).toEqual(['BmhName']);
    expect(result.added).toEqual(ALL.filter((n) => n !== 'BmhName'));
    expect(result.conflicts).toEqual([]);

    const after = fake.namespaces.get(NS)!;
    const { searchAttributes, ...rest } = after.spec;
    const { searchAttributes: _, ...restBefore } = before.spec;
    expect(rest).toEqual(restBefore);
    expect(searchAttributes).toEqual({
      CustomerTier: 'SEARCH_ATTRIBUTE_TYPE_INT',
      ...Object.fromEntries(ALL.map((name) => [name, 'SEARCH_ATTRIBUTE_TYPE_KEYWORD'])),
    });
    // One update, with the version it read, and polls until the operation was fulfilled.
    const updates = fake.requests.filter((r) => r.method === 'POST');
    expect(updates).toHaveLength(1);
    expect(updates[0]!.body).toMatchObject({ namespace: NS, resourceVersion: before.resourceVersion, asyncOperationId: result.operationId });
    expect(fake.requests.filter((r) => r.path === `/cloud/operations/${result.operationId}`).length).toBeGreaterThanOrEqual(2);

    // Again: nothing to add, no update sent.
    const again = await add();
    expect(again).toEqual({ added: [], present: ALL, conflicts: [] });
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it.each([409, 400] as const)('retries once from a fresh read when another writer changed the namespace (stale resource version as %i)', async (staleAs) => {
    await fake.close();
    fake = await startFakeCloudOps({ adminKeys: [ADMIN_KEY], staleAs });
    fake.namespaces.set(NS, cloudNamespace(NS));
    fake.beforeNextUpdate((ns) => {
      ns.spec = { ...ns.spec, retentionDays: 60 };
    });
    const result = await add();
    expect(result.added).toEqual(ALL);
    const posts = fake.requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(2);
    // The second write carries the other writer's change instead of undoing it.
    expect(fake.namespaces.get(NS)!.spec['retentionDays']).toBe(60);
  });

  it('gives up after the second stale version and says to run it again', async () => {
    fake.namespaces.set(NS, cloudNamespace(NS));
    const bump = (ns: { spec: Record<string, unknown> }): void => {
      ns.spec = { ...ns.spec };
      fake.beforeNextUpdate(bump);
    };
    fake.beforeNextUpdate(bump);
    const error = await failure(add());
    expect(error.code).toBe('StaleResourceVersion');
    expect(error.message).toContain(`namespace ${NS}`);
    expect(error.message).toContain('run the command again');
  });

  it('reports an attribute that exists with another type and never overwrites it', async () => {
    fake.namespaces.set(NS, cloudNamespace(NS, { ErrorType: 'SEARCH_ATTRIBUTE_TYPE_TEXT' }));
    const result = await add();
    expect(result.conflicts).toEqual([{ name: 'ErrorType', has: 'TEXT', wants: 'Keyword' }]);
    expect(result.added).toEqual(ALL.filter((n) => n !== 'ErrorType'));
    expect((fake.namespaces.get(NS)!.spec['searchAttributes'] as Record<string, string>)['ErrorType']).toBe('SEARCH_ATTRIBUTE_TYPE_TEXT');
  });

  it.each([
    { scenario: '401: unknown key', apiKey: 'not-a-key-5d1e', code: 'Unauthenticated', says: [`namespace ${NS}`, 'rejected the API key', 'TEMPORAL_CLOUD_API_KEY'] },
    { scenario: '403: key without permission', apiKey: READ_KEY, code: 'PermissionDenied', says: [`namespace ${NS}`, `Namespace Admin of ${NS}`, 'namespace-scoped key'] },
    { scenario: '404: namespace unknown', apiKey: ADMIN_KEY, namespace: 'metal', code: 'NamespaceNotFound', says: ['namespace metal ', 'account suffix'] },
  ])('$scenario names the namespace and the fix', async ({ apiKey, namespace, code, says }) => {
    fake.namespaces.set(NS, cloudNamespace(NS));
    const error = await failure(add({ apiKey, ...(namespace ? { namespace } : {}) }));
    expect(error.code).toBe(code);
    for (const text of says) expect(error.message).toContain(text);
  });

  it('a failed operation is an error with its reason and operation id', async () => {
    fake.namespaces.set(NS, cloudNamespace(NS));
    fake.failNextOperation('internal error applying namespace spec');
    const error = await failure(add());
    expect(error.code).toBe('OperationFailed');
    expect(error.message).toMatch(new RegExp(`namespace ${NS}.*ended FAILED \\(operation tempered-setup-[0-9a-f-]+\\): internal error applying namespace spec`));
  });

  it('an operation that does not end in time is an error naming it', async () => {
    await fake.close();
    fake = await startFakeCloudOps({ adminKeys: [ADMIN_KEY], pollsToFinish: 1_000_000 });
    fake.namespaces.set(NS, cloudNamespace(NS));
    const error = await failure(add({ timeoutMs: 200 }));
    expect(error.code).toBe('OperationTimeout');
    expect(error.message).toMatch(/operation tempered-setup-\S+ adding .* is still IN_PROGRESS/);
  });

  it('never puts the API key in a message, even when the server echoes it back', async () => {
    fake.echoAuthorization = true;
    fake.namespaces.set(NS, cloudNamespace(NS));
    for (const apiKey of [READ_KEY, 'wrong-key-echoed-91c3']) {
      const error = await failure(add({ apiKey }));
      expect(error.message).toContain('[redacted]'); // the echo reached the message, without the key
      expect(error.message).not.toContain(apiKey);
      expect(JSON.stringify(error)).not.toContain(apiKey);
    }
    const unreachable = await failure(add({ endpoint: 'http://127.0.0.1:1' }));
    expect(unreachable.code).toBe('Unreachable');
    expect(unreachable.message).not.toContain(ADMIN_KEY);
  });
});
