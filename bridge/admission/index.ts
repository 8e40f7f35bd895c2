/**
 * BareMetalHost admission, like BMO's validating webhook. The bridge wires it in three calls:
 *
 * ```ts
 * const certs = makeLocalWebhookCertificates(join(stateDir, 'webhook'));      // or mounted files in a cluster
 * const server = await startAdmissionServer({ ...certs, logger });             // https://127.0.0.1:<port>
 * await registerAdmissionWebhook(kc, { clientConfig: { url: server.validateUrl, caBundle: server.caBundle } });
 * // on shutdown: await server.stop()  (leave the registration: failurePolicy Fail keeps specs checked)
 * ```
 *
 * The registration is cluster-wide and `failurePolicy: Fail`: while it points at a stopped server, every
 * BareMetalHost create and update is refused. Against a shared apiserver (tests), pass a
 * `namespaceSelector` matching only your namespaces and call `unregisterAdmissionWebhook` when done.
 * In a cluster, listen on `host: '0.0.0.0', port: 9443` with the mounted certificate and register
 * `clientConfig: { service: { namespace, name, port: 443, path: VALIDATE_BAREMETALHOST_PATH }, caBundle }`
 * (deploy/base/webhook/).
 */
export { validateHostCreate, validateHostUpdate, formatViolations, RULES, type RuleId, type Violation, type HostContext } from './rules.ts';
export { reviewAdmission, type AdmissionReviewResponse, type AdmissionResponse } from './review.ts';
export {
  startAdmissionServer,
  VALIDATE_BAREMETALHOST_PATH,
  HEALTH_PATH,
  type AdmissionServer,
  type AdmissionServerOptions,
  type AdmissionLogger,
} from './server.ts';
export {
  registerAdmissionWebhook,
  unregisterAdmissionWebhook,
  validatingWebhookConfiguration,
  WEBHOOK_NAME,
  DEFAULT_CONFIGURATION_NAME,
  type WebhookRegistration,
} from './register.ts';
export { makeLocalWebhookCertificates, type WebhookCertificates } from './local-certs.ts';
