/**
 * The simulated data centre as a process of its own (stack/simulator.ts starts it), so benchmarks can
 * measure its CPU apart and chaos runs keep it alive while they kill the engine around it. Reads its BMC
 * list from the JSON file named by argv[2], starts them, writes `{ control, bmcs }` to argv[3] once listening,
 * and answers on a loopback control port: `GET /counters` (every BMC's side-effect counters by id),
 * `GET /agent-counters` (every host's deploy-agent counters: boots, image writes, erases) and `POST /faults` (`{ ids?, set }`: fault switches for some or all BMCs). Stops on SIGTERM.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { startSimulator, type BmcSpec, type FaultSettings } from '../sim/index.ts';

const [specFile, readyFile] = process.argv.slice(2);
if (!specFile || !readyFile) {
  process.stderr.write('usage: simulator-process.ts <bmc specs JSON> <ready file>\n');
  process.exit(2);
}
const specs = JSON.parse(readFileSync(specFile, 'utf8')) as BmcSpec[];
const sim = await startSimulator({ bmcs: specs });

const control = createServer((req, res) => {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'GET' && req.url === '/counters') {
    reply(200, Object.fromEntries(sim.bmcs.map((b) => [b.id, b.counters()])));
    return;
  }
  if (req.method === 'GET' && req.url === '/agent-counters') {
    reply(200, Object.fromEntries(sim.bmcs.map((b) => [b.id, b.agentCounters()])));
    return;
  }
  if (req.method === 'POST' && req.url === '/faults') {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      try {
        const { ids, set } = JSON.parse(body) as { ids?: string[]; set: Partial<FaultSettings> };
        const targets = ids ? ids.map((id) => sim.bmc(id)) : sim.bmcs;
        for (const b of targets) b.faults(set);
        reply(200, { changed: targets.length });
      } catch (err) {
        reply(400, { error: err instanceof Error ? err.message : String(err) });
      }
    });
    return;
  }
  reply(404, { error: 'GET /counters, GET /agent-counters or POST /faults' });
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const address = control.address();
const port = typeof address === 'object' && address ? address.port : 0;

const bmcs = sim.bmcs.map((b) => ({ id: b.id, profile: b.profile, address: b.address, username: b.username, password: b.password, bootMACAddress: b.bootMACAddress }));
writeFileSync(`${readyFile}.tmp`, JSON.stringify({ control: `http://127.0.0.1:${port}`, bmcs }), { mode: 0o600 });
renameSync(`${readyFile}.tmp`, readyFile);

const stop = () => {
  control.close();
  void sim.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
