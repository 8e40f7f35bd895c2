/**
 * The secret scan: what a person reading Temporal's data or the processes' logs could see, searched for
 * strings that must never be there (BMC passwords) or never in clear (BMC addresses, MACs, serials, user data).
 *
 * A history is walked field by field. Every payload in it (inputs, results, signal and update arguments,
 * markers of local activities, heartbeats, failure attributes, user metadata, search attributes, memo,
 * headers) is either decoded as Tempered decodes it (the codec, then the payload converter: JSON text of the
 * value) or, in `raw` mode, read as the bytes the server stores; every other string field (IDs, types,
 * failure messages, identities) is read as it is. The visibility record of each execution (its current
 * search attributes and memo) is read too. A payload that cannot be decoded fails the scan: a scan that skips
 * what it cannot read proves nothing. Log files are searched line by line, whatever their level.
 * test/secret-scan.int.test.ts plants secrets and proves the scan finds them.
 *
 * `textOf` and `leakedSecrets` (at the end) are the synchronous form for an unencrypted history already in
 * hand: every string, with payload bytes and base64 `data` read as text; secret-scan.test.ts plants secrets.
 */
import { readFileSync } from 'node:fs';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { LoadedDataConverter, Payload } from '@temporalio/common';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** One piece of text a reader can see, and where it is. */
export interface ScannedText {
  where: string;
  text: string;
}

/** A needle found. */
export interface Finding {
  needle: string;
  where: string;
}

/** How payloads are read: decoded like Tempered does, or as stored (`raw`). */
export type PayloadReading = { decode: LoadedDataConverter } | 'raw';

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function isPayload(value: unknown): value is Payload {
  if (value === null || typeof value !== 'object' || isBytes(value)) return false;
  const v = value as { data?: unknown; metadata?: unknown };
  const metadataOk =
    v.metadata !== undefined &&
    v.metadata !== null &&
    typeof v.metadata === 'object' &&
    Object.values(v.metadata).every(isBytes);
  return (
    (isBytes(v.data) && (v.metadata === undefined || v.metadata === null || metadataOk)) ||
    (metadataOk && Object.keys(v.metadata as object).length > 0)
  );
}

const utf8 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');

