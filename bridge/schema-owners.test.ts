/**
 * SchemaOwners against a fake of the apiserver's merge patch of one FirmwareSchema, with a clock the test moves:
 * what many hosts of one model, their settings delivered at once and then one by one, do to the schema they share.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { HfsObject, SchemaObject } from './firmware-status.ts';
import { objectKey } from './objects.ts';
import { SchemaOwners, settingsUsing } from './schema-owners.ts';

const NS = 'fleet';
const SCHEMA = 'schema-0123abcd';
const KEY = objectKey(NS, SCHEMA);
const silent = pino({ level: 'silent' });

const settingsOf = (i: number, schema = SCHEMA): HfsObject => ({
  metadata: { name: `host-${i}`, namespace: NS, uid: `uid-hfs-${i}` },
  spec: { settings: {} },
  status: { settings: { BootMode: 'Uefi' }, schema: { name: schema, namespace: NS } },
});

/**
 * The apiserver's side of the schema (a merge patch replaces `metadata.ownerReferences` whole; each takes
 * `patchMs` of the fake clock), the caches the bridge reads, and the waits the loops asked for.
 */
function fixture(options: { patchMs?: number; failures?: number } = {}) {
  let clock = 0;
  let version = 1;
  let failuresLeft = options.failures ?? 0;
  let stored: SchemaObject = { metadata: { name: SCHEMA, namespace: NS, uid: 'uid-schema', resourceVersion: '1', generation: 1 }, spec: { schema: {} } };
  const patches: number[] = [];
  const waits: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const settings = new Map<string, HfsObject>();
  let overlay: SchemaObject | undefined;
  const abort = new AbortController();
  /** Waits resolve when the test says so: `advance()` lets every pending wait end. */
  let pendingWaits: (() => void)[] = [];
  const owners = new SchemaOwners({
    kube: {
      firmwareSchemas: {
        async patch(_namespace: string, _name: string, body: { metadata?: { ownerReferences?: unknown[] } }) {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((r) => setImmediate(r)); // the round trip: other settings are delivered meanwhile
          clock += options.patchMs ?? 10;
          inFlight -= 1;
          if (failuresLeft > 0) {
            failuresLeft -= 1;
            throw new Error('etcdserver: request timed out');
          }
          patches.push(body.metadata?.ownerReferences?.length ?? 0);
          stored = { ...stored, metadata: { ...stored.metadata, ...body.metadata, resourceVersion: String(++version) } } as SchemaObject;
          return structuredClone(stored);
        },
      },
    } as never,
    schemas: { get: (key) => (key === KEY ? (overlay ?? stored) : undefined), wrote: (o) => (overlay = o) },
    hfs: { get: (key) => settings.get(key) },
    logger: silent,
    signal: abort.signal,
    now: () => clock,
    wait: async (ms) => {
      waits.push(ms);
      await new Promise<void>((resolve) => pendingWaits.push(resolve));
      clock += ms;
    },
  });
  const deliver = (hfs: HfsObject) => {
    settings.set(objectKey(NS, hfs.metadata.name), hfs);
    owners.want(hfs);
  };
  return {
    owners,
    deliver,
    patches,
    waits,
    abort,
    maxInFlight: () => maxInFlight,
    ownerUids: () => (stored.metadata.ownerReferences ?? []).map((o) => o.uid).sort(),
    /** Resolves once the loop rests (or ended). */
    resting: async () => {
      for (let i = 0; i < 100 && pendingWaits.length === 0; i++) await new Promise((r) => setImmediate(r));
      return pendingWaits.length;
    },
    advance: () => {
      const waiting = pendingWaits;
      pendingWaits = [];
      for (const resolve of waiting) resolve();
    },
    forget: (i: number) => settings.delete(objectKey(NS, `host-${i}`)),
    tick: (ms: number) => (clock += ms),
  };
}

