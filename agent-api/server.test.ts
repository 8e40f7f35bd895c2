/**
 * The agent API's HTTP surface with a fake host index, a fake messenger (what a host workflow would answer)
 * and a fake ISO store: Ironic's shapes and status codes, token checks, what each call sends to the workflow,
 * signed deploy ISO URLs with range reads, and no token in any log line.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AgentHeartbeat, AgentInspection, AgentLookup, AgentLookupReply } from '../domain/agent.ts';
import { capturedLogger } from '../test/support.ts';
import { leakedSecrets } from '../test/secret-scan.ts';
import type { IndexedHost } from './host-index.ts';
import type { HostAddress, HostMessenger, Refusal } from './messenger.ts';
import type { KernelParams } from './deploy-iso.ts';
import { deployKernelParams, startAgentApi, type RunningAgentApi } from './server.ts';
import { AgentKeys } from './token.ts';

const keys = new AgentKeys('installation key for the server unit test, long');
const HOST: IndexedHost = { namespace: 'ns', name: 'host-0', uid: 'uid-0', macs: ['52:54:00:00:00:01', '52:54:00:00:00:02'], spec: { rootDeviceHints: { serialNumber: 'S1' } } };
const OTHER: IndexedHost = { namespace: 'ns', name: 'host-1', uid: 'uid-1', macs: ['52:54:00:00:00:09'], spec: {} };
const SHARED_MAC = '52:54:00:00:00:77';

let api: RunningAgentApi;
const logged = capturedLogger();
const sent: { kind: string; host: HostAddress; body: unknown }[] = [];
let lookupAnswer: AgentLookupReply | Refusal = { bootId: 'b1', issueToken: false, heartbeatTimeoutSeconds: 300 };
let temporalDown = false;
const isoGets: { key: string; base: string; params: KernelParams }[] = [];
const isoDir = mkdtempSync(join(tmpdir(), 'agent-api-test-'));
const isoFile = join(isoDir, 'boot.iso');
writeFileSync(isoFile, Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251)));

const messenger: HostMessenger = {
  async lookup(host, lookup: AgentLookup) {
    if (temporalDown) throw new Error('connect ECONNREFUSED 127.0.0.1:7233');
    sent.push({ kind: 'lookup', host, body: lookup });
    return lookupAnswer;
  },
  async heartbeat(host, heartbeat: AgentHeartbeat) {
    sent.push({ kind: 'heartbeat', host, body: heartbeat });
    return undefined;
  },
  async inspection(host, data: AgentInspection) {
    sent.push({ kind: 'inspection', host, body: data });
    return host.name === 'host-1' ? { refused: 'rejected', reason: 'not inspecting' } : undefined;
  },
};

beforeAll(async () => {
  const hosts = [HOST, OTHER, { ...OTHER, uid: 'uid-2', name: 'host-2', macs: [SHARED_MAC] }, { ...OTHER, uid: 'uid-3', name: 'host-3', macs: [SHARED_MAC] }];
  api = await startAgentApi({
    host: '127.0.0.1',
    port: 0,
    publicUrl: 'http://agents.example:6385',
    keys,
    hosts: { byUid: (uid) => hosts.find((h) => h.uid === uid), byMacs: (macs) => hosts.filter((h) => h.macs.some((m) => macs.includes(m))) },
    messenger,
    isos: {
      async get(key, base, params) {
        isoGets.push({ key, base, params });
        return isoFile;
      },
    },
    extraKernelParams: 'nofb ipa-insecure=1',
    rootDeviceHints: (hints) => ({ serial: `s== ${String(hints['serialNumber'])}` }),
    logger: logged.logger,
  });
});
afterAll(async () => api?.stop());
beforeEach(() => {
  sent.length = 0;
  temporalDown = false;
  lookupAnswer = { bootId: 'b1', issueToken: false, heartbeatTimeoutSeconds: 300 };
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${api.url}${path}`, { headers });
const post = (path: string, body: unknown) => fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const pathOf = (url: string) => url.replace('http://agents.example:6385', '');
const faultOf = async (r: Response) => JSON.parse(((await r.json()) as { error_message: string }).error_message) as { faultstring: string };

describe('version discovery', () => {
  it('GET / advertises API 1.68 as the default version (IPA then sends token, version and its certificate)', async () => {
    const r = await get('/');
    expect(r.status).toBe(200);
    const body = (await r.json()) as { default_version: { version: string; min_version: string } };
    expect(body.default_version).toMatchObject({ id: 'v1', version: '1.68', min_version: '1.1', status: 'CURRENT' });
    expect((await get('/v1')).headers.get('x-openstack-ironic-api-maximum-version')).toBe('1.68');
  });
});

describe('lookup', () => {
  it('finds the host by any of its MACs, tells its workflow, and answers the masked token', async () => {
    const r = await get('/v1/lookup?addresses=aa:bb:cc:dd:ee:ff,52-54-00-00-00-02');
    expect(r.status).toBe(200);
    const body = (await r.json()) as { node: Record<string, unknown>; config: Record<string, unknown> };
    expect(body.node).toMatchObject({ uuid: 'uid-0', instance_info: { root_device: { serial: 's== S1' } }, properties: { capabilities: 'boot_mode:uefi' } });
    expect(body.config).toMatchObject({ heartbeat_timeout: 300, agent_token: '******', agent_token_required: true });
    expect(sent).toMatchObject([{ kind: 'lookup', host: { namespace: 'ns', name: 'host-0' }, body: { addresses: ['aa:bb:cc:dd:ee:ff', '52:54:00:00:00:02'] } }]);
  });

  it('hands out the boot token when the workflow says so', async () => {
    lookupAnswer = { bootId: 'b9', issueToken: true, heartbeatTimeoutSeconds: 300 };
    const body = (await (await get('/v1/lookup?node_uuid=uid-0')).json()) as { config: { agent_token: string } };
    expect(keys.verifyToken('uid-0', body.config.agent_token)).toEqual({ bootId: 'b9' });
  });

  it.each([
    ['no parameters', '/v1/lookup', 400],
    ['only invalid MACs', '/v1/lookup?addresses=zz', 400],
    ['an unknown MAC', '/v1/lookup?addresses=52:54:00:ff:ff:ff', 404],
    ['an unknown UUID', '/v1/lookup?node_uuid=nope', 404],
    ['a MAC two hosts share', `/v1/lookup?addresses=${SHARED_MAC}`, 404],
  ])('%s: %i, with Ironic\'s error body', async (_name, path, status) => {
    const r = await get(path);
    expect(r.status).toBe(status);
    expect((await faultOf(r)).faultstring).toBeTruthy();
    expect(sent).toEqual([]);
  });

  it('404 when the workflow expects no agent, 503 when Temporal cannot be reached', async () => {
    lookupAnswer = { refused: 'rejected', reason: 'no agent boot' };
    expect((await get('/v1/lookup?node_uuid=uid-0')).status).toBe(404);
    temporalDown = true;
    const r = await get('/v1/lookup?node_uuid=uid-0');
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('5');
  });
});

describe('heartbeat', () => {
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const body = (token: string, extra: Record<string, unknown> = {}) => ({ callback_url: 'https://192.0.2.10:9999', agent_token: token, agent_version: '13.0.0', agent_verify_ca: PEM, ...extra });

  it('checks the token, sends the boot, URL, version and certificate to the workflow, and answers 202', async () => {
    const r = await post('/v1/heartbeat/uid-0', body(keys.tokenFor('uid-0', 'b4')));
    expect(r.status).toBe(202);
    expect(await r.text()).toBe('');
    expect(sent).toMatchObject([{ kind: 'heartbeat', host: { name: 'host-0' }, body: { bootId: 'b4', callbackUrl: 'https://192.0.2.10:9999', agentVersion: '13.0.0', verifyCa: PEM } }]);
  });

  it.each([
    ['no token', { agent_token: undefined }],
    ['the token of another host', { agent_token: keys.tokenFor('uid-1', 'b4') }],
    ['the masked token', { agent_token: '******' }],
    ['a callback URL with a query', { callback_url: 'https://192.0.2.10:9999/?x=1' }],
    ['a callback URL with credentials', { callback_url: 'https://user:pw@192.0.2.10:9999' }],
    ['a callback URL that is not http', { callback_url: 'ftp://192.0.2.10' }],
    ['no agent version', { agent_version: undefined }],
    ['a certificate that is not PEM', { agent_verify_ca: 'hello' }],
  ])('%s: 400, nothing sent', async (_name, extra) => {
    const r = await post('/v1/heartbeat/uid-0', body(keys.tokenFor('uid-0', 'b4'), extra));
    expect(r.status).toBe(400);
    expect(sent).toEqual([]);
  });

  it('keeps the path of a callback URL (one agent server for many nodes)', async () => {
    const r = await post('/v1/heartbeat/uid-0', body(keys.tokenFor('uid-0', 'b4'), { callback_url: 'http://127.0.0.1:9100/uid-0/' }));
    expect(r.status).toBe(202);
    expect(sent).toMatchObject([{ body: { callbackUrl: 'http://127.0.0.1:9100/uid-0' } }]);
  });

  it('an unknown node: 404', async () => {
    expect((await post('/v1/heartbeat/nope', body(keys.tokenFor('nope', 'b4')))).status).toBe(404);
  });
});

describe('continue_inspection', () => {
  const inventory = (mac: string) => ({ interfaces: [{ name: 'eth0', mac_address: mac }], cpu: { count: 4 }, memory: { physical_mb: 8192 }, disks: [], bmc_address: null });

  it('matches the host by its NICs, sends inventory and plugin data without the logs, answers 202 with the UUID', async () => {
    const r = await post('/v1/continue_inspection', { inventory: inventory('52:54:00:00:00:01'), root_disk: { name: '/dev/sda' }, boot_interface: '01-52-54-00-00-00-01', logs: 'H4sIAAAA', error: null });
    expect(r.status).toBe(202);
    expect(await r.json()).toEqual({ uuid: 'uid-0' });
    const data = sent[0]?.body as AgentInspection;
    expect(data.inventory).toMatchObject({ cpu: { count: 4 } });
    expect(data.pluginData).toEqual({ root_disk: { name: '/dev/sda' }, boot_interface: '01-52-54-00-00-00-01', error: null });
  });

  it.each([
    ['no inventory', {}, 400],
    ['no interfaces', { inventory: { interfaces: [] } }, 400],
    ['an interface without MAC', { inventory: { interfaces: [{ name: 'eth0' }] } }, 400],
    ['unknown NICs', { inventory: inventory('52:54:00:12:34:56') }, 404],
    ['a host that is not inspecting', { inventory: inventory('52:54:00:00:00:09') }, 404],
  ])('%s: answered %s', async (_name, payload, status) => {
    expect((await post('/v1/continue_inspection', payload)).status).toBe(status);
  });
});

describe('deploy ISO', () => {
  const ref = { hostUid: 'uid-0', bootId: 'b5', purpose: 'inspect' as const, baseIso: 'http://images/ipa.iso', expires: Math.floor(Date.now() / 1000) + 3600 };

  it('serves the ISO of a signed URL, made with the boot token and the inspection callback', async () => {
    const r = await get(pathOf(keys.deployIsoUrl('http://agents.example:6385', ref)));
    expect(r.status).toBe(200);
    expect((await r.arrayBuffer()).byteLength).toBe(1000);
    const made = isoGets.at(-1);
    expect(made?.base).toBe('http://images/ipa.iso');
    expect(made?.params).toEqual(deployKernelParams({ publicUrl: 'http://agents.example:6385', token: keys.tokenFor('uid-0', 'b5'), purpose: 'inspect', extra: 'nofb ipa-insecure=1' }));
    expect(made?.params).toMatchObject({
      nofb: true,
      'ipa-insecure': '1',
      'ipa-api-url': 'http://agents.example:6385',
      'ipa-agent-token': keys.tokenFor('uid-0', 'b5'),
      'ipa-inspection-callback-url': 'http://agents.example:6385/v1/continue_inspection',
      boot_method: 'vmedia',
    });
  });

  it('answers range reads with 206 and the right bytes', async () => {
    const r = await get(pathOf(keys.deployIsoUrl('http://agents.example:6385', ref)), { range: 'bytes=500-509' });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe('bytes 500-509/1000');
    expect([...new Uint8Array(await r.arrayBuffer())]).toEqual(Array.from({ length: 10 }, (_, i) => (500 + i) % 251));
    expect((await get(pathOf(keys.deployIsoUrl('http://agents.example:6385', ref)), { range: 'bytes=2000-' })).status).toBe(416);
  });

  it('refuses a tampered URL (403) and an expired one (410)', async () => {
    const tampered = new URL(keys.deployIsoUrl('http://agents.example:6385', ref));
    tampered.searchParams.set('base', 'http://169.254.169.254/latest/meta-data');
    expect((await get(pathOf(tampered.toString()))).status).toBe(403);
    expect((await get(pathOf(keys.deployIsoUrl('http://agents.example:6385', { ...ref, expires: 1000 })))).status).toBe(410);
  });
});

describe('logs', () => {
  it('never contain a token or a URL signature', async () => {
    const token = keys.tokenFor('uid-0', 'b6');
    lookupAnswer = { bootId: 'b6', issueToken: true, heartbeatTimeoutSeconds: 300 };
    await get('/v1/lookup?node_uuid=uid-0');
    await post('/v1/heartbeat/uid-0', { callback_url: 'http://192.0.2.1:9999', agent_token: token, agent_version: '13.0.0' });
    const isoUrl = keys.deployIsoUrl('http://agents.example:6385', { hostUid: 'uid-0', bootId: 'b6', purpose: 'deploy', baseIso: 'http://images/ipa.iso', expires: 2_000_000_000 });
    await get(pathOf(isoUrl));
    const secrets = [token, token.split('.')[1] as string, new URL(isoUrl).searchParams.get('sig') as string];
    expect(logged.lines.length).toBeGreaterThan(3);
    expect(leakedSecrets(logged.lines.join('\n'), secrets)).toEqual([]);
  });
});
