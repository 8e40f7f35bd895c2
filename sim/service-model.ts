/**
 * What the simulator needs to know about a mockup tree to make it stateful: which resource is the system, its
 * manager and chassis, BIOS and its settings object, the virtual media slots, the reset action and its
 * allowed values, the update service and firmware inventory, sessions and tasks. Found once per tree by
 * following links from the service root, the way a client would, and shared by every BMC serving the tree.
 */
import { type Json, type JsonObject, type MockupTree, ROOT, linkOf, normalizePath } from './tree.ts';

/** A virtual media slot found in the tree. */
export interface SlotModel {
  readonly path: string;
  readonly id: string;
  readonly mediaTypes: readonly string[];
}

/** The stateful parts of a tree. */
export interface ServiceModel {
  readonly tree: MockupTree;
  readonly caseInsensitive: boolean;
  readonly systemPath: string;
  readonly systemsCollection: string;
  readonly managerPath: string | null;
  readonly managersCollection: string | null;
  readonly chassisPath: string | null;
  readonly chassisCollection: string | null;
  readonly biosPath: string | null;
  /** The BIOS settings object; synthesized (`<bios>/Settings`) when the tree has none. */
  readonly biosSettingsPath: string | null;
  readonly biosSettingsInTree: boolean;
  /** The System's own settings object for Boot (`<system>/Pending`), used by `boot-settings-object`. */
  readonly systemSettingsPath: string;
  readonly secureBootPath: string | null;
  readonly vmediaCollections: readonly string[];
  readonly slots: readonly SlotModel[];
  readonly resetTarget: string;
  /** ResetType values published inline or through ActionInfo; null when neither is published. */
  readonly resetAllowed: readonly string[] | null;
  readonly resetAllowedSource: 'inline' | 'actioninfo' | 'none';
  readonly updateServicePath: string | null;
  readonly simpleUpdateTarget: string | null;
  readonly startUpdateTarget: string | null;
  readonly httpPushUri: string | null;
  readonly multipartPushUri: string | null;
  readonly firmwareCollection: string | null;
  readonly firmwareItems: readonly string[];
  /** The FirmwareInventory member that is the system BIOS / the BMC, when one can be told apart. */
  readonly biosFirmware: string | null;
  readonly bmcFirmware: string | null;
  readonly sessionServicePath: string;
  readonly sessionsPath: string;
  readonly taskServicePath: string;
  readonly tasksPath: string;
  /** The Dell OEM ImportSystemConfiguration target, when the manager advertises it. */
  readonly importConfigTarget: string | null;
  /** MAC addresses of the system's Ethernet interfaces, in collection order. */
  readonly macs: readonly string[];
}

const models = new WeakMap<MockupTree, Map<string, ServiceModel>>();

/**
 * The service model of `tree` for system `systemId` (default: the first member of Systems). Cached per tree.
 * Throws when the tree has no Systems collection or the system is missing.
 */
export function serviceModel(tree: MockupTree, caseInsensitive: boolean, systemId?: string): ServiceModel {
  let perTree = models.get(tree);
  if (!perTree) {
    perTree = new Map();
    models.set(tree, perTree);
  }
  const key = `${systemId ?? ''}|${caseInsensitive}`;
  const cached = perTree.get(key);
  if (cached) return cached;
  const model = discover(tree, caseInsensitive, systemId);
  perTree.set(key, model);
  return model;
}

