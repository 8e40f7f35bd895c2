/**
 * The bridge process: syncs BareMetalHosts (and their credentials Secrets) into host workflows and serves the
 * status activities on the bridge task queue, while it holds the Lease; serves the validating webhook when
 * given certificates. Composition only: configuration from the environment (zod), logger, connections,
 * graceful drain on SIGTERM/SIGINT (informers stopped, worker drained, Lease released).
 *
 *   TEMPORAL_ADDRESS=127.0.0.1:7233 KUBECONFIG=~/.kube/config node workers/bridge.ts
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import { z } from 'zod';
import { BRIDGE_TASK_QUEUE, HOST_TASK_QUEUE } from '../domain/names.ts';
import { Bridge } from '../bridge/bridge.ts';
import { DEFAULT_PROVISIONING_LIMIT } from '../bridge/provisioning-limit.ts';
import { createKube, loadKubeConfig } from '../bridge/kube.ts';
import { BridgeMetrics } from '../bridge/metrics.ts';
import { EncryptionEnvSchema, clientDataConverter, workerDataConverter } from './data-converter.ts';
import { HealthEnvSchema, kubernetesReadiness, startHealthServer, temporalReadiness } from './health.ts';
import { createLogger, installTemporalRuntime, onShutdown, parseEnv, payloadProtectionFromEnv, temporalFromEnv } from './process.ts';
import { TemporalEnvSchema } from './temporal-config.ts';

const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

const positive = () => z.coerce.number().positive();
const list = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''));

/** The bridge's configuration: Temporal's standard variables, Kubernetes', BMO's WATCH_NAMESPACE, and ours. */
export const BridgeConfigSchema = TemporalEnvSchema.extend(HealthEnvSchema.shape).extend(EncryptionEnvSchema.shape).extend({
  /** A kubeconfig file; without it, the in-cluster service account (in a pod) or the default rules. */
  KUBECONFIG: z.string().optional(),
  /** Namespaces to watch, comma-separated (BMO's variable); empty: all namespaces. */
  WATCH_NAMESPACE: list,
  TEMPERED_HOST_TASK_QUEUE: z.string().min(1).default(HOST_TASK_QUEUE),
  TEMPERED_BRIDGE_TASK_QUEUE: z.string().min(1).default(BRIDGE_TASK_QUEUE),
  /** Client-side request budget against the apiserver (BMO: -kube-api-qps 20, -kube-api-burst 30). */
  TEMPERED_KUBE_API_QPS: positive().default(20),
  TEMPERED_KUBE_API_BURST: z.coerce.number().int().positive().default(30),
  TEMPERED_LEASE_NAME: z.string().min(1).default('tempered-bridge'),
  /** Default: POD_NAMESPACE, else the pod's own namespace, else "default". */
  TEMPERED_LEASE_NAMESPACE: z.string().optional(),
  /** Default: POD_NAME, else host name, process id and a random suffix. */
  TEMPERED_LEASE_IDENTITY: z.string().optional(),
  TEMPERED_LEASE_DURATION_SECONDS: positive().default(15),
  TEMPERED_LEASE_RENEW_DEADLINE_SECONDS: positive().default(10),
  TEMPERED_LEASE_RETRY_PERIOD_SECONDS: positive().default(2),
  /** Reconciles in flight (BMO_CONCURRENCY: the CPU count clamped to 2-8). */
  TEMPERED_BRIDGE_CONCURRENCY: z.coerce.number().int().positive().default(Math.min(8, Math.max(2, availableParallelism()))),
  /** Status publications the bridge runs at once, and how many long polls it keeps open for them. */
  TEMPERED_BRIDGE_PUBLICATIONS: z.coerce.number().int().positive().default(50),
  TEMPERED_BRIDGE_PUBLICATION_POLLS: z.coerce.number().int().min(2).default(10),
  TEMPERED_RESYNC_SECONDS: positive().default(600),
  TEMPERED_SHUTDOWN_GRACE_SECONDS: z.coerce.number().nonnegative().default(10),
  /** Hosts inspecting, provisioning or deprovisioning at once; the others wait, `delayed` (BMO's variable). */
  PROVISIONING_LIMIT: z.coerce.number().int().positive().default(DEFAULT_PROVISIONING_LIMIT),
  /** `count`: hosts booting through virtual media count towards PROVISIONING_LIMIT too (BMO: `exempt`). */
  TEMPERED_PROVISIONING_LIMIT_VIRTUAL_MEDIA: z.enum(['exempt', 'count']).default('exempt'),
  /** How long a CAPM3 host's Node may take to be Ready before the host shows a warning (hosts started from now). */
  TEMPERED_NODE_JOIN_TIMEOUT_SECONDS: positive().optional(),
  /** How long a firmware rollout may take to drain a joined host's Node before the host fails (hosts started from now). */
  TEMPERED_DRAIN_TIMEOUT_SECONDS: positive().optional(),
  POD_NAME: z.string().optional(),
  POD_NAMESPACE: z.string().optional(),
  /** Validating webhook: mounted certificate files (in a cluster)... */
  TEMPERED_ADMISSION_CERT_FILE: z.string().optional(),
  TEMPERED_ADMISSION_KEY_FILE: z.string().optional(),
  TEMPERED_ADMISSION_CA_FILE: z.string().optional(),
  /**
   * ...or a directory to make local certificates in (the local stack): the webhook is then registered with the
   * apiserver at start (for the watched namespaces only, when WATCH_NAMESPACE is set) and removed at shutdown.
   */
  TEMPERED_ADMISSION_LOCAL_CERT_DIR: z.string().optional(),
  TEMPERED_ADMISSION_HOST: z.string().optional(),
  TEMPERED_ADMISSION_PORT: z.coerce.number().int().nonnegative().optional(),
}).refine((c) => c.TEMPERED_LEASE_RENEW_DEADLINE_SECONDS < c.TEMPERED_LEASE_DURATION_SECONDS, {
  message: 'TEMPERED_LEASE_RENEW_DEADLINE_SECONDS must be less than TEMPERED_LEASE_DURATION_SECONDS',
  path: ['TEMPERED_LEASE_RENEW_DEADLINE_SECONDS'],
});
export type BridgeConfig = z.infer<typeof BridgeConfigSchema>;

