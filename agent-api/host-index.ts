/**
 * Which BareMetalHost an agent is: the agent API's read-only index over the BareMetalHosts and HardwareData of
 * the watched namespaces (kept current by informers), by UID (Ironic's node UUID, in heartbeat paths) and by
 * MAC address (the boot MAC and every NIC inspection found, as Ironic matches ports). It holds only what the
 * objects say; nothing about a host's progress lives here.
 */
import { normalizeMac } from '../domain/agent.ts';
import type { ChangeKind } from '../bridge/informer.ts';
import { keyOf, type HostObject, type KubeObject } from '../bridge/objects.ts';

/** What the agent API needs to know of a host. */
export interface IndexedHost {
  namespace: string;
  name: string;
  uid: string;
  /** Every MAC the host is known by, normalised. */
  macs: string[];
  spec: {
    architecture?: string;
    bootMode?: string;
    rootDeviceHints?: Record<string, unknown>;
  };
}

/** A source of change notifications for one resource (an Informer or InformerGroup). */
export interface ObjectSource<T> {
  onChange(handler: (kind: ChangeKind, object: T, old: T | undefined) => void): void;
  list(): T[];
}

function nicMacs(hardware: unknown): string[] {
  const nics = (hardware as { nics?: unknown } | undefined)?.nics;
  if (!Array.isArray(nics)) return [];
  return nics.map((n) => (typeof (n as { mac?: unknown })?.mac === 'string' ? normalizeMac((n as { mac: string }).mac) : undefined)).filter((m): m is string => m !== undefined);
}

function hostMacs(host: HostObject): string[] {
  const spec = (host.spec ?? {}) as { bootMACAddress?: unknown };
  const boot = typeof spec.bootMACAddress === 'string' ? normalizeMac(spec.bootMACAddress) : undefined;
  return [...(boot ? [boot] : []), ...nicMacs(host.status?.['hardware'])];
}

/** The index (see the file header). */
export class HostIndex {
  readonly #hosts = new Map<string, HostObject>();
  readonly #hardwareMacs = new Map<string, string[]>();
  readonly #entries = new Map<string, IndexedHost>();
  readonly #byUid = new Map<string, string>();
  readonly #byMac = new Map<string, Set<string>>();

  constructor(hosts: ObjectSource<HostObject>, hardwareData: ObjectSource<KubeObject>) {
    hosts.onChange((kind, host) => {
      const key = keyOf(host);
      if (kind === 'delete') this.#hosts.delete(key);
      else this.#hosts.set(key, host);
      this.#reindex(key);
    });
    hardwareData.onChange((kind, data) => {
      const key = keyOf(data);
      if (kind === 'delete') this.#hardwareMacs.delete(key);
      else this.#hardwareMacs.set(key, nicMacs((data['spec'] as { hardware?: unknown } | undefined)?.hardware));
      this.#reindex(key);
    });
    for (const host of hosts.list()) this.#hosts.set(keyOf(host), host);
    for (const data of hardwareData.list()) this.#hardwareMacs.set(keyOf(data), nicMacs((data['spec'] as { hardware?: unknown } | undefined)?.hardware));
    for (const key of this.#hosts.keys()) this.#reindex(key);
  }

  /** The host whose UID is `uid`. */
  byUid(uid: string): IndexedHost | undefined {
    const key = this.#byUid.get(uid);
    return key === undefined ? undefined : this.#entries.get(key);
  }

  /** Every host known by any of `macs` (normalised), each once. */
  byMacs(macs: string[]): IndexedHost[] {
    const keys = new Set<string>();
    for (const mac of macs) for (const key of this.#byMac.get(mac) ?? []) keys.add(key);
    return [...keys].map((k) => this.#entries.get(k)).filter((e): e is IndexedHost => e !== undefined);
  }

  get size(): number {
    return this.#entries.size;
  }

  #reindex(key: string): void {
    const old = this.#entries.get(key);
    if (old) {
      if (this.#byUid.get(old.uid) === key) this.#byUid.delete(old.uid);
      for (const mac of old.macs) {
        const set = this.#byMac.get(mac);
        set?.delete(key);
        if (set?.size === 0) this.#byMac.delete(mac);
      }
      this.#entries.delete(key);
    }
    const host = this.#hosts.get(key);
    const uid = host?.metadata.uid;
    if (!host || !uid) return;
    const spec = (host.spec ?? {}) as { architecture?: unknown; bootMode?: unknown; rootDeviceHints?: unknown };
    const macs = [...new Set([...hostMacs(host), ...(this.#hardwareMacs.get(key) ?? [])])];
    const entry: IndexedHost = {
      namespace: host.metadata.namespace ?? '',
      name: host.metadata.name,
      uid,
      macs,
      spec: {
        ...(typeof spec.architecture === 'string' ? { architecture: spec.architecture } : {}),
        ...(typeof spec.bootMode === 'string' ? { bootMode: spec.bootMode } : {}),
        ...(spec.rootDeviceHints && typeof spec.rootDeviceHints === 'object' ? { rootDeviceHints: spec.rootDeviceHints as Record<string, unknown> } : {}),
      },
    };
    this.#entries.set(key, entry);
    this.#byUid.set(uid, key);
    for (const mac of macs) {
      let set = this.#byMac.get(mac);
      if (!set) this.#byMac.set(mac, (set = new Set()));
      set.add(key);
    }
  }
}