async function readPayload(payload: Payload, reading: PayloadReading, where: string): Promise<string> {
  const metadata = Object.entries(payload.metadata ?? {})
    .map(([k, v]) => `${k}=${utf8(v)}`)
    .join(' ');
  if (reading === 'raw') return `${metadata} ${utf8(payload.data)}`;
  let decoded = payload;
  try {
    for (const codec of [...reading.decode.payloadCodecs].reverse())
      [decoded] = (await codec.decode([decoded])) as [Payload];
  } catch (error) {
    throw new Error(`secret scan: cannot decode the payload at ${where}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let value: string;
  try {
    value = JSON.stringify(reading.decode.payloadConverter.fromPayload(decoded)) ?? '';
  } catch {
    // Binary or unknown encodings: their bytes, as a reader would see them.
    value = utf8(decoded.data);
  }
  const decodedMetadata = Object.entries(decoded.metadata ?? {})
    .map(([k, v]) => `${k}=${utf8(v)}`)
    .join(' ');
  return `${decodedMetadata} ${value}`;
}

/** Every text of `value` (a history, an event, a describe response), payloads read as `reading` says. */
export async function textsOf(value: unknown, reading: PayloadReading, where: string): Promise<ScannedText[]> {
  const out: ScannedText[] = [];
  const visit = async (node: unknown, path: string): Promise<void> => {
    if (node === null || node === undefined) return;
    if (typeof node === 'string') {
      if (node !== '') out.push({ where: path, text: node });
      return;
    }
    if (typeof node !== 'object') return;
    if (isPayload(node)) {
      out.push({ where: path, text: await readPayload(node, reading, path) });
      return;
    }
    if (isBytes(node)) {
      // Bytes outside a payload (rare: tokens, raw protos): what they say as text.
      out.push({ where: path, text: utf8(node) });
      return;
    }
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) await visit(item, `${path}[${i}]`);
      return;
    }
    // Longs and dates carry no text worth scanning.
    if ('low' in node && 'high' in node) return;
    for (const [key, item] of Object.entries(node)) await visit(item, `${path}.${key}`);
  };
  await visit(value, where);
  return out;
}

/** The texts of one history, each placed by workflow and event. */
export async function historyTexts(history: History, reading: PayloadReading, label: string): Promise<ScannedText[]> {
  const out: ScannedText[] = [];
  for (const event of history.events ?? [])
    out.push(...(await textsOf(event, reading, `${label} event ${String(event.eventId)}`)));
  return out;
}

/** What was scanned, for the caller's sanity checks (a scan of nothing proves nothing). */
export interface HistoryScan {
  executions: number;
  payloads: number;
  texts: ScannedText[];
}

/**
 * Scans every execution `query` lists (every run: continue-as-new chains and closed runs too): its history and
 * its visibility record (current search attributes, memo).
 */
export async function scanExecutions(client: Client, query: string, reading: PayloadReading): Promise<HistoryScan> {
  const scan: HistoryScan = { executions: 0, payloads: 0, texts: [] };
  for await (const execution of client.workflow.list({ query })) {
    const handle = client.workflow.getHandle(execution.workflowId, execution.runId);
    const label = `${execution.workflowId} (run ${execution.runId})`;
    const history = await handle.fetchHistory();
    const texts = await historyTexts(history, reading, label);
    const description = await handle.describe();
    const visibility = {
      searchAttributes: description.raw.workflowExecutionInfo?.searchAttributes,
      memo: description.raw.workflowExecutionInfo?.memo,
    };
    texts.push(...(await textsOf(visibility, reading, `${label} visibility`)));
    scan.executions += 1;
    scan.payloads += countPayloads(history) + countPayloads(visibility);
    scan.texts.push(...texts);
  }
  return scan;
}

function countPayloads(value: unknown): number {
  if (value === null || typeof value !== 'object' || isBytes(value)) return 0;
  if (isPayload(value)) return 1;
  return Object.values(value).reduce<number>((n, v) => n + countPayloads(v), 0);
}

/** Where each needle appears in `texts`. */
export function findNeedles(texts: ScannedText[], needles: string[]): Finding[] {
  const findings: Finding[] = [];
  for (const needle of needles) {
    if (needle === '') throw new Error('secret scan: an empty needle matches everything');
    for (const { where, text } of texts) if (text.includes(needle)) findings.push({ needle, where });
  }
  return findings;
}

/** Every line of the given log files (JSON lines of any level, or anything else they hold). */
export function logTexts(files: string[]): ScannedText[] {
  return files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .map((text, i) => ({ where: `${file}:${i + 1}`, text }))
      .filter((line) => line.text !== ''),
  );
}

/** The pino levels present in JSON log lines (to show a scanned run logged at every level). */
export function logLevels(texts: ScannedText[]): Set<number> {
  const levels = new Set<number>();
  for (const { text } of texts) {
    const match = /"level":(\d+)/.exec(text);
    if (match) levels.add(Number(match[1]));
  }
  return levels;
}

// The synchronous form, for a history already fetched without a codec.

function decodeBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}

/** Every string in `value`, with byte arrays and base64 `data` fields of payloads decoded to text. */
export function textOf(value: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, key?: string) => {
    if (v === null || v === undefined) return;
    if (typeof v === 'string') {
      parts.push(v);
      // Payloads in a history's JSON form: `{"metadata": {...}, "data": "<base64>"}`.
      if (key === 'data' && /^[A-Za-z0-9+/=_-]+$/.test(v)) parts.push(Buffer.from(v, 'base64').toString('utf8'));
      return;
    }
    if (typeof v !== 'object') {
      parts.push(String(v));
      return;
    }
    if (v instanceof Uint8Array) {
      parts.push(decodeBytes(v));
      return;
    }
    if (seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) for (const item of v) walk(item);
    else for (const [k, item] of Object.entries(v as Record<string, unknown>)) walk(item, k);
  };
  walk(value);
  return parts.join('\n');
}

/** The secrets of `secrets` that occur in `text` (raw or URL-encoded). */
export function leakedSecrets(text: string, secrets: string[]): string[] {
  return secrets.filter((s) => s !== '' && (text.includes(s) || text.includes(encodeURIComponent(s))));
}
