/**
 * `tempered setup`: one-time preparation of what Tempered runs against.
 *
 * `temporal` registers the project's custom search attributes (domain/names.ts `SEARCH_ATTRIBUTES`) in the
 * Temporal namespace, through the operator service of a self-hosted cluster (what `temporal operator
 * search-attribute create` does), optionally creating the namespace first. Temporal Cloud does not take
 * search attributes through the namespace endpoint: there the command lists what the namespace has and, given
 * a Temporal Cloud API key (--cloud-api-key-file or TEMPORAL_CLOUD_API_KEY), adds the missing ones through
 * the Cloud Ops API (cli/cloud-ops.ts) and reads them back through the namespace endpoint; without a key it
 * prints the `tcld` command that adds them and exits 1 until none is missing. The connection is the processes' own (workers/temporal-config.ts: temporal.toml profiles,
 * TEMPORAL_* variables).
 *
 * `webhook-certs` writes a CA and a serving certificate for the validating webhook's Service, the files the
 * self-signed overlay (deploy/overlays/self-signed) turns into a Secret and a caBundle.
 *
 * `encryption-key` adds a new payload encryption key to a keyring file (lib/payload-codec.ts), creating it:
 * the new key encrypts from then on, the older ones keep decrypting (rotation).
 */
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import protos from '@temporalio/proto';
import { makeLocalWebhookCertificates } from '../bridge/admission/local-certs.ts';
import { SEARCH_ATTRIBUTES, type SearchAttributeName } from '../domain/names.ts';
import { addCloudSearchAttributes, CLOUD_OPS_ENDPOINT } from './cloud-ops.ts';
import { formatKey, generateKey, parseKeyring } from '../lib/payload-codec.ts';
import { temporalSettings, type TemporalSettings } from '../workers/temporal-config.ts';

export const usage = [
  'usage: tempered setup <command> [options]',
  '',
  'commands:',
  '  temporal        register the search attributes Tempered uses in the Temporal namespace',
  '  webhook-certs   write a CA and a serving certificate for the admission webhook (self-signed overlay)',
  '  encryption-key  add a payload encryption key to a keyring file (it encrypts from then on)',
  '',
  'tempered setup temporal [--namespace NS] [--create-namespace [--retention-days N]] [--cloud]',
  '                         [--cloud-api-key-file FILE] [--cloud-ops-endpoint URL] [--json]',
  '  The server and namespace come from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_PROFILE,',
  '  TEMPORAL_CONFIG_FILE, TEMPORAL_API_KEY and TEMPORAL_TLS_* (the Temporal CLI\'s conventions).',
  '  --namespace NS         overrides the namespace of the profile/environment',
  '  --create-namespace     register the namespace first when it does not exist (self-hosted only)',
  '  --retention-days N     its workflow retention (default 7)',
  '  --cloud                treat the server as Temporal Cloud (automatic for *.tmprl.cloud and *.api.temporal.io)',
  '  --cloud-api-key-file FILE  Temporal Cloud: a Cloud Ops API key (default: TEMPORAL_CLOUD_API_KEY) of a user or',
  '                         service account that may update the namespace (Namespace Admin); with it the missing',
  '                         attributes are added through the Cloud Ops API, without it the tcld command is printed',
  `  --cloud-ops-endpoint URL   the Cloud Ops API (default TEMPORAL_CLOUD_OPS_ENDPOINT or ${CLOUD_OPS_ENDPOINT})`,
  '',
  'tempered setup webhook-certs --out DIR [--namespace tempered-system] [--service tempered-webhook] [--days 365]',
  '  writes DIR/ca.crt, DIR/tls.crt, DIR/tls.key for the Service <service>.<namespace>.svc; the CA key is',
  '  not kept: run it again to rotate, then apply the overlay again',
  '',
  'tempered setup encryption-key --out FILE [--id ID] [--json]',
  '  appends a new AES-256 key (ID=BASE64) to FILE, created with mode 0600; the last key encrypts and every',
  '  key decrypts, so older histories stay readable. Put FILE in the tempered-encryption Secret (docs/install.md).',
].join('\n');

class UsageError extends Error {}

