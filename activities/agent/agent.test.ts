/**
 * The agent command client and the long-command runner against a fake agent (test/fakes/agent-server.ts):
 * the token on every call, TLS pinned to the agent's own certificate, busy agents waited for, a started
 * command adopted instead of started twice, and failures typed with the codes of their cause.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { selfSignedCertificate, startFakeAgent, type FakeAgent } from '../../test/fakes/agent-server.ts';
import { waitFor } from '../../test/wait.ts';
import { AgentKeys } from '../../agent-api/token.ts';
import { AgentClient, AgentError } from './client.ts';
import { createAgentActivities, runCommand } from './index.ts';

const timing = { commandTimeoutMs: 5_000, pollIntervalMs: 20, unreachableTimeoutMs: 400 };
const TOKEN = 'b1.token-of-this-boot-which-is-long-enough-to-adopt';
const agents: FakeAgent[] = [];
const clients: AgentClient[] = [];

async function agent(tls = false): Promise<FakeAgent> {
  const a = await startFakeAgent({ token: TOKEN, tls });
  agents.push(a);
  return a;
}
function client(a: FakeAgent, overrides: Partial<{ token: string; verifyCa: string; timeoutMs: number }> = {}): AgentClient {
  const c = new AgentClient({ url: a.url, token: TOKEN, ...(a.pem ? { verifyCa: a.pem } : {}), timeoutMs: 5_000, ...overrides });
  clients.push(c);
  return c;
}

/** Waits until the client polls the command it started: three requests (list, execute, a poll), the second a start. */
const commandPolled = (a: FakeAgent) =>
  waitFor('the client polling its running command', () => a.started.get(write.name) === 1 && a.tokens.length >= 3, { intervalMs: 5 });

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});

const write = { name: 'deploy.execute_deploy_step', params: { step: { interface: 'deploy', step: 'write_image', priority: 80 } }, step: 'write_image', timing };