function leaseNamespace(config: BridgeConfig): string {
  if (config.TEMPERED_LEASE_NAMESPACE) return config.TEMPERED_LEASE_NAMESPACE;
  if (config.POD_NAMESPACE) return config.POD_NAMESPACE;
  if (existsSync(IN_CLUSTER_NAMESPACE_FILE)) return readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim();
  return 'default';
}

/**
 * ADMISSION HOOK: the validating webhook (bridge/admission/, BMO's rules) runs in every bridge, leader or
 * not (it holds no state). Started when certificates are configured; returns its stop function.
 */
async function startAdmission(config: BridgeConfig, kc: ReturnType<typeof loadKubeConfig>, logger: Logger): Promise<(() => Promise<void>) | undefined> {
  const local = config.TEMPERED_ADMISSION_LOCAL_CERT_DIR;
  if (!local && !(config.TEMPERED_ADMISSION_CERT_FILE && config.TEMPERED_ADMISSION_KEY_FILE)) return undefined;
  const admission = await import('../bridge/admission/index.ts');
  const certs = local
    ? admission.makeLocalWebhookCertificates(local)
    : { certFile: config.TEMPERED_ADMISSION_CERT_FILE as string, keyFile: config.TEMPERED_ADMISSION_KEY_FILE as string, caFile: config.TEMPERED_ADMISSION_CA_FILE };
  const server = await admission.startAdmissionServer({
    ...certs,
    host: config.TEMPERED_ADMISSION_HOST ?? (local ? '127.0.0.1' : '0.0.0.0'),
    port: config.TEMPERED_ADMISSION_PORT ?? (local ? 0 : 9443),
    logger: logger.child({ component: 'admission' }),
  });
  if (!local) {
    // In a cluster deploy/base/webhook/ registers the Service that fronts this server.
    logger.info({ url: server.validateUrl }, 'admission webhook serving');
    return () => server.stop();
  }
  // Outside a cluster the apiserver is told where to call. A bridge watching some namespaces registers for
  // those only, under a name of their own, so bridges on one apiserver (tests) do not replace each other.
  const namespaces = config.WATCH_NAMESPACE;
  const name = namespaces.length === 0 ? admission.DEFAULT_CONFIGURATION_NAME : `${admission.DEFAULT_CONFIGURATION_NAME}-${createHash('sha256').update(namespaces.join(',')).digest('hex').slice(0, 10)}`;
  await admission.registerAdmissionWebhook(kc, {
    name,
    clientConfig: { url: server.validateUrl, caBundle: server.caBundle },
    ...(namespaces.length > 0 ? { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: namespaces }] } } : {}),
  });
  logger.info({ url: server.validateUrl, registration: name }, 'admission webhook serving and registered');
  return async () => {
    await server.stop();
    // failurePolicy Fail: a registration pointing at a stopped local server would refuse every write.
    // Remove it, unless another bridge has registered itself since.
    const current = await kc.makeApiClient(AdmissionregistrationV1Api).readValidatingWebhookConfiguration({ name }).catch(() => undefined);
    if (current?.webhooks?.[0]?.clientConfig?.url === server.validateUrl) await admission.unregisterAdmissionWebhook(kc, name);
  };
}

