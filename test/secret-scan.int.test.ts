/**
 * Self-test of the secret scan (test/secret-scan.ts), which guards "no secret in history or logs": secrets are
 * planted where a leak would put them, on the real Temporal server, and the scan must find each one, at the
 * place it was planted. A password in an activity input (the whole password appears nowhere else), a memo and a
 * search attribute; histories encrypted with Tempered's codec and plain ones; and a line a real process logger
 * writes at trace level. The JSON-text search the project used before is shown to miss the same password.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, generateKey } from '../lib/payload-codec.ts';
import { clientDataConverter, protectionFromKeyring, workerDataConverter } from '../workers/data-converter.ts';
import { findNeedles, logLevels, logTexts, scanExecutions } from './secret-scan.ts';
import { unique } from './support.ts';
import type { plantedWorkflow } from './workflows/planted.ts';
import { sharedStack } from './stack-info.ts';

const stack = sharedStack();
const RUN = unique('scan');
const QUEUE = `scan-${RUN}`;
const PASSWORD = `Planted-${RUN}-pw`;
const MEMO_SECRET = `memo-${RUN}-secret`;
const ATTRIBUTE_SECRET = `attr-${RUN}-secret`;
const BmhName = defineSearchAttributeKey('BmhName', SearchAttributeType.KEYWORD);
const protection = protectionFromKeyring(new Keyring([generateKey('scan-key')]));

let connection: Connection;
let native: NativeConnection;
let encrypted: Client;
let plain: Client;
let workers: Worker[];
let running: Promise<unknown>;

beforeAll(async () => {
  connection = await Connection.connect({ address: stack.temporal.address });
  native = await NativeConnection.connect({ address: stack.temporal.address });
  encrypted = new Client({
    connection,
    namespace: stack.temporal.namespace,
    dataConverter: clientDataConverter(protection),
  });
  plain = new Client({
    connection,
    namespace: stack.temporal.namespace,
    dataConverter: clientDataConverter({ codec: undefined }),
  });
  const workflowsPath = fileURLToPath(new URL('./workflows/planted.ts', import.meta.url));
  const activities = { login: async ({ address }: { address: string }) => `logged in to ${address}` };
  workers = await Promise.all(
    [
      { queue: `${QUEUE}-enc`, converter: workerDataConverter(protection) },
      { queue: `${QUEUE}-plain`, converter: workerDataConverter({ codec: undefined }) },
    ].map(({ queue, converter }) =>
      Worker.create({
        connection: native,
        namespace: stack.temporal.namespace,
        taskQueue: queue,
        workflowsPath,
        dataConverter: converter,
        activities,
      }),
    ),
  );
  running = Promise.all(workers.map((w) => w.run()));
  const half = Math.floor(PASSWORD.length / 2);
  const halves: [string, string] = [PASSWORD.slice(0, half), PASSWORD.slice(half)];
  for (const [client, kind] of [
    [encrypted, 'enc'],
    [plain, 'plain'],
  ] as const) {
    await client.workflow.execute<typeof plantedWorkflow>('plantedWorkflow', {
      workflowId: `${RUN}/${kind}`,
      taskQueue: `${QUEUE}-${kind}`,
      args: [{ address: 'redfish://10.9.8.7', halves }],
      memo: { note: MEMO_SECRET },
      typedSearchAttributes: [{ key: BmhName, value: ATTRIBUTE_SECRET }],
    });
  }
});

afterAll(async () => {
  for (const w of workers ?? []) w.shutdown();
  await running;
  await native?.close();
  await connection?.close();
});

const query = (kind: string) => `WorkflowId = "${RUN}/${kind}"`;

describe('the secret scan finds what is planted', () => {
  it('a password in an encrypted activity input: found decoded, at that input; absent from the raw bytes', async () => {
    const decoded = await scanExecutions(encrypted, query('enc'), { decode: clientDataConverter(protection) });
    expect(decoded.executions).toBe(1);
    const found = findNeedles(decoded.texts, [PASSWORD]);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((f) => /activityTaskScheduledEventAttributes\.input\.payloads\[0\]$/.test(f.where))).toBe(true);

    const raw = await scanExecutions(encrypted, query('enc'), 'raw');
    expect(raw.payloads).toBe(decoded.payloads);
    expect(findNeedles(raw.texts, [PASSWORD, 'redfish://10.9.8.7'])).toEqual([]);
  });

  it('memo and search attributes are scanned: the memo decoded, the attribute as the server indexes it', async () => {
    const decoded = await scanExecutions(encrypted, query('enc'), { decode: clientDataConverter(protection) });
    const memo = findNeedles(decoded.texts, [MEMO_SECRET]).map((f) => f.where);
    expect(memo.some((w) => w.includes('visibility.memo'))).toBe(true);
    const attribute = findNeedles(decoded.texts, [ATTRIBUTE_SECRET]).map((f) => f.where);
    expect(attribute.some((w) => w.includes('visibility.searchAttributes'))).toBe(true);
    // Search attributes are never encrypted (Temporal indexes them): the raw read sees them, the memo not.
    const raw = await scanExecutions(encrypted, query('enc'), 'raw');
    expect(findNeedles(raw.texts, [ATTRIBUTE_SECRET]).length).toBeGreaterThan(0);
    expect(findNeedles(raw.texts, [MEMO_SECRET])).toEqual([]);
  });

  it('a password in a plain activity input: found decoded and raw; the old JSON-text search misses it', async () => {
    const decoded = await scanExecutions(plain, query('plain'), { decode: clientDataConverter({ codec: undefined }) });
    expect(findNeedles(decoded.texts, [PASSWORD]).length).toBeGreaterThan(0);
    const raw = await scanExecutions(plain, query('plain'), 'raw');
    expect(findNeedles(raw.texts, [PASSWORD]).length).toBeGreaterThan(0);
    const history = await plain.workflow.getHandle(`${RUN}/plain`).fetchHistory();
    expect(JSON.stringify(history).includes(PASSWORD)).toBe(false);
  });

  it('a history it cannot decrypt fails the scan instead of passing it', async () => {
    const stranger = protectionFromKeyring(new Keyring([generateKey('scan-key')]));
    await expect(scanExecutions(encrypted, query('enc'), { decode: clientDataConverter(stranger) })).rejects.toThrow(
      /cannot decode the payload at .*does not decrypt/,
    );
  });

  it('a password in a trace-level line of a process logger is found, at its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tempered-scan-'));
    const script = join(dir, 'log.ts');
    const processModule = fileURLToPath(new URL('../workers/process.ts', import.meta.url));
    writeFileSync(
      script,
      [
        `import { createLogger } from ${JSON.stringify(processModule)};`,
        `const log = createLogger('planted');`,
        `log.info({ password: ${JSON.stringify(PASSWORD)} }, 'a redacted field');`,
        `log.trace('connecting with ${PASSWORD}');`,
        `log.debug('done');`,
      ].join('\n'),
    );
    const result = spawnSync(process.execPath, [script], {
      env: { ...process.env, LOG_LEVEL: 'trace', LOG_FORMAT: 'json' },
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
    const file = join(dir, 'planted.log');
    writeFileSync(file, result.stdout);
    const lines = logTexts([file]);
    expect(logLevels(lines)).toEqual(new Set([10, 20, 30]));
    expect(findNeedles(lines, [PASSWORD])).toEqual([{ needle: PASSWORD, where: `${file}:2` }]);
    expect(lines[0]?.text).toContain('[redacted]');
  });
});
