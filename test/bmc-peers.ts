/**
 * BMC peers for the driver conformance suite: how to address each one and how to observe it independently of the
 * driver (a raw Redfish GET, ipmi_sim's state files and journal, the simulator's counters), so a test can tell
 * what the BMC really did. Shared by the conformance tests and the benchmark.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IpmiSim } from '../stack/ipmi.ts';
import type { SushyEmulator } from '../stack/sushy.ts';
import type { SimulatedBmc } from '../sim/index.ts';
import type { BmcDriverOptions } from '../activities/bmc/factory.ts';

export type SideEffect = 'power-on' | 'power-off' | 'boot-cd' | 'media-insert' | 'media-eject';

export interface Peer {
  name: string;
  address: string;
  username: string;
  password: string;
  /** What the peer implements (sushy's fake driver: no BIOS, firmware, processors). */
  supports: { virtualMedia: boolean; inventory: boolean };
  /** A MAC the inventory must report. */
  mac?: string;
  /** The peer's own view, read without the driver. */
  readPower(): Promise<'on' | 'off'>;
  readBootTarget(): Promise<string | undefined>;
  /** The raw value a Cd boot override leaves (Redfish `Cd`, ipmi_sim `cdrom`). */
  cdBootValue: string;
  readMedia?(): Promise<{ inserted: boolean; image: string | undefined }>;
  /** How many times the BMC performed a side effect; undefined where the peer cannot count. */
  count(effect: SideEffect): number | undefined;
  /** Driver options suited to the peer (fast polling on loopback). */
  driverOptions: Omit<BmcDriverOptions, 'address' | 'credentials'>;
}

export const FAST_REDFISH = { timings: { powerPollInitialMs: 0, powerPollIntervalMs: 200, powerTimeoutMs: 30_000, retryDelayMs: 200 } };

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** A Redfish peer observed through raw GETs (sushy-tools has no counters). */
export function sushyPeer(sushy: SushyEmulator, index: number, scheme = 'redfish-virtualmedia+http'): Peer {
  const system = sushy.systems[index];
  if (!system) throw new Error(`sushy has no system ${index}`);
  const get = async (path: string) => {
    const res = await fetch(`${sushy.url}${path}`, { headers: { authorization: basic(sushy.username, sushy.password) } });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  };
  return {
    name: `sushy-tools system ${index}`,
    address: `${scheme}://127.0.0.1:${sushy.port}${system.path}`,
    username: sushy.username,
    password: sushy.password,
    supports: { virtualMedia: true, inventory: true },
    mac: system.mac,
    readPower: async () => ((await get(system.path)).PowerState === 'On' ? 'on' : 'off'),
    readBootTarget: async () => {
      const boot = (await get(system.path)).Boot as Record<string, unknown> | undefined;
      return typeof boot?.BootSourceOverrideTarget === 'string' ? boot.BootSourceOverrideTarget : undefined;
    },
    cdBootValue: 'Cd',
    readMedia: async () => {
      const slot = await get(`${system.path}/VirtualMedia/Cd`);
      return { inserted: slot.Inserted === true, image: typeof slot.Image === 'string' && slot.Image ? slot.Image : undefined };
    },
    count: () => undefined,
    driverOptions: { redfish: FAST_REDFISH },
  };
}

/** A simulator BMC: observed through its state and side-effect counters. */
export function simPeer(bmc: SimulatedBmc): Peer {
  const c = () => bmc.counters();
  return {
    name: `simulator ${bmc.profile}`,
    address: bmc.address,
    username: bmc.username,
    password: bmc.password,
    supports: { virtualMedia: true, inventory: true },
    ...(bmc.bootMACAddress ? { mac: bmc.bootMACAddress } : {}),
    readPower: async () => (bmc.state().power === 'On' ? 'on' : 'off'),
    // Dell's virtual CD boot goes through the OEM one-time boot, not the standard override.
    readBootTarget: async () => bmc.state().oemBootOnce ?? bmc.state().boot.target,
    cdBootValue: bmc.profile === 'idrac' ? 'VCD-DVD' : bmc.profile === 'supermicro' ? 'UsbCd' : 'Cd',
    readMedia: async () => {
      const inserted = bmc.state().media.filter((m) => m.inserted);
      return { inserted: inserted.length > 0, image: inserted[0]?.image ?? undefined };
    },
    count: (effect) => {
      const counters = c();
      return { 'power-on': counters.powerOn, 'power-off': counters.powerOff, 'boot-cd': counters.bootOverrides, 'media-insert': counters.mediaInserts, 'media-eject': counters.mediaEjects }[effect];
    },
    driverOptions: { redfish: SIM_REDFISH },
  };
}

/** Driver timings for the simulator, whose quirk windows and tasks are shortened to a few hundred ms. */
export const SIM_REDFISH = {
  timings: { powerPollInitialMs: 0, powerPollIntervalMs: 100, powerTimeoutMs: 30_000, retryDelayMs: 100, maxRetryDelayMs: 1500, mediaSettleMs: 5000, taskPollIntervalMs: 100, taskNotFoundGraceMs: 5000 },
  client: { retryDelayMs: 100 },
};

/** The IPMI peer: ipmi_sim's chassis hook journals every `set` it receives. */
export function ipmiPeer(sim: IpmiSim, ipmitool: string): Peer {
  const journal = () => sim.state().journal;
  return {
    name: 'ipmi_sim',
    address: sim.address,
    username: sim.username,
    password: sim.password,
    supports: { virtualMedia: false, inventory: false },
    readPower: async () => sim.state().power,
    readBootTarget: async () => sim.state().boot,
    cdBootValue: 'cdrom',
    count: (effect) => {
      const line = { 'power-on': 'power 1', 'power-off': 'power 0', 'boot-cd': 'boot cdrom' }[effect as 'power-on'];
      return line ? journal().filter((l) => l === line).length : undefined;
    },
    driverOptions: { ipmi: { ipmitool, timings: { minCommandIntervalMs: 0, powerPollIntervalMs: 200, retryDelayMs: 200 } } },
  };
}

/**
 * A loopback HTTP server for images a BMC fetches (it really downloads what is inserted or flashed): `url` is an
 * ISO, `urlFor(name)` any other file; names containing `missing` answer 404. Counts GETs per path.
 */
export async function serveIso(bytes = 64 * 1024): Promise<{ url: string; urlFor: (name: string) => string; downloads: (name?: string) => number; close: () => Promise<void> }> {
  const body = Buffer.alloc(bytes, 0x2a);
  const gets = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.includes('missing') || !path.startsWith('/images/')) {
      res.writeHead(404).end();
      return;
    }
    if (req.method === 'GET') gets.set(path, (gets.get(path) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}/images`;
  return {
    url: `${base}/boot.iso`,
    urlFor: (name) => `${base}/${name}`,
    downloads: (name = 'boot.iso') => gets.get(`/images/${name}`) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
