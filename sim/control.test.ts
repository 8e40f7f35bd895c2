/**
 * The simulator's control API (sim/control.ts) over HTTP, as tools and tests in another process use it: a
 * host's simulated OS (its switches, its last boot record) and the never-join switch of the Cluster API tests.
 * Switched on through `PATCH /_sim/hosts/<id>/os`, the host boots its disk, runs cloud-init and never joins:
 * nothing reaches the workload apiserver (test/fakes/workload-apiserver.ts). Switched off, the next instance
 * joins.
 */
import { describe, expect, it } from 'vitest';
import { bootDisk, resetHost, until, useSimulatedOsFixture, writeDeployedDisk } from '../test/sim.ts';
import type { SimulatedBmc, Simulator } from './index.ts';

const fixture = useSimulatedOsFixture();

async function oneHost(id: string): Promise<{ sim: Simulator; bmc: SimulatedBmc; url: string }> {
  const sim = await fixture.startSimulator([{ id, profile: 'dmtf' }]);
  return { sim, bmc: sim.bmc(id), url: `${sim.agentUrl}/_sim/hosts/${id}` };
}

const call = async (url: string, method = 'GET', body?: string) => {
  const response = await fetch(url, { method, ...(body !== undefined ? { body } : {}) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
};

describe("the control API of a host's simulated OS", () => {
  it('reads the OS switches and changes them; refuses what is not a known switch of the right type', async () => {
    const { bmc, url } = await oneHost('ctl-0');
    expect((await call(url)).json).toMatchObject({
      id: 'ctl-0',
      os: { settings: { neverJoin: false, leaseRenewMs: 10_000 }, last: null },
    });
    const patched = await call(`${url}/os`, 'PATCH', JSON.stringify({ neverJoin: true, leaseRenewMs: 50 }));
    expect(patched).toMatchObject({ status: 200, json: { settings: { neverJoin: true, leaseRenewMs: 50 } } });
    expect(bmc.os()).toMatchObject({ neverJoin: true, leaseRenewMs: 50 });

    for (const [body, error] of [
      [JSON.stringify({ neverJoin: 'yes' }), "unknown or mistyped OS setting 'neverJoin'"],
      [JSON.stringify({ joinNever: true }), "unknown or mistyped OS setting 'joinNever'"],
      [JSON.stringify([true]), 'the body must be a JSON object'],
      ['not json', 'the body must be a JSON object'],
    ] as const)
      expect(await call(`${url}/os`, 'PATCH', body), body).toEqual({ status: 400, json: { error } });
    expect(bmc.os()).toMatchObject({ neverJoin: true, leaseRenewMs: 50 });
    expect(await call(`${url}/os`, 'POST', '{}')).toMatchObject({ status: 405 });
    expect(await call(url.replace('ctl-0', 'nobody'))).toEqual({
      status: 404,
      json: { error: "no simulated host 'nobody'" },
    });
  });

  it('never-join switched on over HTTP: the host boots, runs cloud-init, nothing reaches the apiserver', async () => {
    const { bmc, url } = await oneHost('never-0');
    expect((await call(`${url}/os`, 'PATCH', JSON.stringify({ neverJoin: true }))).status).toBe(200);
    const metaData = { uuid: 'uid-never-0', name: 'never-0', hostname: 'never-0' };
    await writeDeployedDisk(bmc, fixture.image, metaData, fixture.apiserver.joinUserData('never-0', 'uid-never-0'));
    const callsBefore = fixture.apiserver.calls.length;
    await bootDisk(bmc);
    await until(() => bmc.osRecords().at(-1)?.finished === true, 10_000);
    const { json } = await call(url);
    expect((json.os as { last: unknown }).last).toMatchObject({
      firstBoot: true,
      format: 'cloud-config',
      files: expect.arrayContaining(['/run/kubeadm/kubeadm-join-config.yaml']),
      commands: [{ command: 'kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml', exitCode: 1 }],
      join: { status: 'suppressed', reason: "the simulator's never-join switch is on for this host" },
    });
    expect(fixture.apiserver.calls.slice(callsBefore)).toEqual([]);
    expect(fixture.apiserver.nodes.has('never-0')).toBe(false);

    // Switched off: a new instance on the disk (a new deploy) joins.
    expect((await call(`${url}/os`, 'PATCH', JSON.stringify({ neverJoin: false }))).status).toBe(200);
    await resetHost(bmc, 'ForceOff');
    const again = { ...metaData, uuid: 'uid-never-0-b' };
    await writeDeployedDisk(bmc, fixture.image, again, fixture.apiserver.joinUserData('never-0', 'uid-never-0-b'));
    await bootDisk(bmc);
    await until(() => bmc.osRecords().length === 2 && bmc.osRecords()[1]!.finished, 10_000);
    expect(((await call(url)).json.os as { last: unknown }).last).toMatchObject({
      firstBoot: true,
      join: { status: 'joined', nodeName: 'never-0', server: fixture.apiserver.server },
    });
    expect(fixture.apiserver.nodes.get('never-0')?.metadata).toMatchObject({
      labels: { 'metal3.io/uuid': 'uid-never-0-b' },
    });
  });
});

