/**
 * How the operator's commands reach Temporal and Kubernetes: Temporal as every process does
 * (workers/temporal-config.ts: temporal.toml profiles, TEMPORAL_* variables), payloads decoded with the
 * installation's keys or through a codec server (workers/data-converter.ts `cliProtection`: `--codec-endpoint`,
 * `TEMPORAL_CODEC_ENDPOINT`), and Kubernetes with the operator's own kubeconfig (`--kubeconfig`, `KUBECONFIG`,
 * the default rules).
 */
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import type { LoadedDataConverter } from '@temporalio/common';
import { cliProtection, clientDataConverter, type ProtectionSummary } from '../workers/data-converter.ts';
import { temporalSettings } from '../workers/temporal-config.ts';

import { UsageError } from './usage-error.ts';

export { UsageError, isUsageError } from './usage-error.ts';

/** A Temporal client for the CLI, with the data converter that reads the installation's payloads. */
export interface CliTemporal {
  client: Client;
  namespace: string;
  converter: LoadedDataConverter;
  payloads: ProtectionSummary;
  close(): Promise<void>;
}

export async function openTemporal(options: { codecEndpoint?: string } = {}): Promise<CliTemporal> {
  const settings = temporalSettings();
  const protection = cliProtection(process.env, {
    namespace: settings.namespace,
    ...(options.codecEndpoint ? { codecEndpoint: options.codecEndpoint } : {}),
  });
  const connection = await Connection.connect({ ...settings.connectionOptions, connectTimeout: 10_000 }).catch(
    (error: unknown) => {
      // The SDK's message ("Failed to connect before the deadline") names neither the address nor the fix.
      throw new Error(
        `cannot reach Temporal at ${settings.connectionOptions.address} (${(error as Error).message.trim()}); set TEMPORAL_ADDRESS, or a ` +
          'profile with TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE, as for the Temporal CLI',
        { cause: error },
      );
    },
  );
  const converter = clientDataConverter(protection);
  return {
    client: new Client({ connection, namespace: settings.namespace, dataConverter: converter }),
    namespace: settings.namespace,
    converter,
    payloads: protection.summary,
    close: () => connection.close(),
  };
}

/** The operator's kubeconfig: `--kubeconfig`, else `KUBECONFIG`, else the default rules. */
export function kubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/** `NS/NAME` of a host, as the commands take it. */
export function parseHostRef(value: string | undefined): { namespace: string; name: string } {
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(value ?? '');
  if (!match) throw new UsageError(`expected NAMESPACE/NAME of a BareMetalHost, not '${value ?? ''}'`);
  return { namespace: match[1] as string, name: match[3] as string };
}

/** "3m 12s", "2h 5m", "14s": how long ago or how long, for people. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Lays rows out as aligned columns under a header (what `kubectl get` prints). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
