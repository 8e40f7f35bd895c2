/**
 * The Cluster API controllers the CAPM3 proof runs against, built from the Go module proxy into the versioned
 * cache like the other servers: the Cluster API core manager and its kubeadm bootstrap provider (CABPK), both
 * from `sigs.k8s.io/cluster-api`, and Cluster API Provider Metal3 (CAPM3). Nothing of them is ours: the wrapper
 * modules under `stack/go/capi` and `stack/go/capm3` only pin the releases and their dependency graphs.
 *
 * Each cache entry also keeps what the release ships beside its binary and the stack applies: the CRD bases
 * (with the labels the provider's own kustomization adds, among them the contract labels CAPI reads to find a
 * provider's API version) and the webhook manifests.
 *
 * The checksum database has no entry for metal3-io modules, so `GONOSUMDB` names that prefix alone, and the
 * modules are verified another way: the wrapper's `go.sum` must hold the pinned hashes below (Go checks every
 * downloaded zip against `go.sum`), and the BMO and IPAM API hashes must equal the lines in CAPM3's own `go.sum`.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { VERSIONS, cacheRoot, cached, goEnv, requireGo, run, type BuildOptions, type Progress } from './binaries.ts';

const execFileAsync = promisify(execFile);
const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

const CAPI_MODULE = 'sigs.k8s.io/cluster-api';
const CAPM3_MODULE = 'github.com/metal3-io/cluster-api-provider-metal3';
/** The only prefix whose modules are not checked against the checksum database (it has none of them). */
export const NO_SUMDB_PREFIX = 'github.com/metal3-io';

/**
 * The `h1:` hashes of the CAPM3 modules (root and `/api`), pinned after the module zip was compared with the
 * git tag v1.13.2 (commit e58645d8) file by file (docs/local-stack.md). The wrapper's go.sum must carry them.
 */
export const CAPM3_PINNED_SUMS: readonly string[] = [
  `${CAPM3_MODULE} v${VERSIONS.capm3} h1:qYIXaHZp3Tcn2Taf+LZZ7rjATyKLVjguMS39pC640pw=`,
  `${CAPM3_MODULE}/api v${VERSIONS.capm3} h1:tGb93YEjfOZN4Eh3LoKGwvZYeo7ZGO7Bn5ea2xecJ/E=`,
];
/** Modules CAPM3 requires whose hashes must match the lines in CAPM3's own go.sum. */
const CAPM3_DEPENDENCIES_FROM_ITS_GO_SUM = [
  'github.com/metal3-io/baremetal-operator/apis',
  'github.com/metal3-io/ip-address-manager/api',
];

/** The Cluster API managers and what the stack applies for them. */
export interface CapiBinaries {
  /** The Cluster API core manager (`sigs.k8s.io/cluster-api` main package). */
  core: string;
  /** The kubeadm bootstrap provider's manager (`sigs.k8s.io/cluster-api/bootstrap/kubeadm`). */
  kubeadmBootstrap: string;
  capm3: string;
  /** CRD folders, each with the labels of its kustomization: core, kubeadm bootstrap, CAPM3. */
  crdDirs: { core: string; kubeadmBootstrap: string; capm3: string };
  /** `config/webhook/manifests.yaml` of each manager. */
  webhookManifests: { core: string; kubeadmBootstrap: string; capm3: string };
}

const BUILD_FLAGS = ['-trimpath', '-ldflags', '-s -w'];

/** Builds (once, into the cache) and returns the Cluster API core, CABPK and CAPM3 managers. */
export async function capiBinaries(progress: Progress, build: BuildOptions = {}): Promise<CapiBinaries> {
  const [capi, capm3] = await Promise.all([buildClusterApi(progress, build), buildCapm3(progress, build)]);
  return {
    ...capi,
    capm3: capm3.binary,
    crdDirs: { ...capi.crdDirs, capm3: capm3.crdDir },
    webhookManifests: { ...capi.webhookManifests, capm3: capm3.webhooks },
  };
}

async function buildClusterApi(progress: Progress, build: BuildOptions) {
  const v = VERSIONS.clusterApi;
  const dir = join(cacheRoot(), `cluster-api-${v}`);
  const moduleDir = here('./go/capi');
  await cached(dir, async () => {
    requireGo();
    // One `go build` for both mains: the packages they share compile once, in parallel.
    const out = join(dir, 'build');
    mkdirSync(out);
    await run(
      `building the Cluster API core manager and kubeadm bootstrap provider v${v} (cold: about 3-4 min)`,
      'go',
      ['build', ...BUILD_FLAGS, '-o', `${out}/`, CAPI_MODULE, `${CAPI_MODULE}/bootstrap/kubeadm`],
      { cwd: moduleDir, env: goEnv(), progress, ...build },
    );
    renameSync(join(out, 'cluster-api'), join(dir, 'cluster-api-manager'));
    renameSync(join(out, 'kubeadm'), join(dir, 'kubeadm-bootstrap-manager'));
    const source = await moduleSource(moduleDir, `${CAPI_MODULE}@v${v}`, goEnv());
    copyProviderCrds(join(source, 'config', 'crd'), join(dir, 'crds', 'core'));
    copyProviderCrds(join(source, 'bootstrap', 'kubeadm', 'config', 'crd'), join(dir, 'crds', 'kubeadm-bootstrap'));
    copyFileSync(join(source, 'config', 'webhook', 'manifests.yaml'), join(dir, 'core-webhooks.yaml'));
    copyFileSync(
      join(source, 'bootstrap', 'kubeadm', 'config', 'webhook', 'manifests.yaml'),
      join(dir, 'kubeadm-bootstrap-webhooks.yaml'),
    );
  });
  return {
    core: join(dir, 'cluster-api-manager'),
    kubeadmBootstrap: join(dir, 'kubeadm-bootstrap-manager'),
    crdDirs: { core: join(dir, 'crds', 'core'), kubeadmBootstrap: join(dir, 'crds', 'kubeadm-bootstrap') },
    webhookManifests: {
      core: join(dir, 'core-webhooks.yaml'),
      kubeadmBootstrap: join(dir, 'kubeadm-bootstrap-webhooks.yaml'),
    },
  };
}

