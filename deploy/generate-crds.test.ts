import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { crd, integer, limitedString, type CrdDefinition } from '../domain/k8s.schema.ts';
import { METAL3_CRDS } from '../domain/metal3.schema.ts';
import { CRD_DIR, crdFileName, crdManifest, driftedFiles, openApiSchemaOf, renderCrdFiles, renderCrds } from './generate-crds.ts';

const UPSTREAM_CRDS = fileURLToPath(new URL('../test/fixtures/metal3/crds/', import.meta.url));

type Json = unknown;
type JsonObject = { [key: string]: Json };
const isObject = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---- A structural comparison of CRDs that ignores description text -------------------------------------

/** Keywords whose value maps names (data, not keywords) to sub-schemas. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions', 'dependencies']);
/** Keywords whose value is one sub-schema. */
const SCHEMA_ONE = new Set(['items', 'additionalProperties', 'additionalItems', 'not']);
/** Keywords whose value is a list of sub-schemas. */
const SCHEMA_LIST = new Set(['allOf', 'anyOf', 'oneOf']);

/**
 * The differences between two OpenAPI schema nodes as "path: keyword: ours vs upstream" lines. The
 * `description` keyword is ignored at every level; a property that happens to be named "description" is not;
 * the order of `required` is ignored, every other value is compared exactly.
 */
function schemaDifferences(ours: Json, theirs: Json, path = ''): string[] {
  const where = path || '<root>';
  if (!isObject(ours) || !isObject(theirs)) {
    return JSON.stringify(ours) === JSON.stringify(theirs) ? [] : [`${where}: ${JSON.stringify(ours)} vs ${JSON.stringify(theirs)}`];
  }
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].filter((k) => k !== 'description').sort();
  for (const key of keys) {
    const a = ours[key];
    const b = theirs[key];
    if (a === undefined || b === undefined) {
      out.push(`${where}: ${key}: ${a === undefined ? 'missing in ours' : 'not upstream'} (${JSON.stringify(a ?? b)})`);
    } else if (SCHEMA_MAPS.has(key) && isObject(a) && isObject(b)) {
      for (const name of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        if (!(name in a)) out.push(`${path}.${name}: missing in ours`);
        else if (!(name in b)) out.push(`${path}.${name}: not upstream`);
        else out.push(...schemaDifferences(a[name], b[name], `${path}.${name}`));
      }
    } else if (SCHEMA_ONE.has(key) && isObject(a) && isObject(b)) {
      out.push(...schemaDifferences(a, b, `${path}${key === 'items' ? '[]' : `{${key}}`}`));
    } else if (SCHEMA_LIST.has(key) && Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
      a.forEach((x, i) => out.push(...schemaDifferences(x, b[i], `${path}{${key}[${i}]}`)));
    } else {
      const norm = (v: Json) => JSON.stringify(key === 'required' && Array.isArray(v) ? [...v].sort() : v);
      if (norm(a) !== norm(b)) out.push(`${where}: ${key}: ${norm(a)} vs ${norm(b)}`);
    }
  }
  return out;
}

const ASPECTS = ['metadata.name', 'group', 'names (kind, plural, short names, categories)', 'scope', 'versions', 'printer columns', 'subresources', 'openAPIV3Schema'] as const;
type Aspect = (typeof ASPECTS)[number];

function aspectOf(doc: JsonObject, aspect: Aspect): Json {
  const spec = doc.spec as JsonObject;
  const versions = spec.versions as JsonObject[];
  if (versions.length !== 1) throw new Error(`expected one version, found ${versions.length}`);
  const version = versions[0] as JsonObject;
  switch (aspect) {
    case 'metadata.name':
      return (doc.metadata as JsonObject).name;
    case 'group':
      return spec.group;
    case 'names (kind, plural, short names, categories)':
      return spec.names;
    case 'scope':
      return spec.scope;
    case 'versions':
      return { name: version.name, served: version.served, storage: version.storage, deprecated: version.deprecated ?? false };
    case 'printer columns':
      return ((version.additionalPrinterColumns ?? []) as JsonObject[]).map(({ description: _ignored, ...column }) => column);
    case 'subresources':
      return version.subresources ?? 'none';
    case 'openAPIV3Schema':
      return (version.schema as JsonObject).openAPIV3Schema;
  }
}

