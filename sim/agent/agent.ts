/**
 * One simulated ironic-python-agent run on one host, from boot to power-off, speaking IPA's protocol both ways
 * (after Metal3's fake-ipa, with real disk writes):
 * - towards the engine: the optional in-band inspection callback with a full inventory, `GET /` version
 *   discovery, lookup by MAC addresses with IPA's back-off until `ipa-lookup-timeout`, IPA's token rules, then
 *   heartbeats every `heartbeat_timeout × U(0.3, 0.6)` plus an early one when an asynchronous command ends;
 * - from the engine: the command API under this node's prefix of the shared agent server, with the token
 *   check, one command at a time (409 while one runs), IPA's result and error shapes, and the commands Ironic
 *   uses (deploy and clean steps, `get_partition_uuids`, `install_bootloader`, `power_off`, `sync`,
 *   `collect_system_logs`, `prepare_image`).
 * Switches, faults and counters live in the host's `HostAgentState` and are read at every use, so a test can
 * change them while the agent runs.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fetch } from 'undici';
import { CONFIG_DRIVE_BYTES, diskIdentifier } from '../partitions.ts';
import { IpaError, ipaErrors } from './errors.ts';
import {
  DEFAULT_PERMITTED_FORMATS,
  type ImageInfo,
  configDriveBytes,
  validateImageInfo,
  validatePartitioning,
  writeConfigDrive,
  writeWholeDiskImage,
} from './image.ts';
import { type HostFacts, buildInventory, inventoryDisk } from './inventory.ts';
import { chooseRootDevice } from './root-device.ts';
import { createConfiguration, deleteConfiguration, mdInventoryDisk, mirror, prepareEspForSoftRaid } from './software-raid.ts';
import type { RamdiskBoot, RunningRamdisk } from './runner.ts';
import { type AgentServer, readJson, sendJson } from './server.ts';
import { HostAgentState } from './settings.ts';
import {
  CLEAN_STEPS,
  CUSTOM_MANAGER,
  type CustomDeployStep,
  GENERIC_MANAGER,
  NO_OP_STEPS,
  deployStepsResult,
  eraseDevices,
  eraseMetadata,
  managerVersions,
} from './steps.ts';

/** The IPA release whose protocol the simulated agent speaks (sent as `agent_version`). */
export const AGENT_VERSION = '13.0.0';
const API_VERSION_LOOKUP: [number, number] = [1, 62];
const API_VERSION_HEARTBEAT: [number, number] = [1, 68];

/** What every simulated agent of a simulator shares. */
export interface AgentEnvironment {
  server: AgentServer;
  /** Per-host scratch space for downloads (IPA's tmpfs). */
  scratchRoot: string;
  customSteps: ReadonlyMap<string, CustomDeployStep>;
}

type Status = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CLEAN_VERSION_MISMATCH';

interface CommandRecord {
  id: string;
  name: string;
  sync: boolean;
  status: Status;
  error: ReturnType<IpaError['toJSON']> | null;
  result: unknown;
  done: Promise<void>;
}

type Json = Record<string, unknown>;

interface CommandSpec {
  kind: 'sync' | 'async';
  run(params: Json, record: CommandRecord): Promise<unknown>;
}

/** A wait that ends on a timer, on abort, or when `wake` is called. */
class Sleeper {
  private wakeUp: (() => void) | undefined;
  private readonly signal: AbortSignal;

  constructor(signal: AbortSignal) {
    this.signal = signal;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.signal.addEventListener('abort', done, { once: true });
      this.wakeUp = done;
    });
  }

  wake(): void {
    this.wakeUp?.();
  }
}

function versionHeader(server: [number, number], cap: [number, number]): string {
  const useCap = server[0] > cap[0] || (server[0] === cap[0] && server[1] >= cap[1]);
  const [major, minor] = useCap ? cap : server;
  return `${major}.${minor}`;
}

function parseVersion(text: unknown): [number, number] | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^(\d+)\.(\d+)$/.exec(text);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

const uniform = (low: number, high: number) => low + Math.random() * (high - low);

