/** Small readers of Redfish JSON: links, members, typed fields. Tolerant of what vendors leave out. */

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): Json {
  return isObject(v) ? v : {};
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The `@odata.id` of a link object (`{"@odata.id": "..."}`), if any. */
export function link(v: unknown): string | undefined {
  return str(obj(v)['@odata.id']);
}

/** The `@odata.id`s of a list of links. */
export function links(v: unknown): string[] {
  return Array.isArray(v) ? v.map(link).filter((x): x is string => x !== undefined) : [];
}

/** Path of a resource: its `@odata.id` without a trailing slash. */
export function normalisePath(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** Whether two Redfish paths name the same resource (iLO mixes case and trailing slashes). */
export function samePath(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  return normalisePath(a).toLowerCase() === normalisePath(b).toLowerCase();
}

/** An action's target and inline parameter annotations: `Actions["#ComputerSystem.Reset"]`. */
export function action(resource: Json, name: string): { target: string; annotations: Json } | undefined {
  const a = obj(obj(resource.Actions)[name]);
  const target = str(a.target);
  return target ? { target, annotations: a } : undefined;
}

/** The `Status.State` of a resource. */
export function state(resource: Json): string | undefined {
  return str(obj(resource.Status).State);
}