function differences(ours: JsonObject, theirs: JsonObject, aspect: Aspect): string[] {
  const a = aspectOf(ours, aspect);
  const b = aspectOf(theirs, aspect);
  if (aspect === 'openAPIV3Schema') return schemaDifferences(a, b);
  const sorted = (v: Json): Json =>
    Array.isArray(v) ? v.map(sorted) : isObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v;
  return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b)) ? [] : [`${JSON.stringify(a)} vs ${JSON.stringify(b)}`];
}

const upstreamDoc = (file: string) => parse(readFileSync(join(UPSTREAM_CRDS, file), 'utf8')) as JsonObject;

// ---- Tests ------------------------------------------------------------------------------------------------

describe('generated CRDs match upstream Metal3 v0.13.2, keyword by keyword', () => {
  const generated = renderCrds();

  it('there is one generated CRD per upstream CRD file, and no other', () => {
    expect([...generated.keys()].sort()).toEqual(readdirSync(UPSTREAM_CRDS).filter((f) => f.endsWith('.yaml')).sort());
  });

  const rows = METAL3_CRDS.flatMap((c) => ASPECTS.map((aspect) => ({ kind: c.kind, file: crdFileName(c), aspect })));
  it.each(rows)('$kind: $aspect', ({ file, aspect }) => {
    const ours = parse(generated.get(file) as string) as JsonObject;
    expect(differences(ours, upstreamDoc(file), aspect)).toEqual([]);
  });

  it('we write our own descriptions, not upstream prose', () => {
    const texts = (node: Json, acc: string[] = []): string[] => {
      if (Array.isArray(node)) node.forEach((n) => texts(n, acc));
      else if (isObject(node)) {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'description' && typeof v === 'string') acc.push(v);
          else texts(v, acc);
        }
      }
      return acc;
    };
    const theirs = new Set(readdirSync(UPSTREAM_CRDS).flatMap((f) => texts(upstreamDoc(f))));
    const copied = [...generated.values()].flatMap((text) => texts(parse(text))).filter((t) => theirs.has(t));
    expect(copied).toEqual([]);
  });
});

describe('the comparison itself (so a pass means something)', () => {
  const file = 'metal3.io_baremetalhosts.yaml';
  const mutate = (change: (schema: JsonObject) => void): string[] => {
    const theirs = upstreamDoc(file);
    const ours = structuredClone(theirs);
    change(aspectOf(ours, 'openAPIV3Schema') as JsonObject);
    return differences(ours, theirs, 'openAPIV3Schema');
  };
  const specOf = (schema: JsonObject) => (schema.properties as JsonObject).spec as JsonObject & { properties: Record<string, JsonObject> };

  it.each([
    { scenario: 'an enum value dropped', change: (s: JsonObject) => ((specOf(s).properties.bootMode as { enum: string[] }).enum.pop()), expected: /bootMode: enum/ },
    { scenario: 'a pattern changed', change: (s: JsonObject) => (specOf(s).properties.bootMACAddress as JsonObject).pattern = '^x$', expected: /bootMACAddress: pattern/ },
    { scenario: 'a required field dropped', change: (s: JsonObject) => (specOf(s).required = []), expected: /spec: required/ },
    { scenario: 'a default changed', change: (s: JsonObject) => ((specOf(s).properties.automatedCleaningMode as JsonObject).default = 'disabled'), expected: /automatedCleaningMode: default/ },
    { scenario: 'the property named "description" removed', change: (s: JsonObject) => delete specOf(s).properties.description, expected: /\.spec\.description: missing in ours/ },
    { scenario: 'a list type changed', change: (s: JsonObject) => (((s.properties as JsonObject).status as { properties: Record<string, JsonObject> }).properties.conditions as JsonObject)['x-kubernetes-list-type'] = 'atomic', expected: /conditions: x-kubernetes-list-type/ },
    { scenario: 'nullable removed', change: (s: JsonObject) => delete ((specOf(s).properties.raid as { properties: Record<string, JsonObject> }).properties.hardwareRAIDVolumes as JsonObject).nullable, expected: /hardwareRAIDVolumes: nullable/ },
  ])('notices $scenario', ({ change, expected }) => {
    const found = mutate(change);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(expected);
  });

  it('ignores description text and the order of required', () => {
    expect(
      mutate((s) => {
        s.description = 'something else';
        specOf(s).properties.online = { ...specOf(s).properties.online, description: 'x' };
        (s.properties as JsonObject).status = { ...((s.properties as JsonObject).status as JsonObject), required: ['provisioning', 'poweredOn', 'operationalStatus', 'errorMessage', 'errorCount'] };
      }),
    ).toEqual([]);
  });

  it('compares printer columns without their descriptions, but with everything else', () => {
    const theirs = upstreamDoc(file);
    const ours = structuredClone(theirs);
    const columns = ((ours.spec as JsonObject).versions as JsonObject[])[0]?.additionalPrinterColumns as JsonObject[];
    (columns[0] as JsonObject).description = 'ours';
    expect(differences(ours, theirs, 'printer columns')).toEqual([]);
    (columns[0] as JsonObject).priority = 0;
    expect(differences(ours, theirs, 'printer columns')).toHaveLength(1);
  });
});

