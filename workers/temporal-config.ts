/**
 * Where every Tempered process (worker, bridge, agent API) and the CLI find their Temporal server: the
 * Temporal CLI's and SDKs' own conventions, read by `@temporalio/envconfig`. A profile from `temporal.toml`
 * (`TEMPORAL_CONFIG_FILE`, else `$XDG_CONFIG_HOME/temporalio/temporal.toml`; `TEMPORAL_PROFILE`, else
 * `default`), overridden field by field by the environment (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
 * `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_GRPC_META_*`). The same file that configures `temporal` on
 * an operator's laptop configures Tempered; nothing here is Tempered-specific but the local defaults.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';
import { DEFAULT_TEMPORAL_NAMESPACE } from '../domain/names.ts';

/** Used when neither a profile nor the environment names a server: the local dev server's address. */
export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

const flag = z.enum(['true', 'false', '1', '0']).optional();

/**
 * The Temporal variables, validated so a typo stops the process with the variable's name. Values are read
 * by envconfig from the same environment; this schema only refuses what envconfig would silently ignore.
 */
export const TemporalEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_PROFILE: z.string().min(1).optional(),
  TEMPORAL_CONFIG_FILE: z.string().min(1).optional(),
  TEMPORAL_TLS: flag,
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
});

/** A resolved connection: what `Connection.connect` / `NativeConnection.connect` take, and the namespace. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  connectionOptions: NativeConnectionOptions & { address: string };
  /** Safe to log: where the settings came from and what is on, never a key or a certificate. */
  summary: { address: string; namespace: string; profile: string; tls: boolean; apiKey: boolean };
}

/**
 * Resolves the Temporal connection from a `temporal.toml` profile and the environment (see the file
 * header). Throws with a readable message when a named profile does not exist or a file cannot be read.
 */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  // envconfig reads only string values; undefined entries of process.env are dropped.
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: vars });
  const address = connectionOptions.address ?? DEFAULT_TEMPORAL_ADDRESS;
  const resolvedNamespace = namespace ?? DEFAULT_TEMPORAL_NAMESPACE;
  const tls = connectionOptions.tls !== undefined && connectionOptions.tls !== false;
  return {
    address,
    namespace: resolvedNamespace,
    connectionOptions: { ...connectionOptions, address },
    summary: {
      address,
      namespace: resolvedNamespace,
      profile: vars['TEMPORAL_PROFILE'] ?? 'default',
      tls,
      apiKey: connectionOptions.apiKey !== undefined,
    },
  };
}
