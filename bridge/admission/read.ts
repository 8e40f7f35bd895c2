/**
 * Defensive readers for the untyped JSON an admission request carries. The webhook sees objects before any
 * schema of ours has checked them (and objects written before the CRD changed), so every rule reads through
 * these instead of trusting a shape: a field of the wrong type reads as absent.
 */

/** A plain JSON object, or undefined for anything else (arrays, null, scalars). */
export function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** The string, or '' when the value is not a string. */
export function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The array, or [] when the value is not an array. */
export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** True only for the boolean true (Metal3's bool fields default to false). */
export function flag(value: unknown): boolean {
  return value === true;
}

/** The string-valued entries of `metadata.annotations` (Kubernetes allows no other values). */
export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(record(value) ?? {})) if (typeof v === 'string') out[key] = v;
  return out;
}

/** A JSON type name in the words Go's encoding/json uses in its errors ("string", "number", "object", ...). */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}