/** A running simulated agent. */
export class SimRamdisk implements RunningRamdisk {
  private readonly abort = new AbortController();
  private readonly sleeper = new Sleeper(this.abort.signal);
  private readonly apiUrls: string[];
  private readonly logLines: string[] = [];
  private readonly commands: CommandRecord[] = [];
  private readonly startedAt = Date.now() / 1000;
  private apiVersion: [number, number] = [1, 31];
  private token: string | undefined;
  private node: Json | undefined;
  private nodeUuid: string | undefined;
  private heartbeatTimeoutSec = 300;
  private permittedFormats: readonly string[] = DEFAULT_PERMITTED_FORMATS;
  private lastHeartbeatAt = 0;
  private forced = false;
  private partitionUuids: Record<string, string> | null = null;
  private cachedImageId: string | null = null;
  /** The device the last image went to (IPA's cached root device). */
  private rootDevice: string | undefined;
  private unregister: (() => void) | undefined;
  private main: Promise<void> = Promise.resolve();
  private readonly table: Record<string, Record<string, CommandSpec>>;
  private readonly boot: RamdiskBoot;
  private readonly state: HostAgentState;
  private readonly facts: HostFacts;
  private readonly env: AgentEnvironment;

  constructor(boot: RamdiskBoot, state: HostAgentState, facts: HostFacts, env: AgentEnvironment) {
    this.boot = boot;
    this.state = state;
    this.facts = facts;
    this.env = env;
    this.apiUrls = (boot.params['ipa-api-url'] ?? '')
      .split(',')
      .map((url) => url.trim().replace(/\/+$/, ''))
      .filter((url) => url !== '' && url !== 'mdns');
    this.token = boot.params['ipa-agent-token'] || undefined;
    this.table = this.commandTable();
  }

  /** The callback URL the agent sends in heartbeats (known after lookup). */
  get callbackUrl(): string | undefined {
    return this.nodeUuid ? `${this.env.server.origin}/${this.nodeUuid}` : undefined;
  }

  /** Starts the boot sequence in the background. */
  start(): void {
    this.main = this.run().catch((error: unknown) => {
      if (!this.abort.signal.aborted) this.log(`agent stopped: ${(error as Error).message}`);
    });
  }

