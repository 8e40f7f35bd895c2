/**
 * BIOS attributes: current values from `Systems/<id>/Bios`, changes staged in its `@Redfish.Settings` object
 * (never on Bios itself) with the ETag from the annotation, `@Redfish.SettingsApplyTime: OnReset` when supported
 * (iDRAC needs it), skipped when already current or pending, read back as pending. The caller reboots and then
 * compares current values (Ironic's apply protocol).
 */
import type { ApplyTime, BiosApplyResult, BiosSettings, CallOptions } from '../driver.ts';
import { BmcError } from '../errors.ts';
import type { RedfishContext } from './context.ts';
import { action, isObject, link, obj, str, strings, type Json } from './resources.ts';

interface BiosPlace {
  biosPath: string;
  bios: Json;
  settingsPath: string | undefined;
  settingsEtag: string | undefined;
  settings: Json | undefined;
}

async function read(ctx: RedfishContext, signal?: AbortSignal): Promise<BiosPlace> {
  const system = (await ctx.system(signal)).body;
  const biosPath = link(system.Bios);
  if (!biosPath) throw new BmcError('BmcUnsupported', `the system at ${ctx.endpoint} publishes no Bios resource`);
  const bios = (await ctx.client.get(biosPath, { signal })).body;
  const annotation = obj(bios['@Redfish.Settings']);
  const settingsPath = link(annotation.SettingsObject);
  let settings: Json | undefined;
  let settingsEtag = str(annotation.ETag);
  if (settingsPath) {
    const res = await ctx.client.get(settingsPath, { signal, accept: [404] });
    if (res.status < 300) {
      settings = res.body;
      settingsEtag = res.etag ?? settingsEtag;
    }
  }
  return { biosPath, bios, settingsPath, settingsEtag, settings };
}

function pendingOf(current: Json, settings: Json | undefined): Record<string, unknown> {
  const pending: Record<string, unknown> = {};
  const staged = obj(settings?.Attributes);
  // HPE and Lenovo list every writable key in the settings object, Dell only the changed ones: keep differences.
  for (const [k, v] of Object.entries(staged)) if (current[k] !== v) pending[k] = v;
  return pending;
}

export async function getBios(ctx: RedfishContext, opts: CallOptions = {}): Promise<BiosSettings> {
  const place = await read(ctx, opts.signal);
  const attributes = obj(place.bios.Attributes);
  const annotation = obj(place.bios['@Redfish.Settings']);
  const messages = (Array.isArray(annotation.Messages) ? annotation.Messages : []).filter(isObject).map((m) => ({
    messageId: str(m.MessageId) ?? '',
    message: str(m.Message) ?? '',
    severity: str(m.MessageSeverity) ?? str(m.Severity),
  }));
  return {
    attributes,
    pending: pendingOf(attributes, place.settings),
    registry: str(place.bios.AttributeRegistry),
    supportedApplyTimes: strings(annotation.SupportedApplyTimes),
    messages,
  };
}

export async function applyBios(ctx: RedfishContext, changes: Record<string, string | number | boolean>, opts: CallOptions & { applyTime?: ApplyTime } = {}): Promise<BiosApplyResult> {
  return ctx.converge('apply BIOS settings', opts, async () => {
    const place = await read(ctx, opts.signal);
    const current = obj(place.bios.Attributes);
    const pending = pendingOf(current, place.settings);
    const todo: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(changes)) {
      if (!(k in current)) throw new BmcError('BmcBadRequest', `the BIOS of ${ctx.endpoint} has no attribute ${k}`);
      if (current[k] === v && !(k in pending)) continue;
      if (pending[k] === v) continue;
      todo[k] = v;
    }
    const supported = strings(obj(place.bios['@Redfish.Settings']).SupportedApplyTimes);
    const applyTime = opts.applyTime ?? (supported.includes('OnReset') ? 'OnReset' : undefined);
    const stillPending = Object.keys(changes).some((k) => k in pending);
    if (Object.keys(todo).length === 0) return { changed: false, pending, applyTime, rebootRequired: stillPending };
    if (!place.settingsPath && !place.bios['@Redfish.Settings']) {
      throw new BmcError('BmcUnsupported', `the BIOS of ${ctx.endpoint} has no settings object to stage changes in`);
    }
    const target = place.settingsPath ?? place.biosPath;
    const body: Json = { Attributes: todo };
    if (applyTime && (supported.length === 0 || supported.includes(applyTime))) body['@Redfish.SettingsApplyTime'] = { ApplyTime: applyTime };
    await ctx.client.patch(target, body, { etag: place.settingsEtag, signal: opts.signal });
    const after = await read(ctx, opts.signal);
    const nowPending = pendingOf(obj(after.bios.Attributes), after.settings);
    const applied = Object.entries(todo).every(([k, v]) => nowPending[k] === v || obj(after.bios.Attributes)[k] === v);
    if (!applied) throw new BmcError('BmcServerError', `the BMC at ${ctx.endpoint} accepted the BIOS changes but does not show them pending`);
    const immediate = Object.entries(todo).every(([k, v]) => obj(after.bios.Attributes)[k] === v);
    return { changed: true, pending: nowPending, applyTime, rebootRequired: !immediate };
  });
}

/** `#Bios.ResetBios`; Dell R630 (iDRAC 2.75) wants a body: retried with {} on 400/415 (#17). */
export async function resetBios(ctx: RedfishContext, opts: CallOptions = {}): Promise<void> {
  const system = (await ctx.system(opts.signal)).body;
  const biosPath = link(system.Bios);
  if (!biosPath) throw new BmcError('BmcUnsupported', `the system at ${ctx.endpoint} publishes no Bios resource`);
  const reset = action((await ctx.client.get(biosPath, { signal: opts.signal })).body, '#Bios.ResetBios');
  if (!reset) throw new BmcError('BmcUnsupported', `the BIOS of ${ctx.endpoint} offers no #Bios.ResetBios`);
  try {
    await ctx.client.post(reset.target, undefined, { signal: opts.signal });
  } catch (err) {
    if (!(err instanceof BmcError) || (err.status !== 400 && err.status !== 415)) throw err;
    await ctx.client.post(reset.target, {}, { signal: opts.signal });
  }
}
