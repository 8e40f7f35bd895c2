/**
 * The AES-GCM payload codec and its keyring: what is encrypted cannot be read without the key, rotation keeps
 * old payloads readable, a wrong or missing key is a precise error, and a keyring's problems never show a key.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  AesGcmCodec,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  Keyring,
  formatKey,
  generateKey,
  isEncrypted,
  parseKeyring,
  payloadFromJson,
  payloadToJson,
} from './payload-codec.ts';

const secretValue = { bmc: 'redfish+https://10.20.30.40/redfish/v1/Systems/1', mac: '52:54:00:12:34:56' };
const plain = defaultPayloadConverter.toPayload(secretValue);
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('latin1');

describe('AesGcmCodec', () => {
  it('encrypts the whole payload: neither the value nor its encoding can be read; it decodes back', async () => {
    const key = generateKey('k1');
    const codec = new AesGcmCodec(new Keyring([key]));
    const [sealed] = await codec.encode([plain]);
    expect(isEncrypted(sealed!)).toBe(true);
    expect(text(sealed!.metadata?.['encoding'])).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata?.[KEY_ID_METADATA])).toBe('k1');
    expect(text(sealed!.data)).not.toContain('10.20.30.40');
    expect(text(sealed!.data)).not.toContain('json/plain');
    const [opened] = await codec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(opened!)).toEqual(secretValue);
  });

  it('uses a fresh nonce each time: the same value encrypts differently', async () => {
    const codec = new AesGcmCodec(new Keyring([generateKey('k1')]));
    const [a] = await codec.encode([plain]);
    const [b] = await codec.encode([plain]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('rotation: the newest key encrypts, the old one still decrypts what it wrote', async () => {
    const old = generateKey('2025');
    const before = new AesGcmCodec(new Keyring([old]));
    const [written] = await before.encode([plain]);
    const rotated = new AesGcmCodec(new Keyring([old, generateKey('2026')]));
    const [fresh] = await rotated.encode([plain]);
    expect(text(fresh!.metadata?.[KEY_ID_METADATA])).toBe('2026');
    const [a, b] = await rotated.decode([written!, fresh!]);
    expect(defaultPayloadConverter.fromPayload(a!)).toEqual(secretValue);
    expect(defaultPayloadConverter.fromPayload(b!)).toEqual(secretValue);
  });

  it('a payload under a key the keyring lacks names that key and the ones it has', async () => {
    const [sealed] = await new AesGcmCodec(new Keyring([generateKey('gone')])).encode([plain]);
    await expect(new AesGcmCodec(new Keyring([generateKey('k2')])).decode([sealed!])).rejects.toThrow(
      /key 'gone', which is not in the keyring \(has: k2\)/,
    );
  });

  it('a wrong key under the same ID, or an altered payload or key ID, does not decrypt', async () => {
    const [sealed] = await new AesGcmCodec(new Keyring([generateKey('k1')])).encode([plain]);
    await expect(new AesGcmCodec(new Keyring([generateKey('k1')])).decode([sealed!])).rejects.toThrow(
      /does not decrypt/,
    );
    const key = generateKey('k1');
    const codec = new AesGcmCodec(new Keyring([key, generateKey('k2')]));
    const [mine] = await new AesGcmCodec(new Keyring([key])).encode([plain]);
    const flipped = Buffer.from(mine!.data!);
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    await expect(codec.decode([{ ...mine!, data: flipped }])).rejects.toThrow(/does not decrypt/);
    // The key ID is authenticated too: relabelling a payload with another (known) key ID fails.
    await expect(
      codec.decode([{ ...mine!, metadata: { ...mine!.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } }]),
    ).rejects.toThrow(/does not decrypt/);
  });

  it('passes plain payloads through decoding (histories from before encryption stay readable)', async () => {
    const codec = new AesGcmCodec(new Keyring([generateKey('k1')]));
    const [same] = await codec.decode([plain]);
    expect(same).toBe(plain);
  });

  it('round-trips through the codec server JSON form', async () => {
    const [sealed] = await new AesGcmCodec(new Keyring([generateKey('k1')])).encode([plain]);
    const back = payloadFromJson(JSON.parse(JSON.stringify(payloadToJson(sealed!))));
    expect(Buffer.from(back.data!).equals(Buffer.from(sealed!.data!))).toBe(true);
    expect(text(back.metadata?.[KEY_ID_METADATA])).toBe('k1');
  });
});

describe('keyrings', () => {
  it('reads ID=BASE64 lines, comments and blank lines; the last key encrypts', () => {
    const a = generateKey('a');
    const b = generateKey('b');
    const ring = parseKeyring(`# rotated 2026-01\n${formatKey(a)}\n\n${formatKey(b)}\n`, 'keys.txt');
    expect(ring.ids).toEqual(['a', 'b']);
    expect(ring.current.id).toBe('b');
  });

  it.each([
    ['empty', '# nothing\n', /keys\.txt holds no encryption key/],
    ['no equals sign', 'justtext\n', /keys\.txt, line 1: expected ID=BASE64/],
    ['a short key', `k=${Buffer.alloc(16).toString('base64')}`, /must be 32 bytes, not 16/],
    ['a duplicate ID', `${formatKey(generateKey('k'))}\n${formatKey(generateKey('k'))}`, /'k' appears twice/],
    ['a bad ID', `no spaces=${Buffer.alloc(32).toString('base64')}`, /must be 1-64 of/],
    ['not base64', 'k=***', /line 1: the key of 'k' is not base64/],
  ])('refuses %s, saying where', (_name, input, message) => {
    expect(() => parseKeyring(input, 'keys.txt')).toThrow(message);
  });

  it('never shows a key in an error', () => {
    const secret = Buffer.alloc(20, 7).toString('base64');
    let message = '';
    try {
      parseKeyring(`k=${secret}`, 'keys.txt');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/must be 32 bytes/);
    expect(message).not.toContain(secret);
  });
});
