/**
 * The simulated data centre: Redfish BMCs on 127.0.0.1 that serve real vendor mockup trees as stateful
 * services, with vendor quirks, fault injection and side-effect counters.
 *
 * ```ts
 * const sim = await startSimulator({ bmcs: [{ profile: 'idrac' }, { profile: 'ilo5', powerDelayMs: 500 }] });
 * const [dell] = sim.bmcs;
 * // dell.address: 'idrac-virtualmedia+http://127.0.0.1:41234/redfish/v1/Systems/System.Embedded.1'
 * dell.faults({ errorRate: 0.2 });
 * // ... drive it over HTTP ...
 * dell.counters().mediaInserts; dell.state().booted;
 * await sim.stop();
 * ```
 *
 * Layouts: `port-per-bmc` gives every BMC its own port and the mockup's own ids; `shared` puts every BMC of a
 * profile behind one port as `/redfish/v1/Systems/<bmc id>` (manager and chassis likewise), like a multi-node
 * service or sushy-tools. Trees are loaded once and shared read-only by all BMCs serving them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type AgentCounters, type AgentSettings, AgentServer, type CustomDeployStep, HostAgentState, type SimDisk,
  simAgentRunner,
} from './agent/index.ts';
import { hostIpv4 } from './agent/inventory.ts';
import { zeroAgentCounters } from './agent/settings.ts';
import type { MdDevice } from './agent/software-raid.ts';
import type { RamdiskRunner } from './agent/runner.ts';
import { type BmcCounters, type BmcState, type BmcTimings, type FaultSettings, SimBmc } from './bmc.ts';
import { controlApi } from './control.ts';
import { type DiskOverride, createDiskFiles } from './disks.ts';
import { Endpoint } from './endpoint.ts';
import type { HostEvent, PowerState } from './host.ts';
import {
  AGENT_KINDS, type AgentKind, type DiskBootRecord, HostBoots, type RamdiskStatus, hostIdentity,
} from './ramdisk.ts';
import { PROFILE_IDS, PROFILES, type ProfileId, mockupDir, profileId } from './profiles.ts';
import { type QuirkId, quirk } from './quirks.ts';
import { multiNodeTree, nodeId } from './multinode.ts';
import { type LogicalDisk, logicalDisks, storageState } from './storage.ts';
import { serviceModel } from './service-model.ts';
import type { RequestSpan, TrafficFigures } from './traffic.ts';
import { loadMockupTree } from './tree.ts';
import { CredentialStore, HostOs } from './os/host-os.ts';
import type { ClusterCredentials, OsRecord, OsSettings } from './os/index.ts';

export type {
  AgentCounters, AgentSettings, CommandFault, CustomDeployStep, CustomStepContext, InjectableError, RamdiskRunner,
  SimDisk, WriteRecord,
} from './agent/index.ts';
export type { MdDevice } from './agent/software-raid.ts';
export type { BmcCounters, BmcState, FaultSettings } from './bmc.ts';
export type { DiskOverride } from './disks.ts';
export {
  AGENT_KINDS, type AgentKind, type ConfigDriveFiles, type DiskBootRecord, type RamdiskStatus, readConfigDrive,
} from './ramdisk.ts';
export type { BootOverride, BootRecord, HostEvent } from './host.ts';
export { ALL_PROFILE_IDS, PROFILES, PROFILE_IDS, type ProfileId, type VendorProfile } from './profiles.ts';
export { QUIRKS, type QuirkId, type QuirkInfo } from './quirks.ts';
export { FIRMWARE_SECONDS, describeFirmwareTiming, type FirmwareKind, type FlashRecord } from './firmware.ts';
export { maxOverlap, type RequestSpan, type TrafficFigures } from './traffic.ts';
export type { LogicalDisk, VolumeState } from './storage.ts';
export type { ClusterCredentials, NodeCredential, OsRecord, OsSettings } from './os/index.ts';
export { CredentialStore } from './os/host-os.ts';

/** How BMCs are spread over ports. */
export type Layout = 'port-per-bmc' | 'shared';

