/**
 * The simulated OS as its host's BMC drives it, over real Redfish on loopback: a host whose disk holds an image
 * and a config drive boots it, its OS follows the user data (a `kubeadm join` against a fake workload
 * apiserver, test/fakes/workload-apiserver.ts), and a power-off through the BMC stops it: the kubelet falls
 * silent, which is what makes the workload cluster's node lifecycle controller mark the Node NotReady (with
 * the real apiserver in the capi tier). User data the OS does not follow is recorded on the simulated host,
 * as the simulator's handle and its control API show it, and ignored.
 */
import { describe, expect, it } from 'vitest';
import { bootDisk, resetHost, until, useSimulatedOsFixture, writeDeployedDisk } from '../test/sim.ts';
import type { SimulatedBmc } from './index.ts';

const fixture = useSimulatedOsFixture();

/** A simulator with DMTF hosts named `ids`, whose kubelets beat every 20 ms and hold the fake's credential. */
async function hostsNamed(...ids: string[]): Promise<SimulatedBmc[]> {
  const sim = await fixture.startSimulator(
    ids.map((id) => ({ id, profile: 'dmtf', osSettings: { leaseRenewMs: 20, statusReportMs: 20 } })),
  );
  return sim.bmcs.slice();
}

/** The host's disk as a deploy for Metal3 leaves it: metadata naming it, user data to join the fake. */
const deployJoining = (bmc: SimulatedBmc) =>
  writeDeployedDisk(
    bmc,
    fixture.image,
    { uuid: `uid-${bmc.id}`, name: bmc.id, hostname: bmc.id },
    fixture.apiserver.joinUserData(bmc.id, `uid-${bmc.id}`),
  );

const leases = (id: string) => fixture.apiserver.heartbeats(id).leases;
const statuses = (id: string) => fixture.apiserver.heartbeats(id).statuses;

describe('power through the BMC drives the OS', () => {
  it('a host powered off through Redfish stops its kubelet; booted from its disk again, it is back', async () => {
    const [kept, cut] = await hostsNamed('kept-0', 'cut-0');
    for (const bmc of [kept!, cut!]) {
      await deployJoining(bmc);
      await bootDisk(bmc);
    }
    await until(() => [kept!, cut!].every((bmc) => leases(bmc.id) >= 3 && statuses(bmc.id) >= 3), 20_000);
    expect(cut!.osRecords().at(-1)).toMatchObject({
      firstBoot: true,
      join: { status: 'joined', nodeName: 'cut-0', server: fixture.apiserver.server, createdNode: true },
    });
    expect(fixture.apiserver.nodes.get('cut-0')).toMatchObject({
      metadata: { labels: { 'metal3.io/uuid': 'uid-cut-0' } },
      status: { conditions: expect.arrayContaining([expect.objectContaining({ type: 'Ready', status: 'True' })]) },
    });

    await resetHost(cut!, 'ForceOff');
    expect(cut!.state().power).toBe('Off');
    // The host still on is the clock: a beat of the other one already on its way has landed after three of its
    // beats, and none may follow in ten more.
    const mark = leases(kept!.id);
    await until(() => leases(kept!.id) >= mark + 3, 20_000);
    const silent = fixture.apiserver.heartbeats('cut-0');
    await until(() => leases(kept!.id) >= mark + 13, 20_000);
    expect(fixture.apiserver.heartbeats('cut-0'), 'heartbeats of the host after its power-off').toEqual(silent);

    // Powered on from the same disk: the same instance (no cloud-init), the kubelet takes its Node over again.
    await bootDisk(cut!);
    await until(() => leases('cut-0') >= silent.leases + 3, 20_000);
    expect(cut!.osRecords()).toHaveLength(2);
    expect(cut!.osRecords()[1]).toMatchObject({ firstBoot: false, instanceId: 'uid-cut-0' });
    const registrations = fixture.apiserver.calls.filter((c) => c.method === 'POST' && c.path === '/api/v1/nodes');
    expect(registrations.map((c) => c.status)).toEqual([201, 201, 409]);
  });
});

describe('user data the OS does not follow', () => {
  it('a shell script is recorded on the host, shown by the control API, and not run', async () => {
    const [bmc] = await hostsNamed('script-0');
    const { host } = new URL(fixture.apiserver.server);
    const script = `#!/bin/bash\nkubeadm join ${host} --token abcdef.0123456789abcdef\n`;
    await writeDeployedDisk(bmc!, fixture.image, { uuid: 'uid-script-0', name: 'script-0' }, script);
    const callsBefore = fixture.apiserver.calls.length;
    await bootDisk(bmc!);
    await until(() => bmc!.osRecords().at(-1)?.finished === true, 10_000);
    const record = bmc!.osRecords().at(-1);
    expect(record).toMatchObject({
      firstBoot: true,
      instanceId: 'uid-script-0',
      format: 'shell script',
      ignored: [{ item: 'user data (shell script)', reason: 'the simulated OS follows only #cloud-config user data' }],
      commands: [],
    });
    expect(record?.join).toBeUndefined();
    // The same record through the simulator's control API, as tools in another process read it.
    const { agentUrl } = fixture.running.at(-1)!;
    const shown = (await (await fetch(`${agentUrl}/_sim/hosts/script-0`)).json()) as { os: { last: unknown } };
    expect(shown.os.last).toEqual(record);
    expect(fixture.apiserver.calls.slice(callsBefore)).toEqual([]);
  });

  it('cloud-config keys it does not model are recorded and skipped; the rest is followed', async () => {
    const [bmc] = await hostsNamed('keys-0');
    const userData = [
      '#cloud-config',
      'hostname: keys-host',
      'users:',
      '  - name: ops',
      'ntp:',
      '  servers: [192.0.2.1]',
      'runcmd:',
      '  - echo done > /run/done',
      '',
    ].join('\n');
    await writeDeployedDisk(bmc!, fixture.image, { uuid: 'uid-keys-0', name: 'keys-0' }, userData);
    await bootDisk(bmc!);
    await until(() => bmc!.osRecords().at(-1)?.finished === true, 10_000);
    const record = bmc!.osRecords().at(-1);
    expect(record).toMatchObject({ format: 'cloud-config', hostname: 'keys-host', files: ['/run/done'] });
    expect(record?.ignored).toEqual([
      { item: "cloud-config 'users'", reason: 'not simulated' },
      { item: "cloud-config 'ntp'", reason: 'not simulated' },
    ]);
    const { agentUrl } = fixture.running.at(-1)!;
    const shown = (await (await fetch(`${agentUrl}/_sim/hosts/keys-0`)).json()) as { os: { last: unknown } };
    expect(shown.os.last).toEqual(record);
  });
});
