import { describe, expect, it } from 'vitest';
import { cachedObject } from './objects.ts';

describe('what an informer keeps of an object', () => {
  it('everything but metadata.managedFields', () => {
    const raw = {
      apiVersion: 'metal3.io/v1alpha1',
      kind: 'BareMetalHost',
      metadata: { name: 'h', namespace: 'ns', resourceVersion: '7', annotations: { a: 'b' }, managedFields: [{ manager: 'tempered-bridge', fieldsV1: { 'f:status': {} } }] },
      spec: { online: true },
      status: { provisioning: { state: 'available' } },
    };
    expect(cachedObject(structuredClone(raw))).toEqual({ ...raw, metadata: { name: 'h', namespace: 'ns', resourceVersion: '7', annotations: { a: 'b' } } });
  });

  it('nothing that is not an object with a name', () => {
    for (const raw of [null, 'x', 3, {}, { metadata: {} }, { metadata: { name: 1 } }]) expect(cachedObject(raw)).toBeUndefined();
  });
});
