import { describe, expect, it } from 'vitest';
import { bmh, statusOf } from './cases.fixture.ts';
import { MalformedReviewError, reviewAdmission } from './review.ts';

const BMH_KIND = { group: 'metal3.io', version: 'v1alpha1', kind: 'BareMetalHost' };
const BMH_RESOURCE = { group: 'metal3.io', version: 'v1alpha1', resource: 'baremetalhosts' };

function review(request: Record<string, unknown>): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'b0b5b1b2-0000-4000-8000-000000000001', kind: BMH_KIND, resource: BMH_RESOURCE, namespace: 'ns1', operation: 'CREATE', ...request },
  };
}

describe('reviewAdmission', () => {
  it('allows a valid BareMetalHost and echoes the request uid', () => {
    const outcome = reviewAdmission(review({ name: 'h', object: bmh('h') }));
    expect(outcome.review).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'b0b5b1b2-0000-4000-8000-000000000001', allowed: true },
    });
  });

  it('refuses with 403 Forbidden and the messages joined like BMO', () => {
    const host = bmh('07564256-96ae-4315-ab03-8d34ece60fbb', { rootDeviceHints: { deviceName: 'sda' } });
    const outcome = reviewAdmission(review({ object: host }));
    expect(outcome.review.response).toEqual({
      uid: 'b0b5b1b2-0000-4000-8000-000000000001',
      allowed: false,
      status: {
        code: 403,
        reason: 'Forbidden',
        message: '[BareMetalHost resource name cannot be a UUID, device name of root device hint must be a /dev/ path, not "sda"]',
      },
    });
    expect(outcome.violations.map((x) => x.rule)).toEqual(['name-uuid', 'root-device-name']);
  });

  it('uses the request namespace and name when the object lacks them', () => {
    const host = { ...bmh('x', { userData: { name: 'ud', namespace: 'ns1' } }), metadata: {} };
    expect(reviewAdmission(review({ name: 'from-request', object: host })).review.response.allowed).toBe(true);
    const other = { ...bmh('x', { userData: { name: 'ud', namespace: 'ns2' } }), metadata: {} };
    expect(reviewAdmission(review({ name: 'from-request', object: other })).review.response.status?.message).toBe(
      'baremetalhosts.metal3.io "from-request" is forbidden: userData: cross-namespace Secret references are not allowed',
    );
  });

  it('checks UPDATE against oldObject', () => {
    const before = { ...bmh('h', { bootMACAddress: '00:1a:74:74:e5:cb' }), status: statusOf('provisioned') };
    const after = { ...bmh('h', { bootMACAddress: '00:1a:74:74:e5:cc' }), status: statusOf('provisioned') };
    const outcome = reviewAdmission(review({ operation: 'UPDATE', oldObject: before, object: after }));
    expect(outcome.review.response.status?.message).toBe('bootMACAddress can not be changed once it is set');
  });

  it('validates an UPDATE without oldObject as a create', () => {
    const outcome = reviewAdmission(review({ operation: 'UPDATE', object: bmh('h', { online: false, disablePowerOff: true }) }));
    expect(outcome.review.response.allowed).toBe(false);
  });

  it.each([
    ['DELETE', { operation: 'DELETE', oldObject: bmh('07564256-96ae-4315-ab03-8d34ece60fbb') }],
    ['the status subresource', { operation: 'UPDATE', subResource: 'status', object: bmh('07564256-96ae-4315-ab03-8d34ece60fbb') }],
    ['another kind', { kind: { group: 'metal3.io', version: 'v1alpha1', kind: 'HardwareData' }, object: bmh('07564256-96ae-4315-ab03-8d34ece60fbb') }],
  ])('allows %s without looking', (_, request) => {
    expect(reviewAdmission(review(request)).review.response.allowed).toBe(true);
  });

  it.each([
    ['not an object', 'hello'],
    ['null', null],
    ['the wrong apiVersion', { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }],
    ['the wrong kind', { apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: { uid: 'u' } }],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }],
    ['no uid', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE' } }],
  ])('throws MalformedReviewError for %s', (_, body) => {
    expect(() => reviewAdmission(body)).toThrow(MalformedReviewError);
  });

  it('answers, never throws, for garbage inside a well-formed review', () => {
    for (const object of [undefined, null, 'x', 7, [], { spec: [] }]) {
      expect(reviewAdmission(review({ object })).review.response.uid).toBe('b0b5b1b2-0000-4000-8000-000000000001');
    }
  });
});
