/**
 * The worker process: runs the host workflows, their operation children and the BMC activities on the host
 * task queue. Composition only: configuration from the environment, logger, connections, the BMC connection
 * pool, the health and metrics endpoint, graceful drain on SIGTERM. Workflow code comes from the prebuilt
 * bundle next to the compiled code (`npm run build`, the image), else from the TypeScript sources (a checkout).
 *
 *   TEMPORAL_ADDRESS=127.0.0.1:7233 KUBECONFIG=... node workers/worker.ts
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { z } from 'zod';
import { BmcConnectionPool } from '../activities/bmc/pool.ts';
import { kubeCredentialsSource } from '../activities/credentials.ts';
import { kubePreprovisioningImages } from '../activities/agent/boot.ts';
import { createAgentActivities } from '../activities/agent/index.ts';
import { buildConfigDrive, kubeSecretReader } from '../activities/images/config-drive.ts';
import { createActivities } from '../activities/index.ts';
import { loadAgentKeys } from '../agent-api/token.ts';
import { createClusterJoinActivities } from '../activities/cluster-join.ts';
import { createDrainActivities } from '../activities/drain.ts';
import { HOST_TASK_QUEUE } from '../domain/names.ts';
import { EncryptionEnvSchema, workerDataConverter } from './data-converter.ts';
import { HealthEnvSchema, kubernetesReadiness, startHealthServer, temporalReadiness } from './health.ts';
import { bmcCallMetrics } from './metrics.ts';
import { stickyCacheSize } from './cache-size.ts';
import { WORKFLOWS_PATH, workflowBundleOptions } from './workflow-bundle.ts';
import { WorkflowSlotsEnvSchema, refineWorkflowSlots, workerSlots } from './workflow-slots.ts';
import { createLogger, installTemporalRuntime, onShutdown, parseEnv, payloadProtectionFromEnv, temporalFromEnv } from './process.ts';
import { TemporalEnvSchema } from './temporal-config.ts';

const ConfigSchema = TemporalEnvSchema.extend(HealthEnvSchema.shape).extend(EncryptionEnvSchema.shape).extend(WorkflowSlotsEnvSchema.shape).extend({
  TEMPERED_HOST_TASK_QUEUE: z.string().min(1).default(HOST_TASK_QUEUE),
  /**
   * Workflows kept in the sticky cache (a small cache costs CPU: evicted workflows replay their histories).
   * Default: as many as fit in TEMPERED_MEMORY_LIMIT_MIB (workers/cache-size.ts).
   */
  TEMPERED_MAX_CACHED_WORKFLOWS: z.coerce.number().int().positive().optional(),
  /** The container's memory limit in MiB (the manifest passes its own limit): sizes the sticky cache. */
  TEMPERED_MEMORY_LIMIT_MIB: z.coerce.number().int().positive().optional(),
  TEMPERED_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().nonnegative().default(20),
  /**
   * How long a workflow task waits for this worker on its sticky queue before it goes to the normal queue (where
   * any worker replays the whole history to run it). 60 s, not the SDK's 10: at 1,000 hosts on 2 cores 1.1 tasks
   * per host timed out at 10 s and were replayed (0.27 at 60 s; 337 s -> 305 s, 0.43 -> 0.39 engine CPU-s per
   * host, bench/results 2026-12-03). The cost: after a kill -9 (not a shutdown, which releases the queue) the
   * tasks already queued for the dead worker wait up to this long.
   */
  TEMPERED_STICKY_TIMEOUT_SECONDS: z.coerce.number().positive().default(60),
  /** The agent installation key (the agent API's): agent tokens derive from it. Without it no agent is commanded. */
  TEMPERED_AGENT_KEY_FILE: z.string().optional(),
  TEMPERED_AGENT_KEY: z.string().optional(),
  /** The agent API's URL as agents and BMCs reach it: deploy ISO URLs are signed under it. */
  TEMPERED_AGENT_API_URL: z.url().optional(),
  /** The deploy ramdisk ISO hosts boot when no PreprovisioningImage is ready (Metal3's DEPLOY_ISO_URL). */
  TEMPERED_IPA_ISO_URL: z.url().optional(),
  /** The xorriso binary that builds config drives (Debian's `xorriso`); default: on PATH. */
  TEMPERED_XORRISO: z.string().optional(),
  /** How often a firmware task is polled, and how long a task in Starting means "held for a host reboot". */
  TEMPERED_FIRMWARE_TASK_POLL_MS: z.coerce.number().int().positive().default(10_000),
  TEMPERED_FIRMWARE_HELD_AFTER_MS: z.coerce.number().int().positive().default(30_000),
}).superRefine(refineWorkflowSlots);

/** The prebuilt bundle `npm run build` writes beside the compiled workers (deploy/build.ts). */
const BUNDLE = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));

