/**
 * BMC credentials, read from the Kubernetes Secret a BareMetalHost names (`spec.bmc.credentialsName`, keys
 * `username` and `password`). Activities resolve them here; they never travel in a workflow payload or a
 * log line. Cached per Secret and revalidated when a caller expects another resourceVersion.
 */
import * as k8s from '@kubernetes/client-node';
import { pooledApiClient } from '../lib/kube-client.ts';
import { BmcError } from './bmc/errors.ts';

export interface ResolvedCredentials {
  username: string;
  password: string;
  /** The Secret's resourceVersion. */
  version: string;
}

export interface CredentialsSource {
  /** Reads the Secret; `fresh` skips the cache, `expectedVersion` refetches when the cache holds another. */
  read(namespace: string, name: string, options?: { fresh?: boolean; expectedVersion?: string }): Promise<ResolvedCredentials>;
}

/** A source backed by the Kubernetes API, with a cache of at most `ttlMs` age. */
export function kubeCredentialsSource(kubeconfig: k8s.KubeConfig, ttlMs = 30_000): CredentialsSource {
  const core = pooledApiClient(kubeconfig, k8s.CoreV1Api);
  const cache = new Map<string, { value: ResolvedCredentials; at: number }>();
  return {
    async read(namespace, name, options = {}) {
      const key = `${namespace}/${name}`;
      const hit = cache.get(key);
      if (hit && !options.fresh && Date.now() - hit.at < ttlMs && (options.expectedVersion === undefined || options.expectedVersion === hit.value.version)) {
        return hit.value;
      }
      let secret: k8s.V1Secret;
      try {
        secret = await core.readNamespacedSecret({ namespace, name });
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404) throw new BmcError('BmcCredentialsMissing', `the BMC credentials Secret ${key} does not exist; create it with keys 'username' and 'password'`);
        if (code === 403) throw new BmcError('BmcCredentialsMissing', `the worker may not read the Secret ${key} (forbidden); check its RBAC`);
        throw new BmcError('BmcUnreachable', `reading the Secret ${key} from Kubernetes failed: ${(err as Error).message}`, { disposition: 'transient' });
      }
      const data = secret.data ?? {};
      const decode = (k: string) => (data[k] === undefined ? undefined : Buffer.from(data[k], 'base64').toString('utf8'));
      const username = decode('username');
      const password = decode('password');
      const missing = [username === undefined || username === '' ? 'username' : '', password === undefined ? 'password' : ''].filter(Boolean);
      if (missing.length > 0) {
        throw new BmcError('BmcCredentialsMissing', `the BMC credentials Secret ${key} has no '${missing.join("' or '")}' key`);
      }
      const value = { username: username as string, password: password as string, version: secret.metadata?.resourceVersion ?? '' };
      cache.set(key, { value, at: Date.now() });
      return value;
    },
  };
}
