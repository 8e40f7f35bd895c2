// Many BMCs behind one port (the shared layout): each BMC is /redfish/v1/Systems/<id> (manager and chassis
// likewise) with its own state, its own credentials and, for fleets, its own MACs and UUID.
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from './index.ts';
import { redfishClient } from '../test/sim.ts';

const running: Simulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.stop()));
});

async function start(options: Parameters<typeof startSimulator>[0]): Promise<Simulator> {
  const sim = await startSimulator(options);
  running.push(sim);
  return sim;
}

describe('shared layout', () => {
  it('shows each BMC\'s credentials only its own tasks', async () => {
    const sim = await start({ bmcs: [{ id: 'a', password: 'pa' }, { id: 'b', password: 'pb' }].map((b) => ({ ...b, profile: 'dmtf', taskDurationMs: 60_000 })), layout: 'shared' });
    const [a, b] = sim.bmcs;
    if (!a || !b) throw new Error('two BMCs expected');
    const update = '/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate';
    const taskOf = async (bmc: typeof a) => {
      const accepted = await redfishClient(bmc).post(update, { ImageURI: 'http://127.0.0.1:9/bios-1.0.bin', Targets: [bmc.systemPath] });
      return String((accepted.json ?? {})['@odata.id']);
    };
    const [taskA, taskB] = [await taskOf(a), await taskOf(b)];
    const listed = async (bmc: typeof a) => ((await redfishClient(bmc).get('/redfish/v1/TaskService/Tasks')).json?.['Members'] as { '@odata.id': string }[]).map((m) => m['@odata.id']);
    // The captured tasks of the tree are listed to everyone; live ones only to their BMC.
    expect(await listed(a)).toContain(taskA);
    expect(await listed(a)).not.toContain(taskB);
    expect(await listed(b)).toContain(taskB);
    expect(await listed(b)).not.toContain(taskA);
    expect((await redfishClient(a).get(taskB)).status).toBe(404);
    expect((await redfishClient(b).get(taskB)).status).toBe(200);
  });

  it('serves many systems on one port with separate state', async () => {
    const sim = await start({ bmcs: { count: 3, profiles: ['dmtf'], password: 'pw', quirkWindowMs: 0 }, layout: 'shared' });
    expect(sim.endpoints).toHaveLength(1);
    const [a, b, c] = sim.bmcs;
    if (!a || !b || !c) throw new Error('three BMCs expected');
    expect(new Set(sim.bmcs.map((bmc) => bmc.port)).size).toBe(1);
    expect(b.systemPath).toBe('/redfish/v1/Systems/bmc-0002');
    expect(b.address).toBe(`redfish-virtualmedia+http://127.0.0.1:${b.port}/redfish/v1/Systems/bmc-0002`);
    const client = redfishClient(a);
    const systems = await client.get('/redfish/v1/Systems');
    expect(systems.json?.['Members']).toEqual(sim.bmcs.map((bmc) => ({ '@odata.id': bmc.systemPath })));
    const system = (await client.get(b.systemPath)).json ?? {};
    expect(system['Id']).toBe('bmc-0002');
    expect(system['@odata.id']).toBe(b.systemPath);
    expect((system['Links'] as { ManagedBy: unknown[] }).ManagedBy).toEqual([{ '@odata.id': '/redfish/v1/Managers/bmc-0002' }]);
    expect(JSON.stringify(system)).not.toContain('/Systems/437XR1138R2');
    expect(system['SerialNumber']).toBe('437XR1138R2');

    expect((await client.post(`${b.systemPath}/Actions/ComputerSystem.Reset`, { ResetType: 'On' })).status).toBe(204);
    expect(sim.bmcs.map((bmc) => bmc.state().power)).toEqual(['Off', 'On', 'Off']);
    expect(b.counters().resetActions).toEqual({ On: 1 });
    expect(a.counters().resetActions).toEqual({});
    expect((await client.get('/redfish/v1/Managers/bmc-0003')).json?.['Id']).toBe('bmc-0003');
    expect((await client.get('/redfish/v1/Systems/437XR1138R2')).status).toBe(404);
  });

  it('gives each fleet BMC its own MACs and UUID, and keeps per-BMC credentials apart', async () => {
    const sim = await start({ bmcs: { count: 2, profiles: ['idrac'] }, layout: 'shared' });
    const [a, b] = sim.bmcs;
    if (!a || !b) throw new Error('two BMCs expected');
    expect(a.password).not.toBe(b.password);
    expect(a.bootMACAddress).not.toBe(b.bootMACAddress);
    const nicA = await redfishClient(a).get(`${a.systemPath}/EthernetInterfaces/NIC.Integrated.1-1-1`);
    expect(nicA.json?.['MACAddress']).toBe(a.bootMACAddress);
    expect(a.bootMACAddress?.slice(0, 8)).toBe('B0:26:28');
    const uuids = await Promise.all(sim.bmcs.map(async (bmc) => (await redfishClient(bmc).get(bmc.systemPath)).json?.['UUID']));
    expect(new Set(uuids).size).toBe(2);
    const intruder = await redfishClient(b, { username: a.username, password: a.password }).get(b.systemPath);
    expect(intruder.status).toBe(403);
    expect((await redfishClient(b).get(b.systemPath)).status).toBe(200);
  });

  it('routes SimpleUpdate by Targets and firmware inventory per BMC', async () => {
    const files = await import('../test/sim.ts').then(({ startFileServer }) => startFileServer());
    try {
      const sim = await start({ bmcs: { count: 2, profiles: ['dmtf'], password: 'pw', taskDurationMs: 50 }, layout: 'shared' });
      const [a, b] = sim.bmcs;
      if (!a || !b) throw new Error('two BMCs expected');
      const client = redfishClient(a);
      const inventory = await client.get('/redfish/v1/UpdateService/FirmwareInventory');
      expect(inventory.json?.['Members']).toContainEqual({ '@odata.id': '/redfish/v1/UpdateService/FirmwareInventory/bmc-0002-BIOS' });
      const url = files.add('/fw/bios-7.7.bin', 10);
      const action = '/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate';
      expect((await client.post(action, { ImageURI: url })).status).toBe(400);
      expect((await client.post(action, { ImageURI: url, Targets: [b.systemPath] })).status).toBe(202);
      await import('../test/sim.ts').then(({ until }) => until(() => b.counters().firmwareFlashes === 1));
      expect((await client.get('/redfish/v1/UpdateService/FirmwareInventory/bmc-0002-BIOS')).json).toMatchObject({ Id: 'bmc-0002-BIOS', Version: '7.7' });
      expect((await client.get('/redfish/v1/UpdateService/FirmwareInventory/bmc-0001-BIOS')).json?.['Version']).toBe('P79 v1.45');
      expect(a.counters().firmwareFlashes).toBe(0);
    } finally {
      await files.close();
    }
  });

  it('puts each profile of a mixed fleet behind its own port, case-insensitive for iLO', async () => {
    const sim = await start({ bmcs: { count: 4, profiles: ['ilo5', 'xcc'], password: 'pw' }, layout: 'shared' });
    expect(sim.endpoints.map((endpoint) => [endpoint.profile, endpoint.bmcIds])).toEqual([
      ['ilo5', ['bmc-0001', 'bmc-0003']],
      ['xcc', ['bmc-0002', 'bmc-0004']],
    ]);
    const ilo = sim.bmc('bmc-0003');
    const slot = await redfishClient(ilo).get('/redfish/v1/managers/BMC-0003/virtualmedia/2/');
    expect(slot.json?.['@odata.id']).toBe('/redfish/v1/Managers/bmc-0003/VirtualMedia/2');
  });
});

