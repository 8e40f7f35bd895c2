/**
 * A multi-node chassis composed from a one-system mockup: several ComputerSystems behind one Manager and one
 * Chassis, as in a 2U4N server or a blade enclosure whose single BMC manages every node. The base system's
 * resources (and everything under it: BIOS, processors, NICs, storage, virtual media) are copied once per node
 * under `Systems/Node<i>`, each with its own MAC addresses, UUID and serial number; the Manager lists every node
 * in `ManagerForServers`, the Chassis in `ComputerSystems`; the rest of the tree is shared, as it is on the
 * hardware. Built in memory from the loaded tree (the licence and SOURCE.md of the base mockup apply), once per
 * tree and node count.
 */
import { uniqueMac } from './rewrite.ts';
import { serviceModel } from './service-model.ts';
import { type Json, type JsonObject, type MockupTree, ROOT, deepFreeze, linkOf, treeOf } from './tree.ts';

/** The id of node `index` (0-based), as HPE's multi-node blade BMCs name them. */
export function nodeId(index: number): string {
  return `Node${index}`;
}

const composed = new WeakMap<MockupTree, Map<number, MockupTree>>();

/** Copies a JSON value, with `map` applied to every string. */
function mapJson(value: Json, map: (text: string) => string): Json {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((item) => mapJson(item, map));
  if (value && typeof value === 'object') {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = mapJson(item, map);
    return out;
  }
  return value;
}

function nodeUuid(uuid: string, node: number): string {
  if (!/^[0-9a-f-]{36}$/i.test(uuid)) return uuid;
  const tail = uuid.slice(-4);
  const changed = ((parseInt(tail, 16) + node + 1) & 0xffff).toString(16).padStart(4, '0');
  return `${uuid.slice(0, -4)}${uuid === uuid.toUpperCase() ? changed.toUpperCase() : changed}`;
}

/**
 * The base tree with its (first) system made into `nodes` systems behind the same manager and chassis. Throws
 * when `nodes` is below 2 or the tree has no system.
 */
export function multiNodeTree(base: MockupTree, nodes: number): MockupTree {
  if (!Number.isInteger(nodes) || nodes < 2)
    throw new Error(`a multi-node chassis needs 2 or more nodes, not ${nodes}`);
  let perTree = composed.get(base);
  if (!perTree) {
    perTree = new Map();
    composed.set(base, perTree);
  }
  const cached = perTree.get(nodes);
  if (cached) return cached;

  const model = serviceModel(base, false);
  const systemPath = model.systemPath;
  const nodePaths = Array.from({ length: nodes }, (_, index) => `${model.systemsCollection}/${nodeId(index)}`);
  const nodeLinks = (): Json[] => nodePaths.map((path) => ({ '@odata.id': path }));
  const system = base.resources.get(systemPath) ?? {};
  const serial = typeof system['SerialNumber'] === 'string' ? system['SerialNumber'] : null;
  const uuid = typeof system['UUID'] === 'string' ? system['UUID'] : null;
  const within = (path: string): boolean => path === systemPath || path.startsWith(`${systemPath}/`);

  const resources = new Map<string, Readonly<JsonObject>>();
  for (const [path, resource] of base.resources) {
    if (within(path)) {
      nodePaths.forEach((nodePath, node) => {
        const macs = new Map(model.macs.map((mac, nic) => [mac.toLowerCase(), uniqueMac(mac, node, nic)]));
        const copy = mapJson(resource, (text) => {
          if (text === systemPath || text.startsWith(`${systemPath}/`) || text.startsWith(`${systemPath}#`))
            return nodePath + text.slice(systemPath.length);
          const mac = macs.get(text.toLowerCase());
          if (mac !== undefined) return mac;
          if (uuid !== null && text === uuid) return nodeUuid(uuid, node);
          if (serial !== null && text === serial) return `${serial}-${node}`;
          return text;
        }) as JsonObject;
        if (path === systemPath) copy['Id'] = nodeId(node);
        resources.set(nodePath + path.slice(systemPath.length), deepFreeze(copy));
      });
      continue;
    }
    let copy: JsonObject | undefined;
    if (path === model.systemsCollection) {
      copy = { ...resource, 'Members@odata.count': nodes, Members: nodeLinks() };
    } else if (path === model.managerPath || path === model.chassisPath) {
      const key = path === model.managerPath ? 'ManagerForServers' : 'ComputerSystems';
      const links: JsonObject = { ...((resource['Links'] as JsonObject | undefined) ?? {}) };
      links[key] = nodeLinks();
      links[`${key}@odata.count`] = nodes;
      copy = { ...resource, Links: links };
    } else if (JSON.stringify(resource).includes(systemPath)) {
      // Anything else naming the system (sensors, firmware RelatedItem) names the first node.
      copy = mapJson(resource, (text) =>
        text === systemPath || text.startsWith(`${systemPath}/`)
          ? (nodePaths[0] ?? '') + text.slice(systemPath.length)
          : text,
      ) as JsonObject;
    }
    resources.set(path, copy ? deepFreeze(copy) : resource);
  }
  if (!resources.has(ROOT) || nodePaths.some((path) => !resources.has(path)))
    throw new Error(`${base.dir}: could not compose ${nodes} nodes`);
  // The first member of the composed Systems collection is a node, so the model of any node finds it.
  const first = linkOf((resources.get(model.systemsCollection)?.['Members'] as Json[] | undefined)?.[0]);
  if (first !== nodePaths[0]) throw new Error(`${base.dir}: the composed Systems collection does not list the nodes`);
  const tree = treeOf(`${base.dir}#${nodes}-nodes`, base.layout, resources, base.documents, base.bytes);
  perTree.set(nodes, tree);
  return tree;
}