  /** The host lost power or rebooted: stop serving, calling and working. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.unregister?.();
    await this.main;
    await Promise.all(this.commands.map((command) => command.done.catch(() => undefined)));
  }

  private log(line: string): void {
    const stamped = `${new Date().toISOString()} ${line}`;
    this.logLines.push(stamped);
    if (this.logLines.length > 2000) this.logLines.shift();
    this.boot.log(line);
  }

  private get signal(): AbortSignal {
    return this.abort.signal;
  }

  private async run(): Promise<void> {
    const delay = this.state.settings.bootDelayMs;
    if (delay > 0) await this.sleeper.sleep(delay);
    if (this.signal.aborted) return;
    let uuid: string | undefined;
    const callback = this.inspectionCallbackUrl();
    if (callback) uuid = await this.inspect(callback);
    if (this.apiUrls.length === 0) {
      this.log('no ipa-api-url on the kernel command line: inspection only, no lookup');
      return;
    }
    await this.discoverVersion();
    const found = await this.lookup(uuid);
    if (!found || this.signal.aborted) return;
    this.unregister = this.env.server.register(found, (request, response, path, query) =>
      this.serve(request, response, path, query),
    );
    this.log(`lookup found node ${found}; serving commands at ${this.callbackUrl}`);
    await this.heartbeatLoop();
  }

  // ---- towards the engine -------------------------------------------------------------------------------

  private inspectionCallbackUrl(): string | undefined {
    const explicit = this.boot.params['ipa-inspection-callback-url'];
    if (explicit) return explicit;
    const api = this.apiUrls[0];
    return this.boot.params['ipa-inspection-collectors'] && api ? `${api}/v1/continue_inspection` : undefined;
  }

  private async call(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
  ): Promise<{ status: number; json: Json | undefined }> {
    const timeoutMs = Number(this.boot.params['ipa-http-request-timeout'] ?? 30) * 1000;
    const response = await fetch(url, {
      method: init.method ?? 'GET',
      headers: {
        accept: 'application/json',
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.any([this.signal, AbortSignal.timeout(timeoutMs)]),
    });
    const text = await response.text();
    let json: Json | undefined;
    try {
      json = text ? (JSON.parse(text) as Json) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, json };
  }

  private async inspect(url: string): Promise<string | undefined> {
    const inventory = buildInventory(this.boot, this.facts, this.state.mdDevices);
    let root: ReturnType<typeof inventoryDisk> | null;
    try {
      const chosen = chooseRootDevice(this.boot.disks, null, this.state.mdDevices);
      const md = this.state.mdDevices.find((device) => device.name === chosen.name);
      root = md ? mdInventoryDisk(md) : inventoryDisk(chosen);
    } catch {
      root = null;
    }
    const body = {
      inventory,
      root_disk: root,
      boot_interface: this.boot.params['BOOTIF'] ?? null,
      configuration: {
        collectors: ['default', 'logs'],
        managers: [{ name: GENERIC_MANAGER.name, version: GENERIC_MANAGER.version }],
      },
      error: null,
    };
    for (let attempt = 0; attempt < 6 && !this.signal.aborted; attempt += 1) {
      this.state.counters.inspections += 1;
      try {
        const { status, json } = await this.call(url, { method: 'POST', body });
        if (status >= 200 && status < 300) {
          const uuid = json?.['uuid'] ?? (json?.['node'] as Json | undefined)?.['uuid'];
          this.log(`inspection data sent, node ${String(uuid)}`);
          return typeof uuid === 'string' ? uuid : undefined;
        }
        this.log(`inspection callback answered ${status}`);
        if (status !== 409 && status < 500) return undefined;
      } catch (error) {
        if (this.signal.aborted) return undefined;
        this.log(`inspection callback failed: ${(error as Error).message}`);
      }
      await this.sleeper.sleep(Math.min(30_000, 5_000 * 2 ** attempt) * uniform(0.1, 0.2));
    }
    return undefined;
  }

  private async discoverVersion(): Promise<void> {
    for (const api of this.apiUrls) {
      try {
        const { status, json } = await this.call(`${api}/`);
        const version = parseVersion((json?.['default_version'] as Json | undefined)?.['version']);
        if (status === 200 && version) {
          this.apiVersion = version;
          return;
        }
      } catch (error) {
        if (this.signal.aborted) return;
        this.log(`version discovery at ${api} failed: ${(error as Error).message}`);
      }
    }
    this.log('version discovery failed: assuming API 1.31');
  }

  private async lookup(uuid: string | undefined): Promise<string | undefined> {
    const timeoutMs = Number(this.boot.params['ipa-lookup-timeout'] ?? 600) * 1000;
    const deadline = Date.now() + timeoutMs;
    let interval = Number(this.boot.params['ipa-lookup-interval'] ?? 1) * 1000;
    while (!this.signal.aborted) {
      const macs = this.state.settings.lookupFails
        ? ['02:00:5e:00:00:00']
        : this.boot.host.macs.map((mac) => mac.toLowerCase());
      const query = new URLSearchParams({ addresses: macs.join(',') });
      if (uuid && !this.state.settings.lookupFails) query.set('node_uuid', uuid);
      for (const api of this.apiUrls) {
        this.state.counters.lookups += 1;
        try {
          const { status, json } = await this.call(`${api}/v1/lookup?${query}`, {
            headers: { 'X-OpenStack-Ironic-API-Version': versionHeader(this.apiVersion, API_VERSION_LOOKUP) },
          });
          if (status === 200 && json && this.processLookup(json)) return this.nodeUuid;
          this.log(`lookup at ${api} answered ${status}`);
          if (status === 409) interval = Math.max(interval, 5_000);
        } catch (error) {
          if (this.signal.aborted) return undefined;
          this.log(`lookup at ${api} failed: ${(error as Error).message}`);
        }
      }
      if (Date.now() >= deadline) {
        this.log(
          `LookupNodeError: Error getting configuration from Ironic: could not look up node after ` +
            `${timeoutMs / 1000} s`,
        );
        return undefined;
      }
      await this.sleeper.sleep(Math.min(interval * uniform(0.5, 1), deadline - Date.now()));
      interval = Math.min(interval * 2, this.state.settings.lookupRetryMaxMs);
    }
    return undefined;
  }

  /** IPA's `process_lookup_data`: node, heartbeat timeout, token rules. False when the answer is unusable. */
  private processLookup(body: Json): boolean {
    const node = body['node'] as Json | undefined;
    const config = (body['config'] as Json | undefined) ?? {};
    if (!node || typeof node['uuid'] !== 'string') {
      this.log('lookup answer has no node.uuid');
      return false;
    }
    const timeout = config['heartbeat_timeout'];
    if (typeof timeout !== 'number') {
      this.log('lookup answer has no config.heartbeat_timeout');
      return false;
    }
    const token = config['agent_token'];
    if (typeof token === 'string' && token.length >= 32) {
      this.token = token;
    } else if (token === '******') {
      if (!this.token) {
        // IPA locks itself down: it has no token and the API will not give one again.
        this.log('FATAL: the agent token was already retrieved and none is on the kernel command line');
        return false;
      }
    }
    const formats = config['permitted_image_formats'];
    if (Array.isArray(formats) && formats.every((format) => typeof format === 'string'))
      this.permittedFormats = formats as string[];
    this.node = node;
    this.nodeUuid = node['uuid'];
    this.heartbeatTimeoutSec = timeout;
    return true;
  }