describe('port-per-bmc layout', () => {
  it('gives each BMC its own port and the mockup ids, on a chosen base port', async () => {
    // Another process of the machine may take one of the two ports between the probe and the listen (a CI run
    // failed so once): then choose another base, a bounded number of times.
    for (let attempt = 1; ; attempt++) {
      const probe = await start({ bmcs: [{}] });
      const base = (probe.bmcs[0]?.port ?? 20000) + 1;
      await probe.stop();
      let sim;
      try {
        sim = await start({ bmcs: { count: 2, profiles: ['supermicro'], basePort: base } });
      } catch (error) {
        if (attempt < 5 && /EADDRINUSE/.test(String(error))) continue;
        throw error;
      }
      expect(sim.bmcs.map((bmc) => bmc.port)).toEqual([base, base + 1]);
      expect(sim.bmcs.map((bmc) => bmc.systemPath)).toEqual(['/redfish/v1/Systems/1', '/redfish/v1/Systems/1']);
      return;
    }
  });

  it('refuses bad options before listening', async () => {
    await expect(startSimulator({ bmcs: [{ profile: 'nokia' }] })).rejects.toThrow(/unknown profile 'nokia'/);
    await expect(startSimulator({ bmcs: [{ quirks: { add: ['no-such-quirk'] } }] })).rejects.toThrow(/unknown quirk/);
    await expect(startSimulator({ bmcs: [{ mockup: '/nonexistent/tree' }] })).rejects.toThrow(/neither a folder/);
    await expect(startSimulator({ bmcs: [{ id: 'x' }, { id: 'x' }] })).rejects.toThrow(/duplicate/);
    await expect(startSimulator({ bmcs: { count: 0 } })).rejects.toThrow(/positive/);
  });
});
