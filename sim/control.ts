/**
 * The simulator's control API over HTTP, on the shared agent server under `/_sim/`, for tools and tests in
 * another process than the simulator (the data centre `npm start` runs): read a host's disks, ramdisk, disk
 * boot and agent counters, and change its agent switches.
 *
 *   GET   /_sim/hosts                 [{ id, agent, disks, mdDevices, ramdisk, diskBoot, counters }]
 *   GET   /_sim/hosts/<id>            { id, agent, settings, counters, disks, mdDevices, ramdisk, diskBoot, os }
 *   PATCH /_sim/hosts/<id>/agent      body: partial AgentSettings (plus optional "kind": "sim" | "ipa")
 *   PATCH /_sim/hosts/<id>/os         body: partial OsSettings (e.g. {"neverJoin": true})
 */
import type { AgentHandler } from './agent/server.ts';
import { readJson, sendJson } from './agent/server.ts';
import type { AgentKind, OsSettings, SimulatedBmc } from './index.ts';

function describe(bmc: SimulatedBmc, full: boolean): Record<string, unknown> {
  return {
    id: bmc.id,
    agent: bmc.agentKind(),
    ...(full ? { settings: bmc.agent() } : {}),
    counters: bmc.agentCounters(),
    disks: bmc.disks(),
    mdDevices: bmc.mdDevices(),
    ramdisk: bmc.ramdisk(),
    diskBoot: bmc.diskBoot(),
    ...(full ? { os: { settings: bmc.os(), last: bmc.osRecords().at(-1) ?? null } } : {}),
  };
}

/** The `/_sim/` handler over the simulator's BMCs. */
export function controlApi(bmcs: readonly SimulatedBmc[]): AgentHandler {
  const byId = new Map(bmcs.map((bmc) => [bmc.id, bmc]));
  return async (request, response, path) => {
    const parts = path
      .split('/')
      .filter((part) => part !== '')
      .map(decodeURIComponent);
    if (parts[0] !== 'hosts') return sendJson(response, 404, { error: `unknown control path ${path}` });
    if (parts.length === 1 && request.method === 'GET')
      return sendJson(
        response,
        200,
        bmcs.map((bmc) => describe(bmc, false)),
      );
    const bmc = byId.get(parts[1] ?? '');
    if (!bmc) return sendJson(response, 404, { error: `no simulated host '${parts[1] ?? ''}'` });
    if (parts.length === 2 && request.method === 'GET') return sendJson(response, 200, describe(bmc, true));
    if (parts.length === 3 && parts[2] === 'agent' && request.method === 'PATCH') {
      const body = await readJson(request);
      if (!body || typeof body !== 'object' || Array.isArray(body))
        return sendJson(response, 400, { error: 'the body must be a JSON object' });
      const { kind, ...settings } = body as Record<string, unknown>;
      try {
        if (kind !== undefined) bmc.agentKind(kind as AgentKind);
        return sendJson(response, 200, { agent: bmc.agentKind(), settings: bmc.agent(settings) });
      } catch (error) {
        return sendJson(response, 400, { error: (error as Error).message });
      }
    }
    if (parts.length === 3 && parts[2] === 'os' && request.method === 'PATCH') {
      const body = await readJson(request);
      if (!body || typeof body !== 'object' || Array.isArray(body))
        return sendJson(response, 400, { error: 'the body must be a JSON object' });
      const current = bmc.os() as unknown as Record<string, unknown>;
      const wrong = Object.entries(body as Record<string, unknown>).find(
        ([key, value]) => !(key in current) || typeof value !== typeof current[key],
      );
      if (wrong) return sendJson(response, 400, { error: `unknown or mistyped OS setting '${wrong[0]}'` });
      return sendJson(response, 200, { settings: bmc.os(body as Partial<OsSettings>) });
    }
    return sendJson(response, 405, { error: `${request.method ?? 'GET'} ${path} is not supported` });
  };
}
