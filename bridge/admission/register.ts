/**
 * Registration of the BareMetalHost validating webhook with the apiserver: a
 * ValidatingWebhookConfiguration (admissionregistration.k8s.io/v1) for CREATE and UPDATE of
 * `baremetalhosts`, created or replaced idempotently, so a bridge can call it at every start (e.g. with a
 * fresh caBundle). `deploy/base/webhook/` holds the same configuration for in-cluster use; a unit test keeps them
 * in step.
 */
import * as k8s from '@kubernetes/client-node';

/** The webhook's name inside the configuration: BMO's, so existing tooling recognises it. */
export const WEBHOOK_NAME = 'baremetalhost.metal3.io';
/** Default name of the ValidatingWebhookConfiguration object. */
export const DEFAULT_CONFIGURATION_NAME = 'tempered-baremetalhost-validation';
/** Default seconds the apiserver waits for an answer before applying the failure policy. */
export const DEFAULT_TIMEOUT_SECONDS = 10;

export interface WebhookRegistration {
  /** ValidatingWebhookConfiguration name; default {@link DEFAULT_CONFIGURATION_NAME}. */
  name?: string;
  /**
   * Where the apiserver calls: `{ url, caBundle }` for a bridge outside the cluster (the local stack,
   * from `startAdmissionServer`), or `{ service: { namespace, name, port, path }, caBundle }` in a cluster.
   */
  clientConfig: k8s.AdmissionregistrationV1WebhookClientConfig;
  /** Limits the webhook to namespaces with these labels (tests use it to stay out of each other's way). */
  namespaceSelector?: k8s.V1LabelSelector;
  objectSelector?: k8s.V1LabelSelector;
  /** Default `Fail`: a spec is never admitted unchecked (BMO's choice too). */
  failurePolicy?: 'Fail' | 'Ignore';
  /** Default {@link DEFAULT_TIMEOUT_SECONDS}; the apiserver allows 1 to 30. */
  timeoutSeconds?: number;
  labels?: Record<string, string>;
}

/** Builds the ValidatingWebhookConfiguration object (pure; {@link registerAdmissionWebhook} sends it). */
export function validatingWebhookConfiguration(registration: WebhookRegistration): k8s.V1ValidatingWebhookConfiguration {
  const webhook: k8s.V1ValidatingWebhook = {
    name: WEBHOOK_NAME,
    admissionReviewVersions: ['v1'],
    // No side effects, so `kubectl apply --dry-run=server` runs the webhook instead of failing.
    sideEffects: 'None',
    failurePolicy: registration.failurePolicy ?? 'Fail',
    matchPolicy: 'Equivalent',
    timeoutSeconds: registration.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
    clientConfig: registration.clientConfig,
    rules: [{
      apiGroups: ['metal3.io'],
      apiVersions: ['v1alpha1'],
      operations: ['CREATE', 'UPDATE'],
      // Not `baremetalhosts/status`: status writes (the bridge's) never pass through the webhook.
      resources: ['baremetalhosts'],
      scope: 'Namespaced',
    }],
    ...(registration.namespaceSelector ? { namespaceSelector: registration.namespaceSelector } : {}),
    ...(registration.objectSelector ? { objectSelector: registration.objectSelector } : {}),
  };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: {
      name: registration.name ?? DEFAULT_CONFIGURATION_NAME,
      labels: { 'app.kubernetes.io/part-of': 'tempered', 'app.kubernetes.io/component': 'admission', ...registration.labels },
    },
    webhooks: [webhook],
  };
}

function statusCode(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : (err as { code?: number } | undefined)?.code;
}

/**
 * Creates the ValidatingWebhookConfiguration, or replaces it when it exists (retrying on conflicts).
 * The apiserver starts calling the webhook within about a second of the write.
 */
export async function registerAdmissionWebhook(kc: k8s.KubeConfig, registration: WebhookRegistration): Promise<k8s.V1ValidatingWebhookConfiguration> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const desired = validatingWebhookConfiguration(registration);
  const name = desired.metadata?.name ?? DEFAULT_CONFIGURATION_NAME;
  for (let attempt = 1; ; attempt++) {
    try {
      let current: k8s.V1ValidatingWebhookConfiguration | undefined;
      try {
        current = await api.readValidatingWebhookConfiguration({ name });
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
      if (!current) return await api.createValidatingWebhookConfiguration({ body: desired });
      const body = { ...desired, metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion } };
      return await api.replaceValidatingWebhookConfiguration({ name, body });
    } catch (err) {
      // 409: created or changed by someone else between our read and write (another bridge starting).
      if (statusCode(err) !== 409 || attempt >= 5) throw err;
    }
  }
}

/** Deletes the ValidatingWebhookConfiguration; resolves false when it did not exist. */
export async function unregisterAdmissionWebhook(kc: k8s.KubeConfig, name: string = DEFAULT_CONFIGURATION_NAME): Promise<boolean> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  try {
    await api.deleteValidatingWebhookConfiguration({ name });
    return true;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw err;
  }
}