  private async heartbeatLoop(): Promise<void> {
    while (!this.signal.aborted) {
      let waitMs: number;
      if (this.state.settings.noHeartbeat) {
        // A heartbeat a finished command asked for is not sent either (and must not spin this loop).
        this.forced = false;
        waitMs = 1_000;
      } else {
        const ok = await this.heartbeat();
        waitMs = ok
          ? (this.state.settings.heartbeatIntervalMs ?? this.heartbeatTimeoutSec * 1000 * uniform(0.3, 0.6))
          : 5_000 * uniform(1, 2);
      }
      const until = Date.now() + waitMs;
      while (!this.signal.aborted && Date.now() < until) {
        if (this.forced) {
          const earliest = this.lastHeartbeatAt + this.state.settings.forcedHeartbeatMinMs;
          if (Date.now() >= earliest) break;
          await this.sleeper.sleep(earliest - Date.now());
          continue;
        }
        await this.sleeper.sleep(until - Date.now());
      }
    }
  }

  private async heartbeat(): Promise<boolean> {
    this.forced = false;
    this.lastHeartbeatAt = Date.now();
    this.state.counters.heartbeats += 1;
    const body: Json = { callback_url: this.callbackUrl, agent_version: AGENT_VERSION };
    if (this.token) body['agent_token'] = this.token;
    for (const api of this.apiUrls) {
      try {
        const { status } = await this.call(`${api}/v1/heartbeat/${this.nodeUuid}`, {
          method: 'POST',
          headers: { 'X-OpenStack-Ironic-API-Version': versionHeader(this.apiVersion, API_VERSION_HEARTBEAT) },
          body,
        });
        if (status === 202 || status === 200 || status === 204) return true;
        this.log(`heartbeat answered ${status}`);
      } catch (error) {
        if (this.signal.aborted) return false;
        this.log(`heartbeat failed: ${(error as Error).message}`);
      }
    }
    this.state.counters.heartbeatFailures += 1;
    return false;
  }

  private forceHeartbeat(): void {
    this.forced = true;
    this.sleeper.wake();
  }

  // ---- the command API ------------------------------------------------------------------------------------