/** One BMC to simulate. Every field is optional. */
export interface BmcSpec {
  /** A profile id or alias (`dmtf`, `ilo5`/`hpe`, `ami`/`gigabyte`, `xcc`/`lenovo`, `idrac`/`dell`, `supermicro`/`smc`, `multinode`). Default `dmtf`. */
  profile?: string;
  /** A mockup folder (either layout) or the name of a bundled one under `sim/mockups/`. Default: the profile's. */
  mockup?: string;
  /** Which member of the tree's Systems collection is the host. Default: the first. */
  systemId?: string;
  /**
   * A multi-node chassis: this many systems (`Node0`, `Node1`, ...) behind one BMC on one port, composed from the
   * mockup's system; each node is a SimulatedBmc of its own (`<id>-node0`, ...). Default: the profile's
   * (`multinode`: 4), else one system.
   */
  nodes?: number;
  /** A handle for the BMC (and its system id behind a shared endpoint). Default `bmc-0001`, `bmc-0002`, ... */
  id?: string;
  /** Default `admin`. */
  username?: string;
  /** Default `password` for listed BMCs, a random one for generated fleets. */
  password?: string;
  /** Time a power change takes, in ms. Default 0 (instant). */
  powerDelayMs?: number;
  /** Length of the time-window quirks, in ms. Default 1000; 0 turns them off. */
  quirkWindowMs?: number;
  /** Duration of firmware and configuration tasks, in ms. Default 1000. */
  taskDurationMs?: number;
  /**
   * Realistic firmware time, compressed: flashes take FIRMWARE_SECONDS (a 7-minute BIOS flash, a 10-minute BMC
   * flash and its 150 s reboot) divided by this factor, instead of `taskDurationMs`. `describeFirmwareTiming`
   * prints what a factor means.
   */
  firmwareCompression?: number;
  /** How long the BMC is unreachable when it reboots after flashing itself. Default 1000. */
  bmcRebootMs?: number;
  /** Power state at start. Default `Off`. */
  initialPowerState?: PowerState;
  /** Quirks to add to or remove from the profile's defaults. */
  quirks?: { add?: readonly string[]; remove?: readonly string[] };
  /** Initial fault switches. */
  faults?: Partial<FaultSettings>;
  /** Report MACs and system UUID unique to this BMC instead of the mockup's. Default: false for listed BMCs, true for fleets. */
  uniqueIdentity?: boolean;
  /** Port (port-per-bmc layout). Default: a free port. */
  port?: number;
  /** The deploy ramdisk runner this host uses when it boots a deploy ISO. Default `sim`. */
  agent?: AgentKind;
  /** Switches of the simulated agent on this host. */
  agentSettings?: Partial<AgentSettings>;
  /** Test overrides of the host's disks by position (size, model, serial, rotational ...), shown by the BMC too. */
  disks?: readonly (DiskOverride | undefined)[];
  /** Switches of the simulated OS the host runs from its disk (e.g. `neverJoin`). */
  osSettings?: Partial<OsSettings>;
}

/** A generated fleet: `count` BMCs with profiles taken in turn from `profiles`. */
export interface FleetSpec extends Omit<BmcSpec, 'profile' | 'id' | 'port'> {
  count: number;
  /** `mix` (every profile in turn, the default) or a list of profile ids/aliases. */
  profiles?: 'mix' | readonly string[];
  /** First port (port-per-bmc layout); BMC i listens on basePort + i. Default: free ports. */
  basePort?: number;
}

