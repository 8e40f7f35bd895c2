/**
 * BIOS attributes: current values from `Systems/<id>/Bios`, the attribute registry it names (found through the
 * service's Registries collection, as sushy does), changes validated against that registry before anything is
 * sent, then staged in the Bios `@Redfish.Settings` object (never on Bios itself) with the ETag from the
 * annotation, `@Redfish.SettingsApplyTime: OnReset` when supported (iDRAC needs it), skipped when already
 * current or pending, read back as pending. The caller reboots and then compares current values (Ironic's
 * apply protocol).
 */
import {
  describeFirmwareSettingProblems,
  validateFirmwareSettings,
  type FirmwareSettingRule,
  type FirmwareSettingValue,
} from '../../../domain/firmware-schema.ts';
import { SETTING_ATTRIBUTE_TYPES, type SettingAttributeType } from '../../../domain/firmware-schema.schema.ts';
import type { ApplyTime, BiosApplyResult, BiosRegistry, BiosSettings, CallOptions } from '../driver.ts';
import { BmcError } from '../errors.ts';
import type { RedfishContext } from './context.ts';
import { action, isObject, link, num, obj, str, strings, type Json } from './resources.ts';

interface BiosPlace {
  biosPath: string;
  bios: Json;
  settingsPath: string | undefined;
  settingsEtag: string | undefined;
  settings: Json | undefined;
}

async function read(ctx: RedfishContext, signal?: AbortSignal): Promise<BiosPlace> {
  // Only for the Bios link: the activity's read of the system since our last change may answer (bmc/reads.ts).
  const system = (await ctx.system(signal, true)).body;
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

/** One registry attribute as a FirmwareSchema rule (Ironic's registry fields, plus the pattern and increment). */
export function ruleOf(attribute: Json): FirmwareSettingRule {
  const type = str(attribute.Type);
  const rule: FirmwareSettingRule = {};
  if (type && (SETTING_ATTRIBUTE_TYPES as readonly string[]).includes(type)) rule.attribute_type = type as SettingAttributeType;
  if (Array.isArray(attribute.Value)) {
    rule.allowable_values = attribute.Value.map((v) => str(obj(v).ValueName)).filter((v): v is string => v !== undefined);
  }
  const int = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : undefined);
  const set = <K extends keyof FirmwareSettingRule>(key: K, value: FirmwareSettingRule[K] | undefined): void => {
    if (value !== undefined) rule[key] = value;
  };
  set('lower_bound', int(attribute.LowerBound));
  set('upper_bound', int(attribute.UpperBound));
  set('min_length', int(attribute.MinLength));
  set('max_length', int(attribute.MaxLength));
  set('scalar_increment', num(attribute.ScalarIncrement));
  set('value_expression', str(attribute.ValueExpression));
  // Immutable attributes cannot be changed either; FirmwareSchema has only read_only to say so.
  if (attribute.ReadOnly === true || attribute.Immutable === true) rule.read_only = true;
  else if (attribute.ReadOnly === false) rule.read_only = false;
  if (typeof attribute.IsSystemUniqueProperty === 'boolean') rule.unique = attribute.IsSystemUniqueProperty;
  if (typeof attribute.ResetRequired === 'boolean') rule.reset_required = attribute.ResetRequired;
  return rule;
}

/** The registry resource's URI from a MessageRegistryFile: the local Uri for the language, never a public one. */
function registryUri(file: Json, language = 'en'): string | undefined {
  const locations = (Array.isArray(file.Location) ? file.Location : []).filter(isObject);
  const local = locations.filter((l) => str(l.Uri));
  const match = local.find((l) => str(l.Language)?.toLowerCase() === language) ?? local.find((l) => str(l.Language)?.toLowerCase().startsWith(language)) ?? local[0];
  return match ? str(match.Uri) : undefined;
}

function sameRegistry(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}

