/**
 * The config drive a provisioned host finds on its disk: an ISO 9660 volume labelled `config-2` with
 * `openstack/{2012-08-10,latest}/meta_data.json`, `user_data` and `network_data.json`, as Ironic builds it from
 * what BMO sends (`getConfigDrive` in BMO's ironic provisioner, `hostConfigData` for the Secrets). meta_data starts
 * from Metal3's keys (`uuid` = the host's UID, `metal3-namespace`, `metal3-name`, `local-hostname`,
 * `local_hostname`, `name`) and the `metaData` Secret's YAML is merged over them.
 *
 * The Secrets are read here, inside the activity, and their content goes only into the ISO: never into a workflow
 * payload, a log line or an error message (parse errors name a line and column, not the text).
 */
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { HostRef } from '../../domain/host-model.ts';
import { CONFIG_DRIVE_MAX_BYTES } from '../../lib/config-drive.ts';
import { ImageError } from '../../lib/image-error.ts';
import { makeIso, withScratch, type IsoFiles, type XorrisoOptions } from '../../lib/iso.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A Secret reference of `spec.userData`, `spec.networkData` or `spec.metaData`. */
export interface SecretRef {
  name: string;
  namespace?: string;
}

/** Which Secrets make the host's config drive (references only: the activity reads them). */
export interface ConfigDriveRequest {
  host: HostRef;
  userData?: SecretRef;
  networkData?: SecretRef;
  metaData?: SecretRef;
  /** `spec.preprovisioningNetworkDataName`: BMO's network data when `networkData` is not set. */
  preprovisioningNetworkDataName?: string;
}

/** Reads a Secret's data; undefined when the Secret does not exist. */
export interface SecretReader {
  read(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
}

/** A reader backed by the Kubernetes API (no cache: a config drive is built once per deploy). */
export function kubeSecretReader(kubeconfig: k8s.KubeConfig): SecretReader {
  const core = kubeconfig.makeApiClient(k8s.CoreV1Api);
  return {
    async read(namespace, name) {
      let secret: k8s.V1Secret;
      try {
        secret = await core.readNamespacedSecret({ namespace, name });
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404) return undefined;
        if (code === 403) {
          throw new ImageError(
            'HostConfigDataMissing',
            `the worker may not read the Secret ${namespace}/${name} (forbidden); check its RBAC`,
            { retryable: false },
          );
        }
        throw new ImageError(
          'KubernetesUnavailable',
          `reading the Secret ${namespace}/${name} failed: ${(err as Error).message}`,
          { retryable: true },
        );
      }
      return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
    },
  };
}

/** What goes on the drive. `userData` as given (text or binary); the others parsed. */
export interface HostConfigData {
  metaData: Record<string, unknown>;
  userData?: Buffer;
  networkData?: Record<string, unknown>;
}

type DataKey = 'userData' | 'networkData' | 'metaData';

/**
 * BMO's `getSecretDataWithFinalizer`: the Secret must be in the host's namespace; its `dataKey` entry, else its
 * `value` entry. Undefined when neither exists (the caller decides whether that is an error).
 */
async function secretData(
  host: HostRef,
  ref: SecretRef,
  key: DataKey,
  secrets: SecretReader,
): Promise<Buffer | undefined> {
  const namespace = ref.namespace || host.namespace;
  if (namespace !== host.namespace) {
    throw new ImageError(
      'HostConfigDataInvalid',
      `${key} secret must be in same namespace as host ${host.namespace}/${host.name}`,
      { expected: host.namespace, found: namespace },
    );
  }
  const data = await secrets.read(namespace, ref.name);
  if (!data) {
    throw new ImageError(
      'HostConfigDataMissing',
      `the ${key} Secret ${namespace}/${ref.name} does not exist; create it or fix spec.${key}`,
      { expected: `Secret ${namespace}/${ref.name}`, found: 'none' },
    );
  }
  return data[key] ?? data.value;
}

/** Parses a Secret's YAML (JSON is YAML) into a mapping; messages give a position, never the text. */
function parseMapping(text: string, what: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    const where =
      err instanceof YAMLParseError && err.linePos
        ? ` (line ${err.linePos[0].line}, column ${err.linePos[0].col})`
        : '';
    throw new ImageError('HostConfigDataInvalid', `${what} is not valid YAML or JSON${where}`, {
      expected: 'a YAML or JSON mapping',
      found: 'unparsable text',
    });
  }
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ImageError(
      'HostConfigDataInvalid',
      `${what} must be a YAML or JSON mapping, not ${Array.isArray(value) ? 'a list' : typeof value}`,
      { expected: 'a mapping', found: Array.isArray(value) ? 'a list' : typeof value },
    );
  }
  return value as Record<string, unknown>;
}

