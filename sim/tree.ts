/**
 * Mockup trees: a Redfish service captured as files, loaded once, frozen and shared by every simulated BMC
 * that serves it (copy-on-write: BMCs never change a tree, they overlay their own state when rendering).
 *
 * Two layouts are accepted, as DMTF's Redfish-Mockup-Server does:
 * - long form: `<dir>/redfish/v1/index.json` is the service root, `<dir>/redfish/v1/Systems/1/index.json` ...
 * - short form: `<dir>/index.json` is the service root, `<dir>/Systems/1/index.json` ...
 * A resource's URI is its folder's path. `index.xml` files (such as `$metadata`) are served as XML.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** A JSON value as found in mockups and request bodies. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** A `#Namespace.Action` advertised in a resource's `Actions`, indexed by its target URI. */
export interface ActionRef {
  /** The resource that advertises the action. */
  readonly resource: string;
  /** The action's name without the leading `#` and any OEM prefix, e.g. `ComputerSystem.Reset`. */
  readonly name: string;
  /** The advertisement itself (target, AllowableValues annotations, ActionInfo link). */
  readonly info: Readonly<JsonObject>;
}

/** A loaded, frozen mockup tree. */
export interface MockupTree {
  /** Absolute path of the folder the tree was loaded from. */
  readonly dir: string;
  /** `long` for `redfish/v1/.../index.json`, `short` for DMTF's short form. */
  readonly layout: 'long' | 'short';
  /** Every JSON resource by canonical URI (no trailing slash; the root is `/redfish/v1`). */
  readonly resources: ReadonlyMap<string, Readonly<JsonObject>>;
  /** Non-JSON documents (`$metadata`, OEM schema XML) by canonical URI. */
  readonly documents: ReadonlyMap<string, { readonly contentType: string; readonly body: Buffer }>;
  /** Every advertised action by canonical target URI. */
  readonly actions: ReadonlyMap<string, ActionRef>;
  /** Total bytes of the files read. */
  readonly bytes: number;
  /**
   * The canonical URI for a request path: exact match first, then (when `caseInsensitive`) ignoring case, as
   * iLO does. Returns undefined when the tree has no such resource or document.
   */
  resolve(path: string, caseInsensitive: boolean): string | undefined;
  /** The action whose target is `path`, matched like `resolve`. */
  action(path: string, caseInsensitive: boolean): ActionRef | undefined;
}

/** The service root's canonical URI. */
export const ROOT = '/redfish/v1';

/**
 * Normalises a URI path: strips the query and fragment, collapses `//`, drops a trailing slash. Does not decode:
 * mockups keep percent-encoded segments (`%23`) as they were captured.
 */
