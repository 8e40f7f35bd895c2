/**
 * Image checks made by the worker before a BMC is asked to fetch an image: the URL must parse and, when the
 * worker can reach it, must answer. A definite refusal (4xx) is a permanent error that names the URL; a
 * network failure is not, because the BMC may sit on a network the worker cannot see.
 */
import { BmcError } from './bmc/errors.ts';

export async function checkImageUrl(url: string, options: { fetch: typeof fetch; signal?: AbortSignal; timeoutMs?: number }): Promise<{ sizeBytes?: number; reachable: boolean }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BmcError('ImageUrlInvalid', `the image URL '${url}' cannot be parsed`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new BmcError('ImageUrlInvalid', `the image URL '${url}' must be http:// or https:// for a BMC to fetch it`);
  }
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await options.fetch(url, { method: 'HEAD', signal, redirect: 'follow' });
  } catch {
    return { reachable: false };
  }
  if (response.status >= 400 && response.status < 500) {
    throw new BmcError('ImageFetchFailed', `the image URL ${url} answers ${response.status} ${response.statusText}; fix spec.image.url`, { disposition: 'permanent', status: response.status });
  }
  if (response.status >= 500) {
    throw new BmcError('ImageFetchFailed', `the image server answers ${response.status} for ${url}`, { status: response.status });
  }
  const length = Number(response.headers.get('content-length'));
  return { reachable: true, ...(Number.isFinite(length) && length > 0 ? { sizeBytes: length } : {}) };
}