function discover(tree: MockupTree, ci: boolean, systemId: string | undefined): ServiceModel {
  const get = (path: string | undefined | null): Readonly<JsonObject> | undefined => {
    if (!path) return undefined;
    const canonical = tree.resolve(path, ci);
    return canonical ? tree.resources.get(canonical) : undefined;
  };
  const canon = (path: string | undefined | null): string | null => (path ? (tree.resolve(path, ci) ?? null) : null);
  const members = (collection: Readonly<JsonObject> | undefined): string[] => {
    const list = collection?.['Members'];
    return Array.isArray(list) ? list.map((member) => linkOf(member)).filter((id): id is string => id !== undefined) : [];
  };
  const root = tree.resources.get(ROOT);
  if (!root) throw new Error(`${tree.dir}: no service root`);

  const systemsCollection = canon(linkOf(root['Systems']));
  if (!systemsCollection) throw new Error(`${tree.dir}: the service root has no Systems collection`);
  const systemIds = members(get(systemsCollection));
  const chosen = systemId
    ? systemIds.find((id) => id.split('/').pop()?.toLowerCase() === systemId.toLowerCase())
    : systemIds[0];
  const systemPath = canon(chosen);
  if (!systemPath) throw new Error(`${tree.dir}: system ${systemId ?? '(first)'} not found in ${systemsCollection}`);
  const system = get(systemPath) ?? {};
  const links = asObject(system['Links']);

  const managersCollection = canon(linkOf(root['Managers']));
  const managerPath =
    canon(firstLink(links['ManagedBy'])) ?? canon(firstLink(links['Managers'])) ?? canon(members(get(managersCollection))[0]);
  const manager = get(managerPath) ?? {};
  const chassisCollection = canon(linkOf(root['Chassis']));
  const chassisPath = canon(firstLink(links['Chassis'])) ?? canon(members(get(chassisCollection))[0]);

  const biosPath = canon(linkOf(system['Bios']));
  const bios = get(biosPath);
  const settingsLink = linkOf(asObject(asObject(bios?.['@Redfish.Settings'])['SettingsObject']));
  const settingsInTree = canon(settingsLink);
  const biosSettingsPath = biosPath ? (settingsInTree ?? (settingsLink ? normalizePath(settingsLink) : `${biosPath}/Settings`)) : null;

  const vmediaCollections = [canon(linkOf(system['VirtualMedia'])), canon(linkOf(manager['VirtualMedia']))].filter(
    (path, index, all): path is string => path !== null && all.indexOf(path) === index,
  );
  const slots: SlotModel[] = [];
  for (const collection of vmediaCollections) {
    for (const member of members(get(collection))) {
      const path = canon(member);
      const slot = get(path);
      if (!path || !slot) continue;
      const types = slot['MediaTypes'];
      slots.push({
        path,
        id: typeof slot['Id'] === 'string' ? slot['Id'] : (path.split('/').pop() ?? path),
        mediaTypes: Array.isArray(types) ? types.filter((type): type is string => typeof type === 'string') : ['CD'],
      });
    }
  }

  const resetInfo = asObject(asObject(system['Actions'])['#ComputerSystem.Reset']);
  const resetTarget = typeof resetInfo['target'] === 'string' ? normalizePath(resetInfo['target']) : `${systemPath}/Actions/ComputerSystem.Reset`;
  let resetAllowed: string[] | null = strings(resetInfo['ResetType@Redfish.AllowableValues']);
  let resetAllowedSource: ServiceModel['resetAllowedSource'] = resetAllowed ? 'inline' : 'none';
  const actionInfo = typeof resetInfo['@Redfish.ActionInfo'] === 'string' ? get(resetInfo['@Redfish.ActionInfo']) : undefined;
  const fromInfo = actionInfoValues(actionInfo, 'ResetType');
  if (!resetAllowed && fromInfo) {
    resetAllowed = fromInfo;
    resetAllowedSource = 'actioninfo';
  } else if (resetAllowed && fromInfo) {
    resetAllowed = [...new Set([...resetAllowed, ...fromInfo])];
  }

  const updateServicePath = canon(linkOf(root['UpdateService']));
  const updateService = get(updateServicePath) ?? {};
  const updateActions = asObject(updateService['Actions']);
  const target = (name: string): string | null => {
    const info = asObject(updateActions[name]);
    return typeof info['target'] === 'string' ? normalizePath(info['target']) : null;
  };
  const firmwareCollection = canon(linkOf(updateService['FirmwareInventory']));
  const firmwareItems = members(get(firmwareCollection)).map((id) => canon(id)).filter((id): id is string => id !== null);
  const describe = (path: string): string => {
    const item = get(path) ?? {};
    return [item['Id'], item['Name'], item['Description']].filter((part) => typeof part === 'string').join(' ');
  };
  const relatedTo = (path: string, wanted: string | null): boolean => {
    const related = (get(path) ?? {})['RelatedItem'];
    return wanted !== null && Array.isArray(related) && related.some((item) => canon(linkOf(item)) === wanted);
  };
  const biosFirmware =
    firmwareItems.find((path) => relatedTo(path, systemPath) && /bios|uefi|system rom/i.test(describe(path))) ??
    firmwareItems.find((path) => /\bbios\b|uefi|system rom/i.test(describe(path))) ??
    null;
  const bmcFirmware =
    firmwareItems.find((path) => relatedTo(path, managerPath)) ??
    firmwareItems.find((path) => /\bbmc\b|ilo|idrac|remote access|xcc/i.test(describe(path))) ??
    null;

  const sessionServicePath = canon(linkOf(root['SessionService'])) ?? `${ROOT}/SessionService`;
  const sessionsPath =
    canon(linkOf(asObject(root['Links'])['Sessions'])) ??
    linkOf(asObject(root['Links'])['Sessions']) ??
    canon(linkOf((get(sessionServicePath) ?? {})['Sessions'])) ??
    `${ROOT}/SessionService/Sessions`;
  const taskServicePath = canon(linkOf(root['Tasks'])) ?? `${ROOT}/TaskService`;
  const tasksPath = canon(linkOf((get(taskServicePath) ?? {})['Tasks'])) ?? `${taskServicePath}/Tasks`;

  let importConfigTarget: string | null = null;
  for (const [path, ref] of tree.actions) {
    if (ref.resource === managerPath && ref.name.endsWith('ImportSystemConfiguration')) importConfigTarget = path;
  }

  const macs: string[] = [];
  for (const nic of members(get(canon(linkOf(system['EthernetInterfaces']))))) {
    const mac = get(nic)?.['MACAddress'];
    if (typeof mac === 'string' && mac !== '') macs.push(mac);
  }

  return {
    tree,
    caseInsensitive: ci,
    systemPath,
    systemsCollection,
    managerPath,
    managersCollection,
    chassisPath,
    chassisCollection,
    biosPath,
    biosSettingsPath,
    biosSettingsInTree: settingsInTree !== null,
    systemSettingsPath: `${systemPath}/Pending`,
    secureBootPath: canon(linkOf(system['SecureBoot'])),
    vmediaCollections,
    slots,
    resetTarget,
    resetAllowed,
    resetAllowedSource,
    updateServicePath,
    simpleUpdateTarget: target('#UpdateService.SimpleUpdate'),
    startUpdateTarget: target('#UpdateService.StartUpdate'),
    httpPushUri: typeof updateService['HttpPushUri'] === 'string' ? normalizePath(updateService['HttpPushUri']) : null,
    multipartPushUri: typeof updateService['MultipartHttpPushUri'] === 'string' ? normalizePath(updateService['MultipartHttpPushUri']) : null,
    firmwareCollection,
    firmwareItems,
    biosFirmware,
    bmcFirmware,
    sessionServicePath,
    sessionsPath,
    taskServicePath,
    tasksPath,
    importConfigTarget,
    macs,
  };
}

/** The AllowableValues of parameter `name` in an ActionInfo resource. */
export function actionInfoValues(info: Readonly<JsonObject> | undefined, name: string): string[] | null {
  const parameters = info?.['Parameters'];
  if (!Array.isArray(parameters)) return null;
  for (const parameter of parameters) {
    const object = asObject(parameter);
    if (object['Name'] === name) return strings(object['AllowableValues']);
  }
  return null;
}

/** The value as an object, or an empty one. */
export function asObject(value: Json | undefined): Readonly<JsonObject> {
  return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
}

function firstLink(value: Json | undefined): string | undefined {
  return Array.isArray(value) ? linkOf(value[0]) : undefined;
}

function strings(value: Json | undefined): string[] | null {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : null;
}
