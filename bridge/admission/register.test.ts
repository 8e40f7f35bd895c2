import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_CONFIGURATION_NAME, DEFAULT_TIMEOUT_SECONDS, validatingWebhookConfiguration, WEBHOOK_NAME } from './register.ts';
import { VALIDATE_BAREMETALHOST_PATH } from './server.ts';

describe('validatingWebhookConfiguration', () => {
  const built = validatingWebhookConfiguration({
    clientConfig: { url: `https://127.0.0.1:9443${VALIDATE_BAREMETALHOST_PATH}`, caBundle: 'Q0E=' },
    namespaceSelector: { matchLabels: { team: 'a' } },
  });
  const [webhook] = built.webhooks ?? [];

  it('validates CREATE and UPDATE of baremetalhosts (not their status) with v1 reviews and no side effects', () => {
    expect(built.metadata?.name).toBe(DEFAULT_CONFIGURATION_NAME);
    expect(webhook).toMatchObject({
      name: WEBHOOK_NAME,
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Fail',
      timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
      clientConfig: { url: 'https://127.0.0.1:9443/validate-metal3-io-v1alpha1-baremetalhost', caBundle: 'Q0E=' },
      namespaceSelector: { matchLabels: { team: 'a' } },
      rules: [{ apiGroups: ['metal3.io'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['baremetalhosts'], scope: 'Namespaced' }],
    });
    expect(webhook?.objectSelector).toBeUndefined();
  });

  it('matches the in-cluster manifest in deploy/base/webhook except for clientConfig', () => {
    const manifest = parse(readFileSync(new URL('../../deploy/base/webhook/validatingwebhookconfiguration.yaml', import.meta.url), 'utf8')) as typeof built;
    const [deployed] = manifest.webhooks ?? [];
    const ours = validatingWebhookConfiguration({ clientConfig: {} });
    expect({ ...deployed, clientConfig: undefined }).toEqual({ ...ours.webhooks?.[0], clientConfig: undefined });
    expect(manifest.metadata).toEqual(ours.metadata);
    expect(deployed?.clientConfig?.service).toMatchObject({ path: VALIDATE_BAREMETALHOST_PATH, port: 443 });
  });
});
