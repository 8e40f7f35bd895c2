/**
 * One listening Redfish service: a `node:http` server on 127.0.0.1 serving one mockup tree for one or many
 * BMCs (one per port, or many systems behind one port). It owns what a real service shares: sessions,
 * tasks, authentication; routes each request to the BMC whose system, manager or chassis it names; injects
 * that BMC's faults; and answers like a real BMC (Redfish error bodies, 401/403/404/405/412/428/501, ETag,
 * Allow, OData-Version).
 */
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type SimBmc, etagOfBody } from './bmc.ts';
import { type WriteRequest, actionAt, patchResource, postAction } from './bmc-writes.ts';
import { pushUpdate, simpleUpdate, startUpdate } from './firmware.ts';
import { storageWrite } from './storage.ts';
import { RedfishError, type Reply, errors, etagValue, parseJsonBody, readBody } from './http.ts';
import type { VendorProfile } from './profiles.ts';
import type { ServiceModel } from './service-model.ts';
import { TaskStore } from './tasks.ts';
import { Traffic } from './traffic.ts';
import { type Json, type JsonObject, ROOT, linkOf, normalizePath } from './tree.ts';

/** A logged-in session. */
interface Session {
  readonly id: string;
  readonly token: string;
  readonly username: string;
  readonly bmcs: ReadonlySet<SimBmc>;
  readonly createdAt: number;
  lastUsed: number;
}

/** Who a request runs as. */
interface Principal {
  readonly username: string;
  /** The BMCs these credentials open. */
  readonly bmcs: ReadonlySet<SimBmc>;
  readonly session: Session | null;
}

/** Options of an endpoint. */
export interface EndpointOptions {
  profile: VendorProfile;
  model: ServiceModel;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Session idle timeout; default: the tree's SessionService.SessionTimeout, else 1800 s. */
  sessionTimeoutSec?: number;
  /** Concurrent session limit; default: the profile's limit times the number of BMCs. */
  maxSessions?: number;
  /** Record a timeline of every request (start, end, BMC) from the start. */
  timeline?: boolean;
}

const PUBLIC_GET = new Set([ROOT, `${ROOT}/$metadata`, `${ROOT}/odata`]);

/** One Redfish service on one port. */
export class Endpoint {
  readonly profile: VendorProfile;
  readonly model: ServiceModel;
  readonly tasks: TaskStore;
  readonly bmcs: SimBmc[] = [];
  /** Requests in flight now, the most at once, and (when recording) the timeline. */
  readonly traffic: Traffic;
  private readonly server: Server;
  private readonly requestedPort: number;
  private readonly listenHost: string;
  private readonly sessions = new Map<string, Session>();
  private readonly sessionsById = new Map<string, Session>();
  private readonly accounts = new Map<string, Set<SimBmc>>();
  /** Public system/manager/chassis/firmware prefixes → BMC (lowercased when the profile ignores case). */
  private readonly scopes = new Map<string, SimBmc>();
  private sessionTimeoutSec: number;
  private readonly maxSessionsOption: number | undefined;
  private readonly ci: boolean;

