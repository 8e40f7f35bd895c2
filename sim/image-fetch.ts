/**
 * Reads images the way a BMC does: virtual media and firmware URLs are really fetched over HTTP(S), so a
 * wrong URL fails the insert or the update, and the bytes read are counted. Certificates are not verified
 * (BMCs default to `VerifyCertificate: false`).
 */
import { Agent, fetch } from 'undici';
import { RedfishError, errors } from './http.ts';

const insecure = new Agent({ connect: { rejectUnauthorized: false }, headersTimeout: 15_000, bodyTimeout: 60_000 });

/** An image whose headers arrived with a 2xx status; its body is being read. */
export interface OpenedImage {
  /** Resolves with the byte count when the body has been read; rejects when reading fails. */
  readonly done: Promise<number>;
  /** Stops reading (the media was ejected or the simulator stopped). */
  cancel(): void;
}

/**
 * Starts reading `url`. Resolves once the server answered 2xx (the body is then read in the background and
 * `onBytes` is called per chunk); rejects with a Redfish error when the URL cannot be reached or answers
 * with an error status.
 */
export async function openImage(url: string, onBytes: (count: number) => void): Promise<OpenedImage> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedfishError(400, 'Base.1.5.ActionParameterValueFormatError', `The value ${url} for the parameter Image is of a different format than the parameter can accept.`, {
      args: [url, 'Image'],
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw errors.couldNotConnect(url);
  const controller = new AbortController();
  let response;
  try {
    response = await fetch(parsed, { dispatcher: insecure, signal: controller.signal });
  } catch {
    throw errors.couldNotConnect(url);
  }
  if (response.status < 200 || response.status > 299) {
    await response.body?.cancel().catch(() => undefined);
    throw errors.remoteMissing(url, response.status);
  }
  const body = response.body;
  const done = (async () => {
    let total = 0;
    if (!body) return total;
    for await (const chunk of body) {
      const size = (chunk as Uint8Array).byteLength;
      total += size;
      onBytes(size);
    }
    return total;
  })();
  done.catch(() => undefined);
  return { done, cancel: () => controller.abort() };
}
