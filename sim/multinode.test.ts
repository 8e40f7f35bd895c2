// A multi-node chassis on the simulator: several systems behind one BMC on one port, each with its own identity
// and state; power, boot override and virtual media act on the system the path names; the endpoint counts the
// requests it answers at once.
import { describe, expect, it } from 'vitest';
import { maxOverlap, startSimulator } from './index.ts';
import { multiNodeTree } from './multinode.ts';
import { mockupDir } from './profiles.ts';
import { loadMockupTree } from './tree.ts';
import { redfishClient, until, useSimulatorFixture } from '../test/sim.ts';

const fixture = useSimulatorFixture();

async function chassis(nodes?: number) {
  const sim = await startSimulator({
    bmcs: [{ profile: 'multinode', id: 'chassis', quirkWindowMs: 0, ...(nodes ? { nodes } : {}) }],
    timeline: true,
  });
  fixture.running.push(sim);
  return sim;
}

describe('the composed tree', () => {
  it('copies the system per node with its own identity and links every node from the manager and chassis', () => {
    const tree = multiNodeTree(loadMockupTree(mockupDir('dmtf-rackmount1')), 3);
    const nodes = ['Node0', 'Node1', 'Node2'].map((id) => tree.resources.get(`/redfish/v1/Systems/${id}`) ?? {});
    expect(nodes.map((n) => n['Id'])).toEqual(['Node0', 'Node1', 'Node2']);
    expect(new Set(nodes.map((n) => n['UUID'])).size).toBe(3);
    expect(new Set(nodes.map((n) => n['SerialNumber'])).size).toBe(3);
    expect(tree.resources.has('/redfish/v1/Systems/437XR1138R2')).toBe(false);
    expect(tree.resources.get('/redfish/v1/Systems/Node2/Bios')?.['@odata.id']).toBe('/redfish/v1/Systems/Node2/Bios');
    const manager = tree.resources.get('/redfish/v1/Managers/BMC') ?? {};
    expect((manager['Links'] as Record<string, unknown>)['ManagerForServers']).toEqual(
      ['Node0', 'Node1', 'Node2'].map((id) => ({ '@odata.id': `/redfish/v1/Systems/${id}` })),
    );
    expect(tree.action('/redfish/v1/Systems/Node1/Actions/ComputerSystem.Reset', false)?.resource).toBe(
      '/redfish/v1/Systems/Node1',
    );
    const macs = ['Node0', 'Node1', 'Node2'].map(
      (id) => tree.resources.get(`/redfish/v1/Systems/${id}/EthernetInterfaces/12446A3B0411`)?.['MACAddress'],
    );
    expect(new Set(macs).size).toBe(3);
  });

  it('refuses fewer than two nodes', () => {
    expect(() => multiNodeTree(loadMockupTree(mockupDir('dmtf-rackmount1')), 1)).toThrow(/2 or more nodes/);
  });
});

describe('a 4-node chassis behind one BMC', () => {
  it('is one endpoint with one SimulatedBmc per node, each addressed by its system', async () => {
    const sim = await chassis();
    expect(sim.bmcs.map((b) => b.id)).toEqual(['chassis-node0', 'chassis-node1', 'chassis-node2', 'chassis-node3']);
    expect(sim.endpoints).toHaveLength(1);
    expect(sim.endpoints[0]?.bmcIds).toHaveLength(4);
    expect(new Set(sim.bmcs.map((b) => b.port)).size).toBe(1);
    expect(sim.bmcs.map((b) => b.address.split(String(b.port))[1])).toEqual(
      ['Node0', 'Node1', 'Node2', 'Node3'].map((id) => `/redfish/v1/Systems/${id}`),
    );
    expect(new Set(sim.bmcs.map((b) => b.bootMACAddress)).size).toBe(4);
    const client = redfishClient(sim.bmcs[0] ?? { port: 0, username: '', password: '' });
    const systems = (await client.get('/redfish/v1/Systems')).json?.['Members'];
    expect(systems).toEqual(
      ['Node0', 'Node1', 'Node2', 'Node3'].map((id) => ({ '@odata.id': `/redfish/v1/Systems/${id}` })),
    );
  });

  it('powers, boots and inserts media on the system the path names, and nowhere else', async () => {
    const sim = await chassis(2);
    const [n0, n1] = sim.bmcs;
    if (!n0 || !n1) throw new Error('two nodes expected');
    const client = redfishClient(n0);
    expect(
      (await client.post('/redfish/v1/Systems/Node1/Actions/ComputerSystem.Reset', { ResetType: 'On' })).status,
    ).toBe(204);
    expect([n0.state().power, n1.state().power]).toEqual(['Off', 'On']);
    expect((await client.get('/redfish/v1/Systems/Node1')).json?.['PowerState']).toBe('On');
    expect((await client.get('/redfish/v1/Systems/Node0')).json?.['PowerState']).toBe('Off');
    await client.patch('/redfish/v1/Systems/Node0', {
      Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' },
    });
    expect([n0.state().boot.target, n1.state().boot.target]).toEqual(['Pxe', 'None']);
    const image = fixture.files.add('/iso/node.iso', 1000);
    expect(
      (
        await client.post('/redfish/v1/Systems/Node1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia', {
          Image: image,
        })
      ).status,
    ).toBe(204);
    expect(
      n1
        .state()
        .media.filter((m) => m.inserted)
        .map((m) => m.image),
    ).toEqual([image]);
    expect(n0.state().media.filter((m) => m.inserted)).toEqual([]);
    expect([n0.counters().resetActions, n1.counters().resetActions]).toEqual([{}, { On: 1 }]);
  });

  it('counts requests in flight at the BMC, across its nodes, and records them on the timeline', async () => {
    const sim = await chassis(2);
    const [n0, n1] = sim.bmcs;
    const endpoint = sim.endpoints[0];
    if (!n0 || !n1 || !endpoint) throw new Error('two nodes expected');
    n0.faults({ latencyMs: 100 });
    n1.faults({ latencyMs: 100 });
    endpoint.resetTraffic(true);
    const client = redfishClient(n0);
    await Promise.all([client.get('/redfish/v1/Systems/Node0'), client.get('/redfish/v1/Systems/Node1')]);
    expect(endpoint.traffic()).toMatchObject({ requests: 2, inFlight: 0, maxInFlight: 2 });
    expect(maxOverlap(endpoint.timeline())).toBe(2);
    expect(
      endpoint
        .timeline()
        .map((span) => span.bmcId)
        .sort(),
    ).toEqual(['chassis-node0', 'chassis-node1']);
    endpoint.resetTraffic(true);
    await client.get('/redfish/v1/Systems/Node0');
    await client.get('/redfish/v1/Systems/Node1');
    expect(endpoint.traffic().maxInFlight).toBe(1);
    expect(maxOverlap(endpoint.timeline())).toBe(1);
    await until(() => endpoint.traffic().inFlight === 0);
  });
});
