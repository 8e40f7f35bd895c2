// Firmware updates on the simulator over real HTTP: the Task echoes its request (Payload) so a client can find
// it again, progress grows with time, realistic durations compressed by a printed factor, and every accepted
// update is counted per image and logged with its outcome, so a test can prove a flash happened once.
import { describe, expect, it } from 'vitest';
import { FIRMWARE_SECONDS, describeFirmwareTiming, startSimulator, type BmcSpec } from './index.ts';
import { redfishClient, until, useSimulatorFixture } from '../test/sim.ts';
import { sleep } from '../test/wait.ts';

const fixture = useSimulatorFixture();
const SIMPLE_UPDATE = '/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate';

async function dmtf(spec: BmcSpec = {}) {
  const sim = await startSimulator({ bmcs: [{ profile: 'dmtf', quirkWindowMs: 0, ...spec }] });
  fixture.running.push(sim);
  const [bmc] = sim.bmcs;
  if (!bmc) throw new Error('no BMC');
  return { bmc, client: redfishClient(bmc) };
}

describe('firmware tasks', () => {
  it('echo the request in Payload (credentials left out), so the client can find its own task again', async () => {
    const { client } = await dmtf({ taskDurationMs: 200 });
    const image = fixture.files.add('/fw/bios-3.0.1.bin', 100);
    const accepted = await client.post(SIMPLE_UPDATE, { ImageURI: image, Username: 'fw', Password: 'secret-fw-pw' });
    const task = (await client.get(accepted.headers.get('location') ?? '')).json ?? {};
    const payload = task['Payload'] as { HttpOperation: string; TargetUri: string; JsonBody: string };
    expect(payload).toMatchObject({ HttpOperation: 'POST', TargetUri: SIMPLE_UPDATE });
    expect(JSON.parse(payload.JsonBody)).toEqual({ ImageURI: image, Username: 'fw' });
    expect(JSON.stringify(task)).not.toContain('secret-fw-pw');
    const listed = (await client.get('/redfish/v1/TaskService/Tasks')).json?.['Members'] as { '@odata.id': string }[];
    expect(listed.map((m) => m['@odata.id'])).toContain(task['@odata.id']);
  });

  it('report growing PercentComplete while running, 100 when done', async () => {
    const { client } = await dmtf({ taskDurationMs: 600 });
    const accepted = await client.post(SIMPLE_UPDATE, { ImageURI: fixture.files.add('/fw/bios-3.0.2.bin', 10) });
    const monitor = accepted.headers.get('location') ?? '';
    const seen: number[] = [];
    await until(async () => {
      const res = await client.get(monitor);
      seen.push(Number(res.json?.['PercentComplete']));
      return res.json?.['TaskState'] === 'Completed';
    }, 3000);
    expect(seen.at(-1)).toBe(100);
    const running = seen.slice(0, -1);
    expect(running.length).toBeGreaterThan(2);
    expect(running).toEqual([...running].sort((a, b) => a - b));
    expect(running.at(-1)).toBeGreaterThan(running[0] ?? 0);
  });

  it('count every accepted update per image and log its task and outcome', async () => {
    const { bmc, client } = await dmtf({ taskDurationMs: 50 });
    const good = fixture.files.add('/fw/bios-3.1.0.bin', 10);
    const missing = `${fixture.files.origin}/fw/missing-bios-3.2.0.bin`;
    for (const image of [good, good, missing]) {
      const accepted = await client.post(SIMPLE_UPDATE, { ImageURI: image });
      await until(async () =>
        ['Completed', 'Exception'].includes(
          String((await client.get(accepted.headers.get('location') ?? '')).json?.['TaskState']),
        ),
      );
    }
    expect(bmc.counters().firmwareUpdatesByImage).toEqual({ 'bios-3.1.0.bin': 2, 'missing-bios-3.2.0.bin': 1 });
    expect(bmc.counters()).toMatchObject({ firmwareUpdates: 3, firmwareFlashes: 2 });
    expect(bmc.state().flashes.map((f) => [f.image, f.version, f.outcome])).toEqual([
      ['bios-3.1.0.bin', '3.1.0', 'completed'],
      ['bios-3.1.0.bin', '3.1.0', 'completed'],
      ['missing-bios-3.2.0.bin', '3.2.0', 'failed'],
    ]);
    expect(bmc.state().flashes[0]).toMatchObject({
      imageUri: good,
      targets: ['/redfish/v1/UpdateService/FirmwareInventory/BIOS'],
    });
    expect(bmc.state().flashes.every((f) => f.taskId !== '' && f.endedAt !== null)).toBe(true);
  });
});

describe('realistic firmware time, compressed', () => {
  it('prints what a compression factor means', () => {
    expect(describeFirmwareTiming(100)).toBe(
      'simulated firmware time compressed 100x: BIOS flash 420 s -> 4.20 s, BMC flash 600 s -> 6.00 s plus BMC reboot 150 s -> 1.50 s, NIC 240 s -> 2.40 s, other 300 s -> 3.00 s',
    );
  });

  it('makes a BIOS flash take its realistic time divided by the factor', async () => {
    const compression = 1000;
    const { client } = await dmtf({ firmwareCompression: compression, taskDurationMs: 1 });
    const started = Date.now();
    const accepted = await client.post(SIMPLE_UPDATE, { ImageURI: fixture.files.add('/fw/bios-3.3.0.bin', 10) });
    const monitor = accepted.headers.get('location') ?? '';
    const expected = (FIRMWARE_SECONDS.bios * 1000) / compression;
    // Time is the thing tested: half-way through its compressed flash time the task still runs.
    await sleep(expected / 2);
    expect((await client.get(monitor)).json?.['TaskState']).toBe('Running');
    await until(async () => (await client.get(monitor)).json?.['TaskState'] === 'Completed', 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(expected - 5);
  });
});
