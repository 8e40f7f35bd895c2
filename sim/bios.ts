/**
 * BIOS settings on a simulated BMC: the attribute registry a profile's tree carries (AttributeRegistry,
 * found by the Id the Bios resource names), and the PATCH of the settings object, checked the way the
 * vendor checks it: unknown or read-only attributes, wrong JSON types, values outside the registry's list,
 * bounds, lengths and ValueExpression. Every problem of one PATCH is answered in one 400, with the vendor's
 * message ids (HPE iLO answers from its own registry, the others from the Base registry). Accepted values
 * stay pending and apply at the next boot (host.ts), as before.
 *
 * Without a registry (profiles whose mockup lacks one) only names and JSON types are checked, against the
 * current attributes.
 */
import type { SimBmc } from './bmc.ts';
import { RedfishError, type Reply, errors } from './http.ts';
import { asObject, type ServiceModel } from './service-model.ts';
import type { Json, JsonObject, MockupTree } from './tree.ts';

/** One attribute of a registry, as the simulator checks it. */
export interface RegistryAttribute {
  readonly name: string;
  readonly type: string;
  readonly readOnly: boolean;
  readonly writeOnly: boolean;
  readonly values: readonly string[] | null;
  readonly lowerBound: number | null;
  readonly upperBound: number | null;
  readonly scalarIncrement: number | null;
  readonly minLength: number | null;
  readonly maxLength: number | null;
  readonly valueExpression: RegExp | null;
}

/** A BIOS attribute registry found in a tree. */
export interface BiosRegistry {
  /** Its Id (`BiosAttributeRegistryA43.v1_2_52`). */
  readonly id: string;
  /** Tree URI of the registry resource. */
  readonly path: string;
  readonly attributes: ReadonlyMap<string, RegistryAttribute>;
}

/** How a vendor words its refusals of BIOS values. */
export type BiosMessageStyle = 'base' | 'ilo';

const registries = new WeakMap<MockupTree, Map<string, BiosRegistry | null>>();

