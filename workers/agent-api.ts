/**
 * The agent API process: serves the Ironic API a deploy agent (ironic-python-agent) calls, and the per-boot
 * deploy ISOs BMCs fetch. Stateless and horizontally scalable: it reads BareMetalHosts and HardwareData
 * (informers, read-only), turns every agent call into a message to the host workflow, and derives agent
 * tokens from the installation key. Composition only: configuration (zod), logger, connections, graceful stop.
 *
 *   TEMPORAL_ADDRESS=127.0.0.1:7233 KUBECONFIG=... TEMPERED_AGENT_KEY_FILE=... node workers/agent-api.ts
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { buildDeployIso } from '../activities/images/deploy-iso.ts';
import { DeployIsoStore, type RemasterIso } from '../agent-api/deploy-iso.ts';
import { HostIndex } from '../agent-api/host-index.ts';
import { temporalMessenger } from '../agent-api/messenger.ts';
import { startAgentApi } from '../agent-api/server.ts';
import { loadAgentKeys } from '../agent-api/token.ts';
import { Informer, InformerGroup } from '../bridge/informer.ts';
import { createKube, loadKubeConfig } from '../bridge/kube.ts';
import { cachedObject, keyOf, type HostObject, type KubeObject } from '../bridge/objects.ts';
import { HealthEnvSchema, kubernetesReadiness, startHealthServer, temporalReadiness } from './health.ts';
import { clientDataConverter } from './data-converter.ts';
import { createLogger, onShutdown, parseEnv, payloadProtectionFromEnv, temporalFromEnv } from './process.ts';
import { TemporalEnvSchema } from './temporal-config.ts';

const list = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''));

/** Metal3's ramdisk kernel parameters (ironic-image's `[redfish]kernel_append_params`). */
export const METAL3_KERNEL_PARAMS = 'nofb nomodeset vga=normal ipa-insecure=1 systemd.journald.forward_to_console=yes';

export const AgentApiConfigSchema = TemporalEnvSchema.extend(HealthEnvSchema.shape).extend({
  KUBECONFIG: z.string().optional(),
  /** Namespaces whose hosts this API serves, comma-separated (BMO's variable); empty: all. */
  WATCH_NAMESPACE: list,
  TEMPERED_AGENT_API_HOST: z.string().default('0.0.0.0'),
  /** Ironic's port by default, so agents booted with a stock `ipa-api-url` find it. */
  TEMPERED_AGENT_API_PORT: z.coerce.number().int().min(0).max(65535).default(6385),
  /** The URL agents and BMCs reach this API at; default `http(s)://<host>:<port>` (127.0.0.1 for 0.0.0.0). */
  TEMPERED_AGENT_API_URL: z.url().optional(),
  /** The installation key: a file (a mounted Secret) or the value itself. */
  TEMPERED_AGENT_KEY_FILE: z.string().optional(),
  TEMPERED_AGENT_KEY: z.string().optional(),
  /** Serve HTTPS with this certificate and key (agents then need `ipa-insecure=1` or the CA). */
  TEMPERED_AGENT_API_CERT_FILE: z.string().optional(),
  TEMPERED_AGENT_API_KEY_FILE: z.string().optional(),
  /** Where base and remastered deploy ISOs are cached. */
  TEMPERED_AGENT_ISO_DIR: z.string().default(join(tmpdir(), 'tempered-agent-api')),
  TEMPERED_AGENT_KERNEL_PARAMS: z.string().default(METAL3_KERNEL_PARAMS),
  /** The xorriso binary that remasters deploy ISOs (Debian's `xorriso`); default: on PATH. */
  TEMPERED_XORRISO: z.string().optional(),
  /** Deadline of one message to a host workflow; beyond it the agent gets 503 and retries. */
  TEMPERED_AGENT_API_MESSAGE_DEADLINE_SECONDS: z.coerce.number().positive().default(10),
  TEMPERED_KUBE_API_QPS: z.coerce.number().positive().default(20),
  TEMPERED_KUBE_API_BURST: z.coerce.number().int().positive().default(30),
  TEMPERED_SHUTDOWN_GRACE_SECONDS: z.coerce.number().nonnegative().default(10),
})
  .refine((c) => Boolean(c.TEMPERED_AGENT_API_CERT_FILE) === Boolean(c.TEMPERED_AGENT_API_KEY_FILE), {
    message: 'TEMPERED_AGENT_API_CERT_FILE and TEMPERED_AGENT_API_KEY_FILE go together',
    path: ['TEMPERED_AGENT_API_CERT_FILE'],
  })
  .refine((c) => c.TEMPERED_AGENT_API_URL !== undefined || c.TEMPERED_AGENT_API_PORT !== 0, {
    message: 'with TEMPERED_AGENT_API_PORT=0 (any free port) the public TEMPERED_AGENT_API_URL must be given',
    path: ['TEMPERED_AGENT_API_URL'],
  });

/** The URL agents reach: the configured one, else the listener's address. */
export function publicUrlOf(config: { TEMPERED_AGENT_API_URL?: string; TEMPERED_AGENT_API_HOST: string; TEMPERED_AGENT_API_PORT: number; TEMPERED_AGENT_API_CERT_FILE?: string }): string {
  if (config.TEMPERED_AGENT_API_URL) return config.TEMPERED_AGENT_API_URL.replace(/\/+$/, '');
  const host = config.TEMPERED_AGENT_API_HOST === '0.0.0.0' || config.TEMPERED_AGENT_API_HOST === '::' ? '127.0.0.1' : config.TEMPERED_AGENT_API_HOST;
  return `${config.TEMPERED_AGENT_API_CERT_FILE ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${config.TEMPERED_AGENT_API_PORT}`;
}


