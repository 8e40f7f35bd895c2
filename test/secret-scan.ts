/**
 * Finds secrets where they must never be: log lines and Temporal histories. Payloads in a history are bytes
 * (`Uint8Array`, or base64 in the JSON form), so a plain text search of a serialized history finds nothing
 * even when a secret is there; this decodes every payload before searching. Secrets are also looked for in
 * their URL-encoded form. `secret-scan.test.ts` plants secrets and proves they are caught.
 */

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