/** Runs the bridge process until SIGTERM/SIGINT (workers/entrypoint.ts, or this file run directly). */
export async function main(): Promise<void> {
  const config = parseEnv(BridgeConfigSchema);
  const logger = createLogger('tempered-bridge');
  const health = await startHealthServer({ name: 'bridge', port: config.TEMPERED_METRICS_PORT, host: config.TEMPERED_METRICS_HOST, logger });
  await installTemporalRuntime(logger, health);
  const temporal = temporalFromEnv();
  const protection = payloadProtectionFromEnv();
  const identity = config.TEMPERED_LEASE_IDENTITY ?? config.POD_NAME ?? `${hostname()}_${process.pid}_${randomBytes(3).toString('hex')}`;

  const metrics = new BridgeMetrics(health.registry);
  const kubeConfig = loadKubeConfig(config.KUBECONFIG);
  const kube = createKube({
    onRequest: (method, code, seconds, host) => metrics.kubeRequest(method, code, seconds, host),
    onRateLimited: (method, seconds, host) => metrics.kubeRateLimited(method, seconds, host),
    kubeConfig,
    qps: config.TEMPERED_KUBE_API_QPS,
    burst: config.TEMPERED_KUBE_API_BURST,
    onRetry: (what, error, attempt, delayMs) => logger.debug({ what, code: error.code, attempt, delayMs }, 'kubernetes call retried'),
  });
  const stopAdmission = await startAdmission(config, kubeConfig, logger);

  const connection = await Connection.connect(temporal.connectionOptions);
  const nativeConnection = await NativeConnection.connect(temporal.connectionOptions);
  const client = new Client({ connection, namespace: temporal.namespace, dataConverter: clientDataConverter(protection) });

  const bridge = new Bridge({
    kube,
    temporal: { client, connection: nativeConnection, namespace: temporal.namespace, dataConverter: workerDataConverter(protection) },
    hostTaskQueue: config.TEMPERED_HOST_TASK_QUEUE,
    bridgeTaskQueue: config.TEMPERED_BRIDGE_TASK_QUEUE,
    namespaces: config.WATCH_NAMESPACE,
    identity,
    lease: {
      namespace: leaseNamespace(config),
      name: config.TEMPERED_LEASE_NAME,
      leaseDurationMs: config.TEMPERED_LEASE_DURATION_SECONDS * 1000,
      renewDeadlineMs: config.TEMPERED_LEASE_RENEW_DEADLINE_SECONDS * 1000,
      retryPeriodMs: config.TEMPERED_LEASE_RETRY_PERIOD_SECONDS * 1000,
    },
    concurrency: config.TEMPERED_BRIDGE_CONCURRENCY,
    maxConcurrentActivities: config.TEMPERED_BRIDGE_PUBLICATIONS,
    activityPolls: Math.min(config.TEMPERED_BRIDGE_PUBLICATION_POLLS, config.TEMPERED_BRIDGE_PUBLICATIONS),
    resyncPeriodMs: config.TEMPERED_RESYNC_SECONDS * 1000,
    shutdownGraceMs: config.TEMPERED_SHUTDOWN_GRACE_SECONDS * 1000,
    provisioningLimit: { limit: config.PROVISIONING_LIMIT, countVirtualMedia: config.TEMPERED_PROVISIONING_LIMIT_VIRTUAL_MEDIA === 'count' },
    metrics,
    hostWorkflowConfig: {
      ...(config.TEMPERED_NODE_JOIN_TIMEOUT_SECONDS ? { nodeJoinTimeoutSeconds: config.TEMPERED_NODE_JOIN_TIMEOUT_SECONDS } : {}),
      ...(config.TEMPERED_DRAIN_TIMEOUT_SECONDS ? { drainTimeoutSeconds: config.TEMPERED_DRAIN_TIMEOUT_SECONDS } : {}),
    },
    logger,
  });
  health.addReadinessCheck('temporal', temporalReadiness(connection));
  health.addReadinessCheck('kubernetes', kubernetesReadiness(kubeConfig));
  // A standby bridge is ready (it serves the webhook); the leader once its informers have synced.
  health.addReadinessCheck('informers', () => {
    const term = bridge.term;
    if (!term) return 'standby: not leading';
    if (!term.ready) throw new Error('leading; informers not synced yet');
    return 'leading; informers synced';
  });
  onShutdown(logger, async () => {
    await bridge.stop();
    await stopAdmission?.();
    await health.stop();
    await nativeConnection.close();
    await connection.close();
    logger.info({ writes: kube.counters.writes, reads: kube.counters.reads, retries: kube.counters.retries, conflicts: kube.counters.conflicts }, 'bridge drained');
  });
  bridge.start();
  logger.info({ temporal: temporal.summary, payloads: protection.summary }, 'bridge connected');
}

if (import.meta.main) await main();
