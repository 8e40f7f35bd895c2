/**
 * What the Cluster API build trusts and rewrites: the pinned CAPM3 hashes (planted faults must be caught),
 * the CRD labels taken from a provider's kustomization, and the webhook and conversion registrations
 * pointed at 127.0.0.1.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { CAPM3_PINNED_SUMS, checkDependencySums, checkPinnedSums, copyProviderCrds } from './capi-binaries.ts';
import { conversionPatches, webhookConfigurations } from './capi.ts';

const wrapperGoSum = readFileSync(new URL('./go/capm3/go.sum', import.meta.url), 'utf8');

describe('CAPM3 module hashes', () => {
  it('the committed wrapper go.sum carries the pinned hashes', () => {
    expect(() => checkPinnedSums(wrapperGoSum)).not.toThrow();
  });

  it('a go.sum with a changed CAPM3 hash is refused (planted fault)', () => {
    const pin = CAPM3_PINNED_SUMS[0] ?? '';
    const tampered = wrapperGoSum.replace(pin, pin.replace(/h1:./, 'h1:X'));
    expect(tampered).not.toBe(wrapperGoSum);
    expect(() => checkPinnedSums(tampered)).toThrow(/does not carry the pinned CAPM3 hashes/);
  });

  it("BMO and IPAM hashes must equal CAPM3's own go.sum lines", () => {
    const theirs = wrapperGoSum
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('github.com/metal3-io/baremetal-operator/apis') ||
          l.startsWith('github.com/metal3-io/ip-address-manager/api'),
      )
      .join('\n');
    expect(() => checkDependencySums(wrapperGoSum, theirs)).not.toThrow();
    const changed = theirs.replace(/h1:[^=]+=/, 'h1:changedchangedchanged=');
    expect(() => checkDependencySums(wrapperGoSum, changed)).toThrow(/differ from CAPM3's own go.sum/);
  });
});

describe('copyProviderCrds', () => {
  it("adds the kustomization's labels (the contract labels) to each listed base", () => {
    const dir = mkdtempSync(join(tmpdir(), 'crds-'));
    mkdirSync(join(dir, 'bases'));
    writeFileSync(
      join(dir, 'bases', 'x.example.com_things.yaml'),
      'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.x.example.com\n',
    );
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      'labels:\n- pairs:\n    cluster.x-k8s.io/v1beta2: v1beta2\nresources:\n- bases/x.example.com_things.yaml\npatches:\n- path: patches/webhook_in_things.yaml\n',
    );
    copyProviderCrds(dir, join(dir, 'out'));
    const crd = parse(readFileSync(join(dir, 'out', 'x.example.com_things.yaml'), 'utf8')) as {
      metadata: { labels: Record<string, string> };
    };
    expect(crd.metadata.labels).toEqual({ 'cluster.x-k8s.io/v1beta2': 'v1beta2' });
  });
});

describe('webhook registration', () => {
  const manifests = [
    'apiVersion: admissionregistration.k8s.io/v1',
    'kind: ValidatingWebhookConfiguration',
    'metadata: {name: validating-webhook-configuration}',
    'webhooks:',
    '- name: validation.machine.cluster.x-k8s.io',
    '  clientConfig: {service: {name: webhook-service, namespace: system, path: /validate-machine}}',
  ].join('\n');

  it('points each webhook at the manager on 127.0.0.1 with the CA bundle, under the release name prefix', () => {
    const [doc] = webhookConfigurations(manifests, 'capi-', 9443, 'Q0E=').map(
      (d) => parse(d) as { metadata: { name: string }; webhooks: { clientConfig: unknown }[] },
    );
    expect(doc?.metadata.name).toBe('capi-validating-webhook-configuration');
    expect(doc?.webhooks[0]?.clientConfig).toEqual({
      url: 'https://127.0.0.1:9443/validate-machine',
      caBundle: 'Q0E=',
    });
  });

  it('adds conversion webhooks only to CRDs that serve several versions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conv-'));
    writeFileSync(
      join(dir, 'a.yaml'),
      'kind: CustomResourceDefinition\nmetadata: {name: multi.x}\nspec: {versions: [{name: v1beta1}, {name: v1beta2}]}\n',
    );
    writeFileSync(
      join(dir, 'b.yaml'),
      'kind: CustomResourceDefinition\nmetadata: {name: single.x}\nspec: {versions: [{name: v1}]}\n',
    );
    const patches = conversionPatches(dir, 9443, 'Q0E=').flatMap((d) =>
      parseAllDocuments(d).map(
        (x) =>
          x.toJS() as {
            metadata: { name: string };
            spec: { conversion: { webhook: { clientConfig: { url: string } } } };
          },
      ),
    );
    expect(patches.map((p) => p.metadata.name)).toEqual(['multi.x']);
    expect(patches[0]?.spec.conversion.webhook.clientConfig.url).toBe('https://127.0.0.1:9443/convert');
  });
});
