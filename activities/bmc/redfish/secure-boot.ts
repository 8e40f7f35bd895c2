/** Secure boot through `Systems/<id>/SecureBoot`: read, set SecureBootEnable with If-Match, read back. */
import type { CallOptions, SecureBootState } from '../driver.ts';
import { BmcError } from '../errors.ts';
import type { RedfishContext } from './context.ts';
import { link, str, type Json } from './resources.ts';

function readState(body: Json): SecureBootState {
  return {
    enabled: typeof body.SecureBootEnable === 'boolean' ? body.SecureBootEnable : undefined,
    currentBoot: str(body.SecureBootCurrentBoot),
    mode: str(body.SecureBootMode),
  };
}

async function path(ctx: RedfishContext, signal?: AbortSignal): Promise<string> {
  const p = link((await ctx.system(signal)).body.SecureBoot);
  if (!p) throw new BmcError('BmcUnsupported', `the system at ${ctx.endpoint} publishes no SecureBoot resource`);
  return p;
}

export async function getSecureBoot(ctx: RedfishContext, opts: CallOptions = {}): Promise<SecureBootState> {
  const res = await ctx.client.get(await path(ctx, opts.signal), { signal: opts.signal, accept: [400, 403] });
  // Supermicro without the OOB licence (OemLicenseNotPassed): the state is unknown, not an error.
  if (res.status >= 300) return { enabled: undefined, currentBoot: undefined, mode: undefined };
  return readState(res.body);
}

export async function setSecureBoot(ctx: RedfishContext, enabled: boolean, opts: CallOptions = {}): Promise<SecureBootState & { changed: boolean }> {
  return ctx.converge('secure boot', opts, async () => {
    const p = await path(ctx, opts.signal);
    const res = await ctx.client.get(p, { signal: opts.signal });
    const before = readState(res.body);
    if (before.enabled === enabled) return { ...before, changed: false };
    await ctx.client.patch(p, { SecureBootEnable: enabled }, { etag: res.etag, signal: opts.signal });
    const after = readState((await ctx.client.get(p, { signal: opts.signal })).body);
    if (after.enabled !== enabled) throw new BmcError('BmcServerError', `the BMC at ${ctx.endpoint} accepted SecureBootEnable=${enabled} but reads back ${String(after.enabled)}`);
    return { ...after, changed: true };
  });
}
