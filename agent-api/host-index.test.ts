/** The agent API's host index: hosts by UID and by every MAC they are known by, kept current by changes. */
import { describe, expect, it } from 'vitest';
import type { ChangeKind } from '../bridge/informer.ts';
import type { HostObject, KubeObject } from '../bridge/objects.ts';
import { HostIndex, type ObjectSource } from './host-index.ts';

function source<T>(initial: T[] = []): ObjectSource<T> & { emit(kind: ChangeKind, object: T): void } {
  const handlers: ((kind: ChangeKind, object: T, old: T | undefined) => void)[] = [];
  return {
    onChange: (h) => handlers.push(h),
    list: () => initial,
    emit: (kind, object) => handlers.forEach((h) => h(kind, object, undefined)),
  };
}

const host = (name: string, uid: string, spec: Record<string, unknown>, status: Record<string, unknown> = {}): HostObject => ({ metadata: { namespace: 'ns', name, uid }, spec, status });
const hardwareData = (name: string, macs: string[]): KubeObject => ({ metadata: { namespace: 'ns', name }, spec: { hardware: { nics: macs.map((mac) => ({ mac })) } } });

describe('host index', () => {
  it('finds hosts listed at start by UID and by boot MAC, normalised', () => {
    const index = new HostIndex(source([host('a', 'uid-a', { bootMACAddress: '52:54:00:AA:00:01', rootDeviceHints: { minSizeGigabytes: 10 }, bootMode: 'legacy' })]), source());
    expect(index.byUid('uid-a')).toMatchObject({ name: 'a', macs: ['52:54:00:aa:00:01'], spec: { bootMode: 'legacy', rootDeviceHints: { minSizeGigabytes: 10 } } });
    expect(index.byMacs(['52:54:00:aa:00:01']).map((h) => h.name)).toEqual(['a']);
  });

  it('adds inspected NICs from status.hardware and HardwareData, and forgets old MACs on change', () => {
    const hosts = source<HostObject>();
    const data = source<KubeObject>();
    const index = new HostIndex(hosts, data);
    hosts.emit('add', host('b', 'uid-b', { bootMACAddress: '52:54:00:00:00:01' }, { hardware: { nics: [{ mac: '52:54:00:00:00:02' }] } }));
    data.emit('add', hardwareData('b', ['52:54:00:00:00:03']));
    for (const mac of ['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03']) expect(index.byMacs([mac]).map((h) => h.uid)).toEqual(['uid-b']);
    hosts.emit('update', host('b', 'uid-b', { bootMACAddress: '52:54:00:00:00:09' }));
    expect(index.byMacs(['52:54:00:00:00:01'])).toEqual([]);
    expect(index.byMacs(['52:54:00:00:00:03']).map((h) => h.uid)).toEqual(['uid-b']);
    data.emit('delete', hardwareData('b', []));
    expect(index.byMacs(['52:54:00:00:00:03'])).toEqual([]);
  });

  it('forgets a deleted host, and a re-created one has its new UID only', () => {
    const hosts = source<HostObject>();
    const index = new HostIndex(hosts, source());
    hosts.emit('add', host('c', 'uid-1', { bootMACAddress: '52:54:00:00:00:0c' }));
    hosts.emit('delete', host('c', 'uid-1', {}));
    expect(index.byUid('uid-1')).toBeUndefined();
    expect(index.byMacs(['52:54:00:00:00:0c'])).toEqual([]);
    hosts.emit('add', host('c', 'uid-2', { bootMACAddress: '52:54:00:00:00:0c' }));
    expect(index.byUid('uid-1')).toBeUndefined();
    expect(index.byMacs(['52:54:00:00:00:0c']).map((h) => h.uid)).toEqual(['uid-2']);
  });

  it('returns each host once when several of its MACs match, and every host sharing a MAC', () => {
    const index = new HostIndex(source([
      host('d', 'uid-d', { bootMACAddress: '52:54:00:00:00:0d' }, { hardware: { nics: [{ mac: '52:54:00:00:00:0e' }] } }),
      host('e', 'uid-e', { bootMACAddress: '52:54:00:00:00:0e' }),
    ]), source());
    expect(index.byMacs(['52:54:00:00:00:0d', '52:54:00:00:00:0e']).map((h) => h.name).sort()).toEqual(['d', 'e']);
    expect(index.byMacs(['52:54:00:00:00:0d']).map((h) => h.name)).toEqual(['d']);
  });
});