describe('deploy/crds is what the schemas generate (drift)', () => {
  it('every committed file equals its regeneration, and there are no stray files', () => {
    expect(driftedFiles(CRD_DIR, renderCrdFiles()), 'run npm run crds').toEqual([]);
  });

  it('the kustomization lists every CRD and nothing else', () => {
    const files = renderCrdFiles();
    const kustomization = parse(files.get('kustomization.yaml') as string) as { kind: string; resources: string[] };
    expect(kustomization.kind).toBe('Kustomization');
    expect(kustomization.resources).toEqual([...renderCrds().keys()].sort());
  });

  it('driftedFiles reports a changed, a missing and a stray file', () => {
    const files = renderCrdFiles();
    const changed = new Map(files);
    const first = [...files.keys()][0] as string;
    changed.set(first, `${files.get(first)}# edited\n`);
    changed.set('metal3.io_extra.yaml', 'x');
    expect(driftedFiles(CRD_DIR, changed)).toEqual([first, 'metal3.io_extra.yaml'].sort());
    const fewer = new Map(files);
    fewer.delete(first);
    expect(driftedFiles(CRD_DIR, fewer)).toEqual([first]);
  });

  it('each file carries the generated-by header and parses as one CRD', () => {
    for (const [name, text] of renderCrds()) {
      expect(text.startsWith('# Generated by `npm run crds`'), name).toBe(true);
      expect((parse(text) as JsonObject).kind).toBe('CustomResourceDefinition');
    }
  });
});