/** Options of `startSimulator`. */
export interface SimulatorOptions {
  /** The BMCs: a list, or a fleet to generate. */
  bmcs: readonly BmcSpec[] | FleetSpec;
  /** Default `port-per-bmc`. */
  layout?: Layout;
  /** TLS is not supported yet: Metal3 addresses use `+http`. */
  tls?: false;
  /** Address to listen on. Default 127.0.0.1 (addresses then name 127.0.0.1 too). */
  listenHost?: string;
  /** Session idle timeout for every endpoint. Default: the mockup's SessionService.SessionTimeout. */
  sessionTimeoutSec?: number;
  /** Concurrent sessions per endpoint. Default: the profile's limit times the BMCs behind the endpoint. */
  maxSessions?: number;
  /**
   * Where the hosts' disk files (`disks/<bmc id>/sda.img`, ...) and the agents' scratch space live; the disk
   * files are created at start and kept by `stop()`. Default: a temporary folder, disk files created when a host
   * first needs them, everything removed by `stop()`.
   */
  stateDir?: string;
  /** Ramdisk runners besides the simulator's own (`sim`), e.g. `ipa` for the real ironic-python-agent. */
  runners?: Partial<Record<AgentKind, RamdiskRunner>>;
  /** Custom deploy steps (Metal3 `customDeploy.method`) every simulated agent offers, by name. */
  deploySteps?: Record<string, CustomDeployStep>;
  /** Receives the hosts' log lines (ramdisk boots, agent commands), prefixed with the BMC id. Secrets are hidden. */
  log?: (line: string) => void;
  /** Record every request's start and end per endpoint from the start (`endpoints[i].timeline()`). */
  timeline?: boolean;
  /**
   * The credentials the hosts' simulated OS registers Nodes with, by workload apiserver (instead of a
   * kubelet's TLS bootstrap: docs/cluster-join.md). Default: the simulator's own `clusters` store, empty.
   */
  clusters?: ClusterCredentials;
}

/** A listening service: one physical BMC (or, in the shared layout, every BMC of a profile). */
export interface SimulatedEndpoint {
  readonly port: number;
  readonly profile: ProfileId;
  readonly url: string;
  readonly bmcIds: readonly string[];
  /** Requests answered, in flight now, and the most in flight at once. */
  traffic(): TrafficFigures;
  /** Every request's start and end (only when recording: the `timeline` option or `resetTraffic(true)`). */
  timeline(): RequestSpan[];
  /** Clears figures and timeline; `recording` switches the timeline on or off. */
  resetTraffic(recording?: boolean): void;
}

/** A running simulated BMC. */
export interface SimulatedBmc {
  readonly id: string;
  readonly profile: ProfileId;
  /** The Metal3 BMC address, e.g. `redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/1`. */
  readonly address: string;
  /** The service root URL, `http://127.0.0.1:<port>/redfish/v1`. */
  readonly url: string;
  /** The system's URI path, e.g. `/redfish/v1/Systems/System.Embedded.1`. */
  readonly systemPath: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** MAC of the host's first Ethernet interface (for BareMetalHost.spec.bootMACAddress), or null. */
  readonly bootMACAddress: string | null;
  /** A copy of the side-effect counters. */
  counters(): BmcCounters;
  /** Zeroes the counters. */
  resetCounters(): void;
  /** Changes fault switches (partial) and returns the current ones; call with no argument to read them. */
  faults(set?: Partial<FaultSettings>): FaultSettings;
  /** A snapshot of the host: power, boot override, media, what it booted, BIOS, firmware. */
  state(): BmcState;
  /** The quirks on for this BMC. */
  quirks(): QuirkId[];
  /** Switches quirks at run time. */
  setQuirks(change: { add?: readonly string[]; remove?: readonly string[] }): QuirkId[];
  /** Subscribes to host power and boot events; returns the unsubscribe function. */
  onHostEvent(listener: (event: HostEvent) => void): () => void;
  /** The host's disks: device name, backing file, size, model, serial, rotational. */
  disks(): SimDisk[];
  /** The ramdisk runner this host uses (`sim` or `ipa`); pass one to change it for the next boot. */
  agentKind(set?: AgentKind): AgentKind;
  /** Changes the simulated agent's switches (partial) and returns them; call with no argument to read them. */
  agent(set?: Partial<AgentSettings>): AgentSettings;
  /** A copy of the agent-side counters: ramdisk and disk boots, commands, image writes, erases. */
  agentCounters(): AgentCounters;
  /** The software RAID (md) devices the agent built on the host's disks: level, members, offsets, size. */
  mdDevices(): MdDevice[];
  /** The deploy ramdisk of the current or last boot, or null. */
  ramdisk(): RamdiskStatus | null;
  /** What the host found on its disk at its last disk boot, or null. */
  diskBoot(): DiskBootRecord | null;
  /** Subscribes to disk boots; returns the unsubscribe function. */
  onDiskBoot(listener: (record: DiskBootRecord) => void): () => void;
  /** Resolves when the host's boot handling so far (ISO read, ramdisk start, disk inspection) has settled. */
  bootSettled(): Promise<void>;
  /** Changes the simulated OS's switches (partial, e.g. `{ neverJoin: true }`) and returns them; no argument: reads them. */
  os(set?: Partial<OsSettings>): OsSettings;
  /** What the simulated OS did at its last boots from disk (cloud-init, commands, the join), oldest first. */
  osRecords(): OsRecord[];
  /** Storage controllers, RAID volumes as they are now, and volume changes held for the next boot. */
  storage(): ReturnType<typeof storageState>;
  /** The disks the host's OS sees now: every RAID volume, and every drive not in one. */
  logicalDisks(): LogicalDisk[];
}

