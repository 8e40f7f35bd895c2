/** Self-test of the secret scan: planted secrets are found in logs and inside history payload bytes. */
import { describe, expect, it } from 'vitest';
import { leakedSecrets, textOf } from './secret-scan.ts';

const SECRET = 'b3.Zm9vYmFyLXNlY3JldC10b2tlbi12YWx1ZQ';

describe('secret scan', () => {
  it('finds a secret inside a payload held as bytes, where a plain JSON search does not', () => {
    const history = { events: [{ workflowExecutionSignaledEventAttributes: { input: { payloads: [{ metadata: {}, data: new TextEncoder().encode(JSON.stringify({ token: SECRET })) }] } } }] };
    expect(JSON.stringify(history).includes(SECRET)).toBe(false); // why textOf exists
    expect(leakedSecrets(textOf(history), [SECRET])).toEqual([SECRET]);
  });

  it('finds a secret in the base64 data of a history in JSON form', () => {
    const history = { events: [{ attributes: { input: { payloads: [{ data: Buffer.from(`{"x":"${SECRET}"}`).toString('base64') }] } } }] };
    expect(leakedSecrets(textOf(history), [SECRET])).toEqual([SECRET]);
  });

  it('finds a secret URL-encoded in a log line, and nothing in clean text', () => {
    const withSlash = 'a/secret+with=chars';
    expect(leakedSecrets(`GET /x?t=${encodeURIComponent(withSlash)}`, [withSlash])).toEqual([withSlash]);
    expect(leakedSecrets(textOf({ msg: 'heartbeat', bootId: 'b3' }), [SECRET])).toEqual([]);
  });
});
