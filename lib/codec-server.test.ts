/**
 * The codec server over real HTTP on loopback, called the way the Temporal UI calls it from a browser (a CORS
 * preflight, then a POST with `X-Namespace` and the UI's `Origin`) and the way the CLI does (no origin): it
 * decodes what the codec encrypted, refuses other origins, namespaces and missing tokens, and says why.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerTokens, startCodecServer, type CodecServer } from './codec-server.ts';
import { AesGcmCodec, Keyring, RemoteCodec, generateKey, payloadToJson } from './payload-codec.ts';

const UI = 'http://127.0.0.1:8233';
const codec = new AesGcmCodec(new Keyring([generateKey('k1')]));
let server: CodecServer;

beforeAll(async () => {
  server = await startCodecServer({
    codec,
    allowedOrigins: [UI],
    namespaces: ['default'],
    authorize: bearerTokens(['s3cret-token']),
  });
});
afterAll(() => server?.stop());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-namespace': 'default',
      authorization: 'Bearer s3cret-token',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('codec server', () => {
  it("answers the UI's preflight with CORS headers for its origin", async () => {
    const res = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    expect(res.headers.get('access-control-allow-headers')).toMatch(/x-namespace/);
    expect(res.headers.get('access-control-allow-methods')).toMatch(/POST/);
  });

  it('decodes for the UI: encrypted in, clear out, with CORS on the answer', async () => {
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload({ serial: 'SN-123' })]);
    const res = await post('/decode', { payloads: [payloadToJson(sealed!)] }, { origin: UI });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(body.payloads[0]!.metadata['encoding']!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString())).toEqual({ serial: 'SN-123' });
  });

  it("encodes, and the remote codec (the CLI's) round-trips through it", async () => {
    const remote = new RemoteCodec({
      endpoint: server.url,
      namespace: 'default',
      authorization: 'Bearer s3cret-token',
    });
    const [sealed] = await remote.encode([defaultPayloadConverter.toPayload('hello')]);
    expect(Buffer.from(sealed!.data!).toString('latin1')).not.toContain('hello');
    const [opened] = await remote.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(opened!)).toBe('hello');
  });

  it.each([
    ['another origin', { origin: 'http://evil.example' }, 403, /origin http:\/\/evil\.example is not allowed/],
    ['another namespace', { 'x-namespace': 'other' }, 403, /namespace other is not served/],
    ['no token', { authorization: '' }, 401, /bearer token is required/],
    ['a wrong token', { authorization: 'Bearer nope' }, 401, /not accepted/],
  ])('refuses %s', async (_what, headers, status, message) => {
    const res = await post('/decode', { payloads: [] }, headers);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toMatch(message);
  });

  it('says what is wrong with a request, and with a payload it cannot decrypt', async () => {
    expect((await post('/decode', 'not json')).status).toBe(400);
    expect((await post('/decode', { nope: 1 })).status).toBe(400);
    expect((await post('/other', { payloads: [] })).status).toBe(404);
    const [foreign] = await new AesGcmCodec(new Keyring([generateKey('elsewhere')])).encode([
      defaultPayloadConverter.toPayload(1),
    ]);
    const res = await post('/decode', { payloads: [payloadToJson(foreign!)] });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toMatch(/key 'elsewhere', which is not in the keyring/);
  });
});