/** A running simulator. */
export interface Simulator {
  readonly bmcs: readonly SimulatedBmc[];
  /** The listening services (one per BMC, or one per profile when shared). */
  readonly endpoints: readonly SimulatedEndpoint[];
  /** Origin of the shared agent server: simulated agents serve `<agentUrl>/<node uuid>`, control at `/_sim/`. */
  readonly agentUrl: string;
  /** Where disk files and agent scratch space live. */
  readonly stateDir: string;
  /** The workload-cluster credentials the hosts' OS uses, unless `options.clusters` gave others. */
  readonly clusters: CredentialStore;
  /** The BMC with this id; throws when there is none. */
  bmc(id: string): SimulatedBmc;
  /** Adds (or replaces) a custom deploy step every simulated agent offers from its next `get_deploy_steps`. */
  registerDeployStep(name: string, step?: CustomDeployStep): void;
  /** Stops every endpoint, closes connections, cancels timers. */
  stop(): Promise<void>;
}

interface ResolvedSpec extends BmcSpec {
  id: string;
  profile: ProfileId;
  mockupPath: string;
  username: string;
  password: string;
  uniqueIdentity: boolean;
  index: number;
  /** For the nodes of a multi-node chassis: the chassis's id (their shared endpoint) and node count. */
  chassis: { id: string; nodes: number } | null;
}

/** One spec per system: a multi-node chassis becomes one spec per node, sharing the chassis's endpoint. */
function perSystem(specs: Omit<ResolvedSpec, 'index' | 'chassis'>[]): ResolvedSpec[] {
  const out: ResolvedSpec[] = [];
  for (const spec of specs) {
    const nodes = spec.nodes ?? PROFILES[spec.profile].nodes ?? 1;
    if (!Number.isInteger(nodes) || nodes < 1) throw new Error(`${spec.id}: nodes must be a positive integer`);
    if (nodes > 1 && PROFILES[spec.profile].quirks.includes('case-insensitive-uris')) {
      // Composing nodes rewrites the system's links as written; a tree that mixes their case would keep some.
      throw new Error(`${spec.id}: a multi-node chassis cannot be composed from the ${spec.profile} tree (its links mix case)`);
    }
    if (nodes === 1) {
      out.push({ ...spec, index: out.length, chassis: null });
      continue;
    }
    for (let node = 0; node < nodes; node += 1) {
      const { port: _port, ...rest } = spec;
      out.push({
        ...rest,
        ...(node === 0 && spec.port !== undefined ? { port: spec.port } : {}),
        id: `${spec.id}-node${node}`,
        systemId: nodeId(node),
        index: out.length,
        chassis: { id: spec.id, nodes },
      });
    }
  }
  return out;
}

/** Resolves a mockup name or folder to a folder. */
export function resolveMockup(mockup: string): string {
  if (existsSync(mockup)) return mockup;
  const bundled = mockupDir(mockup);
  if (existsSync(bundled)) return bundled;
  throw new Error(`mockup '${mockup}' is neither a folder nor a bundled mockup under sim/mockups/`);
}

