/**
 * `npm run bench [-- <name> ...]`: runs benchmarks and prints their figures (not timed assertions).
 * Each benchmark is a module under bench/ exporting `run(args)`. With no name, all run in turn.
 */
const benches: Record<string, { describe: string; load: () => Promise<{ run(args: string[]): Promise<unknown> }> }> = {
  stack: { describe: 'local stack start-up: each server and the whole stack, warm cache', load: () => import('./stack.ts') },
  fleet: { describe: 'N hosts register -> provisioned through the real stack: hosts/min, latency, status lag, CPU-s, RSS, Temporal tasks, Kubernetes writes and Redfish requests per host', load: () => import('./fleet.ts') },
  ipa: { describe: 'simulated hosts on the real ironic-python-agent: boot to heartbeat, command latency, RSS, idle CPU', load: () => import('./ipa.ts') },
  bmc: { describe: 'Redfish operations per second: simulator vs sushy-tools; simulator memory per 1,000 BMCs', load: () => import('./bmc.ts') },
  'sim-agent': {
    describe: "the simulator's deploy agent: image write MiB/s vs dd on the same disk, hosts/min writing a qcow2 image",
    load: () => import('./sim-agent.ts'),
  },
  rollout: {
    describe: 'a FirmwareRollout over N simulated hosts (compressed flash time): hosts/min, CPU-s per host, flashed once',
    load: () => import('./rollout.ts'),
  },
  'workflow-memory': {
    describe: 'memory per cached host workflow: created (domain modules shared vs per workflow), and provisioned and idle',
    load: () => import('./workflow-memory.ts'),
  },
  'schema-owners': {
    describe: "one FirmwareSchema's owners growing with the fleet on a real apiserver: patches, apiserver CPU-s, owner lag, per rest policy",
    load: () => import('./schema-owners.ts'),
  },
  dispatch: {
    describe: "Temporal's wait to hand a workflow or activity task to a waiting worker, nothing else running, per dynamic configuration",
    load: () => import('./dispatch.ts'),
  },
  image: {
    describe: 'download + sha256 + write of a 1 GiB image onto a file and a loop device, against dd on the same target',
    load: () => import('./image.ts'),
  },
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    console.log(['usage: npm run bench [-- <name> [args]]', '', ...Object.entries(benches).map(([n, b]) => `  ${n.padEnd(10)} ${b.describe}`)].join('\n'));
    return;
  }
  const selected = name ? [name] : Object.keys(benches);
  for (const n of selected) {
    const bench = benches[n];
    if (!bench) throw new Error(`unknown benchmark '${n}'; known: ${Object.keys(benches).join(', ')}`);
    console.log(`\n== ${n}: ${bench.describe}`);
    await (await bench.load()).run(name ? rest : []);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