  private async serve(
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    query: URLSearchParams,
  ): Promise<void> {
    const route = path.replace(/^\/v1(?=\/|$)/, '') || '/';
    const method = request.method ?? 'GET';
    const base = this.callbackUrl ?? '';
    if (method === 'GET' && (path === '/' || path === '')) {
      const version = { id: 'v1', links: [{ href: `${base}/v1/`, rel: 'self' }] };
      return sendJson(response, 200, {
        name: 'OpenStack Ironic Python Agent API',
        description: 'Ironic Python Agent is a provisioning agent for OpenStack Ironic',
        versions: [version],
        default_version: version,
      });
    }
    if (method === 'GET' && route === '/') {
      return sendJson(response, 200, {
        id: 'v1',
        links: [{ href: `${base}/v1/`, rel: 'self' }],
        commands: [{ href: `${base}/v1/commands`, rel: 'self' }],
        status: [{ href: `${base}/v1/status`, rel: 'self' }],
      });
    }
    if (method === 'GET' && route === '/status')
      return sendJson(response, 200, { started_at: this.startedAt, version: AGENT_VERSION });
    if (!route.startsWith('/commands'))
      return sendJson(response, 404, {
        faultcode: 'Client',
        faultstring: '404 Not Found: The requested URL was not found on the server.',
      });
    if (!this.token || query.get('agent_token') !== this.token) {
      return sendJson(response, 401, { faultcode: 'Client', faultstring: '401 Unauthorized: Token invalid.' });
    }
    const wait = (query.get('wait') ?? '').toLowerCase() === 'true';
    if (method === 'GET' && (route === '/commands' || route === '/commands/')) {
      return sendJson(response, 200, { commands: this.commands.map(serialize) });
    }
    if (method === 'GET') {
      const id = decodeURIComponent(route.slice('/commands/'.length));
      const record = this.commands.find((command) => command.id === id);
      if (!record) return sendJson(response, 404, ipaErrors.notFound('Command Result', id).fault());
      if (wait) await record.done;
      return sendJson(response, 200, serialize(record));
    }
    if (method !== 'POST' || (route !== '/commands' && route !== '/commands/')) {
      return sendJson(response, 405, { faultcode: 'Client', faultstring: '405 Method Not Allowed' });
    }
    const body = (await readJson(request)) as Json | undefined;
    if (
      !body ||
      typeof body['name'] !== 'string' ||
      !body['params'] ||
      typeof body['params'] !== 'object' ||
      Array.isArray(body['params'])
    ) {
      return sendJson(response, 400, {
        faultcode: 'Client',
        faultstring: '400 Bad Request: Missing or invalid name or params',
      });
    }
    let record: CommandRecord;
    try {
      record = this.execute(body['name'], body['params'] as Json);
    } catch (error) {
      if (error instanceof IpaError) return sendJson(response, error.code, error.fault());
      throw error;
    }
    // Sync commands finish inside the POST; async ones only when the caller asks to wait.
    if (wait || record.sync) await record.done;
    sendJson(response, 200, serialize(record));
  }

  /** IPA's `execute_command`: the busy rule, dispatch, sync or async result. Throws IpaError for HTTP errors. */
  private execute(fullName: string, params: Json): CommandRecord {
    const last = this.commands.at(-1);
    if (last && last.status === 'RUNNING') throw ipaErrors.busy(last.name);
    const dot = fullName.indexOf('.');
    if (dot < 0) throw ipaErrors.invalidCommand('Command name must be of the form <extension>.<name>');
    const extension = fullName.slice(0, dot);
    const command = fullName.slice(dot + 1);
    const commands = this.table[extension];
    if (!commands) throw ipaErrors.notFound('Extension', extension);
    const spec = commands[command];
    if (!spec) throw ipaErrors.invalidCommand(`Unknown command: ${command}`);
    HostAgentState.bump(this.state.counters.commands, fullName);
    this.log(`command ${fullName}`);
    const record: CommandRecord = {
      id: randomUUID(),
      name: command,
      sync: spec.kind === 'sync',
      status: 'RUNNING',
      error: null,
      result: null,
      done: Promise.resolve(),
    };
    this.commands.push(record);
    const fault = this.state.takeFault([fullName, command]);
    const work = fault ? () => Promise.reject(fault) : () => spec.run(params, record);
    if (spec.kind === 'sync') {
      record.done = work().then(
        (result) => this.finish(record, 'SUCCEEDED', result),
        (error: unknown) => this.fail(record, error, command),
      );
      return record;
    }
    const started = Date.now();
    record.done = (async () => {
      let outcome: () => void;
      try {
        const result = await work();
        outcome = () => this.finish(record, 'SUCCEEDED', result);
      } catch (error) {
        outcome = () => this.fail(record, error, command);
      }
      const remaining = this.state.settings.commandDurationMs - (Date.now() - started);
      if (remaining > 0) await this.sleeper.sleep(remaining);
      if (this.signal.aborted) return;
      outcome();
      this.forceHeartbeat();
    })();
    return record;
  }

