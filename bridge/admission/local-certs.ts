/**
 * Serving certificates for the webhook on the local stack: a CA of its own and a certificate for
 * 127.0.0.1/localhost, made with the stack's PKI helpers (openssl, valid a week, fresh at every start).
 * In a cluster the certificate comes from a mounted Secret instead: cert-manager's, or one made by
 * `tempered setup webhook-certs` with the same helpers (deploy/overlays/self-signed).
 */
import { mkdirSync } from 'node:fs';
import { issueCert, makeCa } from '../../stack/pki.ts';

export interface WebhookCertificates {
  certFile: string;
  keyFile: string;
  /** The CA that signed `certFile`: pass it to `startAdmissionServer` as `caFile` to get the caBundle. */
  caFile: string;
}

/**
 * Makes a CA and a serving certificate in `dir` for the given SANs (default `IP:127.0.0.1` and
 * `DNS:localhost`, what the apiserver dials on the local stack), valid `days` (default 7).
 */
export function makeLocalWebhookCertificates(dir: string, sans: string[] = ['IP:127.0.0.1', 'DNS:localhost'], days = 7): WebhookCertificates {
  mkdirSync(dir, { recursive: true });
  const ca = makeCa(dir, 'webhook-ca', '/CN=tempered-webhook-ca/O=tempered', days);
  const serving = issueCert(dir, 'webhook', ca, { subject: '/CN=tempered-webhook', usage: 'server', sans, days });
  return { certFile: serving.cert, keyFile: serving.key, caFile: ca.cert };
}