  constructor(options: EndpointOptions) {
    this.profile = options.profile;
    this.model = options.model;
    this.requestedPort = options.port;
    this.listenHost = options.host ?? '127.0.0.1';
    this.ci = options.model.caseInsensitive;
    // Numbered task ids start after the captured tasks the tree lists, so a new task never hides behind one.
    const captured = options.model.tree.resources.get(options.model.tasksPath)?.['Members'];
    const numbers = (Array.isArray(captured) ? captured : []).map((member) => Number(linkOf(member)?.split('/').pop()));
    const firstNumber = Math.max(0, ...numbers.filter((n) => Number.isInteger(n))) + 1;
    this.tasks = new TaskStore(options.model.tasksPath, options.profile.taskIds, Date.now, firstNumber);
    this.traffic = new Traffic(options.timeline ?? false);
    const timeout = options.model.tree.resources.get(options.model.sessionServicePath)?.['SessionTimeout'];
    this.sessionTimeoutSec = options.sessionTimeoutSec ?? (typeof timeout === 'number' && timeout > 0 ? timeout : 1800);
    this.maxSessionsOption = options.maxSessions;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch(() => {
        if (!response.headersSent) {
          response.statusCode = 500;
          response.end();
        }
      });
    });
    this.server.keepAliveTimeout = 5_000;
  }

  /** Adds a BMC to this endpoint (before or after it listens). */
  add(bmc: SimBmc): void {
    this.bmcs.push(bmc);
    const key = accountKey(bmc.username, bmc.password);
    const owners = this.accounts.get(key) ?? new Set<SimBmc>();
    owners.add(bmc);
    this.accounts.set(key, owners);
    for (const pair of bmc.prefixes) this.scopes.set(this.key(pair.public), bmc);
  }

  /** Starts listening (on 127.0.0.1 unless told otherwise). */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.requestedPort, this.listenHost, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.port;
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops listening, drops connections, stops timers. */
  async close(): Promise<void> {
    this.tasks.dispose();
    for (const bmc of this.bmcs) bmc.dispose();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Number of live sessions. */
  get sessionCount(): number {
    this.expireSessions();
    return this.sessions.size;
  }

  private key(path: string): string {
    return this.ci ? path.toLowerCase() : path;
  }

  /** True for the mockup's own system/manager/chassis URIs, which a shared endpoint serves only under BMC ids. */
  private hiddenBase(path: string): boolean {
    const pairs = this.bmcs[0]?.prefixes ?? [];
    const key = this.key(path);
    return pairs.some((pair) => key === this.key(pair.base) || key.startsWith(`${this.key(pair.base)}/`));
  }

  /** The BMC a request path belongs to, and the path in the tree. */
  private scope(path: string): { bmc: SimBmc | undefined; path: string } {
    const only = this.bmcs.length === 1 ? this.bmcs[0] : undefined;
    if (only && only.prefixes.length === 0) return { bmc: only, path };
    let cut = path.length;
    while (cut > ROOT.length) {
      const bmc = this.scopes.get(this.key(path.slice(0, cut)));
      if (bmc) return { bmc, path: bmc.rewriter.toBase(path) };
      cut = path.lastIndexOf('/', cut - 1);
    }
    return { bmc: only, path };
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = (request.method ?? 'GET').toUpperCase();
    const publicPath = normalizePath(request.url ?? '/');
    const scope = this.scope(publicPath);
    const credentials = peekCredentials(request);
    const actor = scope.bmc ?? this.actorFor(credentials);
    if (actor) actor.counters.requests[method] = (actor.counters.requests[method] ?? 0) + 1;
    if (actor?.rebooting || (!actor && this.bmcs.length === 1 && this.bmcs[0]?.rebooting)) {
      // A BMC rebooting itself answers nothing: the connection drops.
      const rebooting = actor ?? this.bmcs[0];
      if (rebooting) rebooting.counters.requestsWhileRebooting += 1;
      request.socket.destroy();
      return;
    }
    const done = this.traffic.begin(actor, method, publicPath);
    try {
      await this.answer(method, publicPath, scope, actor, request, response);
    } finally {
      done();
    }
  }

  private async answer(
    method: string,
    publicPath: string,
    scope: { bmc: SimBmc | undefined; path: string },
    actor: SimBmc | undefined,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    let reply: Reply | undefined;
    if (actor) reply = await this.injectFault(actor);
    if (reply?.destroy) {
      request.socket.destroy();
      return;
    }
    if (!reply) {
      try {
        const body = method === 'GET' || method === 'HEAD' ? Buffer.alloc(0) : await readBody(request);
        reply = await this.route(method, publicPath, scope, actor, request, body);
      } catch (error) {
        reply = error instanceof RedfishError ? error.reply() : errors.internal().reply();
      }
    }
    if (actor && actor.faultSettings.lostResponseRate > 0 && actor.roll() < actor.faultSettings.lostResponseRate) {
      actor.counters.faults.lostResponses += 1;
      request.socket.destroy();
      return;
    }
    if (actor) {
      const status = String(reply.status);
      actor.counters.responses[status] = (actor.counters.responses[status] ?? 0) + 1;
      if (reply.status === 401) actor.counters.authFailures += 1;
      const write = method === 'POST' || method === 'PATCH' || method === 'DELETE';
      const sessionCall = this.key(publicPath).startsWith(this.key(this.model.sessionsPath));
      if (write && reply.status < 300 && actor.has('sys518-after-write') && !sessionCall) {
        actor.sys518ArmedAt = Date.now();
      }
    }
    send(response, reply, method === 'HEAD');
  }

  /** The BMC that credentials alone point to (a shared endpoint with per-BMC accounts), for counters and faults. */
  private actorFor(credentials: Credentials | null): SimBmc | undefined {
    if (!credentials) return undefined;
    const owners =
      credentials.kind === 'token'
        ? this.sessions.get(credentials.token)?.bmcs
        : this.accounts.get(accountKey(credentials.username, credentials.password));
    return only(owners);
  }

  private async injectFault(bmc: SimBmc): Promise<Reply | undefined> {
    const faults = bmc.faultSettings;
    if (faults.latencyMs > 0 || faults.latencyJitterMs > 0) {
      bmc.counters.faults.delayed += 1;
      await new Promise((resolve) => setTimeout(resolve, faults.latencyMs + bmc.roll() * faults.latencyJitterMs));
    }
    if (faults.resetRate > 0 && bmc.roll() < faults.resetRate) {
      bmc.counters.faults.resets += 1;
      return { status: 0, destroy: true };
    }
    if (faults.burst503 > 0) {
      bmc.faultSettings.burst503 -= 1;
      bmc.counters.faults.burst503 += 1;
      return errors.unavailable(faults.retryAfterSec).reply();
    }
    if (faults.errorRate > 0 && bmc.roll() < faults.errorRate) {
      bmc.counters.faults.errors += 1;
      return new RedfishError(faults.errorStatus, 'Base.1.5.InternalError', 'The request failed due to an internal service error (injected fault).').reply();
    }
    return undefined;
  }

  private async route(
    method: string,
    publicPath: string,
    scope: { bmc: SimBmc | undefined; path: string },
    actor: SimBmc | undefined,
    request: IncomingMessage,
    raw: Buffer,
  ): Promise<Reply> {
    const model = this.model;
    const tree = model.tree;
    const path = tree.resolve(scope.path, this.ci) ?? scope.path;
    if (!scope.bmc && this.hiddenBase(path)) throw errors.notFound(publicPath);
    if (method === 'GET' || method === 'HEAD') {
      if (publicPath === '/redfish') return { status: 200, body: { v1: '/redfish/v1/' } };
      if (PUBLIC_GET.has(path)) return this.get(path, publicPath, scope.bmc, request);
    }
    const sessionsPath = model.sessionsPath;
    const contentType = request.headers['content-type'] ?? '';
    const isJson = contentType === '' || /json/i.test(contentType);
    const json = isJson && raw.length > 0 ? parseJsonBody(raw) : undefined;
    if (method === 'POST' && this.key(path) === this.key(sessionsPath)) return this.login(json, actor);

    const principal = this.authenticate(request, actor);
    if (scope.bmc && !principal.bmcs.has(scope.bmc)) throw errors.insufficientPrivilege();
    if (actor?.has('sys518-after-write') && actor.within(actor.sys518ArmedAt)) {
      actor.sys518ArmedAt = null;
      actor.hit('sys518-after-write');
      throw new RedfishError(500, 'IDRAC.2.8.SYS518', 'iDRAC is not ready. The data sources are unavailable. Retry the operation after a few seconds.');
    }
    const bmc = scope.bmc;
    const write: WriteRequest = { path, publicPath, body: raw, json, headers: request.headers };

    switch (method) {
      case 'GET':
      case 'HEAD':
        return this.get(path, publicPath, bmc, request, actor);
      case 'PATCH':
        return this.patch(path, publicPath, bmc, request, write);
      case 'POST':
        return this.post(path, publicPath, bmc, principal, write);
      case 'DELETE':
        return this.delete(path, publicPath, bmc, write);
      default:
        throw errors.methodNotAllowed(method, publicPath, this.allow(path, bmc));
    }
  }

  private authenticate(request: IncomingMessage, actor: SimBmc | undefined): Principal {
    if (actor?.faultSettings.authFailure) {
      actor.counters.faults.auth += 1;
      throw errors.noValidSession(this.profile.realm);
    }
    const credentials = peekCredentials(request);
    if (credentials?.kind === 'token') {
      this.expireSessions();
      const session = this.sessions.get(credentials.token);
      if (session && [...session.bmcs].some((bmc) => bmc.restartedAt !== null && bmc.restartedAt >= session.createdAt)) {
        // The BMC rebooted since this session was created: its sessions are gone.
        this.dropSession(session);
      }
      if (!session || !this.sessions.has(session.token)) throw errors.noValidSession(this.profile.realm);
      session.lastUsed = Date.now();
      return { username: session.username, bmcs: session.bmcs, session };
    }
    if (credentials?.kind === 'basic') {
      const owners = this.accounts.get(accountKey(credentials.username, credentials.password));
      if (owners && owners.size > 0) return { username: credentials.username, bmcs: owners, session: null };
    }
    throw errors.noValidSession(this.profile.realm);
  }

  private expireSessions(): void {
    const now = Date.now();
    for (const session of this.sessions.values()) {
      if (now - session.lastUsed > this.sessionTimeoutSec * 1000) {
        this.dropSession(session);
        const owner = only(session.bmcs);
        if (owner) owner.counters.sessionsExpired += 1;
      }
    }
  }

  private dropSession(session: Session): void {
    this.sessions.delete(session.token);
    this.sessionsById.delete(session.id);
  }

  private login(json: JsonObject | undefined, actor: SimBmc | undefined): Reply {
    const username = json?.['UserName'];
    const password = json?.['Password'];
    if (typeof username !== 'string') throw errors.propertyMissing('UserName');
    if (typeof password !== 'string') throw errors.propertyMissing('Password');
    const owners = this.accounts.get(accountKey(username, password));
    const owner = only(owners) ?? actor;
    if (owner?.faultSettings.authFailure) {
      owner.counters.faults.auth += 1;
      throw errors.noValidSession(this.profile.realm);
    }
    if (!owners || owners.size === 0) throw errors.noValidSession(this.profile.realm);
    this.expireSessions();
    const limit = this.maxSessionsOption ?? this.profile.maxSessions * Math.max(1, this.bmcs.length);
    if (this.sessions.size >= limit) {
      const { status, messageId, message } = this.profile.sessionLimitError;
      throw new RedfishError(status, messageId, message);
    }
    const session: Session = {
      id: randomBytes(8).toString('hex'),
      token: randomBytes(16).toString('hex'),
      username,
      bmcs: owners,
      createdAt: Date.now(),
      lastUsed: Date.now(),
    };
    this.sessions.set(session.token, session);
    this.sessionsById.set(session.id, session);
    const single = only(owners);
    if (single) single.counters.sessionsCreated += 1;
    const location = `${this.model.sessionsPath}/${session.id}`;
    return { status: 201, headers: { 'X-Auth-Token': session.token, Location: location }, body: this.renderSession(session) };
  }

  private renderSession(session: Session): JsonObject {
    return {
      '@odata.type': '#Session.v1_3_0.Session',
      '@odata.id': `${this.model.sessionsPath}/${session.id}`,
      Id: session.id,
      Name: 'User Session',
      UserName: session.username,
      CreatedTime: new Date(session.createdAt).toISOString(),
    };
  }

  /** Renders a resource for GET/HEAD: dynamic resources first, then the BMC's view of the tree. */
  /**
   * Renders a resource for GET/HEAD. `viewer` is the one BMC the credentials belong to, when they belong to one:
   * behind a shared port it sees only its own tasks (the nodes of a chassis share theirs).
   */
  private render(path: string, publicPath: string, bmc: SimBmc | undefined, viewer?: SimBmc): { body: JsonObject; base: Readonly<JsonObject> | undefined } {
    const model = this.model;
    const tree = model.tree;
    const base = tree.resources.get(path);
    const key = this.key(path);
    const sessionsKey = this.key(model.sessionsPath);
    if (key === sessionsKey) {
      this.expireSessions();
      const members = [...this.sessions.values()].map((session) => ({ '@odata.id': `${model.sessionsPath}/${session.id}` }));
      return {
        body: {
          '@odata.type': '#SessionCollection.SessionCollection',
          ...base,
          '@odata.id': model.sessionsPath,
          Name: 'Session Collection',
          'Members@odata.count': members.length,
          Members: members,
        },
        base,
      };
    }
    if (key.startsWith(`${sessionsKey}/`)) {
      this.expireSessions();
      const session = this.sessionsById.get(path.slice(model.sessionsPath.length + 1));
      if (!session) throw errors.notFound(publicPath);
      return { body: this.renderSession(session), base: undefined };
    }
    if (key === this.key(model.tasksPath)) {
      const members: Json[] = Array.isArray(base?.['Members']) ? [...base['Members']] : [];
      for (const task of this.tasks.all()) {
        if (this.visible(task, viewer)) members.push({ '@odata.id': `${model.tasksPath}/${task.id}` });
      }
      return {
        body: { '@odata.type': '#TaskCollection.TaskCollection', Name: 'Task Collection', ...base, '@odata.id': model.tasksPath, 'Members@odata.count': members.length, Members: members },
        base,
      };
    }
    if (key.startsWith(`${this.key(model.tasksPath)}/`) && !base) {
      const task = this.tasks.get(path.slice(model.tasksPath.length + 1));
      if (!task || !this.visible(task, viewer)) throw errors.notFound(publicPath);
      const owner = this.bmcs.find((candidate) => candidate.id === task.bmcId);
      if (owner?.has('transient-404-new-task') && owner.within(task.createdAt)) {
        owner.hit('transient-404-new-task');
        throw errors.notFound(publicPath);
      }
      return { body: this.tasks.render(task), base: undefined };
    }
    if (key === this.key(model.sessionServicePath) && base) {
      return { body: { ...base, SessionTimeout: this.sessionTimeoutSec }, base };
    }
    const multiplexed = [model.systemsCollection, model.managersCollection, model.chassisCollection, model.firmwareCollection];
    if (base && this.bmcs.some((candidate) => candidate.prefixes.length > 0) && multiplexed.includes(path)) {
      const members: Json[] = [];
      for (const member of Array.isArray(base['Members']) ? base['Members'] : []) {
        const id = linkOf(member);
        const canonical = id ? (tree.resolve(id, this.ci) ?? id) : undefined;
        const owned = this.bmcs.filter((candidate) => candidate.prefixes.some((pair) => pair.base === canonical));
        if (owned.length === 0 || !id) {
          members.push(member);
          continue;
        }
        for (const candidate of owned) members.push({ '@odata.id': candidate.rewriter.toPublic(id) });
      }
      return { body: { ...base, 'Members@odata.count': members.length, Members: members }, base };
    }
    if (path === model.updateServicePath && base && 'HttpPushUriTargetsBusy' in base && !bmc) {
      const busy = this.bmcs.some((candidate) => candidate.has('update-service-busy') && candidate.updateBusy());
      return { body: { ...base, HttpPushUriTargetsBusy: busy }, base };
    }
    const body = bmc ? bmc.render(path) : base;
    if (!body) throw errors.notFound(publicPath);
    return { body, base };
  }

  /** Whether `viewer` may see a task: its own, or any when the credentials are not one BMC's. */
  private visible(task: { bmcId: string }, viewer: SimBmc | undefined): boolean {
    return !viewer || this.bmcs.length === 1 || task.bmcId === viewer.id;
  }

  private get(path: string, publicPath: string, bmc: SimBmc | undefined, request: IncomingMessage, viewer?: SimBmc): Reply {
    const document = this.model.tree.documents.get(path);
    if (document) return { status: 200, body: document.body, headers: { 'Content-Type': document.contentType } };
    const monitor = this.taskForMonitor(path);
    if (monitor && !this.visible(monitor, viewer)) throw errors.notFound(publicPath);
    if (monitor) {
      const body = this.tasks.render(monitor);
      if (monitor.final) return { status: 200, body };
      return { status: 202, body, headers: { Location: publicPath, 'Retry-After': '1' } };
    }
    if (bmc) this.checkReadQuirks(path, bmc, request);
    const { body, base } = this.render(path, publicPath, bmc, viewer);
    const reply = this.withEtag(body, base, bmc, path);
    return expandsMembers(request.url) ? this.expandMembers(reply) : reply;
  }

  /** `$expand` of a collection (one level): each member link replaced by the member, as services that support ExpandQuery do. */
  private expandMembers(reply: Reply): Reply {
    const body = reply.body;
    if (!body || Buffer.isBuffer(body) || typeof body !== 'object' || Array.isArray(body) || !Array.isArray(body['Members'])) return reply;
    const members = body['Members'].map((member): Json => {
      const link = linkOf(member);
      if (!link) return member;
      try {
        const scope = this.scope(link);
        const path = this.model.tree.resolve(scope.path, this.ci) ?? scope.path;
        const { body: rendered } = this.render(path, link, scope.bmc);
        return scope.bmc ? scope.bmc.toPublic(rendered) : rendered;
      } catch {
        return member;
      }
    });
    return { ...reply, body: { ...body, Members: members } };
  }

  private withEtag(body: JsonObject, base: Readonly<JsonObject> | undefined, bmc: SimBmc | undefined, path: string): Reply {
    const tag = etagOfBody(body);
    const weak = (bmc ?? this.bmcs[0])?.has('weak-etag-strict-if-match') ?? false;
    const header = weak ? `W/${tag}` : tag;
    let out = body;
    if (base && '@odata.etag' in base) out = { ...out, '@odata.etag': header };
    if (bmc) out = bmc.toPublic(out);
    return { status: 200, body: out, headers: { ETag: header, Allow: this.allow(path, bmc) } };
  }

  private checkReadQuirks(path: string, bmc: SimBmc, request: IncomingMessage): void {
    const lower = path.toLowerCase();
    if (bmc.has('registries-406-identity') && /^\/redfish\/v1\/(registries|registrystore)(\/|$)/.test(lower)) {
      const encoding = request.headers['accept-encoding'] ?? '';
      if (/\bidentity\b/.test(encoding)) {
        bmc.hit('registries-406-identity');
        throw new RedfishError(406, 'Base.1.5.GeneralError', 'The requested encoding is not acceptable for this resource.');
      }
    }
    if (bmc.has('busy-503-after-power-on') && bmc.within(bmc.host.lastPoweredOnAt)) {
      bmc.hit('busy-503-after-power-on');
      throw errors.unavailable(1);
    }
    if (bmc.has('secureboot-license-required') && path === this.model.secureBootPath) {
      bmc.hit('secureboot-license-required');
      throw new RedfishError(400, 'SMC.1.0.OemLicenseNotPassed', 'Not licensed to perform this request. The following licenses SFT-DCMS-SINGLE were needed.');
    }
    if (bmc.has('network-adapters-400-os-down') && /\/networkadapters(\/|$)/.test(lower) && !bmc.host.osRunning) {
      bmc.hit('network-adapters-400-os-down');
      throw new RedfishError(400, 'iLO.2.14.UnableToGetNetworkAdapters', 'Network adapter information is not available until the server has completed POST.');
    }
  }

  private taskForMonitor(path: string): ReturnType<TaskStore['get']> {
    const prefix = this.tasks.monitorPath('');
    if (!this.key(path).startsWith(this.key(prefix))) return undefined;
    return this.tasks.get(path.slice(prefix.length));
  }

  private allow(path: string, bmc: SimBmc | undefined): string {
    const model = this.model;
    const key = this.key(path);
    if (key === this.key(model.sessionsPath)) return 'GET, HEAD, POST';
    if (key.startsWith(`${this.key(model.sessionsPath)}/`)) return 'GET, HEAD, DELETE';
    if (key.startsWith(`${this.key(model.tasksPath)}/`) || this.taskForMonitor(path)) return 'GET, HEAD, DELETE';
    if (key === this.key(model.sessionServicePath)) return 'GET, HEAD, PATCH';
    return bmc ? bmc.allow(path) : 'GET, HEAD';
  }

  private checkIfMatch(path: string, publicPath: string, bmc: SimBmc | undefined, request: IncomingMessage): void {
    const header = request.headers['if-match'];
    const actor = bmc ?? this.bmcs[0];
    if (header === undefined || header === '') {
      if (actor?.has('if-match-required')) {
        actor.hit('if-match-required');
        throw errors.preconditionRequired();
      }
      return;
    }
    if (header.trim() === '*') return;
    const { body } = this.render(path, publicPath, bmc);
    const current = etagOfBody(body);
    const offered = header.split(',').map((tag) => tag.trim());
    if (actor?.has('weak-etag-strict-if-match') && offered.every((tag) => tag.startsWith('W/'))) {
      actor.hit('weak-etag-strict-if-match');
      throw errors.preconditionFailed();
    }
    if (!offered.some((tag) => etagValue(tag) === etagValue(current))) throw errors.preconditionFailed();
  }

  private async patch(path: string, publicPath: string, bmc: SimBmc | undefined, request: IncomingMessage, write: WriteRequest): Promise<Reply> {
    const model = this.model;
    if (this.key(path) === this.key(model.sessionServicePath)) {
      this.checkIfMatch(path, publicPath, bmc, request);
      const timeout = write.json?.['SessionTimeout'];
      if (typeof timeout !== 'number' || timeout < 30 || timeout > 86400) throw errors.propertyValueNotInList(String(timeout), 'SessionTimeout');
      this.sessionTimeoutSec = timeout;
      return { status: 204 };
    }
    if (!bmc || !bmc.render(path)) {
      if (model.tree.resources.has(path)) throw errors.methodNotAllowed('PATCH', publicPath, this.allow(path, bmc));
      throw errors.notFound(publicPath);
    }
    if (!bmc.allow(path).includes('PATCH')) throw errors.methodNotAllowed('PATCH', publicPath, bmc.allow(path));
    if (bmc.has('secureboot-license-required') && path === model.secureBootPath) {
      bmc.hit('secureboot-license-required');
      throw new RedfishError(400, 'SMC.1.0.OemLicenseNotPassed', 'Not licensed to perform this request.');
    }
    this.checkIfMatch(path, publicPath, bmc, request);
    return patchResource(bmc, write);
  }

  private async post(path: string, publicPath: string, bmc: SimBmc | undefined, principal: Principal, write: WriteRequest): Promise<Reply> {
    const model = this.model;
    const action = bmc ? actionAt(bmc, path) : model.tree.action(path, this.ci);
    if (action) {
      if (action.name === 'UpdateService.SimpleUpdate' || action.name === 'SimpleUpdate') {
        return simpleUpdate(this.updateBmc(bmc, principal, write.json?.['Targets']), action, write);
      }
      if (action.name === 'UpdateService.StartUpdate') return startUpdate(this.updateBmc(bmc, principal, undefined));
      if (bmc) {
        const reply = await postAction(bmc, action, write);
        if (reply) return reply;
      }
      throw errors.actionNotSupported(action.name);
    }
    const storage = bmc ? storageWrite(bmc, 'POST', path, publicPath, write.json) : undefined;
    if (storage) return storage;
    if (this.key(path) === this.key(model.multipartPushUri ?? '\0')) {
      return pushUpdate(this.updateBmc(bmc, principal, undefined), write, true);
    }
    if (this.key(path) === this.key(model.httpPushUri ?? '\0')) {
      return pushUpdate(this.updateBmc(bmc, principal, undefined), write, false);
    }
    if (path.includes('/Actions/')) throw errors.actionNotSupported(path.slice(path.lastIndexOf('/') + 1));
    if (model.tree.resources.has(path) || (bmc?.render(path) ?? null) !== null) {
      throw errors.methodNotAllowed('POST', publicPath, this.allow(path, bmc));
    }
    throw errors.notFound(publicPath);
  }

  /** The BMC an UpdateService request is for: its path scope, its Targets, its credentials, or the only one. */
  private updateBmc(bmc: SimBmc | undefined, principal: Principal, targets: Json | undefined): SimBmc {
    if (bmc) return bmc;
    if (Array.isArray(targets)) {
      for (const target of targets) {
        if (typeof target !== 'string') continue;
        const found = this.scope(normalizePath(target)).bmc;
        if (found) return found;
      }
    }
    if (principal.bmcs.size === 1) {
      const [only] = principal.bmcs;
      if (only) return only;
    }
    throw errors.actionParameterMissing('SimpleUpdate', 'Targets');
  }

  private delete(path: string, publicPath: string, bmc: SimBmc | undefined, write: WriteRequest): Reply {
    const model = this.model;
    const storage = bmc ? storageWrite(bmc, 'DELETE', path, publicPath, write.json) : undefined;
    if (storage) return storage;
    const sessionsKey = this.key(model.sessionsPath);
    if (this.key(path).startsWith(`${sessionsKey}/`)) {
      const session = this.sessionsById.get(path.slice(model.sessionsPath.length + 1));
      if (!session) throw errors.notFound(publicPath);
      this.dropSession(session);
      const owner = only(session.bmcs);
      if (owner) owner.counters.sessionsDeleted += 1;
      return { status: 204 };
    }
    const task =
      this.taskForMonitor(path) ??
      (this.key(path).startsWith(`${this.key(model.tasksPath)}/`) ? this.tasks.get(path.slice(model.tasksPath.length + 1)) : undefined);
    if (task) {
      this.tasks.cancel(task);
      return { status: 204 };
    }
    if (model.tree.resources.has(path) || (bmc?.render(path) ?? null) !== null) {
      throw errors.methodNotAllowed('DELETE', publicPath, this.allow(path, bmc));
    }
    throw errors.notFound(publicPath);
  }
}