describe('agent client', () => {
  it('sends the boot token as the agent_token query parameter', async () => {
    const a = await agent();
    a.behave('deploy.get_deploy_steps', { result: { deploy_steps: {}, hardware_manager_version: {} } });
    const result = await client(a).execute('deploy.get_deploy_steps', { node: {}, ports: [] }, { wait: true });
    expect(result.command_status).toBe('SUCCEEDED');
    expect(a.tokens).toEqual([TOKEN]);
  });

  it('a wrong token is AgentRejected and its message does not contain the token', async () => {
    const a = await agent();
    const error = await client(a, { token: 'b1.another-token-for-another-boot-entirely' }).listCommands().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentError);
    expect((error as AgentError).code).toBe('AgentRejected');
    expect((error as AgentError).message).toContain('refused the token');
    expect((error as AgentError).message).not.toContain('another-token');
  });

  it('pins TLS to the PEM from the heartbeat and refuses any other certificate', async () => {
    const a = await agent(true);
    expect(await client(a).listCommands()).toEqual([]);
    const other = selfSignedCertificate().cert;
    const error = (await client(a, { verifyCa: other }).listCommands().catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe('AgentUnreachable');
    expect(error.message).toMatch(/TLS|certificate/);
  });

  it('an agent that does not listen is AgentUnreachable (retryable)', async () => {
    const a = await agent();
    await a.stop();
    const error = (await client(a).listCommands().catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe('AgentUnreachable');
    expect(error.retryable).toBe(true);
  });
});

describe('long commands', () => {
  it('starts the command once, reads it back until it ends, and returns its result', async () => {
    const a = await agent();
    a.behave('deploy.execute_deploy_step', { durationMs: 150 });
    const outcome = await runCommand(client(a), write);
    expect(outcome.adopted).toBe(false);
    expect(outcome.result).toMatchObject({ deploy_step: { step: 'write_image' } });
    expect(a.started.get('deploy.execute_deploy_step')).toBe(1);
  });

  it('adopts the command a crashed attempt started instead of starting a second write', async () => {
    const a = await agent();
    a.behave('deploy.execute_deploy_step', { durationMs: 200 });
    await client(a).execute(write.name, write.params, { wait: false }); // the first attempt, then it "crashed"
    const outcome = await runCommand(client(a), write);
    expect(outcome.adopted).toBe(true);
    expect(a.started.get('deploy.execute_deploy_step')).toBe(1);
  });

  it('adopts a command whose POST reached the agent though the answer was lost', async () => {
    const a = await agent();
    a.behave('deploy.execute_deploy_step', { durationMs: 100 });
    a.dropAnswers(1);
    const outcome = await runCommand(client(a), write);
    expect(outcome.adopted).toBe(true);
    expect(a.started.get('deploy.execute_deploy_step')).toBe(1);
  });

  it('a command that already ended before the attempt started is not run again', async () => {
    const a = await agent();
    a.behave('deploy.execute_deploy_step', {});
    await client(a).execute(write.name, write.params, { wait: true });
    const outcome = await runCommand(client(a), write);
    expect(outcome.adopted).toBe(true);
    expect(a.started.get('deploy.execute_deploy_step')).toBe(1);
  });

  it('waits while the agent is busy with another command (409), then starts', async () => {
    const a = await agent();
    a.behave('clean.execute_clean_step', { durationMs: 150 });
    a.behave('deploy.execute_deploy_step', {});
    await client(a).execute('clean.execute_clean_step', { step: { step: 'erase_devices_metadata' } }, { wait: false });
    const outcome = await runCommand(client(a), write);
    expect(outcome.adopted).toBe(false);
    expect(a.started.get('deploy.execute_deploy_step')).toBe(1);
  });

  it.each([
    ['ImageChecksumError', 'ImageChecksumMismatch'],
    ['ImageDownloadError', 'ImageFetchFailed'],
    ['DeviceNotFound', 'RootDeviceNotFound'],
    ['ImageWriteError', 'AgentCommandFailed'],
  ])('a command failing with %s is %s, with the agent\'s details', async (type, code) => {
    const a = await agent();
    a.behave('deploy.execute_deploy_step', { durationMs: 30, error: { type, code: 500, message: 'generic', details: `details of ${type}` } });
    const error = (await runCommand(client(a), write).catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(`details of ${type}`);
  });

  it('an agent that stops answering mid-command fails it after the heartbeat timeout, as gone', async () => {
    const a = await agent();
    a.behave('deploy.execute_deploy_step', { durationMs: 60_000 });
    const running = runCommand(client(a), write);
    await commandPolled(a);
    await a.stop();
    const error = (await running.catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe('AgentCallbackTimeout');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('did not answer for 0 s');
  });

  it('a command the agent forgot (the agent restarted) fails instead of waiting forever', async () => {
    const a = await agent();
    a.behave('deploy.execute_deploy_step', { durationMs: 5_000 });
    const running = runCommand(client(a), write);
    await commandPolled(a);
    a.restart();
    const error = (await running.catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe('AgentCommandFailed');
    expect(error.message).toContain('restarted');
  });
});

describe('agent activities', () => {
  const keys = new AgentKeys('an installation key of at least thirty-two characters');
  const session = (a: FakeAgent) => ({ hostUid: 'uid-1', bootId: 'b1', url: a.url, ...(a.pem ? { verifyCa: a.pem } : {}) });

  it('derive the token of the session\'s boot from the installation key', async () => {
    const a = await startFakeAgent({ token: keys.tokenFor('uid-1', 'b1'), tls: true });
    agents.push(a);
    a.behave('standby.get_partition_uuids', { result: { 'root uuid': '0x1234' } });
    const activities = createAgentActivities({ keys });
    await expect(activities.agentCommand(session(a), { name: 'standby.get_partition_uuids', params: {}, timing })).resolves.toEqual({ 'root uuid': '0x1234' });
  });

  it('fail typed and final without an installation key', async () => {
    const a = await agent();
    const error = (await createAgentActivities({ keys: undefined }).agentCommand(session(a), { name: 'standby.get_partition_uuids', params: {}, timing }).catch((e: unknown) => e)) as { type?: string; nonRetryable?: boolean };
    expect(error.type).toBe('AgentRejected');
    expect(error.nonRetryable).toBe(true);
  });
});
