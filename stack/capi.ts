/**
 * The real Cluster API controllers as processes against the stack's apiserver: the Cluster API core manager,
 * the kubeadm bootstrap provider (CABPK) and Cluster API Provider Metal3 (CAPM3), built from the Go module
 * proxy (`stack/capi-binaries.ts`). Their CRDs are applied first; each manager gets its own ports and a webhook
 * serving certificate from a CA made at start. Once they answer, their admission and conversion webhooks are
 * registered with the apiserver the way their release manifests do it (a URL on 127.0.0.1 instead of an
 * in-cluster Service), so objects written here are defaulted, validated and converted exactly as in a cluster
 * where Cluster API is installed.
 *
 * Each webhook server binds every interface (`:<port>`): neither manager has a flag for the address.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { Progress } from './binaries.ts';
import { capiBinaries } from './capi-binaries.ts';
import type { KubectlClient } from './kube.ts';
import { base64File, issueCert, makeCa } from './pki.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil, type Supervised } from './processes.ts';

export interface CapiOptions {
  stateDir: string;
  /** The management cluster: CRDs, webhooks and the managers' kubeconfig. */
  kube: KubectlClient;
  progress: Progress;
  /** Extra flags per manager (e.g. `--sync-period`). */
  extraArgs?: Partial<Record<CapiManagerName, string[]>>;
}

export type CapiManagerName = 'core' | 'kubeadmBootstrap' | 'capm3';

export interface CapiManager {
  name: CapiManagerName;
  proc: Supervised;
  /** `http://127.0.0.1:<port>/metrics` (plain HTTP, `--insecure-diagnostics`). */
  metrics: string;
  webhookPort: number;
}

export interface CapiControllers {
  managers: Record<CapiManagerName, CapiManager>;
  /** Every line the managers logged so far (for a test that fails, and for grep in tests). */
  logs(): string;
  stop(): Promise<void>;
}

/** kustomize's namePrefix of each manager's release manifests (webhook configurations share names otherwise). */
const NAME_PREFIX: Record<CapiManagerName, string> = {
  core: 'capi-',
  kubeadmBootstrap: 'capi-kubeadm-bootstrap-',
  capm3: 'capm3-',
};
const FIELD_MANAGER = 'tempered-stack-capi';
const PROCESS_NAME: Record<CapiManagerName, string> = {
  core: 'capi-manager',
  kubeadmBootstrap: 'capi-kubeadm-bootstrap-manager',
  capm3: 'capm3-manager',
};

