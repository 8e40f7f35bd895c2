/**
 * The driver conformance suite: one table of operations, run in order against every real BMC peer, each result
 * checked through the peer's own view (raw Redfish GETs, ipmi_sim's state and journal), not the driver's word.
 *
 * Peers: a private sushy-tools (its own 2 systems; system 0 here, system 1 for the request budget), a private
 * ipmi_sim, and the simulator with one BMC per vendor profile (quirk windows and tasks shortened), all started by
 * this file so their state, journal and counters start clean whatever other test files do in parallel.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipmiTools } from '../../stack/binaries.ts';
import { startIpmiSim, type IpmiSim } from '../../stack/ipmi.ts';
import { freePort } from '../../stack/ports.ts';
import { startSushy, type SushyEmulator } from '../../stack/sushy.ts';
import { PROFILE_IDS, startSimulator, type Simulator } from '../../sim/index.ts';
import type { BmcDriver } from './driver.ts';
import { createBmcDriver } from './factory.ts';
import { ipmiPeer, serveIso, simPeer, sushyPeer, type Peer } from '../../test/bmc-peers.ts';
import { failure } from '../../test/expect-failure.ts';

const quiet = () => {};
const stateDir = mkdtempSync(join(tmpdir(), 'tempered-bmc-conformance-'));
let sushy: SushyEmulator;
let ipmi: IpmiSim;
let sim: Simulator;
let iso: Awaited<ReturnType<typeof serveIso>>;
const peers: Peer[] = [];

beforeAll(async () => {
  const { ipmitool } = await ipmiTools(quiet);
  [sushy, ipmi, iso, sim] = await Promise.all([
    startSushy({ stateDir: join(stateDir, 'sushy'), systems: 2, progress: quiet }),
    startIpmiSim({ stateDir: join(stateDir, 'ipmi'), progress: quiet }),
    serveIso(),
    startSimulator({
      bmcs: [
        ...PROFILE_IDS.map((profile) => ({ profile, quirkWindowMs: 300, taskDurationMs: 300 })),
        // A system of a multi-node chassis: it must behave as any host; its sibling stays untouched.
        { profile: 'multinode', nodes: 2, quirkWindowMs: 300, taskDurationMs: 300 },
      ],
    }),
  ]);
  const [node0] = sim.bmcs.filter((bmc) => bmc.profile === 'multinode');
  peers.push(sushyPeer(sushy, 0), ipmiPeer(ipmi, ipmitool), ...sim.bmcs.filter((bmc) => bmc.profile !== 'multinode').map(simPeer));
  if (node0) peers.push(simPeer(node0));
}, 180_000);

afterAll(async () => {
  await Promise.all([sushy?.stop(), ipmi?.stop(), iso?.close(), sim?.stop()]);
});

function driverFor(peer: Peer, password = peer.password): BmcDriver {
  return createBmcDriver({ address: peer.address, credentials: { username: peer.username, password }, ...peer.driverOptions });
}

interface Operation {
  name: string;
  /** Whether the peer implements what the row exercises; when not, `absent` checks the driver says so. */
  applies?: (peer: Peer) => boolean;
  absent?: (driver: BmcDriver) => void;
  run: (driver: BmcDriver, peer: Peer) => Promise<void>;
}