  private finish(record: CommandRecord, status: Status, result: unknown): void {
    record.status = status;
    // IPA wraps a string result as {"result": "<command>: <text>"}.
    record.result = typeof result === 'string' ? { result: `${record.name}: ${result}` } : (result ?? null);
    this.log(`command ${record.name} ${status}`);
  }

  private fail(record: CommandRecord, error: unknown, command: string): void {
    if (this.signal.aborted) return;
    const ipa = error instanceof IpaError ? error : ipaErrors.commandExecution((error as Error).message);
    record.status = ipa.type === 'VersionMismatch' ? 'CLEAN_VERSION_MISMATCH' : 'FAILED';
    record.error = ipa.toJSON();
    this.state.counters.failedCommands += 1;
    this.log(`command ${command} ${record.status}: ${ipa.type}: ${ipa.details}`);
  }

  private commandTable(): Record<string, Record<string, CommandSpec>> {
    const immediate = (run: CommandSpec['run']): CommandSpec => ({ kind: 'sync', run });
    const background = (run: CommandSpec['run']): CommandSpec => ({ kind: 'async', run });
    const custom = () => [...this.env.customSteps.keys()];
    return {
      deploy: {
        get_deploy_steps: immediate(async (params) => {
          this.cacheNode(params);
          return {
            deploy_steps: deployStepsResult(custom()),
            hardware_manager_version: managerVersions(custom().length > 0),
          };
        }),
        execute_deploy_step: background((params, record) => this.executeStep('deploy', params, record)),
      },
      clean: {
        get_clean_steps: immediate(async (params) => {
          this.cacheNode(params);
          return {
            clean_steps: { GenericHardwareManager: [...CLEAN_STEPS] },
            hardware_manager_version: managerVersions(custom().length > 0),
          };
        }),
        execute_clean_step: background((params, record) => this.executeStep('clean', params, record)),
      },
      standby: {
        prepare_image: background(async (params, record) =>
          this.prepareImage(validateImageInfo(params['image_info']), params['configdrive'], record),
        ),
        get_partition_uuids: immediate(async () => this.partitionUuids ?? {}),
        power_off: background(async () => {
          this.state.counters.powerOffs += 1;
          // The machine goes down once the command has been recorded as done.
          setTimeout(() => this.boot.powerOff(), 0).unref();
          return null;
        }),
        sync: immediate(async () => null),
      },
      image: {
        install_bootloader: background(async (params) => {
          this.log(
            `install_bootloader root_uuid=${String(params['root_uuid'])} ` +
              `target_boot_mode=${String(params['target_boot_mode'])}`,
          );
          const root = this.state.mdDevices.find((md) => md.name === this.rootDevice);
          if (root && params['target_boot_mode'] === 'uefi') {
            const esp = await prepareEspForSoftRaid(root, this.state.mdDevices, this.boot.disks, (line) => this.log(line));
            if (esp) this.state.mdDevices = [...this.state.mdDevices, esp];
          }
          return null;
        }),
      },
      poll: {
        // IPA's PollExtension: the hardware as the ramdisk sees it (list_hardware_info), md devices included.
        get_hardware_info: immediate(async () => buildInventory(this.boot, this.facts, this.state.mdDevices)),
      },
      log: {
        collect_system_logs: immediate(async () => ({ system_logs: this.systemLogs() })),
      },
    };
  }