async function buildCapm3(progress: Progress, build: BuildOptions) {
  const v = VERSIONS.capm3;
  const dir = join(cacheRoot(), `capm3-${v}`);
  const moduleDir = here('./go/capm3');
  const env = { ...goEnv(), GONOSUMDB: NO_SUMDB_PREFIX };
  await cached(dir, async () => {
    requireGo();
    checkPinnedSums(readFileSync(join(moduleDir, 'go.sum'), 'utf8'));
    await run(
      `building CAPM3 v${v} (cold: about 2-3 min)`,
      'go',
      ['build', ...BUILD_FLAGS, '-o', join(dir, 'capm3-manager'), CAPM3_MODULE],
      { cwd: moduleDir, env, progress, ...build },
    );
    const source = await moduleSource(moduleDir, `${CAPM3_MODULE}@v${v}`, env);
    checkDependencySums(readFileSync(join(moduleDir, 'go.sum'), 'utf8'), readFileSync(join(source, 'go.sum'), 'utf8'));
    copyProviderCrds(join(source, 'config', 'crd'), join(dir, 'crds'));
    copyFileSync(join(source, 'config', 'webhook', 'manifests.yaml'), join(dir, 'webhooks.yaml'));
  });
  return { binary: join(dir, 'capm3-manager'), crdDir: join(dir, 'crds'), webhooks: join(dir, 'webhooks.yaml') };
}

/** The wrapper's go.sum must carry the pinned CAPM3 hashes; throws naming what differs. */
export function checkPinnedSums(wrapperGoSum: string): void {
  const lines = new Set(wrapperGoSum.split('\n').map((l) => l.trim()));
  const missing = CAPM3_PINNED_SUMS.filter((pin) => !lines.has(pin));
  if (missing.length > 0) {
    throw new Error(
      'stack/go/capm3/go.sum does not carry the pinned CAPM3 hashes (the checksum database cannot vouch for ' +
        `${NO_SUMDB_PREFIX} modules):\n  ${missing.join('\n  ')}`,
    );
  }
}

/** The wrapper's hashes of CAPM3's own metal3-io dependencies must equal CAPM3's go.sum lines. */
export function checkDependencySums(wrapperGoSum: string, capm3GoSum: string): void {
  const entries = (text: string) =>
    new Set(
      text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => CAPM3_DEPENDENCIES_FROM_ITS_GO_SUM.some((m) => l.startsWith(`${m} `))),
    );
  const ours = entries(wrapperGoSum);
  const theirs = entries(capm3GoSum);
  const differing = [...ours].filter((line) => !theirs.has(line));
  if (ours.size === 0 || differing.length > 0) {
    throw new Error(
      `the wrapper's hashes of ${CAPM3_DEPENDENCIES_FROM_ITS_GO_SUM.join(', ')} differ from CAPM3's own go.sum:\n  ` +
        (differing.join('\n  ') || '(none found)'),
    );
  }
}

/** Where the Go module cache holds a module's files (`go mod download -json`, resolved inside the wrapper). */
async function moduleSource(moduleDir: string, moduleAtVersion: string, env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await execFileAsync('go', ['mod', 'download', '-json', moduleAtVersion], {
    cwd: moduleDir,
    env,
    maxBuffer: 1024 * 1024,
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir || info.Error) throw new Error(`go mod download ${moduleAtVersion}: ${info.Error ?? 'no Dir'}`);
  return info.Dir;
}

interface Kustomization {
  resources?: string[];
  labels?: { pairs?: Record<string, string> }[];
  commonLabels?: Record<string, string>;
}

/**
 * Copies the CRD bases a provider's `config/crd/kustomization.yaml` lists, adding the labels it declares
 * (`labels[].pairs`, `commonLabels`), as `kustomize build` would. The conversion-webhook patches are left
 * out: CRDs are served without conversion, so only v1beta2 objects are written.
 */
export function copyProviderCrds(crdConfigDir: string, into: string): void {
  const kustomization = parse(readFileSync(join(crdConfigDir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const labels: Record<string, string> = { ...kustomization.commonLabels };
  for (const entry of kustomization.labels ?? []) Object.assign(labels, entry.pairs);
  const resources = kustomization.resources ?? readdirSync(join(crdConfigDir, 'bases')).map((f) => `bases/${f}`);
  mkdirSync(into, { recursive: true });
  for (const resource of resources) {
    const path = join(crdConfigDir, resource);
    if (!existsSync(path)) throw new Error(`${path}: listed in the kustomization but missing from the module`);
    const docs = parseAllDocuments(readFileSync(path, 'utf8')).map(
      (d) => d.toJS() as { metadata?: { name?: string; labels?: Record<string, string> } } | null,
    );
    const out = docs
      .filter((d) => d !== null)
      .map((crd) => {
        crd.metadata = { ...crd.metadata, labels: { ...crd.metadata?.labels, ...labels } };
        return stringify(crd);
      });
    writeFileSync(join(into, resource.split('/').at(-1) ?? resource), out.join('---\n'));
  }
}