/**
 * The workflow code: the prebuilt bundle when present (production), else the sources, bundled at start (dev)
 * with the same shared modules as the prebuilt one (workers/workflow-bundle.ts).
 */
export function workflowSource(bundle = BUNDLE): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'bundlerOptions'> {
  if (existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  if (!existsSync(WORKFLOWS_PATH)) throw new Error(`no workflow code: neither ${bundle} nor ${WORKFLOWS_PATH} exists`);
  const { workflowsPath, preloadModules } = workflowBundleOptions();
  return { workflowsPath, bundlerOptions: { preloadModules } };
}

/** Runs the worker process until SIGTERM/SIGINT (workers/entrypoint.ts, or this file run directly). */
export async function main(): Promise<void> {
  const config = parseEnv(ConfigSchema);
  const logger = createLogger('tempered-worker');
  const health = await startHealthServer({ name: 'worker', port: config.TEMPERED_METRICS_PORT, host: config.TEMPERED_METRICS_HOST, logger });
  await installTemporalRuntime(logger, health);
  const temporal = temporalFromEnv();
  const protection = payloadProtectionFromEnv();

  const kubeconfig = new k8s.KubeConfig();
  kubeconfig.loadFromDefault();
  const pool = new BmcConnectionPool();
  const secrets = kubeSecretReader(kubeconfig);
  const agentKeys = config.TEMPERED_AGENT_KEY_FILE || config.TEMPERED_AGENT_KEY
    ? loadAgentKeys({ ...(config.TEMPERED_AGENT_KEY_FILE ? { file: config.TEMPERED_AGENT_KEY_FILE } : {}), ...(config.TEMPERED_AGENT_KEY ? { value: config.TEMPERED_AGENT_KEY } : {}) })
    : undefined;
  const connection = await NativeConnection.connect(temporal.connectionOptions);
  const workflows = workflowSource();
  const cache = stickyCacheSize({ memoryLimitMiB: config.TEMPERED_MEMORY_LIMIT_MIB, override: config.TEMPERED_MAX_CACHED_WORKFLOWS });
  logger.info({ maxCachedWorkflows: cache.maxCachedWorkflows, from: cache.reason }, 'sticky cache size');
  const slots = workerSlots(config);
  logger.info(slots.summary, 'task slots');
  const worker = await Worker.create({
    connection,
    namespace: temporal.namespace,
    taskQueue: config.TEMPERED_HOST_TASK_QUEUE,
    ...workflows,
    dataConverter: workerDataConverter(protection),
    activities: {
      ...createActivities({
        credentials: kubeCredentialsSource(kubeconfig),
        drivers: pool,
        firmware: { taskPollMs: config.TEMPERED_FIRMWARE_TASK_POLL_MS, heldAfterMs: config.TEMPERED_FIRMWARE_HELD_AFTER_MS },
        observe: bmcCallMetrics(health.registry),
      }),
      ...createClusterJoinActivities({ kubeconfig }),
      ...createDrainActivities({ kubeconfig }),
      ...createAgentActivities({
        keys: agentKeys,
        boot: { apiUrl: config.TEMPERED_AGENT_API_URL, ipaIsoUrl: config.TEMPERED_IPA_ISO_URL, preprovisioningImage: kubePreprovisioningImages(kubeconfig) },
        configDrive: (request) => buildConfigDrive(request, { secrets, ...(config.TEMPERED_XORRISO ? { xorriso: config.TEMPERED_XORRISO } : {}) }),
      }),
    },
    maxCachedWorkflows: cache.maxCachedWorkflows,
    tuner: slots.tuner,
    maxConcurrentWorkflowTaskPolls: 20,
    nonStickyToStickyPollRatio: 1,
    stickyQueueScheduleToStartTimeout: `${config.TEMPERED_STICKY_TIMEOUT_SECONDS} seconds`,
    shutdownGraceTime: `${config.TEMPERED_SHUTDOWN_GRACE_SECONDS} seconds`,
  });
  health.addReadinessCheck('worker', () => {
    if (worker.getState() !== 'RUNNING') throw new Error(`the worker is ${worker.getState().toLowerCase()}`);
  });
  health.addReadinessCheck('temporal', temporalReadiness(connection));
  health.addReadinessCheck('kubernetes', kubernetesReadiness(kubeconfig));
  const running = worker.run().finally(async () => {
    await pool.close();
    await connection.close();
    await health.stop();
    logger.info('worker stopped');
  });
  onShutdown(logger, async () => {
    worker.shutdown();
    await running;
  });
  logger.info(
    { taskQueue: config.TEMPERED_HOST_TASK_QUEUE, temporal: temporal.summary, payloads: protection.summary, workflows: workflows.workflowBundle ? 'prebuilt bundle' : 'sources' },
    'worker polling',
  );
  await running;
}

if (import.meta.main) await main();