/** Starts the three managers (building them first if the cache lacks them) and registers their webhooks. */
export async function startCapi(options: CapiOptions): Promise<CapiControllers> {
  const { kube, progress } = options;
  const bins = await capiBinaries(progress);
  const dir = options.stateDir;
  mkdirSync(dir, { recursive: true });

  progress('applying the Cluster API, CABPK and CAPM3 CRDs');
  for (const crdDir of [bins.crdDirs.core, bins.crdDirs.kubeadmBootstrap, bins.crdDirs.capm3])
    await kube.applyCrds(crdDir);

  const pki = join(dir, 'webhook-pki');
  mkdirSync(pki, { recursive: true });
  const ca = makeCa(pki, 'webhook-ca', '/CN=tempered-capi-webhook-ca/O=tempered');
  const serving = issueCert(pki, 'webhook', ca, {
    subject: '/CN=127.0.0.1',
    usage: 'server',
    sans: ['IP:127.0.0.1', 'DNS:localhost'],
  });
  const certDir = join(pki, 'serving');
  mkdirSync(certDir, { recursive: true });
  writeFileSync(join(certDir, 'tls.crt'), readFileSync(serving.cert));
  writeFileSync(join(certDir, 'tls.key'), readFileSync(serving.key), { mode: 0o600 });

  const binary: Record<CapiManagerName, string> = {
    core: bins.core,
    kubeadmBootstrap: bins.kubeadmBootstrap,
    capm3: bins.capm3,
  };
  const start = async (name: CapiManagerName): Promise<CapiManager> => {
    const [diagnostics, health, webhookPort] = [await freePort(), await freePort(), await freePort()];
    const proc = startProcess(
      PROCESS_NAME[name],
      binary[name],
      [
        `--kubeconfig=${kube.kubeconfig}`,
        '--leader-elect=false',
        `--diagnostics-address=127.0.0.1:${diagnostics}`,
        '--insecure-diagnostics',
        `--health-addr=127.0.0.1:${health}`,
        `--webhook-port=${webhookPort}`,
        `--webhook-cert-dir=${certDir}`,
        '-v=2',
        ...(options.extraArgs?.[name] ?? []),
      ],
      { logFile: join(dir, `${PROCESS_NAME[name]}.log`) },
    );
    await waitUntil(PROCESS_NAME[name], async () => (await fetch(`http://127.0.0.1:${health}/readyz`)).ok, {
      timeoutMs: 120_000,
      intervalMs: 250,
      process: proc,
    });
    return { name, proc, metrics: `http://127.0.0.1:${diagnostics}/metrics`, webhookPort };
  };
  progress('starting the Cluster API core, CABPK and CAPM3 managers');
  const started = await Promise.all((['core', 'kubeadmBootstrap', 'capm3'] as const).map(start));
  const managers = Object.fromEntries(started.map((m) => [m.name, m])) as Record<CapiManagerName, CapiManager>;

  const caBundle = base64File(ca.cert);
  const documents: string[] = [];
  for (const m of started) {
    documents.push(
      ...webhookConfigurations(
        readFileSync(bins.webhookManifests[m.name], 'utf8'),
        NAME_PREFIX[m.name],
        m.webhookPort,
        caBundle,
      ),
    );
  }
  // A field manager of its own: the partial CRD patches must not drop what the CRD apply wrote.
  const apply = (docs: string[]) =>
    kube.kubectlRun(
      ['apply', '--server-side', '--force-conflicts', `--field-manager=${FIELD_MANAGER}`, '-f', '-'],
      docs.join('---\n'),
    );
  await apply(documents);
  await apply(started.flatMap((m) => conversionPatches(bins.crdDirs[m.name], m.webhookPort, caBundle)));

  return {
    managers,
    logs: () => started.map((m) => `==> ${m.proc.name}\n${readFileSync(m.proc.logFile, 'utf8')}`).join('\n'),
    async stop() {
      // Webhook configurations outlive the managers in this apiserver; they are removed first so the
      // apiserver does not call servers that are gone (a later start registers them again).
      await kube
        .kubectlRun([
          'delete',
          '--ignore-not-found',
          '--wait=false',
          ...started.flatMap((m) => [
            `mutatingwebhookconfiguration/${NAME_PREFIX[m.name]}mutating-webhook-configuration`,
            `validatingwebhookconfiguration/${NAME_PREFIX[m.name]}validating-webhook-configuration`,
          ]),
        ])
        .catch(() => '');
      await Promise.all(started.map((m) => m.proc.stop(10_000)));
    },
  };
}

interface WebhookConfiguration {
  kind: string;
  metadata: { name: string };
  webhooks?: { clientConfig: { service?: { path?: string }; url?: string; caBundle?: string } }[];
}

/**
 * A release's webhook configurations, pointed at the manager's port on 127.0.0.1 with the CA that signed its
 * serving certificate, and named with the release's prefix.
 */
export function webhookConfigurations(manifests: string, namePrefix: string, port: number, caBundle: string): string[] {
  return parseAllDocuments(manifests)
    .map((d) => d.toJS() as WebhookConfiguration | null)
    .filter((d): d is WebhookConfiguration => d !== null && Array.isArray(d.webhooks))
    .map((config) => {
      config.metadata = { ...config.metadata, name: `${namePrefix}${config.metadata.name}` };
      for (const hook of config.webhooks ?? []) {
        const path = hook.clientConfig.service?.path ?? '/';
        hook.clientConfig = { url: `https://127.0.0.1:${port}${path}`, caBundle };
      }
      return stringify(config);
    });
}

/**
 * Conversion webhooks for the CRDs of a manager that serve more than one version (what each release's
 * `webhook_in_<kind>` kustomize patches add), as server-side apply patches of `spec.conversion`.
 */
export function conversionPatches(crdDir: string, port: number, caBundle: string): string[] {
  const out: string[] = [];
  for (const file of readdirSync(crdDir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(crdDir, file), 'utf8'))) {
      const crd = doc.toJS() as { metadata?: { name?: string }; spec?: { versions?: unknown[] } } | null;
      if (!crd?.metadata?.name || (crd.spec?.versions?.length ?? 0) < 2) continue;
      out.push(
        stringify({
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name: crd.metadata.name },
          spec: {
            conversion: {
              strategy: 'Webhook',
              webhook: {
                conversionReviewVersions: ['v1', 'v1beta1'],
                clientConfig: { url: `https://127.0.0.1:${port}/convert`, caBundle },
              },
            },
          },
        }),
      );
    }
  }
  return out;
}