  private cacheNode(params: Json): void {
    const node = params['node'];
    if (node && typeof node === 'object') this.node = node as Json;
  }

  private async executeStep(kind: 'deploy' | 'clean', params: Json, record: CommandRecord): Promise<unknown> {
    this.cacheNode(params);
    const step = params['step'] as Json | undefined;
    const provided = params[`${kind}_version`];
    const current = managerVersions(this.env.customSteps.size > 0);
    if (
      provided &&
      typeof provided === 'object' &&
      JSON.stringify(sortKeys(provided as Json)) !== JSON.stringify(sortKeys(current))
    ) {
      throw ipaErrors.versionMismatch(current, provided);
    }
    if (!step || typeof step['step'] !== 'string')
      throw ipaErrors.commandExecution(`Malformed ${kind}_step, no "step" key: ${JSON.stringify(step)}`);
    const name = step['step'];
    const args = (step['args'] as Json | undefined) ?? {};
    HostAgentState.bump(this.state.counters.steps, name);
    const fault = this.state.takeFault([name]);
    if (fault) throw fault;
    let result: unknown;
    try {
      result = await this.runStep(kind, name, args, record);
    } catch (error) {
      if (error instanceof IpaError || this.signal.aborted) throw error;
      const { name: type, message } = error as Error;
      const text = `Unexpected exception performing ${kind} step ${name}. ${type}: ${message}`;
      throw kind === 'deploy' ? ipaErrors.deployment(text) : ipaErrors.cleaning(text);
    }
    return kind === 'deploy'
      ? { deploy_result: result ?? null, deploy_step: step }
      : { clean_result: result ?? null, clean_step: step };
  }

  private async runStep(kind: 'deploy' | 'clean', name: string, args: Json, record: CommandRecord): Promise<unknown> {
    const disks = this.boot.disks;
    if (name === 'write_image' && kind === 'deploy') {
      // IPA's write_image step runs prepare_image and returns that command's result.
      const image = validateImageInfo(args['image_info']);
      return {
        result: `prepare_image: ${await this.prepareImage(image, args['configdrive'] ?? image.configdrive, record)}`,
      };
    }
    const md = this.state.mdDevices;
    if (name === 'erase_devices_metadata' || name === 'erase_devices_express') {
      this.state.counters.metadataErases += await eraseMetadata(disks, md);
      this.log(`erased the metadata of ${[...disks.map((disk) => disk.name), ...md.map((device) => device.name)].join(', ')}`);
      return null;
    }
    if (name === 'erase_devices' && kind === 'clean') {
      const result = await eraseDevices(disks, md);
      this.state.counters.fullErases += Object.keys(result).length;
      this.log(`zeroed ${Object.keys(result).join(', ')}`);
      return result;
    }
    if (name === 'delete_configuration' && kind === 'clean') {
      await deleteConfiguration(md, disks, (line) => this.log(line));
      this.state.mdDevices = [];
      return null;
    }
    if (name === 'create_configuration' && kind === 'clean') {
      const created = await createConfiguration(this.node ?? {}, disks, this.boot.bootMode, (line) => this.log(line));
      this.state.mdDevices = [...md, ...created.devices];
      return created.result;
    }
    const custom = kind === 'deploy' ? this.env.customSteps.get(name) : undefined;
    if (custom) {
      return custom({
        hostId: this.boot.host.id,
        disks,
        args,
        node: this.node ?? {},
        signal: this.signal,
        log: (line) => this.log(`${CUSTOM_MANAGER.name}: ${line}`),
      });
    }
    if (NO_OP_STEPS.has(name)) {
      this.log(`${kind} step ${name}: nothing to do on a simulated machine`);
      return null;
    }
    throw ipaErrors.methodNotFound(name);
  }

