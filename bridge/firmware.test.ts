/**
 * FirmwareObjects against a recording fake of the apiserver: the order of a new host's first writes. (The
 * schema's owners: bridge/schema-owners.test.ts.)
 */
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
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

describe("FirmwareObjects: a new host's first reading", () => {
  /** A recording apiserver for the three kinds, whose FirmwareSchema create waits for `release`. */
  function recording(failComponents = false) {
    const order: string[] = [];
    let release!: () => void;
    const schemaGate = new Promise<void>((resolve) => (release = resolve));
    const made = (kind: string) => ({
      create: async (namespace: string, body: Record<string, unknown>) => {
        if (kind === 'FirmwareSchema') await schemaGate;
        order.push(`create ${kind}`);
        if (kind === 'HostFirmwareComponents' && failComponents) throw new Error('apiserver restarting');
        const metadata = body['metadata'] as { name: string };
        return { ...body, metadata: { ...metadata, namespace, uid: `uid-${kind}`, resourceVersion: '1' } };
      },
      patchStatus: async (namespace: string, name: string, patch: Record<string, unknown>) => {
        order.push(`status ${kind}`);
        return { metadata: { name, namespace, uid: `uid-${kind}`, resourceVersion: '2' }, spec: {}, status: patch['status'] };
      },
      patch: async (namespace: string, name: string, patch: Record<string, unknown>) => {
        order.push(`patch ${kind}`);
        return { metadata: { name, namespace, uid: `uid-${kind}`, resourceVersion: '2', ...(patch['metadata'] as object) }, spec: {} };
      },
    });
    const objects = new FirmwareObjects({
      kube: { firmwareSchemas: made('FirmwareSchema'), hostFirmwareSettings: made('HostFirmwareSettings'), hostFirmwareComponents: made('HostFirmwareComponents') } as never,
      hfs: new HostCache(store<HfsObject>([])),
      hfc: new HostCache(store([])),
      schemas: new HostCache(store<SchemaObject>([])),
      emit: () => {},
      identity: 'test',
      logger: silent,
    });
    return { objects, order, release };
  }
  const host = { metadata: { name: 'host-0', namespace: NS, uid: 'uid-host-0' } } as HostObject;
  const reading = { settings: { BootMode: 'Uefi' }, schemaName: SCHEMA, schema: { BootMode: { attribute_type: 'Enumeration', allowable_values: ['Uefi', 'Bios'] } }, components: [{ component: 'bios', version: '1.0' }] };

  it("writes HostFirmwareComponents and creates HostFirmwareSettings beside the FirmwareSchema's create; the settings' status waits for the schema", async () => {
    const { objects, order, release } = recording();
    let ended = false;
    const publishing = objects.publish(host, { reading, flashed: [] } as never, silent).finally(() => (ended = true));
    // The schema's create is held: the other objects are written meanwhile, and the publication waits for all.
    await vi.waitFor(() => expect([...order].sort()).toEqual(['create HostFirmwareComponents', 'create HostFirmwareSettings', 'status HostFirmwareComponents']));
    expect(ended).toBe(false);
    release();
    expect(await publishing).toEqual({ schemaMissing: false });
    // The settings' status is checked against the schema's rules: after it exists. Its owners are written apart.
    expect(order.slice(3)).toEqual(['create FirmwareSchema', 'status HostFirmwareSettings']);
  });

  it('a failed HostFirmwareComponents write fails the publication only once the settings are written', async () => {
    const { objects, order, release } = recording(true);
    let ended = false;
    const publishing = objects.publish(host, { reading, flashed: [] } as never, silent).finally(() => (ended = true));
    publishing.catch(() => {}); // awaited below
    await vi.waitFor(() => expect([...order].sort()).toEqual(['create HostFirmwareComponents', 'create HostFirmwareSettings']));
    expect(ended).toBe(false); // the settings' writes are still going on: a retry must not race them
    release();
    await expect(publishing).rejects.toThrow('apiserver restarting');
    expect(order).toContain('status HostFirmwareSettings');
  });
});