function expand(bmcs: SimulatorOptions['bmcs']): ResolvedSpec[] {
  const pad = (index: number): string => `bmc-${String(index + 1).padStart(4, '0')}`;
  if (Array.isArray(bmcs)) {
    const list = bmcs as readonly BmcSpec[];
    return perSystem(list.map((spec, index) => {
      const profile = profileId(spec.profile ?? 'dmtf');
      return {
        ...spec,
        id: spec.id ?? pad(index),
        profile,
        mockupPath: resolveMockup(spec.mockup ?? PROFILES[profile].mockup),
        username: spec.username ?? 'admin',
        password: spec.password ?? 'password',
        uniqueIdentity: spec.uniqueIdentity ?? false,
      };
    }));
  }
  const fleet = bmcs as FleetSpec;
  if (!Number.isInteger(fleet.count) || fleet.count < 1) throw new Error('bmcs.count must be a positive integer');
  const profiles = !fleet.profiles || fleet.profiles === 'mix' ? [...PROFILE_IDS] : fleet.profiles.map(profileId);
  if (profiles.length === 0) throw new Error('bmcs.profiles is empty');
  const { count: _count, profiles: _profiles, basePort, ...common } = fleet;
  return perSystem(Array.from({ length: fleet.count }, (_, index) => {
    const profile = profiles[index % profiles.length] ?? 'dmtf';
    return {
      ...common,
      id: pad(index),
      profile,
      mockupPath: resolveMockup(common.mockup ?? PROFILES[profile].mockup),
      username: common.username ?? 'admin',
      password: common.password ?? randomBytes(6).toString('hex'),
      uniqueIdentity: common.uniqueIdentity ?? true,
      ...(basePort !== undefined ? { port: basePort + index } : {}),
    };
  }));
}

function quirkSet(spec: ResolvedSpec): Set<QuirkId> {
  const set = new Set<QuirkId>(PROFILES[spec.profile].quirks);
  for (const id of spec.quirks?.add ?? []) set.add(quirk(id).id as QuirkId);
  for (const id of spec.quirks?.remove ?? []) set.delete(quirk(id).id as QuirkId);
  return set;
}

