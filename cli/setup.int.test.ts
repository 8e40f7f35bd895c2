/**
 * `tempered setup temporal` as a subprocess against the stack's real Temporal server, configured the way an
 * operator would: a temporal.toml profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE). Each case uses a
 * namespace of its own, created by the command (--create-namespace) or by the test, and reads the result
 * back through the operator service.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unique } from '../test/support.ts';
import { waitFor } from '../test/wait.ts';
import { cloudNamespace, startFakeCloudOps } from '../test/fakes/cloud-ops-api.ts';
import { SEARCH_ATTRIBUTES } from '../domain/names.ts';
import { isTemporalCloud, tcldCommand } from './setup.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tempered-setup-'));
const toml = join(dir, 'temporal.toml');
writeFileSync(toml, `[profile.ops]\naddress = "${stack.temporal.address}"\nnamespace = "not-used-when-a-flag-names-one"\n`);
const KEYWORD = 2; // INDEXED_VALUE_TYPE_KEYWORD
const TEXT = 1; // INDEXED_VALUE_TYPE_TEXT

let connection: Connection;
beforeAll(async () => {
  connection = await Connection.connect({ address: stack.temporal.address });
});
afterAll(async () => {
  await connection?.close();
});

async function setup(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { TEMPORAL_ADDRESS: _a, TEMPORAL_NAMESPACE: _n, TEMPORAL_PROFILE: _p, TEMPORAL_CONFIG_FILE: _f, TEMPORAL_CLOUD_API_KEY: _k, TEMPORAL_CLOUD_OPS_ENDPOINT: _e, ...inherited } = process.env;
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [MAIN, 'setup', 'temporal', ...args], {
      env: { ...inherited, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'ops', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function customAttributes(namespace: string): Promise<Record<string, number>> {
  const response = await connection.operatorService.listSearchAttributes({ namespace });
  return Object.fromEntries(Object.entries(response.customAttributes ?? {}).map(([k, v]) => [k, Number(v)]));
}

async function newNamespace(prefix: string): Promise<string> {
  const namespace = unique(prefix);
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  await waitFor(`namespace ${namespace}`, () => connection.workflowService.describeNamespace({ namespace }).then(() => true), { timeoutMs: 60_000, intervalMs: 250 });
  return namespace;
}

describe('tempered setup temporal', () => {
  it('creates the namespace and registers every search attribute, through a temporal.toml profile', async () => {
    const namespace = unique('setup');
    const first = await setup(['--namespace', namespace, '--create-namespace']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`created namespace ${namespace} at ${stack.temporal.address}`);
    expect(first.stdout).toContain(`registered ${Object.keys(SEARCH_ATTRIBUTES).join(', ')}`);
    expect(await customAttributes(namespace)).toEqual(Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((name) => [name, KEYWORD])));

    // Again: nothing to do, and it says so.
    const again = await setup(['--namespace', namespace, '--create-namespace', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ namespace, namespaceCreated: false, added: [], present: Object.keys(SEARCH_ATTRIBUTES), conflicts: [], missing: [] });
  });

  it('TEMPORAL_NAMESPACE overrides the profile\'s namespace', async () => {
    const namespace = await newNamespace('setup-env');
    const result = await setup([], { TEMPORAL_NAMESPACE: namespace });
    expect(result.code).toBe(0);
    expect(Object.keys(await customAttributes(namespace)).sort()).toEqual(Object.keys(SEARCH_ATTRIBUTES).sort());
  });

  it('an attribute that exists with another type is a conflict, exit 1, and the rest are registered', async () => {
    const namespace = await newNamespace('setup-conflict');
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: { ErrorType: TEXT } });
    await waitFor('ErrorType as Text', async () => (await customAttributes(namespace))['ErrorType'] === TEXT, { timeoutMs: 60_000, intervalMs: 250 });
    const result = await setup(['--namespace', namespace]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('conflict: ErrorType exists as TEXT; Tempered needs Keyword');
    const after = await customAttributes(namespace);
    expect(after['ErrorType']).toBe(TEXT);
    expect(after['BmhName']).toBe(KEYWORD);
  });

  it('treated as Temporal Cloud, it adds nothing and prints the tcld command for what is missing', async () => {
    const namespace = await newNamespace('setup-cloud');
    const result = await setup(['--namespace', namespace, '--cloud']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`missing in namespace ${namespace}`);
    expect(result.stderr).toContain(tcldCommand(namespace, Object.keys(SEARCH_ATTRIBUTES)));
    expect(result.stderr).toContain('--cloud-api-key-file FILE or');
    expect(await customAttributes(namespace)).toEqual({});
  });

  it('treated as Temporal Cloud with a Cloud API key, it adds them through the Cloud Ops API (a fake) and reads them back', async () => {
    // The fake stands in for Temporal Cloud's control plane; when its operation completes it registers the
    // attributes in the stack's server, the way Cloud makes them visible at the namespace endpoint.
    const namespace = await newNamespace('setup-cloud-ops');
    const apiKey = `cloud-key-${unique('k')}`;
    const fake = await startFakeCloudOps({
      adminKeys: [apiKey],
      onApplied: async (ns, spec) => {
        const types = spec['searchAttributes'] as Record<string, string>;
        const searchAttributes = Object.fromEntries(Object.keys(types).map((name) => [name, KEYWORD]));
        await connection.operatorService.addSearchAttributes({ namespace: ns, searchAttributes });
      },
    });
    try {
      fake.namespaces.set(namespace, cloudNamespace(namespace));
      const keyFile = join(dir, 'cloud-api-key');
      writeFileSync(keyFile, `${apiKey}\n`, { mode: 0o600 });
      const result = await setup(['--namespace', namespace, '--cloud', '--cloud-api-key-file', keyFile, '--cloud-ops-endpoint', fake.url]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`registered ${Object.keys(SEARCH_ATTRIBUTES).join(', ')} in namespace ${namespace} .*\\(Temporal Cloud\\) \\(Cloud Ops API operation tempered-setup-`));
      expect(`${result.stdout}${result.stderr}`).not.toContain(apiKey);
      expect(await customAttributes(namespace)).toEqual(Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((name) => [name, KEYWORD])));

      // A key the control plane rejects: a precise error, exit 1, and still no key in the output.
      const nothingMissing = await setup(['--namespace', namespace, '--cloud'], { TEMPORAL_CLOUD_API_KEY: 'unknown-key-7f3', TEMPORAL_CLOUD_OPS_ENDPOINT: fake.url });
      expect(nothingMissing.code).toBe(0); // nothing missing any more: the control plane is not asked, so the bad key does not matter
      const other = await newNamespace('setup-cloud-ops-denied');
      fake.namespaces.set(other, cloudNamespace(other));
      const rejected = await setup(['--namespace', other, '--cloud'], { TEMPORAL_CLOUD_API_KEY: 'unknown-key-7f3', TEMPORAL_CLOUD_OPS_ENDPOINT: fake.url });
      expect(rejected.code).toBe(1);
      expect(rejected.stderr).toContain(`Temporal Cloud namespace ${other} (Cloud Ops API ${fake.url}) rejected the API key`);
      expect(rejected.stderr).not.toContain('unknown-key-7f3');
    } finally {
      await fake.close();
    }
  });

  it('a profile that does not exist is an error naming it', async () => {
    const result = await setup([], { TEMPORAL_PROFILE: 'prod' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Profile 'prod' not found/);
  });

  it('recognises Temporal Cloud endpoints', () => {
    expect(isTemporalCloud('metal.a1b2c.tmprl.cloud:7233')).toBe(true);
    expect(isTemporalCloud('us-east-1.aws.api.temporal.io:7233')).toBe(true);
    expect(isTemporalCloud('temporal-frontend.temporal.svc:7233')).toBe(false);
    expect(isTemporalCloud('127.0.0.1:7233')).toBe(false);
  });
});