function numberOrNull(value: Json | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function pattern(value: Json | undefined): RegExp | null {
  if (typeof value !== 'string' || value === '') return null;
  // Registries use Perl-style escapes (`\ `) that JavaScript accepts only outside unicode mode.
  try {
    return new RegExp(value);
  } catch {
    return null;
  }
}

function parseAttribute(entry: Json): RegistryAttribute | null {
  const a = asObject(entry);
  const name = a['AttributeName'];
  if (typeof name !== 'string') return null;
  const values = Array.isArray(a['Value'])
    ? a['Value'].map((v) => asObject(v)['ValueName']).filter((v): v is string => typeof v === 'string')
    : null;
  return {
    name,
    type: typeof a['Type'] === 'string' ? a['Type'] : '',
    readOnly: a['ReadOnly'] === true || a['Immutable'] === true,
    writeOnly: a['WriteOnly'] === true,
    values,
    lowerBound: numberOrNull(a['LowerBound']),
    upperBound: numberOrNull(a['UpperBound']),
    scalarIncrement: numberOrNull(a['ScalarIncrement']),
    minLength: numberOrNull(a['MinLength']),
    maxLength: numberOrNull(a['MaxLength']),
    valueExpression: pattern(a['ValueExpression']),
  };
}

/** The BIOS attribute registry the model's Bios names, when its tree carries it (cached per tree). */
export function biosRegistry(model: ServiceModel): BiosRegistry | null {
  const bios = model.biosPath ? model.tree.resources.get(model.biosPath) : undefined;
  const id = bios?.['AttributeRegistry'];
  if (typeof id !== 'string' || id === '') return null;
  let perTree = registries.get(model.tree);
  if (!perTree) {
    perTree = new Map();
    registries.set(model.tree, perTree);
  }
  const cached = perTree.get(id);
  if (cached !== undefined) return cached;
  let found: BiosRegistry | null = null;
  for (const [path, resource] of model.tree.resources) {
    const type = resource['@odata.type'];
    const resourceId = resource['Id'];
    if (typeof type !== 'string' || !type.includes('#AttributeRegistry.')) continue;
    if (typeof resourceId !== 'string' || resourceId.toLowerCase() !== id.toLowerCase()) continue;
    const attributes = new Map<string, RegistryAttribute>();
    const list = asObject(resource['RegistryEntries'])['Attributes'];
    for (const entry of Array.isArray(list) ? list : []) {
      const attribute = parseAttribute(entry);
      if (attribute) attributes.set(attribute.name, attribute);
    }
    found = { id: resourceId, path, attributes };
    break;
  }
  perTree.set(id, found);
  return found;
}

/** The vendor's refusals, by rule. */
function refusals(style: BiosMessageStyle) {
  const base = style === 'ilo' ? 'Base.1.4' : 'Base.1.5';
  const ilo = 'iLO.2.14';
  const at = (name: string): string[] => [`#/Attributes/${name}`];
  return {
    unknown: (name: string) =>
      style === 'ilo'
        ? new RedfishError(
            400,
            `${ilo}.PropertyNotWritableOrUnknown`,
            `The property ${name} is a read-only property and cannot be assigned a value, or not valid for this resource.`,
            { args: [name], related: at(name) },
          )
        : new RedfishError(
            400,
            `${base}.PropertyUnknown`,
            `The property ${name} is not in the list of valid properties for the resource.`,
            { args: [name], related: at(name) },
          ),
    readOnly: (name: string) =>
      style === 'ilo'
        ? new RedfishError(
            400,
            `${ilo}.PropertyNotWritableOrUnknown`,
            `The property ${name} is a read-only property and cannot be assigned a value, or not valid for this resource.`,
            { args: [name], related: at(name) },
          )
        : new RedfishError(
            400,
            `${base}.PropertyNotWritable`,
            `The property ${name} is a read only property and cannot be assigned a value.`,
            { args: [name], related: at(name) },
          ),
    type: (name: string, value: string) =>
      new RedfishError(
        400,
        `${base}.PropertyValueTypeError`,
        `The value ${value} for the property ${name} is of a different type than the property can accept.`,
        { args: [value, name], related: at(name) },
      ),
    notInList: (name: string, value: string) =>
      new RedfishError(
        400,
        `${base}.PropertyValueNotInList`,
        `The value ${value} for the property ${name} is not in the list of acceptable values.`,
        { args: [value, name], related: at(name) },
      ),
    outOfRange: (name: string, value: string, range: string) =>
      style === 'ilo'
        ? new RedfishError(
            400,
            `${ilo}.PropertyValueOutOfRange`,
            `The value ${value} for the property ${name} is out of range ${range}.`,
            { args: [value, name, range], related: at(name) },
          )
        : // PropertyValueOutOfRange joined the Base registry in 1.8; older services have no better word for it.
          new RedfishError(
            400,
            'Base.1.8.PropertyValueOutOfRange',
            `The value ${value} for the property ${name} is not in the supported range of acceptable values (${range}).`,
            { args: [value, name], related: at(name) },
          ),
    tooLong: (name: string, value: string, max: number) =>
      style === 'ilo'
        ? new RedfishError(
            400,
            `${ilo}.PropertyValueExceedsMaxLength`,
            `The value ${value} for the property ${name} exceeds the maximum length of ${max}.`,
            { args: [value, name, String(max)], related: at(name) },
          )
        : new RedfishError(400, `${base}.StringValueTooLong`, `The string ${value} exceeds the length limit ${max}.`, {
            args: [value, String(max)],
            related: at(name),
          }),
    format: (name: string, value: string) =>
      new RedfishError(
        400,
        `${base}.PropertyValueFormatError`,
        `The value ${value} for the property ${name} is of a different format than the property can accept.`,
        { args: [value, name], related: at(name) },
      ),
  };
}

/** Checks one value against its registry attribute; returns the refusal or null. */
function checkAgainstRegistry(
  attribute: RegistryAttribute,
  value: Json,
  refuse: ReturnType<typeof refusals>,
): RedfishError | null {
  const { name } = attribute;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (attribute.readOnly) return refuse.readOnly(name);
  switch (attribute.type) {
    case 'Enumeration':
      if (typeof value !== 'string') return refuse.type(name, text);
      if (attribute.values && !attribute.values.includes(value)) return refuse.notInList(name, text);
      return null;
    case 'Integer': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return refuse.type(name, text);
      const low = attribute.lowerBound;
      const high = attribute.upperBound;
      const range = `${low ?? '-inf'}-${high ?? 'inf'}`;
      if ((low !== null && value < low) || (high !== null && value > high)) return refuse.outOfRange(name, text, range);
      const step = attribute.scalarIncrement;
      if (step !== null && step > 1 && (value - (low ?? 0)) % step !== 0)
        return refuse.outOfRange(name, text, `${range} in steps of ${step}`);
      return null;
    }
    case 'String':
    case 'Password':
      if (typeof value !== 'string') return refuse.type(name, text);
      if (attribute.maxLength !== null && [...value].length > attribute.maxLength)
        return refuse.tooLong(name, value, attribute.maxLength);
      if (attribute.minLength !== null && [...value].length < attribute.minLength) return refuse.format(name, value);
      if (attribute.valueExpression && !attribute.valueExpression.test(value)) return refuse.format(name, value);
      return null;
    case 'Boolean':
      return typeof value === 'boolean' ? null : refuse.type(name, text);
    default:
      return null;
  }
}