// CommonJS: the enum is reached through the default export.
const { IndexedValueType } = protos.temporal.api.enums.v1;
const TYPE_OF: Record<(typeof SEARCH_ATTRIBUTES)[SearchAttributeName], number> = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
};
const TYPE_NAME = new Map<number, string>(Object.entries(IndexedValueType).map(([name, value]) => [value as number, name.replace('INDEXED_VALUE_TYPE_', '')]));

/** What `setup temporal` found and did. */
export interface SearchAttributeReport {
  address: string;
  namespace: string;
  cloud: boolean;
  namespaceCreated: boolean;
  /** Registered by this run. */
  added: string[];
  /** Already there with the right type. */
  present: string[];
  /** There with another type: Tempered cannot use them; a person must decide. */
  conflicts: { name: string; has: string; wants: string }[];
  /** Not there and not added (Temporal Cloud without an API key: add them with the printed command). */
  missing: string[];
  /** Temporal Cloud: the Cloud Ops API operation that added them. */
  cloudOperationId?: string;
}

/** How `setup temporal` reaches Temporal Cloud's control plane. */
export interface CloudOpsAccess {
  apiKey: string;
  endpoint?: string;
  timeoutMs?: number;
  pollMs?: number;
}

/** Temporal Cloud endpoints: namespace endpoints (mTLS or API key) and the regional API-key endpoints. */
export function isTemporalCloud(address: string): boolean {
  const host = address.replace(/:\d+$/, '').toLowerCase();
  return host.endsWith('.tmprl.cloud') || host.endsWith('.api.temporal.io');
}

/** The tcld command that adds `names` to a Temporal Cloud namespace. */
export function tcldCommand(namespace: string, names: string[]): string {
  const flags = names.map((name) => `--search-attribute "${name}=${SEARCH_ATTRIBUTES[name as SearchAttributeName] ?? 'Keyword'}"`);
  return ['tcld namespace search-attributes add', `--namespace ${namespace}`, ...flags].join(' \\\n    ');
}

async function customAttributes(connection: Connection, namespace: string): Promise<Map<string, string>> {
  const response = await connection.operatorService.listSearchAttributes({ namespace });
  return new Map(Object.entries(response.customAttributes ?? {}).map(([name, type]) => [name, TYPE_NAME.get(Number(type)) ?? String(type)]));
}

async function namespaceExists(connection: Connection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === 5) return false; // NOT_FOUND
    throw error;
  }
}