/** Runs the agent API process until SIGTERM/SIGINT (workers/entrypoint.ts, or this file run directly). */
export async function main(): Promise<void> {
  const config = parseEnv(AgentApiConfigSchema);
  const logger = createLogger('tempered-agent-api');
  const health = await startHealthServer({ name: 'agent-api', port: config.TEMPERED_METRICS_PORT, host: config.TEMPERED_METRICS_HOST, logger });
  const temporal = temporalFromEnv();
  const keys = loadAgentKeys({ ...(config.TEMPERED_AGENT_KEY_FILE ? { file: config.TEMPERED_AGENT_KEY_FILE } : {}), ...(config.TEMPERED_AGENT_KEY ? { value: config.TEMPERED_AGENT_KEY } : {}) });

  const kubeConfig = loadKubeConfig(config.KUBECONFIG);
  const kube = createKube({ kubeConfig, qps: config.TEMPERED_KUBE_API_QPS, burst: config.TEMPERED_KUBE_API_BURST });
  const namespaces = config.WATCH_NAMESPACE.length > 0 ? config.WATCH_NAMESPACE : [undefined];
  const informers = <T extends KubeObject>(what: string, listWatch: (ns?: string) => ReturnType<typeof kube.hosts.listWatch>) =>
    new InformerGroup<T>(
      namespaces.map(
        (ns) =>
          new Informer<T>({
            listWatch: listWatch(ns),
            project: (raw) => cachedObject(raw) as T | undefined,
            key: keyOf,
            resourceVersion: (o) => o.metadata.resourceVersion ?? '',
            onError: (err, retryInMs) => logger.warn({ informer: `${what}${ns ? ` in ${ns}` : ''}`, err: (err as Error)?.message, retryInMs }, 'watch failed; retrying'),
          }),
      ),
    );
  const hostInformers = informers<HostObject>('baremetalhosts', (ns) => kube.hosts.listWatch(ns));
  const hardwareInformers = informers<KubeObject>('hardwaredata', (ns) => kube.hardwareData.listWatch(ns));
  const index = new HostIndex(hostInformers, hardwareInformers);
  hostInformers.start();
  hardwareInformers.start();

  const connection = await Connection.connect(temporal.connectionOptions);
  // The same payload protection as the worker: agent messages carry MACs and inventories, kept encrypted.
  const protection = payloadProtectionFromEnv();
  const client = new Client({ connection, namespace: temporal.namespace, dataConverter: clientDataConverter(protection) });
  health.addReadinessCheck('temporal', temporalReadiness(connection));
  health.addReadinessCheck('kubernetes', kubernetesReadiness(kubeConfig));
  health.addReadinessCheck('informers', () => {
    if (!hostInformers.hasSynced || !hardwareInformers.hasSynced) throw new Error('informers not synced yet');
    return `${index.size} hosts known`;
  });
  // The images part remasters (xorriso: the boot configurations get the kernel parameters, the rest is kept).
  const remaster: RemasterIso = (input) => buildDeployIso({ ...input, ...(config.TEMPERED_XORRISO ? { xorriso: config.TEMPERED_XORRISO } : {}) });
  const isos = new DeployIsoStore({ dir: config.TEMPERED_AGENT_ISO_DIR, remaster });
  const sweeper = setInterval(() => isos.sweep(), 5 * 60_000);
  sweeper.unref();

  await Promise.all([hostInformers.waitForSync(), hardwareInformers.waitForSync()]);
  const tls = config.TEMPERED_AGENT_API_CERT_FILE && config.TEMPERED_AGENT_API_KEY_FILE
    ? { cert: readFileSync(config.TEMPERED_AGENT_API_CERT_FILE), key: readFileSync(config.TEMPERED_AGENT_API_KEY_FILE) }
    : undefined;
  const publicUrl = publicUrlOf(config);
  const api = await startAgentApi({
    host: config.TEMPERED_AGENT_API_HOST,
    port: config.TEMPERED_AGENT_API_PORT,
    ...(tls ? { tls } : {}),
    publicUrl,
    keys,
    hosts: index,
    messenger: temporalMessenger(client, { deadlineMs: config.TEMPERED_AGENT_API_MESSAGE_DEADLINE_SECONDS * 1000 }),
    isos,
    extraKernelParams: config.TEMPERED_AGENT_KERNEL_PARAMS,
    logger,
  });

  onShutdown(logger, async () => {
    await api.stop(config.TEMPERED_SHUTDOWN_GRACE_SECONDS * 1000);
    clearInterval(sweeper);
    await Promise.all([hostInformers.stop(), hardwareInformers.stop()]);
    await health.stop();
    await connection.close();
    logger.info('agent API stopped');
  });
  logger.info({ url: publicUrl, listen: api.url, hosts: index.size, namespaces: config.WATCH_NAMESPACE.length > 0 ? config.WATCH_NAMESPACE : 'all', temporal: temporal.summary }, 'agent API serving');
}

if (import.meta.main) await main();
