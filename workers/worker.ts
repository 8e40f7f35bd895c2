/**
 * The worker process: runs the host workflows, their operation children and the BMC activities on the host
 * task queue. Composition only: configuration from the environment, logger, connections, the BMC connection
 * pool, graceful drain on SIGTERM.
 *
 *   TEMPORAL_ADDRESS=127.0.0.1:7233 KUBECONFIG=... node workers/worker.ts
 */
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { NativeConnection, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { BmcConnectionPool } from '../activities/bmc/pool.ts';
import { kubeCredentialsSource } from '../activities/credentials.ts';
import { createActivities } from '../activities/index.ts';
import { createClusterJoinActivities } from '../activities/cluster-join.ts';
import { HOST_TASK_QUEUE } from '../domain/names.ts';
import { TemporalEnvSchema, createLogger, installTemporalRuntime, onShutdown, parseEnv, temporalConnectionOptions } from './process.ts';

const ConfigSchema = TemporalEnvSchema.extend({
  TEMPERED_HOST_TASK_QUEUE: z.string().min(1).default(HOST_TASK_QUEUE),
  /** Workflows kept in the sticky cache: keep it above the hosts in flight (a small cache costs CPU). */
  TEMPERED_MAX_CACHED_WORKFLOWS: z.coerce.number().int().positive().default(2000),
  TEMPERED_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().positive().default(200),
  TEMPERED_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().nonnegative().default(20),
});

async function main(): Promise<void> {
  const config = parseEnv(ConfigSchema);
  const logger = createLogger('tempered-worker');
  installTemporalRuntime(logger);

  const kubeconfig = new k8s.KubeConfig();
  kubeconfig.loadFromDefault();
  const pool = new BmcConnectionPool();
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPERED_HOST_TASK_QUEUE,
    workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
    activities: {
      ...createActivities({ credentials: kubeCredentialsSource(kubeconfig), drivers: pool }),
      ...createClusterJoinActivities({ kubeconfig }),
    },
    maxCachedWorkflows: config.TEMPERED_MAX_CACHED_WORKFLOWS,
    maxConcurrentActivityTaskExecutions: config.TEMPERED_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentLocalActivityExecutions: config.TEMPERED_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskPolls: 20,
    nonStickyToStickyPollRatio: 1,
    shutdownGraceTime: `${config.TEMPERED_SHUTDOWN_GRACE_SECONDS} seconds`,
  });
  const running = worker.run().finally(async () => {
    await pool.close();
    await connection.close();
    logger.info('worker stopped');
  });
  onShutdown(logger, async () => {
    worker.shutdown();
    await running;
  });
  logger.info({ taskQueue: config.TEMPERED_HOST_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE, address: config.TEMPORAL_ADDRESS }, 'worker polling');
  await running;
}

await main();