export function normalizePath(raw: string): string {
  let path = raw;
  const cut = path.search(/[?#]/);
  if (cut >= 0) path = path.slice(0, cut);
  path = path.replace(/\/{2,}/g, '/');
  while (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path;
}

/** The `@odata.id` of a link object such as `{ "@odata.id": "/redfish/v1/Systems" }`, normalised. */
export function linkOf(value: Json | undefined): string | undefined {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const id = value['@odata.id'];
    if (typeof id === 'string') return normalizePath(id);
  }
  return undefined;
}

/** Deep-freezes a parsed JSON value so a shared tree cannot be changed by accident. */
export function deepFreeze<T extends Json>(value: T): T {
  if (value && typeof value === 'object') {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

const cache = new Map<string, MockupTree>();

/**
 * Loads (once per folder, then from cache) the mockup tree in `dir`. Throws when the folder holds neither
 * layout or a file is not valid JSON.
 */
export function loadMockupTree(dir: string): MockupTree {
  const absolute = resolve(dir);
  const cached = cache.get(absolute);
  if (cached) return cached;
  const tree = readTree(absolute);
  cache.set(absolute, tree);
  return tree;
}

function readTree(dir: string): MockupTree {
  let layout: 'long' | 'short';
  let rootDir: string;
  if (existsSync(join(dir, 'redfish', 'v1', 'index.json'))) {
    layout = 'long';
    rootDir = join(dir, 'redfish', 'v1');
  } else if (existsSync(join(dir, 'index.json'))) {
    layout = 'short';
    rootDir = dir;
  } else {
    throw new Error(`${dir} is not a Redfish mockup: it has neither redfish/v1/index.json nor index.json`);
  }
  const resources = new Map<string, Readonly<JsonObject>>();
  const documents = new Map<string, { contentType: string; body: Buffer }>();
  let bytes = 0;
  const walk = (folder: string, uri: string): void => {
    for (const entry of readdirSync(folder)) {
      const full = join(folder, entry);
      if (statSync(full).isDirectory()) {
        walk(full, `${uri}/${entry}`);
      } else if (entry === 'index.json') {
        const text = readFileSync(full, 'utf8');
        bytes += Buffer.byteLength(text);
        let parsed: Json;
        try {
          parsed = JSON.parse(text) as Json;
        } catch (error) {
          throw new Error(`${full}: not valid JSON (${(error as Error).message})`, { cause: error });
        }
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) resources.set(uri, deepFreeze(parsed));
      } else if (entry === 'index.xml') {
        const body = readFileSync(full);
        bytes += body.length;
        documents.set(uri, { contentType: 'application/xml', body });
      }
    }
  };
  walk(rootDir, ROOT);
  if (!resources.has(ROOT)) throw new Error(`${dir}: the service root is not a JSON object`);
  return treeOf(dir, layout, resources, documents, bytes);
}

/**
 * A tree from resources already in memory (a derived tree, such as several systems composed from one): indexes
 * paths and actions as a loaded tree does. The resources must be frozen, as loaded ones are.
 */
export function treeOf(
  dir: string,
  layout: 'long' | 'short',
  resources: ReadonlyMap<string, Readonly<JsonObject>>,
  documents: ReadonlyMap<string, { readonly contentType: string; readonly body: Buffer }>,
  bytes: number,
): MockupTree {
  const lower = new Map<string, string>();
  for (const key of [...resources.keys(), ...documents.keys()]) {
    if (!lower.has(key.toLowerCase())) lower.set(key.toLowerCase(), key);
  }
  const actions = new Map<string, ActionRef>();
  for (const [uri, resource] of resources) indexActions(uri, resource, actions);
  const actionsLower = new Map<string, ActionRef>();
  for (const [target, ref] of actions) actionsLower.set(target.toLowerCase(), ref);

  const resolvePath = (path: string, caseInsensitive: boolean): string | undefined => {
    const normal = normalizePath(path);
    if (resources.has(normal) || documents.has(normal)) return normal;
    const decoded = safeDecode(normal);
    if (decoded !== normal && (resources.has(decoded) || documents.has(decoded))) return decoded;
    return caseInsensitive ? lower.get(normal.toLowerCase()) : undefined;
  };
  return {
    dir,
    layout,
    resources,
    documents,
    actions,
    bytes,
    resolve: resolvePath,
    action(path, caseInsensitive) {
      const normal = normalizePath(path);
      return actions.get(normal) ?? (caseInsensitive ? actionsLower.get(normal.toLowerCase()) : undefined);
    },
  };
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** Collects `Actions` (standard, `Actions.Oem`, and HPE's `Oem.<vendor>.Actions`) of one resource. */
function indexActions(uri: string, resource: Readonly<JsonObject>, into: Map<string, ActionRef>): void {
  const visit = (actions: Json | undefined): void => {
    if (!actions || typeof actions !== 'object' || Array.isArray(actions)) return;
    for (const [key, value] of Object.entries(actions)) {
      if (key === 'Oem') {
        visit(value);
        continue;
      }
      if (!value || typeof value !== 'object' || Array.isArray(value)) continue;
      const target = value['target'];
      const hash = key.lastIndexOf('#');
      if (typeof target !== 'string' || hash < 0) continue;
      into.set(normalizePath(target), { resource: uri, name: key.slice(hash + 1), info: value });
    }
  };
  visit(resource['Actions']);
  const oem = resource['Oem'];
  if (oem && typeof oem === 'object' && !Array.isArray(oem)) {
    for (const vendor of Object.values(oem)) {
      if (vendor && typeof vendor === 'object' && !Array.isArray(vendor)) visit(vendor['Actions']);
    }
  }
}
