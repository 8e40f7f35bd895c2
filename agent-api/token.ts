/**
 * The installation key and what is derived from it: the agent token of each boot and the signature of deploy
 * ISO URLs. Both sides use this one file: the agent API (to check a heartbeat's token, to put the token on a
 * deploy ISO, to refuse unsigned ISO URLs) and the worker's agent activities (to send the token with each
 * command, to sign the ISO URL). Nothing here is stored anywhere: any replica holding the key derives the same
 * values, and Temporal history only ever holds the boot id.
 *
 * Token of a boot: `<bootId>.<base64url(HMAC-SHA256(tokenKey, uid NUL bootId))>`. It names its boot, so a
 * replica checks it without asking anyone which boot is current (the host workflow ignores heartbeats of an
 * older boot). IPA adopts any token of 32 characters or more; ours are 45-108.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BOOT_ID_PATTERN, type AgentBootPurpose } from '../domain/agent.ts';

/** Shortest installation key accepted (characters of the file or variable). */
export const MIN_KEY_LENGTH = 32;

/** What a signed deploy ISO URL carries. */
export interface DeployIsoRef {
  hostUid: string;
  bootId: string;
  purpose: AgentBootPurpose;
  /** The base ramdisk ISO to remaster: the configured IPA ISO or a PreprovisioningImage's `status.imageUrl`. */
  baseIso: string;
  /** Unix seconds after which the URL is refused (the ISO holds the boot's token). */
  expires: number;
  /** More kernel parameters for this boot (a PreprovisioningImage's `status.extraKernelParams`). */
  extraKernelParams?: string;
}

const PURPOSES: readonly AgentBootPurpose[] = ['deploy', 'clean', 'inspect'];

const b64url = (bytes: Buffer): string => bytes.toString('base64url');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The installation key, with the values derived from it. */
export class AgentKeys {
  readonly #tokenKey: Buffer;
  readonly #urlKey: Buffer;

  constructor(secret: string) {
    if (secret.length < MIN_KEY_LENGTH) throw new Error(`the agent installation key must be at least ${MIN_KEY_LENGTH} characters long`);
    // One key, two purposes: each gets its own subkey, so a URL signature can never pass for a token.
    this.#tokenKey = createHmac('sha256', secret).update('tempered agent token v1').digest();
    this.#urlKey = createHmac('sha256', secret).update('tempered deploy iso url v1').digest();
  }

  /** The agent token of one boot of one host. */
  tokenFor(hostUid: string, bootId: string): string {
    if (!BOOT_ID_PATTERN.test(bootId)) throw new Error(`invalid boot id '${bootId}'`);
    return `${bootId}.${b64url(createHmac('sha256', this.#tokenKey).update(`${hostUid}\0${bootId}`).digest())}`;
  }

  /** The boot a token belongs to, when it is a token this installation made for that host; else undefined. */
  verifyToken(hostUid: string, token: unknown): { bootId: string } | undefined {
    if (typeof token !== 'string' || token.length > 200) return undefined;
    const dot = token.indexOf('.');
    if (dot <= 0) return undefined;
    const bootId = token.slice(0, dot);
    if (!BOOT_ID_PATTERN.test(bootId)) return undefined;
    return sameText(this.tokenFor(hostUid, bootId), token) ? { bootId } : undefined;
  }

  /** The signature of a deploy ISO reference. */
  signIso(ref: DeployIsoRef): string {
    const text = JSON.stringify([ref.hostUid, ref.bootId, ref.purpose, ref.baseIso, ref.expires, ref.extraKernelParams ?? '']);
    return b64url(createHmac('sha256', this.#urlKey).update(text).digest());
  }

  /** The URL, under the agent API's public URL, from which a BMC fetches the deploy ISO of one boot. */
  deployIsoUrl(apiUrl: string, ref: DeployIsoRef): string {
    if (!BOOT_ID_PATTERN.test(ref.bootId)) throw new Error(`invalid boot id '${ref.bootId}'`);
    const query = new URLSearchParams({ base: ref.baseIso, ...(ref.extraKernelParams ? { params: ref.extraKernelParams } : {}), expires: String(ref.expires), sig: this.signIso(ref) });
    return `${apiUrl.replace(/\/+$/, '')}/v1/deploy-iso/${encodeURIComponent(ref.hostUid)}/${ref.bootId}/${ref.purpose}.iso?${query}`;
  }

  /**
   * Reads a deploy ISO request (path segments and query, as the server parsed them). Returns the reference
   * when the signature holds and it has not expired; otherwise why not (never which part was wrong in detail).
   */
  checkDeployIso(input: { hostUid: string; bootId: string; purpose: string; query: URLSearchParams }, nowSeconds: number): { ok: true; ref: DeployIsoRef } | { ok: false; status: 403 | 410; reason: string } {
    const { query } = input;
    const base = query.get('base') ?? '';
    const expires = Number(query.get('expires'));
    const sig = query.get('sig') ?? '';
    const purpose = input.purpose as AgentBootPurpose;
    if (!BOOT_ID_PATTERN.test(input.bootId) || !PURPOSES.includes(purpose) || !base || !Number.isInteger(expires)) {
      return { ok: false, status: 403, reason: 'not a deploy ISO URL this installation signed' };
    }
    const extra = query.get('params') ?? '';
    const ref: DeployIsoRef = { hostUid: input.hostUid, bootId: input.bootId, purpose, baseIso: base, expires, ...(extra ? { extraKernelParams: extra } : {}) };
    if (!sameText(this.signIso(ref), sig)) return { ok: false, status: 403, reason: 'not a deploy ISO URL this installation signed' };
    if (expires < nowSeconds) return { ok: false, status: 410, reason: 'the deploy ISO URL has expired' };
    return { ok: true, ref };
  }
}

/**
 * The installation key from configuration: a file (a mounted Secret; its content, trimmed) or a value (an
 * environment variable). Exactly one must be given.
 */
export function loadAgentKeys(source: { file?: string; value?: string }): AgentKeys {
  if (source.file && source.value) throw new Error('give the agent installation key as a file or as a value, not both');
  const secret = source.file ? readFileSync(source.file, 'utf8').trim() : source.value?.trim();
  if (!secret) throw new Error('no agent installation key: set TEMPERED_AGENT_KEY_FILE (or TEMPERED_AGENT_KEY)');
  return new AgentKeys(secret);
}

/** A new random installation key (the local stack makes one per state directory). */
export function newAgentKey(): string {
  return randomBytes(32).toString('base64url');
}
