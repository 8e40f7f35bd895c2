/**
 * The one place that builds Tempered's Temporal data converter, for every process (worker, bridge, agent API),
 * the CLI, the production bundle and the tests: the failure converter that moves error messages into payloads
 * (lib/failure-converter.ts) and, when a keyring is configured, the AES-GCM payload codec
 * (lib/payload-codec.ts). Encryption is on exactly when keys are configured:
 *
 *   TEMPERED_ENCRYPTION_KEYS_FILE   a keyring file, one `ID=BASE64` line per key, the last one encrypts (a
 *                                   Kubernetes Secret mounted as a file: deploy/components/encryption)
 *   TEMPERED_ENCRYPTION_KEYS        the same text in the variable itself (a Secret's key as env)
 *
 * The CLI may instead decode through a codec server (`--codec-endpoint`, or the Temporal CLI's
 * `TEMPORAL_CODEC_ENDPOINT` and `TEMPORAL_CODEC_AUTH`), so an operator needs no key. Every process of one
 * installation must share the keyring: a payload written under a key another process lacks cannot be read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  defaultPayloadConverter,
  type DataConverter,
  type LoadedDataConverter,
  type PayloadCodec,
} from '@temporalio/common';
import { z } from 'zod';
import { failureConverter } from '../lib/failure-converter.ts';
import { AesGcmCodec, RemoteCodec, parseKeyring, type Keyring } from '../lib/payload-codec.ts';

/** The variables that configure payload encryption (validated with the rest of a process's configuration). */
export const EncryptionEnvSchema = z.object({
  TEMPERED_ENCRYPTION_KEYS_FILE: z.string().min(1).optional(),
  TEMPERED_ENCRYPTION_KEYS: z.string().min(1).optional(),
});

/**
 * The failure converter module, by path: the SDK loads it in the workflow sandbox (bundled) and in the
 * activity worker. The compiled build has `.js` beside this file, a checkout the `.ts` source.
 */
export const FAILURE_CONVERTER_PATH = ['../lib/failure-converter.ts', '../lib/failure-converter.js']
  .map((p) => fileURLToPath(new URL(p, import.meta.url)))
  .find((p) => existsSync(p)) as string;

/** How payloads are protected, safe to log: never a key. */
export interface ProtectionSummary {
  encryption: 'off' | 'on' | 'codec-server';
  /** With keys: every key ID, and the one that encrypts. */
  keyIds?: string[];
  encryptsWith?: string;
  codecServer?: string;
}

export interface PayloadProtection {
  codec: PayloadCodec | undefined;
  keyring: Keyring | undefined;
  summary: ProtectionSummary;
}

/**
 * The keyring the environment configures, if any. Throws a readable error (naming the variable or file, never
 * a key) when one is configured but unusable: a process must not silently write plaintext.
 */
export function keyringFromEnv(env: NodeJS.ProcessEnv = process.env): Keyring | undefined {
  const file = env['TEMPERED_ENCRYPTION_KEYS_FILE'];
  const inline = env['TEMPERED_ENCRYPTION_KEYS'];
  if (file && inline) throw new Error('set TEMPERED_ENCRYPTION_KEYS_FILE or TEMPERED_ENCRYPTION_KEYS, not both');
  if (inline) return parseKeyring(inline, 'TEMPERED_ENCRYPTION_KEYS');
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(
      `TEMPERED_ENCRYPTION_KEYS_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: error },
    );
  }
  return parseKeyring(text, file);
}

/** Payload protection from keys: what every process uses. */
export function protectionFromKeyring(keyring: Keyring | undefined): PayloadProtection {
  if (!keyring) return { codec: undefined, keyring: undefined, summary: { encryption: 'off' } };
  return {
    codec: new AesGcmCodec(keyring),
    keyring,
    summary: { encryption: 'on', keyIds: keyring.ids, encryptsWith: keyring.current.id },
  };
}

/**
 * What the CLI decodes with: its own keys when configured, else a codec server (the flag, else
 * `TEMPORAL_CODEC_ENDPOINT` with `TEMPORAL_CODEC_AUTH`), else nothing (plain payloads only).
 */
export function cliProtection(
  env: NodeJS.ProcessEnv,
  options: { namespace: string; codecEndpoint?: string },
): PayloadProtection {
  const keyring = keyringFromEnv(env);
  const endpoint = options.codecEndpoint ?? env['TEMPORAL_CODEC_ENDPOINT'];
  if (keyring || !endpoint) return protectionFromKeyring(keyring);
  const authorization = env['TEMPORAL_CODEC_AUTH'];
  return {
    codec: new RemoteCodec({ endpoint, namespace: options.namespace, ...(authorization ? { authorization } : {}) }),
    keyring: undefined,
    summary: { encryption: 'codec-server', codecServer: endpoint },
  };
}

/** For `Worker.create` (and `bundleWorkflowCode`'s failure converter): converters by path, the codec. */
export function workerDataConverter(protection: Pick<PayloadProtection, 'codec'>): DataConverter {
  return { failureConverterPath: FAILURE_CONVERTER_PATH, payloadCodecs: protection.codec ? [protection.codec] : [] };
}

/** For `new Client(...)` and history decoding: the same converters, already loaded. */
export function clientDataConverter(protection: Pick<PayloadProtection, 'codec'>): LoadedDataConverter {
  return {
    payloadConverter: defaultPayloadConverter,
    failureConverter,
    payloadCodecs: protection.codec ? [protection.codec] : [],
  };
}