  /**
   * IPA's `prepare_image` for whole-disk images. While it runs, the command's result shows
   * `{progress: {phase, bytes_downloaded, bytes_written}}` (IPA leaves it null; the engine shows it in its
   * activity heartbeats).
   */
  private async prepareImage(image: ImageInfo, configdrive: unknown, record: CommandRecord): Promise<string> {
    if (image['image_type'] === 'partition')
      throw ipaErrors.invalidParams('partition images are not supported by the simulated agent');
    const instanceInfo = (this.node?.['instance_info'] as Json | undefined) ?? {};
    const properties = (this.node?.['properties'] as Json | undefined) ?? {};
    const hints = (instanceInfo['root_device'] ?? properties['root_device']) as Json | undefined;
    const disk = chooseRootDevice(this.boot.disks, hints, this.state.mdDevices);
    const md = this.state.mdDevices.find((device) => device.name === disk.name);
    this.rootDevice = disk.name;
    if (this.cachedImageId !== image.id) {
      const outcome = await writeWholeDiskImage(image, disk, {
        signal: this.signal,
        scratchDir: join(this.env.scratchRoot, this.boot.host.id),
        bytesPerSec: this.state.settings.diskBytesPerSec,
        permittedFormats: this.permittedFormats,
        log: (line) => this.log(line),
        progress: (progress) => {
          if (record.status === 'RUNNING') record.result = { progress };
        },
      });
      this.state.counters.imageWrites += 1;
      this.state.counters.imageBytesWritten += outcome.bytes;
      this.cachedImageId = image.id;
      this.state.writes.set(disk.name, {
        at: new Date().toISOString(),
        device: disk.name,
        imageId: image.id,
        diskFormat: outcome.diskFormat,
        checksum: outcome.checksum,
        sha256: outcome.sha256,
        bytes: outcome.bytes,
        configDrive: null,
        rootUuid: '',
      });
    }
    await validatePartitioning(disk);
    const written = this.state.writes.get(disk.name);
    if (typeof configdrive === 'string' && configdrive !== '') {
      const nodeUuid = image.node_uuid ?? this.nodeUuid ?? 'local';
      const partition = await writeConfigDrive(
        disk,
        await configDriveBytes(configdrive, nodeUuid, this.signal),
        nodeUuid,
      );
      this.state.counters.configDrives += 1;
      if (written)
        written.configDrive = {
          number: partition.number,
          startBytes: partition.startBytes,
          sizeBytes: partition.sizeBytes,
        };
      this.log(`config drive written to partition ${partition.number} of ${disk.name}`);
    }
    if (md) {
      // The mirror's writes: what the image covered, the first MiB and the end (backup GPT, config drive).
      const tail = CONFIG_DRIVE_BYTES + 4 * 1024 * 1024;
      await mirror(md, this.boot.disks, [
        [0, Math.max(written?.bytes ?? 0, 1024 * 1024)],
        [md.sizeBytes - tail, md.sizeBytes],
      ]);
      this.log(`written through ${disk.name} to ${md.members.map((member) => member.partition).join(', ')}`);
    }
    const rootUuid = await diskIdentifier(disk.path);
    if (written) written.rootUuid = rootUuid;
    this.partitionUuids = { 'root uuid': rootUuid };
    return `image (${image.id}) written to device ${disk.name} root_uuid=${rootUuid}`;
  }

  /** A gzipped tar holding the ramdisk's log, base64: what `collect_system_logs` returns. */
  private systemLogs(): string {
    const content = Buffer.from(`${this.logLines.join('\n')}\n`);
    const header = Buffer.alloc(512);
    header.write('journal', 0, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write(
      `${Math.floor(Date.now() / 1000)
        .toString(8)
        .padStart(11, '0')}\0`,
      136,
    );
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
    return gzipSync(Buffer.concat([header, content, padding, Buffer.alloc(1024)])).toString('base64');
  }
}

function serialize(record: CommandRecord): Json {
  return {
    id: record.id,
    command_name: record.name,
    command_status: record.status,
    command_error: record.error,
    command_result: record.result,
  };
}

function sortKeys(object: Json): Json {
  return Object.fromEntries(Object.entries(object).sort(([a], [b]) => a.localeCompare(b)));
}
