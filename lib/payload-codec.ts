/**
 * Payload encryption for Temporal histories: an AES-256-GCM `PayloadCodec` with key IDs, so keys can be
 * rotated (every key of the keyring decrypts; the newest, the last one, encrypts), and a codec that asks a
 * codec server instead (for operators who should not hold the keys). Each encrypted payload is the whole
 * serialized `Payload` (its metadata included: the encoding says nothing about the content), encrypted under a
 * fresh 96-bit nonce with the key ID as associated data, and tagged `binary/encrypted` with
 * `encryption-key-id`. Payloads that are not encrypted pass through decoding unchanged, so histories written
 * before encryption was turned on stay readable.
 *
 * A keyring is text, one key per line, `ID=BASE64` (32 bytes), `#` comments allowed: the form a Kubernetes
 * Secret mounts as a file. `tempered setup encryption-key` appends a new key to one.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
import protos from '@temporalio/proto';

/** The `encoding` of an encrypted payload (Temporal's samples and UI use the same string). */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key a payload was encrypted with. */
export const KEY_ID_METADATA = 'encryption-key-id';

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

// CommonJS: the message classes are reached through the default export.
const ProtoPayload = protos.temporal.api.common.v1.Payload;

/** One AES-256 key and its ID (recorded with each payload it encrypts). */
export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/** The keys payloads are encrypted and decrypted with: the last one encrypts, all of them decrypt. */
export class Keyring {
  readonly #byId = new Map<string, Buffer>();
  /** The key new payloads are encrypted with. */
  readonly current: EncryptionKey;

  constructor(keys: EncryptionKey[]) {
    const last = keys.at(-1);
    if (!last) throw new ValueError('the keyring has no key');
    for (const { id, key } of keys) {
      if (!KEY_ID.test(id)) throw new ValueError(`encryption key ID '${id}' must be 1-64 of A-Z a-z 0-9 . _ -`);
      if (key.length !== KEY_BYTES)
        throw new ValueError(`encryption key '${id}' must be ${KEY_BYTES} bytes, not ${key.length}`);
      if (this.#byId.has(id)) throw new ValueError(`encryption key ID '${id}' appears twice in the keyring`);
      this.#byId.set(id, key);
    }
    this.current = last;
  }

  /** The key IDs, oldest first (never the keys). */
  get ids(): string[] {
    return [...this.#byId.keys()];
  }

  key(id: string): Buffer | undefined {
    return this.#byId.get(id);
  }
}

/**
 * Reads a keyring's text (see the file header). Errors name the source and the line, never a key's value.
 */
export function parseKeyring(text: string, source: string): Keyring {
  const keys: EncryptionKey[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const equals = line.indexOf('=');
    if (equals <= 0)
      throw new ValueError(`${source}, line ${index + 1}: expected ID=BASE64 (a key ID, '=', a base64 key)`);
    const id = line.slice(0, equals).trim();
    const value = line.slice(equals + 1).trim();
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value))
      throw new ValueError(`${source}, line ${index + 1}: the key of '${id}' is not base64`);
    keys.push({ id, key: Buffer.from(value, 'base64') });
  });
  if (keys.length === 0) throw new ValueError(`${source} holds no encryption key (lines of ID=BASE64)`);
  try {
    return new Keyring(keys);
  } catch (error) {
    throw new ValueError(`${source}: ${(error as Error).message}`);
  }
}

/** A new random key; its ID, unless given, says when it was made (`k20260112-3fa9`). */
export function generateKey(id?: string): EncryptionKey {
  const made = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  return { id: id ?? `k${made}-${randomBytes(2).toString('hex')}`, key: randomBytes(KEY_BYTES) };
}

/** A key as one keyring line. */
export function formatKey(key: EncryptionKey): string {
  return `${key.id}=${key.key.toString('base64')}`;
}

/** AES-256-GCM encryption of whole payloads (see the file header). */
export class AesGcmCodec implements PayloadCodec {
  readonly #keyring: Keyring;

  constructor(keyring: Keyring) {
    this.#keyring = keyring;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.#keyring.current;
    return payloads.map((payload) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(Buffer.from(id));
      const sealed = Buffer.concat([
        nonce,
        cipher.update(ProtoPayload.encode(payload).finish()),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(id) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (!isEncrypted(payload)) return payload;
      const id = Buffer.from(payload.metadata?.[KEY_ID_METADATA] ?? new Uint8Array()).toString();
      const key = this.#keyring.key(id);
      if (!key) {
        throw new ValueError(
          `payload encrypted with key '${id}', which is not in the keyring (has: ${this.#keyring.ids.join(', ')})`,
        );
      }
      const sealed = Buffer.from(payload.data ?? new Uint8Array());
      if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new ValueError(`encrypted payload (key '${id}') is truncated`);
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([
          decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)),
          decipher.final(),
        ]);
      } catch {
        throw new ValueError(
          `payload encrypted with key '${id}' does not decrypt: wrong key under that ID, or altered`,
        );
      }
      return ProtoPayload.decode(plain) as Payload;
    });
  }
}

/** Whether a payload is one this codec encrypted. */
export function isEncrypted(payload: Payload): boolean {
  const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
  return encoding !== undefined && encoding !== null && Buffer.from(encoding).toString() === ENCRYPTED_ENCODING;
}

/** A payload in the codec server's JSON (Temporal's protobuf JSON: bytes as base64). */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export function payloadToJson(payload: Payload): JsonPayload {
  const metadata = Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  );
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
}

export function payloadFromJson(json: JsonPayload): Payload {
  const metadata = Object.fromEntries(
    Object.entries(json.metadata ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64')]),
  );
  return { metadata, data: Buffer.from(json.data ?? '', 'base64') };
}

/**
 * A codec that delegates to a codec server (`tempered codec-server`, or any that speaks Temporal's protocol):
 * POST `/encode` and `/decode` with `{"payloads": [...]}`, the namespace in `X-Namespace`, and an
 * `Authorization` header when given (the Temporal CLI's `TEMPORAL_CODEC_AUTH`).
 */
export class RemoteCodec implements PayloadCodec {
  readonly #endpoint: string;
  readonly #namespace: string;
  readonly #authorization: string | undefined;

  constructor(options: { endpoint: string; namespace: string; authorization?: string }) {
    this.#endpoint = options.endpoint.replace(/\/+$/, '');
    this.#namespace = options.namespace;
    this.#authorization = options.authorization;
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return this.#call('encode', payloads);
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return this.#call('decode', payloads);
  }

  async #call(what: 'encode' | 'decode', payloads: Payload[]): Promise<Payload[]> {
    if (payloads.length === 0) return payloads;
    const response = await fetch(`${this.#endpoint}/${what}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-namespace': this.#namespace,
        ...(this.#authorization ? { authorization: this.#authorization } : {}),
      },
      body: JSON.stringify({ payloads: payloads.map(payloadToJson) }),
    });
    if (!response.ok) {
      const detail = (await response.text()).slice(0, 300);
      throw new ValueError(`codec server ${this.#endpoint}/${what} answered ${response.status}: ${detail}`);
    }
    const body = (await response.json()) as { payloads?: JsonPayload[] };
    if (!Array.isArray(body.payloads) || body.payloads.length !== payloads.length) {
      throw new ValueError(
        `codec server ${this.#endpoint}/${what} returned ${body.payloads?.length ?? 'no'} payloads ` +
          `for ${payloads.length}`,
      );
    }
    return body.payloads.map(payloadFromJson);
  }
}
