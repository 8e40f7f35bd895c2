/**
 * BMC credentials, read from the Kubernetes Secret a BareMetalHost names (`spec.bmc.credentialsName`, keys
 * `username` and `password`). Activities resolve them here; they never travel in a workflow payload or a
 * log line. Cached per Secret for a short TTL (then dropped from memory) and revalidated when a caller expects
 * another resourceVersion.
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

/** A source backed by the Kubernetes API, with a cache of at most `ttlMs` age (see `cachingCredentialsSource`). */
export function kubeCredentialsSource(kubeconfig: k8s.KubeConfig, ttlMs = 30_000): CredentialsSource {
  const core = pooledApiClient(kubeconfig, k8s.CoreV1Api);
  return cachingCredentialsSource(async (namespace, name) => {
    const key = `${namespace}/${name}`;
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
    return { username: username as string, password: password as string, version: secret.metadata?.resourceVersion ?? '' };
  }, ttlMs);
}

/** A credentials source that caches what it read, as long as it may. */
export interface CachingCredentialsSource extends CredentialsSource {
  /** The `namespace/name` of every Secret whose credentials are held in memory now. */
  cachedSecrets(): string[];
}

/**
 * A cache in front of `fetch` whose entries are dropped, password and all, once `ttlMs` old: the TTL bounds
 * both how stale a read may be and how long a password stays in the worker's memory. Expired entries go on
 * every read and, while anything is cached, on an unref'd timer, so an idle worker holds none for long.
 */
export function cachingCredentialsSource(fetch: (namespace: string, name: string) => Promise<ResolvedCredentials>, ttlMs: number): CachingCredentialsSource {
  const cache = new Map<string, { value: ResolvedCredentials; at: number }>();
  let timer: ReturnType<typeof setInterval> | undefined;
  const sweep = () => {
    const now = Date.now();
    for (const [key, entry] of cache) if (now - entry.at >= ttlMs) cache.delete(key);
    if (cache.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    async read(namespace, name, options = {}) {
      sweep();
      const key = `${namespace}/${name}`;
      const hit = cache.get(key);
      if (hit && !options.fresh && (options.expectedVersion === undefined || options.expectedVersion === hit.value.version)) {
        return hit.value;
      }
      const value = await fetch(namespace, name);
      cache.set(key, { value, at: Date.now() });
      if (timer === undefined) {
        timer = setInterval(sweep, ttlMs);
        timer.unref();
      }
      return value;
    },
    cachedSecrets: () => [...cache.keys()],
  };
}
