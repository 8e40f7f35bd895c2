/**
 * `tempered host`: one host, as its Temporal histories know it.
 *
 * `history NS/NAME` prints the host's timeline (cli/timeline.ts): every run of its host workflow and every
 * operation child, decoded with the installation's keys or through a codec server, as a table or `--json`.
 * `abort NS/NAME` aborts the operation the host runs now through the workflow's `abortOperation` update: the
 * host records the abort as its error and waits for a change; with nothing running it says so (exit 1).
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { parseArgs } from 'node:util';
import { hostWorkflowId } from '../domain/names.ts';
import { abortOperation, hostState } from '../workflows/messages.ts';
import { UsageError, isUsageError, openTemporal, parseHostRef, table, type CliTemporal } from './connect.ts';
import { hostTimeline, type Execution } from './timeline.ts';

export const usage = [
  'usage: tempered host <command> NAMESPACE/NAME [options]',
  '',
  'commands:',
  "  history   the host's timeline: states, operations, BMC calls with their times, retries and errors",
  '  abort     abort the operation the host is running (it records the abort as its error and waits)',
  '',
  'tempered host history NS/NAME [--json] [--codec-endpoint URL]',
  'tempered host abort NS/NAME [--reason TEXT] [--json] [--codec-endpoint URL]',
  '',
  'Temporal is found as the Temporal CLI finds it (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, temporal.toml profiles).',
  'Encrypted payloads are read with TEMPERED_ENCRYPTION_KEYS_FILE, or through a codec server (--codec-endpoint,',
  'or TEMPORAL_CODEC_ENDPOINT with TEMPORAL_CODEC_AUTH), as `tempered codec-server` serves it.',
].join('\n');

/** Every execution of a host: the host workflow's runs and its operation children (every run of each). */
export async function hostExecutions(temporal: CliTemporal, namespace: string, name: string): Promise<Execution[]> {
  const id = hostWorkflowId(namespace, name);
  const executions: Execution[] = [];
  for await (const e of temporal.client.workflow.list({
    query: `WorkflowId = "${id}" OR WorkflowId STARTS_WITH "${id}/"`,
  })) {
    const history = await temporal.client.workflow.getHandle(e.workflowId, e.runId).fetchHistory();
    executions.push({ workflowId: e.workflowId, runId: e.runId, history });
  }
  return executions;
}

async function runHistory(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      'codec-endpoint': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return console.log(usage), 0;
  const { namespace, name } = parseHostRef(positionals[0]);
  const temporal = await openTemporal(values['codec-endpoint'] ? { codecEndpoint: values['codec-endpoint'] } : {});
  try {
    const executions = await hostExecutions(temporal, namespace, name);
    if (executions.length === 0) {
      console.error(
        `tempered host history: no workflow history for ${namespace}/${name} ` +
          `in Temporal namespace ${temporal.namespace}`,
      );
      return 1;
    }
    const entries = await hostTimeline(executions, temporal.converter);
    if (values.json) {
      console.log(JSON.stringify({ host: `${namespace}/${name}`, executions: executions.length, entries }, null, 2));
      return 0;
    }
    console.log(`${namespace}/${name}: ${executions.length} executions, ${entries.length} entries (times in UTC)\n`);
    console.log(
      table(
        ['TIME', 'WHERE', 'WHAT'],
        entries.map((e) => [e.time.replace('T', ' ').replace('Z', ''), e.where, e.text]),
      ),
    );
    return 0;
  } finally {
    await temporal.close();
  }
}

async function runAbort(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      reason: { type: 'string', default: 'aborted with tempered host abort' },
      json: { type: 'boolean', default: false },
      'codec-endpoint': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return console.log(usage), 0;
  const { namespace, name } = parseHostRef(positionals[0]);
  const temporal = await openTemporal(values['codec-endpoint'] ? { codecEndpoint: values['codec-endpoint'] } : {});
  const handle = temporal.client.workflow.getHandle(hostWorkflowId(namespace, name));
  try {
    let result: { aborted: string | null };
    try {
      result = await handle.executeUpdate(abortOperation, { args: [{ reason: values.reason }] });
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        console.error(
          `tempered host abort: ${namespace}/${name} has no running host workflow (no such host, or it is gone)`,
        );
        return 1;
      }
      throw error;
    }
    const state = await handle.query(hostState);
    const where = `${state.provisioningState || 'new'}, ${state.operationalStatus || 'OK'}`;
    if (values.json)
      console.log(
        JSON.stringify({ host: `${namespace}/${name}`, aborted: result.aborted, state: state.provisioningState }),
      );
    else if (result.aborted) {
      console.log(
        `aborted the ${result.aborted} operation of ${namespace}/${name}; ` +
          `the host records it as its error and waits for a change (${where})`,
      );
    } else console.log(`nothing to abort: ${namespace}/${name} runs no operation now (${where})`);
    return result.aborted ? 0 : 1;
  } finally {
    await temporal.close();
  }
}

/** Entry point of `tempered host`. */
export async function run(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case 'history':
        return await runHistory(rest);
      case 'abort':
        return await runAbort(rest);
      case undefined:
      case '--help':
      case '-h':
        console.log(usage);
        return command ? 0 : 2;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (isUsageError(error)) {
      console.error(`tempered host: ${(error as Error).message}\n\n${usage}`);
      return 2;
    }
    console.error(`tempered host ${command}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