/**
 * Starts simulated BMCs and resolves once every endpoint listens. Throws on unknown profiles, quirks or
 * mockups, and when a port is taken (after stopping what it had started).
 */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  if (options.tls) throw new Error('tls is not supported by the simulator yet; use +http addresses');
  const layout = options.layout ?? 'port-per-bmc';
  if (layout !== 'port-per-bmc' && layout !== 'shared') throw new Error(`unknown layout '${String(layout)}'`);
  const specs = expand(options.bmcs);
  const ids = new Set<string>();
  for (const spec of specs) {
    if (ids.has(spec.id)) throw new Error(`duplicate BMC id '${spec.id}'`);
    ids.add(spec.id);
  }

  const groups = new Map<string, ResolvedSpec[]>();
  for (const spec of specs) {
    // The nodes of a chassis share its endpoint in either layout: they are one BMC.
    const key = spec.chassis ? `chassis\u0000${spec.chassis.id}` : layout === 'shared' ? `${spec.profile}\u0000${spec.mockupPath}\u0000${spec.systemId ?? ''}` : spec.id;
    const group = groups.get(key) ?? [];
    group.push(spec);
    groups.set(key, group);
  }

  const temporary = options.stateDir === undefined;
  const stateDir = options.stateDir !== undefined
    ? resolve(options.stateDir)
    : mkdtempSync(join(tmpdir(), 'tempered-sim-'));
  for (const spec of specs) {
    if (spec.agent !== undefined && !AGENT_KINDS.includes(spec.agent)) {
      throw new Error(`unknown agent '${String(spec.agent)}' for ${spec.id}; use sim or ipa`);
    }
  }
  const endpoints: Endpoint[] = [];
  const handles: SimulatedBmc[] = [];
  const boots: HostBoots[] = [];
  const diskCreators: (() => Promise<void>)[] = [];
  const customSteps = new Map<string, CustomDeployStep>(Object.entries(options.deploySteps ?? {}));
  const agents = new Map<string, { bmc: SimBmc; state: HostAgentState }>();
  const ownClusters = new CredentialStore();
  const clusters = options.clusters ?? ownClusters;
  let agentServer: AgentServer | undefined;
  try {
    agentServer = await AgentServer.start(options.listenHost);
    const server = agentServer;
    const scratchRoot = join(stateDir, 'agent');
    const runners: Partial<Record<AgentKind, RamdiskRunner>> = {
      sim: simAgentRunner({
        server,
        scratchRoot,
        customSteps,
        host(id) {
          const found = agents.get(id);
          if (!found) throw new Error(`no simulated host '${id}'`);
          return { state: found.state, facts: hostIdentity(found.bmc).facts };
        },
      }),
      ...options.runners,
    };
    for (const group of groups.values()) {
      const first = group[0];
      if (!first) continue;
      const profile = PROFILES[first.profile];
      const loaded = loadMockupTree(first.mockupPath);
      const tree = first.chassis ? multiNodeTree(loaded, first.chassis.nodes) : loaded;
      const modelOf = (spec: ResolvedSpec) => serviceModel(tree, quirkSet(spec).has('case-insensitive-uris'), spec.systemId);
      const model = modelOf(first);
      const endpoint = new Endpoint({
        profile,
        model,
        port: first.port ?? 0,
        ...(options.listenHost !== undefined ? { host: options.listenHost } : {}),
        ...(options.sessionTimeoutSec !== undefined ? { sessionTimeoutSec: options.sessionTimeoutSec } : {}),
        ...(options.maxSessions !== undefined ? { maxSessions: options.maxSessions } : {}),
        ...(options.timeline !== undefined ? { timeline: options.timeline } : {}),
      });
      endpoints.push(endpoint);
      for (const spec of group) {
        const timings: BmcTimings = {
          powerDelayMs: spec.powerDelayMs ?? 0,
          quirkWindowMs: spec.quirkWindowMs ?? 1000,
          taskDurationMs: spec.taskDurationMs ?? 1000,
          firmwareCompression: spec.firmwareCompression ?? null,
          bmcRebootMs: spec.bmcRebootMs ?? 1000,
        };
        const bmc = new SimBmc({
          id: spec.id,
          index: spec.index,
          profile,
          model: spec.chassis ? modelOf(spec) : model,
          quirks: quirkSet(spec),
          username: spec.username,
          password: spec.password,
          timings,
          initialPower: spec.initialPowerState ?? 'Off',
          shared: layout === 'shared' && !spec.chassis,
          routeBySystem: spec.chassis !== null,
          uniqueIdentity: spec.uniqueIdentity,
          tasks: endpoint.tasks,
          faults: spec.faults ?? {},
          diskDir: join(stateDir, 'disks', spec.id),
          ...(spec.disks ? { diskOverrides: spec.disks } : {}),
        });
        endpoint.add(bmc);
        const state = new HostAgentState(spec.agentSettings);
        agents.set(spec.id, { bmc, state });
        // Disk files follow the disks the OS sees (a RAID volume created since the last boot gets its file),
        // one creation at a time per host; a failed one does not stop the next.
        let created: Promise<void> = Promise.resolve();
        const ensureDisks = (): Promise<void> =>
          (created = created.catch(() => undefined).then(() => createDiskFiles(bmc.disks)));
        const os = new HostOs({
          hostId: spec.id,
          hardware: () => {
            const identity = hostIdentity(bmc);
            return {
              systemUuid: identity.systemUuid ?? spec.id,
              cpus: identity.cpus,
              memoryMiB: identity.memoryMiB,
              ips: bmc.macs.map((_mac, index) => hostIpv4(spec.id, index)),
            };
          },
          clusters,
          settings: spec.osSettings ?? {},
          log: (line) => options.log?.(`os ${line}`),
        });
        const host = new HostBoots({
          bmc,
          kind: spec.agent ?? 'sim',
          runners,
          state,
          ensureDisks,
          os,
          log: (line) => options.log?.(`${spec.id}: ${line}`),
        });
        boots.push(host);
        diskCreators.push(ensureDisks);
        hostBoots.set(bmc, { boots: host, state, ensureDisks, os });
      }
      await endpoint.listen();
      for (const bmc of endpoint.bmcs) handles.push(handle(bmc, endpoint, addressHost(options.listenHost)));
    }
    if (!temporary) {
      await mkdir(stateDir, { recursive: true });
      // A few at a time: thousands of sparse files are mostly file-system metadata work.
      const queue = [...diskCreators];
      await Promise.all(Array.from({ length: 32 }, async () => {
        for (let ensure = queue.shift(); ensure; ensure = queue.shift()) await ensure();
      }));
    }
  } catch (error) {
    await Promise.all(boots.map((host) => host.dispose().catch(() => undefined)));
    await Promise.all(endpoints.map((endpoint) => endpoint.close().catch(() => undefined)));
    await agentServer?.close();
    if (temporary) rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }
  const server = agentServer;
  const order = new Map(specs.map((spec, index) => [spec.id, index]));
  handles.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  server.setControl(controlApi(handles));
  let stopped: Promise<void> | undefined;
  return {
    bmcs: handles,
    agentUrl: server.origin,
    stateDir,
    clusters: ownClusters,
    registerDeployStep(name, step) {
      customSteps.set(name, step ?? (async () => null));
    },
    endpoints: endpoints.map((endpoint) => ({
      port: endpoint.port,
      profile: endpoint.profile.id,
      url: `http://${addressHost(options.listenHost)}:${endpoint.port}/redfish/v1`,
      bmcIds: endpoint.bmcs.map((bmc) => bmc.id),
      traffic: () => endpoint.traffic.read(),
      timeline: () => endpoint.traffic.timeline(),
      resetTraffic: (recording) => endpoint.traffic.reset(recording),
    })),
    bmc(id) {
      const found = handles.find((candidate) => candidate.id === id);
      if (!found) throw new Error(`no simulated BMC '${id}'`);
      return found;
    },
    stop() {
      stopped ??= (async () => {
        await Promise.all(boots.map((host) => host.dispose()));
        await Promise.all(endpoints.map((endpoint) => endpoint.close()));
        await server.close();
        if (temporary) rmSync(stateDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** The host name to put in addresses: the listen address, or 127.0.0.1 for wildcard and default. */
function addressHost(listenHost: string | undefined): string {
  if (!listenHost || listenHost === '0.0.0.0' || listenHost === '::') return '127.0.0.1';
  return listenHost.includes(':') ? `[${listenHost}]` : listenHost;
}

/** The agent side of each BMC, for the handles. */
const hostBoots = new WeakMap<
  SimBmc,
  { boots: HostBoots; state: HostAgentState; ensureDisks: () => Promise<void>; os: HostOs }
>();

function handle(bmc: SimBmc, endpoint: Endpoint, host: string): SimulatedBmc {
  const port = endpoint.port;
  const agentSide = hostBoots.get(bmc);
  if (!agentSide) throw new Error(`no agent state for ${bmc.id}`);
  const { boots, state, os } = agentSide;
  const origin = `http://${host}:${port}`;
  return {
    id: bmc.id,
    profile: bmc.profile.id,
    address: `${bmc.profile.scheme}+http://${host}:${port}${bmc.systemPath}`,
    url: `${origin}/redfish/v1`,
    systemPath: bmc.systemPath,
    port,
    username: bmc.username,
    password: bmc.password,
    bootMACAddress: bmc.macs[0] ?? null,
    counters: () => structuredClone(bmc.counters),
    resetCounters: () => {
      bmc.resetCounters();
      state.counters = zeroAgentCounters();
    },
    faults: (set) => (set ? bmc.setFaults(set) : { ...bmc.faultSettings }),
    state: () => bmc.state(),
    quirks: () => [...bmc.quirks],
    setQuirks(change) {
      for (const id of change.add ?? []) bmc.quirks.add(quirk(id).id as QuirkId);
      for (const id of change.remove ?? []) bmc.quirks.delete(quirk(id).id as QuirkId);
      return [...bmc.quirks];
    },
    onHostEvent: (listener) => bmc.host.on(listener),
    disks: () => bmc.disks.map((disk) => ({ ...disk })),
    agentKind(set) {
      if (set !== undefined) {
        if (!AGENT_KINDS.includes(set)) throw new Error(`unknown agent '${String(set)}'; use sim or ipa`);
        boots.kind = set;
      }
      return boots.kind;
    },
    agent: (set) => (set ? state.update(set) : { ...state.settings }),
    agentCounters: () => structuredClone(state.counters),
    mdDevices: () => structuredClone(state.mdDevices),
    ramdisk: () => boots.ramdisk(),
    diskBoot: () => boots.lastDiskBoot(),
    onDiskBoot: (listener) => boots.onDiskBoot(listener),
    bootSettled: () => boots.settled(),
    os: (set) => os.configure(set),
    osRecords: () => os.history(),
    storage: () => storageState(bmc),
    logicalDisks: () => logicalDisks(bmc),
  };
}