/** Reads the Secrets of `request` as BMO does (key names, `value` fallback, defaults, merge). */
export async function readHostConfigData(request: ConfigDriveRequest, secrets: SecretReader): Promise<HostConfigData> {
  const { host } = request;
  const out: HostConfigData = {
    metaData: {
      uuid: host.uid,
      'metal3-namespace': host.namespace,
      'metal3-name': host.name,
      'local-hostname': host.name,
      local_hostname: host.name,
      name: host.name,
    },
  };
  if (request.userData) {
    const ref = request.userData;
    const data = await secretData(host, ref, 'userData', secrets);
    if (data === undefined) {
      throw new ImageError('HostConfigDataInvalid', `Secret ${ref.name} does not contain key userData (nor value)`, {
        expected: 'key userData or value',
        found: 'neither',
      });
    }
    if (data.length > 0) out.userData = data;
  }
  const networkRef =
    request.networkData ??
    (request.preprovisioningNetworkDataName ? { name: request.preprovisioningNetworkDataName } : undefined);
  if (networkRef) {
    // A networkData Secret without its key means "no network data", as in BMO.
    const data = await secretData(host, networkRef, 'networkData', secrets);
    const parsed =
      data && data.length > 0
        ? parseMapping(data.toString('utf8'), `the networkData Secret ${networkRef.name}`)
        : undefined;
    if (parsed && Object.keys(parsed).length > 0) out.networkData = parsed;
  }
  if (request.metaData) {
    const ref = request.metaData;
    const data = await secretData(host, ref, 'metaData', secrets);
    if (data === undefined) {
      throw new ImageError('HostConfigDataInvalid', `Secret ${ref.name} does not contain key metaData (nor value)`, {
        expected: 'key metaData or value',
        found: 'neither',
      });
    }
    const parsed = data.length > 0 ? parseMapping(data.toString('utf8'), `the metaData Secret ${ref.name}`) : undefined;
    // Go's json.Unmarshal into the existing map: the Secret's keys win, the defaults stay.
    if (parsed) Object.assign(out.metaData, parsed);
  }
  return out;
}

/** The drive's files, for both metadata versions openstacksdk writes (`2012-08-10` and `latest`). */
export function configDriveFiles(data: HostConfigData): IsoFiles {
  const files: IsoFiles = {};
  for (const version of ['2012-08-10', 'latest']) {
    files[`openstack/${version}/meta_data.json`] = JSON.stringify(data.metaData);
    if (data.networkData) files[`openstack/${version}/network_data.json`] = JSON.stringify(data.networkData);
    if (data.userData) files[`openstack/${version}/user_data`] = data.userData;
  }
  return files;
}

export interface ConfigDrive {
  /** The ISO 9660 image labelled `config-2`; send it with `configDriveWireForm` (lib/config-drive.ts). */
  iso: Buffer;
  /** The paths on the drive (no content). */
  files: string[];
}

/**
 * Reads the host's Secrets and builds its config drive with xorriso. Fails with HostConfigDataMissing (a Secret
 * does not exist yet: transient) or HostConfigDataInvalid (a key is missing, the YAML does not parse, the drive
 * would exceed IPA's 64 MiB).
 */
export async function buildConfigDrive(
  request: ConfigDriveRequest,
  deps: XorrisoOptions & { secrets: SecretReader; scratch?: string },
): Promise<ConfigDrive> {
  const data = await readHostConfigData(request, deps.secrets);
  const files = configDriveFiles(data);
  const iso = await withScratch(async (dir) => {
    const output = join(dir, 'config-drive.iso');
    await makeIso({
      ...deps,
      files,
      output,
      volumeId: 'config-2',
      publisher: 'tempered',
      ...(deps.scratch ? { scratch: deps.scratch } : {}),
    });
    return readFile(output);
  }, deps.scratch);
  if (iso.length > CONFIG_DRIVE_MAX_BYTES) {
    throw new ImageError(
      'HostConfigDataInvalid',
      `the config drive of ${request.host.namespace}/${request.host.name} would have ${iso.length} bytes, ` +
        `more than IPA's ${CONFIG_DRIVE_MAX_BYTES}; shrink the user data`,
      {
        expected: `at most ${CONFIG_DRIVE_MAX_BYTES} bytes`,
        found: `${iso.length} bytes`,
      },
    );
  }
  return { iso, files: Object.keys(files).map((p) => `/${p}`) };
}
