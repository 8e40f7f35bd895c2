/**
 * The health and metrics endpoint every Tempered process serves on one port (`TEMPERED_METRICS_PORT`, the
 * named port `metrics` in deploy/): `/healthz` (liveness: the process answers and its event loop is not
 * stalled), `/readyz` (readiness: every check the process registered passes, e.g. Temporal and Kubernetes
 * reachable, the bridge's informers synced) and `/metrics` (Prometheus text from one prom-client registry,
 * which starts with the process's default metrics; other modules register theirs on `health.registry`).
 *
 * Probes arrive every few seconds from the kubelet: check results are cached briefly and each check has a
 * timeout, so a slow dependency makes the process unready rather than piling up calls.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { VersionApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';

/** The endpoint's configuration, shared by every process. */
export const HealthEnvSchema = z.object({
  /** 0 picks a free port (the local stack runs several processes side by side); the bound URL is logged. */
  TEMPERED_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9440),
  TEMPERED_METRICS_HOST: z.string().min(1).default('0.0.0.0'),
});
export type HealthEnv = z.infer<typeof HealthEnvSchema>;

/** A readiness check: resolves (optionally with a detail) when ready, throws saying why not. */
export type ReadinessCheck = () => Promise<string | void> | string | void;

export interface HealthServerOptions {
  /** The process's name, in logs and `/healthz` (`worker`, `bridge`, `agent-api`). */
  name: string;
  port: number;
  host: string;
  logger: Logger;
  /** `/healthz` fails when the event loop stalled longer than this in the last window (default 10 s). */
  maxEventLoopDelayMs?: number;
  /** A check that takes longer fails (default 3 s). */
  checkTimeoutMs?: number;
  /** How long a readiness answer is reused (default 2 s). */
  cacheMs?: number;
}

interface CheckOutcome {
  ok: boolean;
  detail?: string;
  error?: string;
}

/** How often the event loop's delay is sampled into a window. */
const WINDOW_MS = 5000;

/** A running health and metrics endpoint (see the file header). */
export class HealthServer {
  /** The process's metrics registry: served on `/metrics`; register your own metrics here. */
  readonly registry = new Registry();
  readonly #options: Required<HealthServerOptions>;
  readonly #checks = new Map<string, ReadinessCheck>();
  readonly #server = createServer((req, res) => void this.#handle(req, res));
  readonly #delay = monitorEventLoopDelay({ resolution: 20 });
  readonly #window: NodeJS.Timeout;
  #lastWindowAt = Date.now();
  #lastWindowMaxMs = 0;
  #cached: { at: number; ready: boolean; checks: Record<string, CheckOutcome> } | undefined;
  #url = '';

  constructor(options: HealthServerOptions) {
    this.#options = { maxEventLoopDelayMs: 10_000, checkTimeoutMs: 3000, cacheMs: 2000, ...options };
    collectDefaultMetrics({ register: this.registry });
    this.#delay.enable();
    this.#window = setInterval(() => {
      this.#lastWindowMaxMs = this.#delay.max / 1e6;
      this.#lastWindowAt = Date.now();
      this.#delay.reset();
    }, WINDOW_MS);
    this.#window.unref();
  }

  /** `http://host:port`, once listening. */
  get url(): string {
    return this.#url;
  }

  /** Adds (or replaces) a readiness check; the process is ready when there is one and all pass. */
  addReadinessCheck(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
    this.#cached = undefined;
  }

  async listen(): Promise<void> {
    const { port, host, name, logger } = this.#options;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#server.unref();
    const address = this.#server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.#url = `http://${shownHost}:${address.port}`;
    logger.info({ url: this.#url, process: name }, 'health and metrics endpoint listening');
  }

  /** Liveness: the event loop ran its sampling timer recently and did not stall beyond the limit. */
  liveness(): { ok: boolean; eventLoopDelayMaxMs: number; sinceLastSampleMs: number } {
    const sinceLastSampleMs = Date.now() - this.#lastWindowAt;
    const current = this.#delay.max / 1e6;
    const eventLoopDelayMaxMs = Math.round(Math.max(this.#lastWindowMaxMs, current));
    const ok = eventLoopDelayMaxMs <= this.#options.maxEventLoopDelayMs && sinceLastSampleMs <= 3 * WINDOW_MS + this.#options.maxEventLoopDelayMs;
    return { ok, eventLoopDelayMaxMs, sinceLastSampleMs };
  }

  /** Readiness: every registered check, run at most once per `cacheMs`. */
  async readiness(): Promise<{ ready: boolean; checks: Record<string, CheckOutcome> }> {
    const cached = this.#cached;
    if (cached && Date.now() - cached.at < this.#options.cacheMs) return { ready: cached.ready, checks: cached.checks };
    const entries = await Promise.all([...this.#checks].map(async ([name, check]) => [name, await this.#run(check)] as const));
    const checks = Object.fromEntries(entries);
    const ready = entries.length > 0 && entries.every(([, outcome]) => outcome.ok);
    this.#cached = { at: Date.now(), ready, checks };
    return { ready, checks };
  }

  async stop(): Promise<void> {
    clearInterval(this.#window);
    this.#delay.disable();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #run(check: ReadinessCheck): Promise<CheckOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.#options.checkTimeoutMs} ms`)), this.#options.checkTimeoutMs);
    });
    try {
      const detail = await Promise.race([Promise.resolve().then(check), timeout]);
      return detail ? { ok: true, detail } : { ok: true };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    try {
      if (path === '/healthz' || path === '/livez') {
        const live = this.liveness();
        return send(res, live.ok ? 200 : 503, 'application/json', JSON.stringify({ process: this.#options.name, ...live }));
      }
      if (path === '/readyz') {
        const ready = await this.readiness();
        return send(res, ready.ready ? 200 : 503, 'application/json', JSON.stringify(ready));
      }
      if (path === '/metrics') return send(res, 200, this.registry.contentType, await this.registry.metrics());
      return send(res, 404, 'text/plain', 'not found: try /healthz, /readyz or /metrics\n');
    } catch (error) {
      this.#options.logger.warn({ err: error instanceof Error ? error.message : String(error), path }, 'health endpoint failed');
      return send(res, 500, 'text/plain', 'internal error\n');
    }
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/** Starts the endpoint; call first thing in a process, so liveness answers while it connects. */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server = new HealthServer(options);
  await server.listen();
  return server;
}

/** Ready when the Temporal frontend answers (GetSystemInfo: allowed to any client of the namespace). */
export function temporalReadiness(connection: { workflowService: { getSystemInfo(request: object): Promise<unknown> } }): ReadinessCheck {
  return async () => {
    await connection.workflowService.getSystemInfo({});
  };
}

/**
 * Ready when the Kubernetes apiserver answers `/version`, which every authenticated client may read
 * (system:public-info-viewer), so the probe needs no RBAC of its own.
 */
export function kubernetesReadiness(kubeConfig: KubeConfig): ReadinessCheck {
  const api = kubeConfig.makeApiClient(VersionApi);
  return async () => (await api.getCode()).gitVersion;
}