describe('zod to OpenAPI', () => {
  it.each([
    { scenario: 'integer bounds and format', schema: integer({ format: 'int32', minimum: 0, maximum: 4094 }), want: { type: 'integer', format: 'int32', minimum: 0, maximum: 4094 } },
    { scenario: 'exclusive bounds', schema: crd(z.number().gt(0).lt(1), {}), want: { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true } },
    { scenario: 'code-point lengths and a pattern with a slash', schema: limitedString({ minLength: 1, maxLength: 8, pattern: /^a\/b$/ }), want: { type: 'string', minLength: 1, maxLength: 8, pattern: '^a/b$' } },
    { scenario: 'an escaped backslash before a slash', schema: z.string().regex(/\\\//), want: { type: 'string', pattern: '\\\\/' } },
    { scenario: 'boolean literals become a boolean enum', schema: z.literal([true, false]), want: { type: 'boolean', enum: [true, false] } },
    { scenario: 'nullable array with bounds', schema: z.array(z.string()).min(1).max(2).nullable(), want: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 2, nullable: true } },
    { scenario: 'a record', schema: z.record(z.string(), z.boolean()), want: { type: 'object', additionalProperties: { type: 'boolean' } } },
    { scenario: 'a default', schema: z.enum(['a', 'b']).default('a'), want: { type: 'string', enum: ['a', 'b'], default: 'a' } },
    { scenario: 'a description from .describe()', schema: z.boolean().describe('Yes or no.'), want: { type: 'boolean', description: 'Yes or no.' } },
    {
      scenario: 'CEL rules, list and map types',
      schema: crd(z.array(crd(z.object({ k: z.string() }), { mapType: 'atomic' })), { listType: 'map', listMapKeys: ['k'], validations: [{ rule: 'self.size() < 3', message: 'too many' }] }),
      want: { type: 'array', items: { type: 'object', properties: { k: { type: 'string' } }, required: ['k'], 'x-kubernetes-map-type': 'atomic' }, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['k'], 'x-kubernetes-validations': [{ rule: 'self.size() < 3', message: 'too many' }] },
    },
    { scenario: 'preserve unknown fields', schema: crd(z.looseObject({}), { preserveUnknownFields: true }), want: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
  ])('$scenario', ({ schema, want }) => {
    expect(openApiSchemaOf(schema)).toEqual(want);
  });

  it('required follows zod optionality, with the required facet as override', () => {
    const schema = z.object({
      a: z.string(),
      b: z.string().optional(),
      c: z.number().default(0),
      d: crd(z.number().default(0), { required: true }),
      e: crd(z.string(), { required: false }),
    });
    expect(openApiSchemaOf(schema).required).toEqual(['a', 'd']);
  });

  it.each([
    { scenario: "zod's own string lengths (UTF-16, not code points)", schema: z.string().max(3), error: /max_length/ },
    { scenario: 'a refinement with no facet saying what it checks', schema: z.string().refine((s) => s !== 'x'), error: /custom/ },
    { scenario: 'a safe-integer check (use integer())', schema: z.int(), error: /number_format/ },
    { scenario: 'a loose object without preserveUnknownFields', schema: z.looseObject({ a: z.string() }), error: /loose objects/ },
    { scenario: 'a general union', schema: z.union([z.string(), z.boolean()]), error: /unions/ },
    { scenario: 'a transform', schema: z.string().transform((s) => s.length), error: /pipe/ },
    { scenario: 'a regex with flags', schema: z.string().regex(/a/i), error: /flags/ },
    { scenario: 'a string format other than a pattern', schema: z.email(), error: /string format "email"/ },
  ])('refuses $scenario', ({ schema, error }) => {
    expect(() => openApiSchemaOf(z.object({ field: schema }))).toThrow(error);
  });

  it('names carry short names and categories only when given', () => {
    const base: CrdDefinition = { kind: 'X', listKind: 'XList', plural: 'xs', singular: 'x', scope: 'Cluster', schema: z.object({}) };
    const names = (c: CrdDefinition) => (crdManifest(c).spec as JsonObject).names;
    expect(names(base)).toEqual({ kind: 'X', listKind: 'XList', plural: 'xs', singular: 'x' });
    expect(names({ ...base, shortNames: ['x1'], categories: ['metal3'] })).toMatchObject({ shortNames: ['x1'], categories: ['metal3'] });
    expect((crdManifest(base).spec as JsonObject).scope).toBe('Cluster');
  });

  it('a CRD without subresources has none, an empty block stays empty', () => {
    const base: CrdDefinition = { kind: 'X', listKind: 'XList', plural: 'xs', singular: 'x', scope: 'Namespaced', schema: z.object({}) };
    const version = (c: CrdDefinition) => ((crdManifest(c).spec as JsonObject).versions as JsonObject[])[0] as JsonObject;
    expect(version(base)).not.toHaveProperty('subresources');
    expect(version({ ...base, subresources: {} }).subresources).toEqual({});
    expect(version({ ...base, subresources: { status: true } }).subresources).toEqual({ status: {} });
  });
});
