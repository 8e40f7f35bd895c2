/**
 * `admission.k8s.io/v1` AdmissionReview handling, without I/O: a request body in, the response body (or a
 * reason to answer 400) out. BareMetalHost and FirmwareRollout CREATE and UPDATE go through their rules;
 * anything else the apiserver sends (another kind, DELETE, CONNECT) is allowed: only these kinds have rules.
 */
import { validateRolloutCreate, validateRolloutUpdate, type RolloutViolation } from './rollout-rules.ts';
import { formatViolations, validateHostCreate, validateHostUpdate, type Violation } from './rules.ts';
import { record, text } from './read.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/** The response half of an AdmissionReview, as the apiserver reads it. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason: string; message: string };
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** What a review decided, for the server's log line. */
export interface ReviewOutcome {
  review: AdmissionReviewResponse;
  operation: string;
  namespace: string;
  name: string;
  violations: (Violation | RolloutViolation)[];
}

/** A body that is not an AdmissionReview v1 request: answered with HTTP 400 and this message. */
export class MalformedReviewError extends Error {
  readonly code = 'MalformedAdmissionReview';
  constructor(message: string) {
    super(message);
    this.name = 'MalformedReviewError';
  }
}

function isKind(kind: Record<string, unknown> | undefined, resource: Record<string, unknown> | undefined, group: string, name: string, plural: string): boolean {
  if (kind) return text(kind.group) === group && text(kind.kind) === name;
  return text(resource?.group) === group && text(resource?.resource) === plural;
}

/**
 * Decides one AdmissionReview. Throws {@link MalformedReviewError} when `body` is not an
 * `admission.k8s.io/v1` AdmissionReview with a request and a uid; never throws for what the object holds.
 */
export function reviewAdmission(body: unknown): ReviewOutcome {
  const review = record(body);
  if (!review) throw new MalformedReviewError('the body is not a JSON object');
  if (review.apiVersion !== ADMISSION_API_VERSION || review.kind !== 'AdmissionReview') {
    throw new MalformedReviewError(`expected apiVersion ${ADMISSION_API_VERSION} kind AdmissionReview, got ${JSON.stringify(review.apiVersion)} ${JSON.stringify(review.kind)}`);
  }
  const request = record(review.request);
  const uid = text(request?.uid);
  if (!request || uid === '') throw new MalformedReviewError('the AdmissionReview has no request.uid');

  const operation = text(request.operation);
  const namespace = text(request.namespace);
  const name = text(request.name);
  const context = { namespace, name };
  let violations: (Violation | RolloutViolation)[] = [];
  const subResource = text(request.subResource);
  const kind = record(request.kind);
  const resource = record(request.resource);
  if (isKind(kind, resource, 'metal3.io', 'BareMetalHost', 'baremetalhosts') && subResource === '') {
    if (operation === 'CREATE') violations = validateHostCreate(request.object, context);
    else if (operation === 'UPDATE') {
      // An UPDATE always carries oldObject; without it the only safe reading is "validate as new".
      violations = request.oldObject == null ? validateHostCreate(request.object, context) : validateHostUpdate(request.oldObject, request.object, context);
    }
  } else if (isKind(kind, resource, 'tempered.dev', 'FirmwareRollout', 'firmwarerollouts') && subResource === '') {
    if (operation === 'CREATE') violations = validateRolloutCreate(request.object);
    else if (operation === 'UPDATE') {
      violations = request.oldObject == null ? validateRolloutCreate(request.object) : validateRolloutUpdate(request.oldObject, request.object);
    }
  }
  const response: AdmissionResponse = violations.length === 0
    ? { uid, allowed: true }
    : { uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: formatViolations(violations) } };
  return { review: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response }, operation, namespace, name, violations };
}
