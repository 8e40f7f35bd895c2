/**
 * A simulated host whose runner is the real ironic-python-agent (`agent: 'ipa'`), booted the way the engine
 * boots one: a deploy ISO (built by xorriso) inserted over Redfish virtual media, a one-time CD boot, a power
 * on. The simulator reads the ISO's kernel command line and starts IPA 13.0.0 on loop devices over the host's
 * disk files; IPA looks up and heartbeats with the booted token; its `standby.power_off` turns the host off
 * through the BMC, which stops the ramdisk. The runner itself is proven in sim/agent/ipa-runner.int.test.ts;
 * this proves the simulator's boot path drives it. Runs as root (loop devices, mount namespaces).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeIronic } from '../test/fakes/ironic-agent-api.ts';
import { makeDeployIso } from '../test/fixtures/disk-images.ts';
import { ipaRunner } from './agent/ipa-runner.ts';
import { type Simulator, startSimulator } from './index.ts';
import { type FileServer, bootIso, startFileServer, until } from '../test/sim.ts';
import { sharedStack } from '../test/stack-info.ts';

const stack = sharedStack();
const root = join(stack.stateDir, 'ramdisk-ipa-test');
mkdirSync(root, { recursive: true });

let sim: Simulator;
let files: FileServer;
let ironic: FakeIronic;
const TOKEN = 'ramdisk-ipa-test-token-0123456789abcdefghij';

beforeAll(async () => {
  files = await startFileServer();
  sim = await startSimulator({
    stateDir: join(root, 'sim'),
    runners: { ipa: ipaRunner({ stateDir: join(root, 'ipa'), progress: (m) => process.stderr.write(`[ipa] ${m}\n`) }) },
    // The DMTF mockup: two SATA disks, 8 TB and 4 TB (sparse files, attached to loop devices for IPA).
    bmcs: [{ id: 'ipa-host', profile: 'dmtf', agent: 'ipa', quirkWindowMs: 0 }],
    log: (line) => process.stderr.write(`[sim] ${line}\n`),
  });
  const bmc = sim.bmc('ipa-host');
  ironic = await FakeIronic.start({
    node: { uuid: '6d85703a-0000-4000-8000-0000000000b1', properties: {}, instance_info: {}, driver_internal_info: {} },
    macs: bmc.state().macs,
  });
});

afterAll(async () => {
  await sim?.stop();
  await ironic?.close();
  await files?.close();
});

describe('a simulated host with the real IPA as its ramdisk', () => {
  it('boots IPA from the deploy ISO, heartbeats, and powers itself off through its BMC', async () => {
    const bmc = sim.bmc('ipa-host');
    const iso = await makeDeployIso({
      'ipa-api-url': ironic.url,
      'ipa-agent-token': TOKEN,
      'ipa-insecure': '1',
      boot_method: 'vmedia',
    });
    await bootIso(bmc, files.addBytes('/deploy.iso', iso));
    await until(() => bmc.ramdisk()?.state === 'running' || bmc.ramdisk()?.state === 'failed', 120_000);
    expect(bmc.ramdisk()).toMatchObject({ kind: 'ipa', state: 'running', params: { 'ipa-agent-token': '***' } });

    const beat = await ironic.heartbeat(240_000);
    expect(beat).toMatchObject({ agent_token: TOKEN, agent_version: '13.0.0' });
    expect(beat.agent_verify_ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(ironic.lookups[0]?.get('addresses')?.split(',')).toEqual(bmc.state().macs.map((mac) => mac.toLowerCase()));
    const steps = await ironic.command('deploy.get_deploy_steps', { node: ironic.node, ports: [] });
    expect(steps.command_status).toBe('SUCCEEDED');

    // As Ironic does: start power_off without waiting, then watch the BMC's power (the agent goes down with it).
    const off = await ironic.agent('POST', '/v1/commands/?wait=false', { name: 'standby.power_off', params: {} });
    expect(off.status).toBe(200);
    await until(() => bmc.state().power === 'Off', 60_000);
    await bmc.bootSettled();
    expect(bmc.ramdisk()?.state).toBe('stopped');
    expect(bmc.agentCounters()).toMatchObject({ ramdiskBoots: 1 });
    expect(bmc.counters().powerOff).toBe(1);
  }, 600_000);
});
