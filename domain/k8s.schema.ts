/**
 * Kubernetes building blocks for the Metal3 API schemas: the CRD facets a zod schema cannot express by
 * itself (OpenAPI formats, list and map semantics, CEL rules), the helpers that attach them, and the shared
 * API types (ObjectMeta, object and Secret references, metav1.Condition).
 *
 * Strict vs tolerant: objects are `z.object` (zod's default "strip" mode), so parsing a live object never
 * throws on fields it does not know (a newer BMO's status fields, say) and drops them from the typed result.
 * The CRD generator (deploy/generate-crds.ts) reads the same schemas as closed structures: the declared
 * properties, nothing else. `metadata` is the one loose object, since the apiserver owns its content.
 */
import { z } from 'zod';

/** A CEL validation rule (`x-kubernetes-validations`). */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

/** What the CRD needs to know about a schema node beyond what zod checks express. */
export interface CrdFacets {
  /** A short description for `kubectl explain` (ours, not upstream's prose). */
  description?: string;
  /** A JSON integer: the node is a zod number with an integer check. */
  integer?: boolean;
  /** OpenAPI `format`. Integer and number formats are documentation; `date-time` is enforced by the apiserver. */
  format?: 'date-time' | 'int32' | 'int64' | 'double';
  /** String length bounds in Unicode code points, as the apiserver counts them (not UTF-16 units). */
  minLength?: number;
  maxLength?: number;
  /** `x-kubernetes-int-or-string`: the node is a union of an integer and a string. */
  intOrString?: boolean;
  /** Emit only `type: object` and let the apiserver own the content (ObjectMeta). */
  opaque?: boolean;
  /** Overrides whether the property is listed in its parent's `required` (zod optional/default say no). */
  required?: boolean;
  /** `x-kubernetes-map-type`. */
  mapType?: 'atomic' | 'granular';
  /** `x-kubernetes-list-type` and `x-kubernetes-list-map-keys`. */
  listType?: 'atomic' | 'set' | 'map';
  listMapKeys?: readonly string[];
  /** `x-kubernetes-validations`. */
  validations?: readonly CelRule[];
  /** `x-kubernetes-preserve-unknown-fields` (use with a loose object or z.unknown()). */
  preserveUnknownFields?: boolean;
}

// Facets are keyed by the zod definition object, which zod shares between a schema and the clones that
// `.describe()` and `.meta()` make, so `integer().describe('...')` keeps its facets.
const facetsByDef = new WeakMap<object, CrdFacets>();

/** Attaches CRD facets to a schema (merging with any it already has) and returns the same schema. */
export function crd<T extends z.ZodType>(schema: T, facets: CrdFacets): T {
  const def = schema._zod.def as object;
  facetsByDef.set(def, { ...facetsByDef.get(def), ...facets });
  return schema;
}

/** The CRD facets attached to this exact schema node (not to its inner or outer wrappers). */
export function crdFacetsOf(schema: z.ZodType): CrdFacets {
  return facetsByDef.get(schema._zod.def as object) ?? {};
}

/** A JSON integer. Any integer the apiserver stores (int64) passes, not only "safe" ones. */
export function integer(options: { format?: 'int32' | 'int64'; minimum?: number; maximum?: number } = {}): z.ZodNumber {
  let schema = z.number().check(z.refine((n: number) => Number.isInteger(n), { message: 'expected an integer' }));
  if (options.minimum !== undefined) schema = schema.min(options.minimum);
  if (options.maximum !== undefined) schema = schema.max(options.maximum);
  return crd(schema, { integer: true, ...(options.format ? { format: options.format } : {}) });
}

/** A JSON number (`format: double` when given). */
export function number(options: { format?: 'double' } = {}): z.ZodNumber {
  return crd(z.number(), options.format ? { format: options.format } : {});
}

/** A string with length bounds counted in code points, like the apiserver's `minLength`/`maxLength`. */
export function limitedString(options: { minLength?: number; maxLength?: number; pattern?: RegExp }): z.ZodString {
  const { minLength, maxLength, pattern } = options;
  let schema = z.string().check(
    z.refine((s: string) => {
      const length = [...s].length;
      return (minLength === undefined || length >= minLength) && (maxLength === undefined || length <= maxLength);
    }, { message: `expected a length between ${minLength ?? 0} and ${maxLength ?? 'any'} characters` }),
  );
  if (pattern) schema = schema.regex(pattern);
  return crd(schema, {
    ...(minLength !== undefined ? { minLength } : {}),
    ...(maxLength !== undefined ? { maxLength } : {}),
  });
}

