import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { waitFor } from '../test/wait.ts';
import { HealthEnvSchema, startHealthServer, type HealthServer } from './health.ts';

const logger = pino({ level: 'silent' });
let server: HealthServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const start = (options: { maxEventLoopDelayMs?: number; checkTimeoutMs?: number; cacheMs?: number } = {}) =>
  startHealthServer({ name: 'test', port: 0, host: '127.0.0.1', logger, cacheMs: 0, ...options });
const get = async (path: string) => {
  const res = await fetch(`${server?.url}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
};

describe('the health and metrics endpoint', () => {
  it('listens on the configured port (0: a free one) and says where', async () => {
    server = await start();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('/healthz answers 200 while the event loop runs', async () => {
    server = await start();
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ process: 'test', ok: true });
  });

  it('/healthz answers 503 after the event loop stalled longer than the limit', async () => {
    server = await start({ maxEventLoopDelayMs: 200 });
    // The sampler's first tick is its baseline: stall once it has measured a delay, as a running process would.
    await waitFor('the sampler measuring the event loop', async () => JSON.parse((await get('/healthz')).body).eventLoopDelayMaxMs > 0, { intervalMs: 20 });
    const until = Date.now() + 600;
    while (Date.now() < until) {
      // A stalled event loop: a synchronous busy wait, as a runaway computation would.
    }
    // The stall is seen once the loop turns again (the sampler runs at 20 ms resolution).
    const res = await waitFor('/healthz reporting the stall', async () => {
      const answer = await get('/healthz');
      return answer.status === 503 && answer;
    }, { intervalMs: 20 });
    expect(JSON.parse(res.body).eventLoopDelayMaxMs).toBeGreaterThanOrEqual(200);
  });

  it('/readyz is 503 until a check is registered, then follows the checks', async () => {
    server = await start();
    expect((await get('/readyz')).status).toBe(503);
    let temporalUp = false;
    server.addReadinessCheck('temporal', () => {
      if (!temporalUp) throw new Error('connection refused');
    });
    server.addReadinessCheck('kubernetes', () => 'v1.34.4');
    const down = await get('/readyz');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toEqual({ ready: false, checks: { temporal: { ok: false, error: 'connection refused' }, kubernetes: { ok: true, detail: 'v1.34.4' } } });
    temporalUp = true;
    const up = await get('/readyz');
    expect(up.status).toBe(200);
    expect(JSON.parse(up.body).ready).toBe(true);
  });

  it('a check that hangs fails after the timeout instead of holding the probe', async () => {
    server = await start({ checkTimeoutMs: 100 });
    server.addReadinessCheck('slow', () => new Promise(() => {}));
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body).checks.slow.error).toMatch(/no answer within 100 ms/);
  });

  it('answers repeated probes from a cache instead of calling the checks each time', async () => {
    server = await start({ cacheMs: 60_000 });
    let calls = 0;
    server.addReadinessCheck('counted', () => {
      calls += 1;
    });
    await get('/readyz');
    await get('/readyz');
    await get('/readyz');
    expect(calls).toBe(1);
  });

  it('/metrics serves the process default metrics in Prometheus text, and metrics others register', async () => {
    server = await start();
    const { Counter } = await import('prom-client');
    new Counter({ name: 'tempered_test_total', help: 'a test counter', registers: [server.registry] }).inc(3);
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(res.body).toMatch(new RegExp(`^${name}`, 'm'));
    }
    expect(res.body).toMatch(/^tempered_test_total 3$/m);
  });

  it('unknown paths are 404 and writes are refused', async () => {
    server = await start();
    expect((await get('/nope')).status).toBe(404);
    expect((await fetch(`${server.url}/readyz`, { method: 'POST' })).status).toBe(405);
  });

  it('a port already taken is an error at start, not a silent endpoint elsewhere', async () => {
    server = await start();
    const port = Number(new URL(server.url).port);
    await expect(startHealthServer({ name: 'other', port, host: '127.0.0.1', logger })).rejects.toThrow(/EADDRINUSE/);
  });

  it('configuration: port 9440 on all interfaces unless told otherwise', () => {
    expect(HealthEnvSchema.parse({})).toEqual({ TEMPERED_METRICS_PORT: 9440, TEMPERED_METRICS_HOST: '0.0.0.0' });
    expect(HealthEnvSchema.safeParse({ TEMPERED_METRICS_PORT: '70000' }).success).toBe(false);
  });
});
