// Every vendor profile serves its own mockup tree: each resource of the tree answers over HTTP with the
// tree's own JSON, except the resources the simulator makes stateful, and the facts a driver reads first
// (vendor, model, MACs, firmware versions, where virtual media is) are the tree's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILES, PROFILE_IDS, type Simulator, startSimulator } from './index.ts';
import { mockupDir } from './profiles.ts';
import { serviceModel } from './service-model.ts';
import { redfishClient } from '../test/sim.ts';
import { type JsonObject, loadMockupTree } from './tree.ts';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({
    bmcs: PROFILE_IDS.map((profile) => ({
      profile,
      id: profile,
      quirkWindowMs: 0,
      quirks: { remove: ['registries-406-identity', 'network-adapters-400-os-down', 'secureboot-license-required'] },
    })),
  });
});
afterAll(async () => {
  await sim.stop();
});

const schemes: Record<string, string> = {
  dmtf: 'redfish-virtualmedia',
  ilo5: 'ilo5-virtualmedia',
  ami: 'redfish-virtualmedia',
  xcc: 'redfish-virtualmedia',
  idrac: 'idrac-virtualmedia',
  supermicro: 'redfish-virtualmedia',
};

describe.each(PROFILE_IDS.map((id) => [id]))('profile %s', (id) => {
  const profile = PROFILES[id];
  const tree = loadMockupTree(mockupDir(profile.mockup));
  const model = serviceModel(tree, profile.quirks.includes('case-insensitive-uris'));

  it('serves every resource of its tree, unchanged unless the simulator keeps state for it', async () => {
    const bmc = sim.bmc(id);
    const client = redfishClient(bmc);
    const stateful = new Set<string>(
      [
        model.systemPath, model.biosPath, model.biosSettingsPath, model.managerPath, model.chassisPath, model.updateServicePath,
        model.sessionServicePath, model.sessionsPath, model.tasksPath, ...model.slots.map((slot) => slot.path), ...model.firmwareItems,
      ].filter((path): path is string => path !== null),
    );
    const changed: string[] = [];
    for (const [path, resource] of tree.resources) {
      const response = await client.get(path);
      if (path.startsWith(`${model.sessionsPath}/`)) {
        // Sessions captured with the mockup are not live: the service lists only its own.
        expect({ path, status: response.status }).toEqual({ path, status: 404 });
        continue;
      }
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
      const { ['@odata.etag']: servedTag, ...served } = response.json ?? {};
      const { ['@odata.etag']: _fileTag, ...file } = resource as JsonObject;
      if ('@odata.etag' in resource) expect(servedTag).toBe(response.headers.get('etag'));
      if (JSON.stringify(served) !== JSON.stringify(file)) changed.push(path);
    }
    expect(tree.resources.size).toBeGreaterThan(30);
    for (const path of changed) expect(stateful, `${path} changed`).toContain(path);
    expect(changed).toContain(model.systemPath);
  });

  it('reports the tree\'s own vendor facts and a Metal3 address for the vendor', async () => {
    const bmc = sim.bmc(id);
    const client = redfishClient(bmc);
    const file = tree.resources.get(model.systemPath) ?? {};
    const system = (await client.get(bmc.systemPath)).json ?? {};
    for (const key of ['Manufacturer', 'Model', 'SerialNumber', 'SKU', 'UUID', 'BiosVersion']) {
      if (key in file) expect(system[key]).toEqual(file[key]);
    }
    expect(bmc.address).toBe(`${schemes[id]}+http://127.0.0.1:${bmc.port}${model.systemPath}`);
    expect(bmc.bootMACAddress).toBe(model.macs[0] ?? null);
    expect(bmc.bootMACAddress).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i);
    for (const path of model.firmwareItems) {
      const version = (tree.resources.get(path) ?? {})['Version'];
      if (typeof version === 'string') expect(bmc.state().firmware[path]).toBe(version);
    }
    expect(bmc.state().media.length).toBeGreaterThan(0);
    expect(bmc.state().power).toBe('Off');
  });

  it('enforces the profile\'s session limit with the vendor\'s error', async () => {
    const bmc = sim.bmc(id);
    const limit = profile.maxSessions;
    const locations: string[] = [];
    for (let index = 0; index < limit; index += 1) locations.push(await redfishClient(bmc).login());
    const over = await redfishClient(bmc).post('/redfish/v1/SessionService/Sessions', { UserName: bmc.username, Password: bmc.password });
    expect(over.status).toBe(profile.sessionLimitError.status);
    expect(JSON.stringify(over.json)).toContain(profile.sessionLimitError.messageId);
    const admin = redfishClient(bmc);
    for (const location of locations) expect((await admin.delete(location)).status).toBe(204);
  });
});

it('serves a long-form and a short-form tree alike', () => {
  const layouts = PROFILE_IDS.map((id) => loadMockupTree(mockupDir(PROFILES[id].mockup)).layout);
  expect(new Set(layouts)).toEqual(new Set(['long', 'short']));
});