describe('SchemaOwners: the owners of a FirmwareSchema many hosts share', () => {
  it('50 settings delivered at once become owners in one patch, and nothing is patched for an owner it has', async () => {
    const f = fixture();
    for (let i = 0; i < 50; i++) f.deliver(settingsOf(i));
    await f.owners.idle();
    expect(f.patches).toEqual([50]);
    expect(f.ownerUids()).toEqual(Array.from({ length: 50 }, (_, i) => `uid-hfs-${i}`).sort());
    // Delivered again (an update, a relist): already owners.
    for (let i = 0; i < 50; i++) f.deliver(settingsOf(i));
    await f.owners.idle();
    expect(f.patches).toEqual([50]);
  });

  it('settings delivered within the rest after a patch wait for it, then go in one patch built on the owners written', async () => {
    const f = fixture({ patchMs: 400 });
    f.deliver(settingsOf(0));
    await f.owners.idle();
    expect(f.patches).toEqual([1]);
    for (let i = 1; i <= 30; i++) f.deliver(settingsOf(i));
    expect(await f.resting()).toBe(1);
    // The rest is four times the patch's 400 ms: a large schema is written seldom.
    expect(f.waits).toEqual([1600]);
    expect(f.patches).toEqual([1]);
    f.advance();
    await f.owners.idle();
    expect(f.patches).toEqual([1, 31]);
    expect(f.ownerUids()).toHaveLength(31);
    expect(f.maxInFlight()).toBe(1);
  });

  it('a quick patch still rests a second; settings delivered after the rest go at once', async () => {
    const f = fixture({ patchMs: 5 });
    f.deliver(settingsOf(0));
    await f.owners.idle();
    f.deliver(settingsOf(1));
    await f.resting();
    expect(f.waits).toEqual([1000]);
    f.advance();
    await f.owners.idle();
    f.tick(1000);
    f.deliver(settingsOf(2)); // the rest is over
    await f.owners.idle();
    expect(f.waits).toEqual([1000]);
    expect(f.patches).toEqual([1, 2, 3]);
  });

  it('a failed patch is retried after a backoff that doubles, and loses no owner', async () => {
    const f = fixture({ failures: 2 });
    for (let i = 0; i < 3; i++) f.deliver(settingsOf(i));
    await f.resting();
    expect(f.patches).toEqual([]);
    f.deliver(settingsOf(3));
    f.advance();
    await f.resting();
    expect(f.waits).toEqual([1000, 2000]);
    f.advance();
    await f.owners.idle();
    expect(f.patches).toEqual([4]);
    expect(f.ownerUids()).toEqual(['uid-hfs-0', 'uid-hfs-1', 'uid-hfs-2', 'uid-hfs-3']);
  });

  it('settings deleted before their turn are not written as owners; settings of another schema are not its owners', async () => {
    const f = fixture({ patchMs: 10 });
    f.deliver(settingsOf(0));
    await f.owners.idle();
    f.deliver(settingsOf(1));
    f.deliver(settingsOf(2));
    f.deliver(settingsOf(3, 'schema-other'));
    f.forget(2);
    await f.resting();
    f.advance();
    await f.owners.idle();
    expect(f.ownerUids()).toEqual(['uid-hfs-0', 'uid-hfs-1']);
  });

  it("the term's end stops a resting loop without writing what waits", async () => {
    const f = fixture();
    f.deliver(settingsOf(0));
    await f.owners.idle();
    f.deliver(settingsOf(1));
    expect(await f.resting()).toBe(1);
    f.abort.abort();
    f.advance();
    await f.owners.idle();
    expect(f.patches).toEqual([1]);
    // A new term (a bridge restarted) delivers every settings object again: that is how the owner is repaired.
  });

  it('settingsUsing finds the settings that name a schema, in its namespace', () => {
    const schema = { metadata: { name: SCHEMA, namespace: NS } };
    const other = { ...settingsOf(9), status: { settings: {}, schema: { name: SCHEMA, namespace: 'elsewhere' } } };
    expect(settingsUsing(schema, [settingsOf(1), settingsOf(2, 'schema-other'), other, { ...settingsOf(3), status: undefined } as never]).map((h) => h.metadata.name)).toEqual(['host-1']);
  });
});