async function loadRegistry(ctx: RedfishContext, id: string, signal?: AbortSignal): Promise<BiosRegistry | undefined> {
  const collection = link((await ctx.root(signal)).Registries);
  if (!collection) return undefined;
  const { status, members } = await ctx.members(collection, signal, [400, 404, 405, 500, 501]);
  if (status >= 300) return undefined;
  // Most BMCs name the file after the registry; some only in `Registry`, some without the version.
  const stem = id.replace(/\.v?\d+(_\d+)*$/i, '').toLowerCase();
  const file =
    members.find((m) => sameRegistry(str(m.Id), id) || sameRegistry(str(m.Registry), id)) ??
    members.find((m) => [str(m.Id), str(m.Registry)].some((name) => name?.toLowerCase() === stem));
  const uri = file ? registryUri(file) : undefined;
  if (!uri) return undefined;
  const res = await ctx.client.get(uri, { signal, accept: [400, 404, 405, 500, 501] });
  if (res.status >= 300 || !isObject(res.body)) return undefined;
  const registry = res.body;
  const schema: Record<string, FirmwareSettingRule> = {};
  const attributes = obj(registry.RegistryEntries).Attributes;
  for (const attribute of Array.isArray(attributes) ? attributes : []) {
    if (!isObject(attribute)) continue;
    const name = str(attribute.AttributeName);
    if (name) schema[name] = ruleOf(attribute);
  }
  return {
    id: str(registry.Id) ?? id,
    owningEntity: str(registry.OwningEntity),
    supportedSystems: (Array.isArray(registry.SupportedSystems) ? registry.SupportedSystems : []).filter(isObject).map((system) => ({
      productName: str(system.ProductName),
      systemId: str(system.SystemId),
      firmwareVersion: str(system.FirmwareVersion),
    })),
    schema,
  };
}

/**
 * The attribute registry the Bios resource names, once per connection and registry id. Only the name is needed:
 * the activity's read of the Bios since our last change may answer (bmc/reads.ts), and the settings object is not
 * read (a firmware reading asks for the settings, then the registry, and paid for Bios and its settings twice).
 */
export async function getBiosRegistry(ctx: RedfishContext, opts: CallOptions = {}): Promise<BiosRegistry | undefined> {
  const system = (await ctx.system(opts.signal, true)).body;
  const biosPath = link(system.Bios);
  if (!biosPath) throw new BmcError('BmcUnsupported', `the system at ${ctx.endpoint} publishes no Bios resource`);
  const bios = (await ctx.client.get(biosPath, { signal: opts.signal, shared: true })).body;
  return registryFor(ctx, bios, opts.signal);
}

function registryFor(ctx: RedfishContext, bios: Json, signal?: AbortSignal): Promise<BiosRegistry | undefined> {
  const id = str(bios.AttributeRegistry);
  if (!id) return Promise.resolve(undefined);
  return ctx.remember(`bios-registry:${id}`, () => loadRegistry(ctx, id, signal));
}

/**
 * The changes as the BMC must receive them: validated against the registry (every problem named, nothing
 * sent) and converted to the registry's types; without a registry, only names the BIOS lists are accepted.
 */
function checkedChanges(ctx: RedfishContext, registry: BiosRegistry | undefined, current: Json, changes: Record<string, FirmwareSettingValue>): Record<string, FirmwareSettingValue> {
  if (!registry) {
    const unknown = Object.keys(changes).filter((k) => !(k in current));
    if (unknown.length > 0) {
      throw new BmcError('FirmwareSettingsInvalid', `the BIOS of ${ctx.endpoint} has no attribute ${unknown.join(', ')} (it publishes no attribute registry, so only names it lists can be set)`);
    }
    return changes;
  }
  const result = validateFirmwareSettings(registry.schema, changes);
  if (!result.valid) {
    throw new BmcError('FirmwareSettingsInvalid', `the BIOS settings do not fit ${registry.id} of ${ctx.endpoint}: ${describeFirmwareSettingProblems(result.problems)}`);
  }
  return result.values;
}

export async function applyBios(ctx: RedfishContext, requested: Record<string, string | number | boolean>, opts: CallOptions & { applyTime?: ApplyTime } = {}): Promise<BiosApplyResult> {
  return ctx.converge('apply BIOS settings', opts, async () => {
    const place = await read(ctx, opts.signal);
    const current = obj(place.bios.Attributes);
    const changes = checkedChanges(ctx, await registryFor(ctx, place.bios, opts.signal), current, requested);
    const pending = pendingOf(current, place.settings);
    const todo: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(changes)) {
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
