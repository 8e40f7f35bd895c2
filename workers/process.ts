/**
 * What every Tempered process shares: configuration from the environment (validated with zod; the Temporal
 * connection is in temporal-config.ts, the health and metrics endpoint in health.ts), a pino logger (JSON,
 * pretty in a terminal, credentials redacted), the Temporal runtime wired to that logger, and a graceful
 * shutdown on SIGTERM/SIGINT.
 */
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import pino, { type Logger } from 'pino';
import type { z } from 'zod';
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

/** Routes the Temporal SDK's and Core's logs to pino. Call once per process, before any Temporal use. */
export function installTemporalRuntime(logger: Logger): void {
  const sdkLevel = (process.env.TEMPORAL_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel;
  Runtime.install({
    logger: new DefaultLogger(sdkLevel, (entry) => {
      const level = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
      logger[level]({ ...entry.meta, component: 'temporal' }, entry.message);
    }),
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: sdkLevel }) } },
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
