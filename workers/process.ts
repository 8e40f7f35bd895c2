/**
 * What every Tempered process shares: configuration from the environment (validated with zod; the Temporal
 * connection is in temporal-config.ts, the health and metrics endpoint in health.ts, payload encryption in
 * data-converter.ts), a pino logger (JSON, pretty in a terminal, credentials redacted), the Temporal runtime
 * wired to that logger, and a graceful shutdown on SIGTERM/SIGINT.
 */
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import pino, { type Logger } from 'pino';
import type { z } from 'zod';
import { OPERATION_DURATION_BUCKETS, OPERATION_DURATION_METRIC } from '../domain/names.ts';
import { keyringFromEnv, protectionFromKeyring, type PayloadProtection } from './data-converter.ts';
import type { HealthServer } from './health.ts';
import { temporalSettings, type TemporalSettings } from './temporal-config.ts';

/** Parses `schema` from the environment, exiting with a readable message (never the values) when invalid. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
  process.stderr.write(`tempered: invalid configuration in the environment:\n${problems}\n`);
  process.exit(2);
}

/** The Temporal connection from the profile and environment (temporal-config.ts), exiting readably on error. */
export function temporalFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  try {
    return temporalSettings(env);
  } catch (error) {
    process.stderr.write(`tempered: cannot read the Temporal connection settings: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}

/** Payload encryption from the environment (data-converter.ts), exiting readably when keys are unusable. */
export function payloadProtectionFromEnv(env: NodeJS.ProcessEnv = process.env): PayloadProtection {
  try {
    return protectionFromKeyring(keyringFromEnv(env));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`tempered: cannot read the payload encryption keys: ${message}\n`);
    process.exit(2);
  }
}

/** Keys whose values are never logged, wherever they appear. */
const REDACT = ['password', '*.password', '*.*.password', 'credentials.password', 'token', '*.token', 'apiKey', '*.apiKey', 'authorization', '*.authorization', 'headers.authorization', 'stringData', 'data.password'];

/** A pino logger: JSON lines, or pretty output when stdout is a terminal (LOG_FORMAT=json|pretty overrides). */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  const pretty = process.env.LOG_FORMAT ? process.env.LOG_FORMAT === 'pretty' : process.stdout.isTTY;
  return pino({
    name,
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}

/**
 * Routes the Temporal SDK's and Core's logs to pino, and Core's metrics to the process's `/metrics`: Core's
 * Prometheus exporter listens on a loopback port of its own (the SDK has no way to hand its metrics to
 * prom-client), and the health endpoint appends what it serves, so one port and one scrape carry both. Call
 * once per process, before any Temporal use.
 */
export async function installTemporalRuntime(logger: Logger, health?: HealthServer): Promise<void> {
  const sdkLevel = (process.env.TEMPORAL_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel;
  const port = health ? await loopbackPort() : undefined;
  Runtime.install({
    // The SDK's default also shuts every worker down on SIGQUIT and SIGUSR2. SIGUSR2 is Node's heap-snapshot
    // signal (--heapsnapshot-signal): taking a snapshot of the bridge stopped its worker for good, since a
    // runtime that is shutting down stops every worker created after. SIGTERM and SIGINT also drain through
    // onShutdown.
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    logger: new DefaultLogger(sdkLevel, (entry) => {
      const level = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
      logger[level]({ ...entry.meta, component: 'temporal' }, entry.message);
    }),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: sdkLevel }) },
      ...(port
        ? {
            metrics: {
              prometheus: {
                bindAddress: `127.0.0.1:${port}`,
                useSecondsForDurations: true,
                histogramBucketOverrides: { [OPERATION_DURATION_METRIC]: OPERATION_DURATION_BUCKETS },
              },
            },
          }
        : {}),
    },
  });
  if (health && port) {
    const url = `http://127.0.0.1:${port}/metrics`;
    health.addMetricsSource(async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`the Temporal SDK's metrics exporter answered ${response.status}`);
      return response.text();
    });
  }
}

/** A free port on loopback (for Core's metrics exporter, which must be given one). */
function loopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Calls `stop` once on SIGTERM or SIGINT; a second signal exits at once. */
export function onShutdown(logger: Logger, stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'draining');
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