/** Run in order against each peer: later rows build on the state earlier rows left. */
const OPERATIONS: Operation[] = [
  {
    name: 'identify: the BMC answers and accepts the credentials',
    run: async (d, peer) => {
      const id = await d.identify();
      expect(id.protocol).toBe(d.address.protocol);
      expect(id.powerState).toBe(await peer.readPower());
    },
  },
  {
    name: 'power off when already off sends nothing',
    run: async (d, peer) => {
      expect(await peer.readPower()).toBe('off');
      const before = peer.count('power-off');
      const res = await d.setPower('off');
      expect(res).toMatchObject({ state: 'off', changed: false, sent: [] });
      expect(peer.count('power-off')).toBe(before);
    },
  },
  {
    name: 'power on: read back as on by the BMC itself, performed once',
    run: async (d, peer) => {
      const before = peer.count('power-on');
      const res = await d.setPower('on');
      expect(res).toMatchObject({ state: 'on', changed: true });
      expect(res.sent).toHaveLength(1);
      expect(await peer.readPower()).toBe('on');
      if (before !== undefined) expect(peer.count('power-on')).toBe(before + 1);
    },
  },
  {
    name: 'power on again changes nothing',
    run: async (d, peer) => {
      const before = peer.count('power-on');
      expect(await d.setPower('on')).toMatchObject({ state: 'on', changed: false });
      expect(peer.count('power-on')).toBe(before);
      expect(await d.getPowerState()).toBe('on');
    },
  },
  {
    name: 'boot override to CD once: set and read back',
    run: async (d, peer) => {
      const before = peer.count('boot-cd');
      const res = await d.setBootOverride({ device: 'cd', mode: 'UEFI' });
      expect(res).toMatchObject({ device: 'cd', enabled: 'Once', changed: true });
      expect(await peer.readBootTarget()).toBe(peer.cdBootValue);
      if (before !== undefined) expect(peer.count('boot-cd')).toBe(before + 1);
    },
  },
  {
    name: 'virtual media: insert an ISO the BMC downloads, read back, then eject',
    applies: (peer) => peer.supports.virtualMedia,
    absent: (d) => expect(d.virtualMedia).toBeUndefined(),
    run: async (d, peer) => {
      const media = d.virtualMedia;
      if (!media || !peer.readMedia) throw new Error('virtual media expected');
      const downloads = iso.downloads();
      const res = await media.insert(iso.url);
      expect(res).toMatchObject({ image: iso.url, changed: true });
      expect(await peer.readMedia()).toEqual({ inserted: true, image: iso.url });
      expect(iso.downloads()).toBe(downloads + 1);
      // The same insert again is a no-op: no second download.
      expect((await media.insert(iso.url)).changed).toBe(false);
      expect(iso.downloads()).toBe(downloads + 1);
      const ejected = await media.eject();
      expect(ejected.map((e) => e.image)).toEqual([iso.url]);
      expect((await peer.readMedia()).inserted).toBe(false);
      expect(await media.eject()).toEqual([]);
    },
  },
  {
    name: 'virtual media of an image that does not exist fails with a typed error',
    applies: (peer) => peer.supports.virtualMedia,
    absent: (d) => expect(d.virtualMedia).toBeUndefined(),
    run: async (d) => {
      const err = await failure(d.virtualMedia?.insert(iso.url.replace('boot.iso', 'missing.iso')) ?? Promise.resolve());
      expect(['VirtualMediaFailed', 'ImageFetchFailed']).toContain(err.code);
    },
  },
  {
    name: 'inventory: HardwareData shape, degraded gracefully where the BMC lacks resources',
    applies: (peer) => peer.supports.inventory,
    absent: (d) => expect(d.inspection).toBeUndefined(),
    run: async (d, peer) => {
      const inv = await d.inspection?.inventory();
      if (!inv) throw new Error('inventory expected');
      expect(Object.keys(inv.hardware).sort()).toEqual(['cpu', 'firmware', 'hostname', 'nics', 'ramMebibytes', 'storage', 'systemVendor']);
      if (peer.mac) expect(inv.hardware.nics.map((n) => n.mac)).toContain(peer.mac.toLowerCase());
      expect(inv.system.powerState).toBe(await peer.readPower());
      expect(inv.manager?.path).toMatch(/^\/redfish\/v1\/Managers\//);
      expect(Array.isArray(inv.warnings)).toBe(true);
    },
  },
  {
    name: 'firmware inventory: bios and bmc versions, and every inventory member with a role',
    applies: (peer) => peer.supports.inventory,
    absent: (d) => expect(d.firmware).toBeUndefined(),
    run: async (d) => {
      const { components, missing } = (await d.firmware?.inventory()) ?? { components: [], missing: [] };
      expect(components.length).toBeGreaterThan(0);
      expect(components.every((c) => ['bios', 'bmc', 'nic', 'other'].includes(c.role ?? ''))).toBe(true);
      expect(Array.isArray(missing)).toBe(true);
    },
  },
  {
    name: 'RAID: controllers read, what they hold in the shape of status.raid',
    applies: (peer) => peer.supports.inventory,
    absent: (d) => expect(d.raid).toBeUndefined(),
    run: async (d) => {
      const readout = await d.raid?.read();
      expect(Array.isArray(readout?.controllers)).toBe(true);
      for (const volume of readout?.status ?? []) expect(['0', '1', '5', '6', '1+0', '5+0', '6+0']).toContain(volume.level);
      expect(readout?.pending).toEqual({ tasks: [], volumes: [] });
    },
  },
  {
    name: 'reboot a running host: it goes off and comes back on (IPMI: power cycle)',
    run: async (d, peer) => {
      const on = peer.count('power-on');
      const off = peer.count('power-off');
      const res = await d.setPower('reboot');
      expect(res).toMatchObject({ state: 'on', changed: true });
      expect(await peer.readPower()).toBe('on');
      if (on !== undefined && off !== undefined) expect([peer.count('power-on'), peer.count('power-off')]).toEqual([on + 1, off + 1]);
    },
  },
  {
    name: 'power off: read back as off, performed once',
    run: async (d, peer) => {
      const before = peer.count('power-off');
      expect(await d.setPower('off')).toMatchObject({ state: 'off', changed: true });
      expect(await peer.readPower()).toBe('off');
      if (before !== undefined) expect(peer.count('power-off')).toBe(before + 1);
    },
  },
  {
    name: 'soft power off (ACPI) of a running host: read back as off',
    run: async (d, peer) => {
      await d.setPower('on');
      const res = await d.setPower('soft-off');
      expect(res).toMatchObject({ state: 'off', changed: true });
      expect(res.sent).toHaveLength(1);
      expect(await peer.readPower()).toBe('off');
    },
  },
  {
    name: 'a wrong password is refused with BmcAuthFailed, naming no password',
    run: async (_d, peer) => {
      const bad = driverFor(peer, 'not-the-password');
      try {
        const err = await failure(bad.getPowerState());
        expect(err.code).toBe('BmcAuthFailed');
        expect(err.disposition).toBe('permanent');
        expect(err.message).not.toContain('not-the-password');
      } finally {
        await bad.close();
      }
    },
  },
];

describe.each(['sushy-tools', 'ipmi_sim', ...PROFILE_IDS.map((p) => `simulator ${p}`), 'simulator multinode'])('driver conformance: %s', (peerName) => {
  let peer: Peer;
  let driver: BmcDriver;
  beforeAll(() => {
    const found = peers.find((p) => p.name === peerName || p.name.startsWith(`${peerName} `));
    if (!found) throw new Error(`peer ${peerName} did not start`);
    peer = found;
    driver = driverFor(peer);
  });
  afterAll(async () => {
    await driver?.close();
  });
  for (const op of OPERATIONS) {
    it(op.name, async () => {
      if (op.applies && !op.applies(peer)) {
        // Not implemented by this protocol: the driver must say so rather than pretend.
        op.absent?.(driver);
        return;
      }
      await op.run(driver, peer);
    });
  }
});

describe('a multi-node chassis', () => {
  it('left the sibling of the system the suite drove untouched', () => {
    const [, node1] = sim.bmcs.filter((bmc) => bmc.profile === 'multinode');
    expect(node1?.counters()).toMatchObject({ powerOn: 0, powerOff: 0, bootOverrides: 0, mediaInserts: 0 });
    expect(node1?.state().power).toBe('Off');
  });
});

describe('IPMI side effects', () => {
  it('the journal shows each side effect of the suite exactly once', () => {
    // Off-when-off and on-when-on sent nothing; then one on, one boot, the cycle (off, on), one hard off, one on,
    // and the ACPI shutdown.
    expect(ipmi.state().journal).toEqual(['power 1', 'boot cdrom', 'power 0', 'power 1', 'power 0', 'power 1', 'shutdown 1']);
  });
});

describe('request budget', () => {
  it('register → provisioned over virtual media stays within 40 Redfish requests (sushy system 1)', async () => {
    const paths: string[] = [];
    const peer = sushyPeer(sushy, 1);
    const d = createBmcDriver({
      address: peer.address,
      credentials: { username: peer.username, password: peer.password },
      redfish: { ...peer.driverOptions.redfish, client: { onExchange: (e) => paths.push(`${e.method} ${e.path}`) } },
    });
    try {
      await d.identify(); // register
      await d.inspection?.inventory(); // fast (out-of-band) inspection
      await d.setPower('off');
      await d.virtualMedia?.insert(iso.url); // deploy ramdisk
      await d.setBootOverride({ device: 'cd' });
      await d.setPower('on');
      await d.setPower('off'); // the agent wrote the image
      await d.virtualMedia?.eject();
      await d.setBootOverride({ device: 'disk' });
      await d.setPower('on');
    } finally {
      await d.close();
    }
    expect(await peer.readPower()).toBe('on');
    expect(await peer.readBootTarget()).toBe('Hdd');
    expect(paths.length).toBeLessThanOrEqual(40);
    // Discovery happens once: the service root is read a single time.
    expect(paths.filter((p) => p === 'GET /redfish/v1/')).toHaveLength(1);
  });
});

describe('unreachable BMCs', () => {
  it('a closed Redfish port fails fast with BmcUnreachable (transient)', async () => {
    const port = await freePort();
    const d = createBmcDriver({ address: `redfish+http://127.0.0.1:${port}/redfish/v1/Systems/1`, credentials: { username: 'u', password: 'p' } });
    const started = Date.now();
    const err = await failure(d.getPowerState());
    await d.close();
    expect(err.code).toBe('BmcUnreachable');
    expect(err.disposition).toBe('transient');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a system path that does not exist is BmcNotFound', async () => {
    const peer = peers[0];
    if (!peer) throw new Error('no sushy peer');
    const d = createBmcDriver({ address: `redfish+http://127.0.0.1:${sushy.port}/redfish/v1/Systems/no-such-system`, credentials: { username: peer.username, password: peer.password } });
    const err = await failure(d.getPowerState());
    await d.close();
    expect(err.code).toBe('BmcNotFound');
  });
});
