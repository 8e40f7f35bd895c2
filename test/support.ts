/** Test support shared by integration tests: unique names, captured logs, the fake host workflow's bundle. */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import pino, { type Logger } from 'pino';
import { QUIET_BUNDLER_LOGGER } from '../workers/workflow-bundle.ts';

/** A name no other test run uses. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A pino logger at debug level whose JSON lines are kept in memory (to scan them for secrets). */
export function capturedLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** The fake host workflow, bundled. */
export function bundleFakeHostWorkflow(): ReturnType<typeof bundleWorkflowCode> {
  return bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./workflows/fake-host.ts', import.meta.url)), logger: QUIET_BUNDLER_LOGGER });
}
