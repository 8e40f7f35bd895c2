/**
 * FirmwareObjects against a fake of the apiserver's merge patch: what many hosts of one model, published at
 * once, do to the FirmwareSchema they share.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { HfsObject, SchemaObject } from './firmware-status.ts';
import { FirmwareObjects } from './firmware.ts';
import { HostCache } from './host-cache.ts';
import { objectKey, type HostObject, type KubeObject } from './objects.ts';

const NS = 'fleet';
const SCHEMA = 'schema-0123abcd';
const silent = pino({ level: 'silent' });

/** An informer's store: objects by `namespace/name`. */
function store<T extends KubeObject>(objects: T[]): { get(key: string): T | undefined } {
  const byKey = new Map(objects.map((o) => [objectKey(o.metadata.namespace ?? '', o.metadata.name), o]));
  return { get: (key) => byKey.get(key) };
}

/** The apiserver's side of one FirmwareSchema: a JSON merge patch replaces `metadata.ownerReferences` whole. */
function schemaServer(initial: SchemaObject) {
  let stored = structuredClone(initial);
  let version = 1;
  const patches: number[] = [];
  return {
    patches,
    stored: () => stored,
    async patch(_namespace: string, _name: string, body: { metadata?: { ownerReferences?: unknown[] } }): Promise<SchemaObject> {
      patches.push(body.metadata?.ownerReferences?.length ?? 0);
      await new Promise((r) => setImmediate(r)); // the round trip: other publications run meanwhile
      stored = { ...stored, metadata: { ...stored.metadata, ...body.metadata, resourceVersion: String(++version) } } as SchemaObject;
      return structuredClone(stored);
    },
  };
}

describe('FirmwareObjects: the FirmwareSchema shared by the hosts of one model', () => {
  it('publications of 50 hosts at once: every HostFirmwareSettings becomes an owner, in a few patches', async () => {
    const hosts = Array.from({ length: 50 }, (_, i): HostObject => ({ metadata: { name: `host-${i}`, namespace: NS, uid: `uid-host-${i}` } }) as HostObject);
    const settings = hosts.map(
      (h): HfsObject => ({ metadata: { name: h.metadata.name, namespace: NS, uid: `uid-hfs-${h.metadata.name}` }, spec: { settings: {} }, status: { settings: { BootMode: 'Uefi' }, schema: { name: SCHEMA, namespace: NS } } }),
    );
    const schema: SchemaObject = { metadata: { name: SCHEMA, namespace: NS, uid: 'uid-schema', resourceVersion: '1' }, spec: { schema: {} } };
    const server = schemaServer(schema);
    const unexpected = async () => {
      throw new Error('not expected in this test');
    };
    const objects = new FirmwareObjects({
      kube: {
        firmwareSchemas: { patch: server.patch, create: unexpected },
        hostFirmwareSettings: { create: unexpected, patchStatus: async (_ns: string, name: string) => settings.find((s) => s.metadata.name === name) },
        hostFirmwareComponents: { create: unexpected, patchStatus: unexpected },
      } as never,
      hfs: new HostCache(store(settings)),
      hfc: new HostCache(store([])),
      schemas: new HostCache(store([schema])),
      emit: () => {},
      identity: 'test',
      logger: silent,
    });

    await Promise.all(hosts.map((h) => objects.publish(h, { reading: { settings: { BootMode: 'Uefi' }, schemaName: SCHEMA, components: [] }, flashed: [] }, silent)));

    const owners = (server.stored().metadata.ownerReferences ?? []).map((o) => o.uid).sort();
    expect(owners).toEqual(settings.map((s) => s.metadata.uid).sort());
    // One patch at a time, each adding every owner that waited for it: far fewer than one per host.
    expect(server.patches.length).toBeLessThanOrEqual(3);
  });
});