/**
 * Every problem of a set of attribute changes, as the BMC would answer them: checked against the registry
 * when the tree has one, else against the names and JSON types of the current attributes.
 */
export function biosProblems(
  bmc: SimBmc,
  attributes: JsonObject,
  current: Readonly<Record<string, Json>>,
): RedfishError[] {
  const registry = biosRegistry(bmc.model);
  const refuse = refusals(bmc.profile.biosMessages);
  const problems: RedfishError[] = [];
  for (const [name, value] of Object.entries(attributes)) {
    const attribute = registry?.attributes.get(name);
    if (registry && attribute) {
      const problem = checkAgainstRegistry(attribute, value, refuse);
      if (problem) problems.push(problem);
      continue;
    }
    if (!(name in current)) {
      problems.push(refuse.unknown(name));
      continue;
    }
    const was = current[name];
    if (was !== null && value !== null && was !== undefined && typeof was !== typeof value) {
      problems.push(refuse.type(name, JSON.stringify(value)));
    }
  }
  return problems;
}

/** PATCH of the BIOS settings object. */
export function patchBiosSettings(bmc: SimBmc, json: JsonObject): Reply {
  const attributes = json['Attributes'];
  for (const key of Object.keys(json)) {
    if (key !== 'Attributes' && key !== '@Redfish.SettingsApplyTime') throw errors.propertyUnknown(key);
  }
  if (!attributes || typeof attributes !== 'object' || Array.isArray(attributes))
    throw errors.propertyMissing('Attributes');
  const bios = bmc.host.bios;
  if (bmc.has('bios-apply-time-required') && Object.keys(bios.pending).length > 0) {
    bmc.hit('bios-apply-time-required');
    throw new RedfishError(
      400,
      'IDRAC.2.8.SYS011',
      'Pending configuration values are already committed, unable to perform another set operation.',
    );
  }
  const current = { ...bmc.baseBiosAttributes, ...bios.applied };
  const [first, ...more] = biosProblems(bmc, attributes, current);
  if (first) {
    bmc.counters.biosRefusals += 1;
    throw new RedfishError(first.status, first.messageId, first.message, {
      args: [...first.args],
      related: [...first.related],
      more,
    });
  }
  const applyTime = asObject(json['@Redfish.SettingsApplyTime'])['ApplyTime'];
  if (applyTime !== undefined && (typeof applyTime !== 'string' || !bmc.biosApplyTimes().includes(applyTime))) {
    throw errors.propertyValueNotInList(String(applyTime), '@Redfish.SettingsApplyTime/ApplyTime');
  }
  bios.pending = { ...bios.pending, ...(attributes as Record<string, Json>) };
  bios.applyOnReset = true;
  if (bmc.has('bios-apply-time-required') && applyTime === undefined) {
    bmc.hit('bios-apply-time-required');
    bios.applyOnReset = false;
  }
  bmc.counters.biosPatches += 1;
  if (applyTime === 'Immediate' && bmc.host.power === 'On') bmc.host.reset('ForceRestart');
  return { status: 204 };
}