/**
 * An RFC 3339 timestamp (metav1.Time). The apiserver validates the format; parsing keeps it a string and
 * does not re-check it, so every spelling the apiserver accepts parses.
 */
export function dateTime(): z.ZodString {
  return crd(z.string(), { format: 'date-time' });
}

/** `intstr.IntOrString`: an integer or a string. */
export function intOrString(): z.ZodUnion<[z.ZodNumber, z.ZodString]> {
  return crd(z.union([integer(), z.string()]), { intOrString: true });
}

/** Marks an object as a single unit for server-side apply (`x-kubernetes-map-type: atomic`). */
export function atomic<T extends z.ZodType>(schema: T): T {
  return crd(schema, { mapType: 'atomic' });
}

/** Kubernetes object metadata. Loose: the apiserver owns it and adds fields (managedFields, ...). */
export const ObjectMetaSchema = crd(
  z.looseObject({
    name: z.string(),
    generateName: z.string().optional(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.number().optional(),
    creationTimestamp: z.string().optional(),
    deletionTimestamp: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    finalizers: z.array(z.string()).optional(),
    ownerReferences: z
      .array(
        z.looseObject({
          apiVersion: z.string(),
          kind: z.string(),
          name: z.string(),
          uid: z.string(),
          controller: z.boolean().optional(),
          blockOwnerDeletion: z.boolean().optional(),
        }),
      )
      .optional(),
  }),
  // The CRD says only `type: object` and does not require metadata; live objects always carry it.
  { opaque: true, required: false },
);
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

/** The type meta and object meta every resource starts with. */
export const RESOURCE_META_SHAPE = {
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
};

/** corev1.ObjectReference. */
export const ObjectReferenceSchema = atomic(
  z.object({
    apiVersion: z.string().optional(),
    fieldPath: z.string().optional(),
    kind: z.string().optional(),
    name: z.string().optional(),
    namespace: z.string().optional(),
    resourceVersion: z.string().optional(),
    uid: z.string().optional(),
  }),
).describe('A reference to another Kubernetes object.');
export type ObjectReference = z.infer<typeof ObjectReferenceSchema>;

/** corev1.SecretReference: a Secret by name and namespace. */
export const SecretReferenceSchema = atomic(
  z.object({
    name: z.string().optional(),
    namespace: z.string().optional(),
  }),
).describe('A reference to a Secret.');
export type SecretReference = z.infer<typeof SecretReferenceSchema>;

/** The status values of a metav1.Condition. */
export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

/** metav1.Condition, with the apiserver's own validation of each field. */
export const ConditionSchema = z.object({
  lastTransitionTime: dateTime().describe('When the condition last changed status.'),
  message: limitedString({ maxLength: 32768 }).describe('Human-readable details.'),
  observedGeneration: integer({ format: 'int64', minimum: 0 }).optional().describe('The generation the condition was computed from.'),
  reason: limitedString({ minLength: 1, maxLength: 1024, pattern: /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/ }).describe(
    'A CamelCase reason for the last transition.',
  ),
  status: z.enum(CONDITION_STATUSES),
  type: limitedString({
    maxLength: 316,
    pattern: /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
  }).describe('The condition type, in CamelCase.'),
});
export type Condition = z.infer<typeof ConditionSchema>;

/** A list of conditions, merged by type (`listType: map`) unless `keyed` is false. */
export function conditionList(options: { keyed: boolean; maxItems?: number }) {
  let list = z.array(ConditionSchema);
  if (options.maxItems !== undefined) list = list.max(options.maxItems);
  return options.keyed ? crd(list, { listType: 'map', listMapKeys: ['type'] }) : list;
}

/** A printer column of `kubectl get`. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

/** Everything the CRD generator needs to know about one kind: its names, columns and schema. */
export interface CrdDefinition {
  /** The API group; default `metal3.io` (Tempered's own kinds are `tempered.dev`). Version: v1alpha1. */
  group?: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames?: readonly string[];
  categories?: readonly string[];
  scope: 'Namespaced' | 'Cluster';
  printerColumns?: readonly PrinterColumn[];
  /** `{ status: true }` enables the status subresource; `{}` is an explicit empty subresources block. */
  subresources?: { status?: true };
  /** The whole object: apiVersion, kind, metadata, spec, status. */
  schema: z.ZodObject;
}

/** The Age column every kind shows last. */
export const AGE_COLUMN: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created',
};