/** True when the query asks to expand (`$expand=*`, `.` or `~`, with `($levels=1)` or none). */
function expandsMembers(url: string | undefined): boolean {
  const query = url?.split('?')[1];
  if (!query) return false;
  const value = new URLSearchParams(query).get('$expand');
  return value !== null && /^[*.~](\(\$levels=1\))?$/.test(value);
}

type Credentials = { kind: 'basic'; username: string; password: string } | { kind: 'token'; token: string };

function peekCredentials(request: IncomingMessage): Credentials | null {
  const token = request.headers['x-auth-token'];
  if (typeof token === 'string' && token !== '') return { kind: 'token', token };
  const authorization = request.headers.authorization;
  if (authorization?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return null;
}

/** The one BMC of a set, or undefined when there are none or several. */
function only(bmcs: ReadonlySet<SimBmc> | undefined): SimBmc | undefined {
  if (!bmcs || bmcs.size !== 1) return undefined;
  const [bmc] = bmcs;
  return bmc;
}

function accountKey(username: string, password: string): string {
  return `${username}\u0000${password}`;
}

function send(response: ServerResponse, reply: Reply, head: boolean): void {
  const headers: Record<string, string> = { 'OData-Version': '4.0', 'Cache-Control': 'no-cache', ...reply.headers };
  let payload: Buffer | undefined;
  if (Buffer.isBuffer(reply.body)) {
    payload = reply.body;
    headers['Content-Type'] ??= 'application/octet-stream';
  } else if (reply.body !== undefined) {
    payload = Buffer.from(JSON.stringify(reply.body));
    headers['Content-Type'] = 'application/json; charset=utf-8';
  }
  if (payload) headers['Content-Length'] = String(payload.length);
  response.writeHead(reply.status, headers);
  response.end(head ? undefined : payload);
}
