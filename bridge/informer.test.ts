import { describe, expect, it } from 'vitest';
import { Informer, type ChangeKind } from './informer.ts';
import { KubeError, type ListWatch, type WatchEvent } from './kube.ts';
import { asKubeObject, keyOf, type KubeObject } from './objects.ts';

import { FakeClock } from '../test/fake-clock.ts';

const obj = (name: string, rv: string): KubeObject => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });

/** A scripted list+watch: lists return `items`; each watch runs the next script step. */
class ScriptedListWatch implements ListWatch {
  readonly description = 'things';
  items: KubeObject[] = [];
  listRv = '10';
  lists = 0;
  watches: string[] = [];
  steps: ((emit: (e: WatchEvent) => void, signal: AbortSignal) => Promise<void>)[] = [];
  async list() {
    this.lists++;
    return { items: this.items.map((i) => structuredClone(i)), resourceVersion: this.listRv };
  }
  async watch(resourceVersion: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal) {
    this.watches.push(resourceVersion);
    const step = this.steps.shift();
    if (step) return step(onEvent, signal);
    // No more script: stay open until stopped.
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }
}

/**
 * An informer on a fake clock: its restarts and backoffs happen when the test advances `clock` (retry delays
 * here are at most 20 ms x 1.25 jitter), never on their own.
 */
function informer(lw: ListWatch, errors: unknown[] = []) {
  const changes: string[] = [];
  const clock = new FakeClock();
  const inf = new Informer<KubeObject>({
    listWatch: lw,
    clock,
    project: asKubeObject,
    key: keyOf,
    resourceVersion: (o) => o.metadata.resourceVersion ?? '',
    backoff: { baseMs: 5, maxMs: 20 },
    quietRestartMs: 5,
    onError: (e) => errors.push(e),
  });
  inf.onChange((kind: ChangeKind, o) => changes.push(`${kind} ${o.metadata.name}@${o.metadata.resourceVersion}`));
  return { inf, changes, clock };
}

describe('Informer', () => {
  it('lists, syncs, then applies watch events from the list resourceVersion on', async () => {
    const lw = new ScriptedListWatch();
    lw.items = [obj('a', '5'), obj('b', '6')];
    lw.steps.push(async (emit) => {
      emit({ type: 'MODIFIED', object: obj('a', '11') });
      emit({ type: 'ADDED', object: obj('c', '12') });
      emit({ type: 'DELETED', object: obj('b', '13') });
      emit({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '20' } } });
    });
    const { inf, changes, clock } = informer(lw);
    inf.start();
    await inf.waitForSync();
    expect(inf.hasSynced).toBe(true);
    // The stream ended at once: the informer waits its quiet-restart delay before the next watch.
    await clock.advance(4);
    expect(lw.watches).toEqual(['10']);
    await clock.advance(1);
    expect(changes).toEqual(['add a@5', 'add b@6', 'update a@11', 'add c@12', 'delete b@13']);
    expect(inf.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'c']);
    // The stream ended normally: the next watch resumes from the last version seen (the bookmark's).
    expect(lw.watches).toEqual(['10', '20']);
    expect(lw.lists).toBe(1);
    await inf.stop();
  });

  it('relists after a 410 Gone error event and synthesizes what it missed', async () => {
    const lw = new ScriptedListWatch();
    lw.items = [obj('a', '5'), obj('b', '6'), obj('c', '7')];
    lw.steps.push(async (emit) => {
      // Meanwhile (unseen): a changed, b deleted, d created.
      lw.items = [obj('a', '30'), obj('c', '7'), obj('d', '31')];
      lw.listRv = '32';
      emit({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 10 (25)' } });
    });
    const { inf, changes, clock } = informer(lw);
    inf.start();
    await clock.advance(0);
    expect(changes).toEqual(['add a@5', 'add b@6', 'add c@7', 'update a@30', 'add d@31', 'delete b@6']);
    expect(inf.relistsAfterGone).toBe(1);
    expect(lw.lists).toBe(2);
    expect(lw.watches).toEqual(['10', '32']);
    await inf.stop();
  });

  it('relists when the watch request itself answers 410', async () => {
    const lw = new ScriptedListWatch();
    lw.steps.push(async () => {
      throw new KubeError(410, 'Gone', 'watch things: too old');
    });
    const errors: unknown[] = [];
    const { inf, clock } = informer(lw, errors);
    inf.start();
    await clock.advance(0);
    expect(lw.lists).toBe(2);
    expect(inf.relistsAfterGone).toBe(1);
    expect(errors).toEqual([]);
    await inf.stop();
  });

  it('retries other failures with backoff, resuming the watch without a relist', async () => {
    const lw = new ScriptedListWatch();
    lw.items = [obj('a', '5')];
    for (let i = 0; i < 3; i++) {
      lw.steps.push(async () => {
        throw new KubeError(0, 'NetworkError', 'watch things: ECONNREFUSED');
      });
    }
    lw.steps.push(async (emit) => emit({ type: 'MODIFIED', object: obj('a', '40') }));
    const errors: unknown[] = [];
    const { inf, changes, clock } = informer(lw, errors);
    inf.start();
    await clock.advance(0);
    expect(errors).toHaveLength(1);
    // Backoff 5, 10, 20 ms, each with up to 25 % jitter.
    await clock.advance(50);
    expect(errors).toHaveLength(3);
    expect(lw.lists).toBe(1);
    expect(lw.watches.slice(0, 4)).toEqual(['10', '10', '10', '10']);
    expect(changes).toEqual(['add a@5', 'update a@40']);
    await inf.stop();
  });

  it('keeps retrying a failing list (never gives up, never exits)', async () => {
    const lw = new ScriptedListWatch();
    let failures = 0;
    lw.list = async () => {
      if (failures++ < 4) throw new KubeError(503, 'ServiceUnavailable', 'list things: apiserver starting');
      return { items: [obj('a', '1')], resourceVersion: '2' };
    };
    const errors: unknown[] = [];
    const { inf, clock } = informer(lw, errors);
    inf.start();
    const synced = inf.waitForSync();
    await clock.advance(0);
    expect(inf.hasSynced).toBe(false);
    // Backoff 5, 10, 20, 20 ms, each with up to 25 % jitter.
    await clock.advance(70);
    await synced;
    expect(errors).toHaveLength(4);
    expect(inf.get('ns/a')).toBeDefined();
    await inf.stop();
  });

  it('treats a non-410 error event as a failure of the watch', async () => {
    const lw = new ScriptedListWatch();
    lw.steps.push(async (emit, signal) => {
      emit({ type: 'ERROR', object: { code: 500, message: 'internal error' } });
      // The informer stops the stream itself.
      expect(signal.aborted).toBe(true);
    });
    const errors: unknown[] = [];
    const { inf, clock } = informer(lw, errors);
    inf.start();
    await clock.advance(0);
    expect(String(errors[0])).toMatch(/error event 500: internal error/);
    expect(lw.lists).toBe(1);
    await inf.stop();
  });

  it('stop() ends an open watch', async () => {
    const lw = new ScriptedListWatch();
    const { inf } = informer(lw);
    inf.start();
    await inf.waitForSync();
    await inf.stop();
    expect(lw.watches).toEqual(['10']);
  });
});