/** Retries `fn` while the server still says the namespace is unknown (a new namespace takes seconds to appear). */
async function whileNamespaceSettles<T>(fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      const notYet = (error as { code?: number }).code === 5 || /namespace .*not found/i.test((error as Error).message ?? '');
      if (!notYet || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Registers the search attributes (see the file header); does not print. */
export async function setupTemporal(
  settings: TemporalSettings,
  options: { namespace?: string; createNamespace?: boolean; retentionDays?: number; cloud?: boolean; cloudOps?: CloudOpsAccess } = {},
): Promise<SearchAttributeReport> {
  const namespace = options.namespace ?? settings.namespace;
  const cloud = options.cloud ?? isTemporalCloud(settings.address);
  const connection = await Connection.connect(settings.connectionOptions);
  try {
    let namespaceCreated = false;
    if (options.createNamespace && !cloud && !(await namespaceExists(connection, namespace))) {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(`${options.retentionDays ?? 7} days`) });
      namespaceCreated = true;
    }
    const wanted = Object.entries(SEARCH_ATTRIBUTES) as [SearchAttributeName, (typeof SEARCH_ATTRIBUTES)[SearchAttributeName]][];
    const existing = await whileNamespaceSettles(() => customAttributes(connection, namespace));
    const report: SearchAttributeReport = { address: settings.address, namespace, cloud, namespaceCreated, added: [], present: [], conflicts: [], missing: [] };
    const toAdd: Record<string, number> = {};
    for (const [name, type] of wanted) {
      const has = existing.get(name);
      if (has === undefined) toAdd[name] = TYPE_OF[type];
      else if (has.toLowerCase() === type.toLowerCase()) report.present.push(name);
      else report.conflicts.push({ name, has, wants: type });
    }
    const names = Object.keys(toAdd);
    if (names.length === 0) return report;
    if (cloud && !options.cloudOps) {
      report.missing = names;
      return report;
    }
    if (cloud && options.cloudOps) {
      // The control plane decides from its own spec: an attribute the namespace endpoint did not list yet
      // may be there already, or with another type (then it is a conflict, left alone).
      const { apiKey, endpoint, timeoutMs, pollMs } = options.cloudOps;
      const wantedNow = Object.fromEntries(names.map((name) => [name, SEARCH_ATTRIBUTES[name as SearchAttributeName]]));
      const result = await addCloudSearchAttributes({ apiKey, namespace, wanted: wantedNow, ...(endpoint ? { endpoint } : {}), ...(timeoutMs ? { timeoutMs } : {}), ...(pollMs ? { pollMs } : {}) });
      report.conflicts.push(...result.conflicts);
      if (result.operationId) report.cloudOperationId = result.operationId;
      names.splice(0, names.length, ...names.filter((name) => !result.conflicts.some((c) => c.name === name)));
    } else {
      await whileNamespaceSettles(() => connection.operatorService.addSearchAttributes({ namespace, searchAttributes: toAdd }));
    }
    // Read back: the attributes are usable once the server lists them.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const now = await customAttributes(connection, namespace);
      const still = names.filter((name) => !now.has(name));
      if (still.length === 0) break;
      if (Date.now() > deadline) {
        report.missing = still;
        return report;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    report.added = names;
    return report;
  } finally {
    await connection.close();
  }
}

function printReport(report: SearchAttributeReport): void {
  const where = `namespace ${report.namespace} at ${report.address}${report.cloud ? ' (Temporal Cloud)' : ''}`;
  if (report.namespaceCreated) console.log(`created ${where}`);
  if (report.added.length > 0) console.log(`registered ${report.added.join(', ')} in ${where}${report.cloudOperationId ? ` (Cloud Ops API operation ${report.cloudOperationId})` : ''}`);
  if (report.present.length > 0) console.log(`already registered: ${report.present.join(', ')}`);
  // Temporal Cloud cannot delete a search attribute, only rename it.
  const fix = report.cloud ? 'Rename it (Cloud UI, or the Cloud Ops API\'s RenameCustomSearchAttribute)' : 'Remove it';
  for (const c of report.conflicts) console.error(`conflict: ${c.name} exists as ${c.has}; Tempered needs ${c.wants}. ${fix} or use another namespace.`);
  if (report.missing.length > 0 && report.cloud && !report.cloudOperationId) {
    console.error(`missing in ${where}: ${report.missing.join(', ')}`);
    console.error('Temporal Cloud adds search attributes through its control plane, not the namespace endpoint. Run:');
    console.error(`  ${tcldCommand(report.namespace, report.missing)}`);
    console.error('or let this command add them through the Cloud Ops API: give it a Temporal Cloud API key of a user or');
    console.error('service account that is Namespace Admin of the namespace, with --cloud-api-key-file FILE or');
    console.error('TEMPORAL_CLOUD_API_KEY (not the workers\' TEMPORAL_API_KEY unless that key has this permission). Or use the');
    console.error('Cloud UI (Namespace > Search Attributes). Then run this command again to check.');
  } else if (report.missing.length > 0) {
    const through = report.cloudOperationId ? ` (added by Cloud Ops API operation ${report.cloudOperationId})` : '';
    console.error(`not visible after registering: ${report.missing.join(', ')} in ${where}${through}; run this command again to check`);
  }
  if (report.added.length === 0 && report.missing.length === 0 && report.conflicts.length === 0) console.log(`all ${report.present.length} search attributes are registered in ${where}`);
}

async function runTemporal(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      namespace: { type: 'string' },
      'create-namespace': { type: 'boolean' },
      'retention-days': { type: 'string' },
      cloud: { type: 'boolean' },
      'cloud-api-key-file': { type: 'string' },
      'cloud-ops-endpoint': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const retentionDays = values['retention-days'] === undefined ? undefined : Number(values['retention-days']);
  if (retentionDays !== undefined && !(Number.isInteger(retentionDays) && retentionDays > 0)) throw new UsageError('--retention-days must be a positive integer');
  // The key is read here and passed on; it is never printed (cli/cloud-ops.ts redacts it from errors too).
  let cloudApiKey = process.env['TEMPORAL_CLOUD_API_KEY']?.trim();
  const keyFile = values['cloud-api-key-file'];
  if (keyFile !== undefined) {
    if (!existsSync(keyFile)) throw new UsageError(`--cloud-api-key-file ${keyFile}: no such file`);
    cloudApiKey = readFileSync(keyFile, 'utf8').trim();
    if (!cloudApiKey) throw new UsageError(`--cloud-api-key-file ${keyFile} is empty`);
  }
  const cloudOpsEndpoint = values['cloud-ops-endpoint'] ?? process.env['TEMPORAL_CLOUD_OPS_ENDPOINT'];
  if (cloudOpsEndpoint !== undefined && !/^https?:\/\//.test(cloudOpsEndpoint)) throw new UsageError('--cloud-ops-endpoint must be an http(s) URL');
  const report = await setupTemporal(temporalSettings(), {
    ...(values.namespace ? { namespace: values.namespace } : {}),
    createNamespace: values['create-namespace'] ?? false,
    ...(retentionDays ? { retentionDays } : {}),
    ...(values.cloud ? { cloud: true } : {}),
    ...(cloudApiKey ? { cloudOps: { apiKey: cloudApiKey, ...(cloudOpsEndpoint ? { endpoint: cloudOpsEndpoint } : {}) } } : {}),
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else printReport(report);
  return report.conflicts.length > 0 || report.missing.length > 0 ? 1 : 0;
}

async function runWebhookCerts(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: 'string' },
      namespace: { type: 'string' },
      service: { type: 'string' },
      days: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.out) throw new UsageError('--out DIR is required');
  const days = Number(values.days ?? 365);
  if (!Number.isInteger(days) || days <= 0) throw new UsageError('--days must be a positive integer');
  const service = values.service ?? 'tempered-webhook';
  const namespace = values.namespace ?? 'tempered-system';
  const host = `${service}.${namespace}.svc`;
  // Made in a scratch directory: only the three files the overlay reads are kept (no CA key, no CSR).
  const scratch = join(tmpdir(), `tempered-webhook-certs-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  try {
    const certs = makeLocalWebhookCertificates(scratch, [`DNS:${host}`, `DNS:${host}.cluster.local`], days);
    mkdirSync(values.out, { recursive: true });
    copyFileSync(certs.caFile, join(values.out, 'ca.crt'));
    copyFileSync(certs.certFile, join(values.out, 'tls.crt'));
    copyFileSync(certs.keyFile, join(values.out, 'tls.key'));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log(`wrote ${readdirSync(values.out).filter((f) => ['ca.crt', 'tls.crt', 'tls.key'].includes(f)).sort().join(', ')} to ${values.out} for ${host}, valid ${days} days`);
  return 0;
}

/** Appends a new key to a keyring file (see the file header), checking the file first. */
export function addEncryptionKey(file: string, id?: string): { id: string; keys: string[] } {
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const before = existing.trim() === '' ? [] : parseKeyring(existing, file).ids;
  const key = generateKey(id);
  if (before.includes(key.id)) throw new UsageError(`${file} already has a key '${key.id}'`);
  mkdirSync(dirname(file), { recursive: true });
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
  const header = existing === '' ? '# Tempered payload encryption keys: ID=BASE64; the last encrypts, all decrypt.\n' : '';
  appendFileSync(file, `${separator}${header}${formatKey(key)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { id: key.id, keys: [...before, key.id] };
}

function runEncryptionKey(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: 'string' },
      id: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.out) throw new UsageError('--out FILE is required');
  const added = addEncryptionKey(values.out, values.id);
  if (values.json) console.log(JSON.stringify({ file: values.out, added: added.id, keys: added.keys }));
  else {
    const count = `${added.keys.length} key${added.keys.length === 1 ? '' : 's'}`;
    console.log(`added key ${added.id} to ${values.out} (${count}; ${added.id} encrypts from now on)`);
  }
  return 0;
}

/** Entry point of `tempered setup`. */
export async function run(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case 'temporal':
        return await runTemporal(rest);
      case 'webhook-certs':
        return await runWebhookCerts(rest);
      case 'encryption-key':
        return runEncryptionKey(rest);
      case undefined:
      case '--help':
      case '-h':
        console.log(usage);
        return command ? 0 : 2;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`tempered setup: ${(error as Error).message}\n\n${usage}`);
      return 2;
    }
    console.error(`tempered setup ${command}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
