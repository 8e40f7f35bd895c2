/**
 * The container image's entry point: one image, three processes, chosen by the first argument (the
 * Deployments in deploy/ pass it as `args`). Each process module exports its `main`.
 *
 *   node dist/workers/entrypoint.js worker|bridge|agent-api
 */

/** The processes the image runs, and the module of each. */
const PROCESSES: Record<string, () => Promise<{ main(): Promise<void> }>> = {
  worker: () => import('./worker.ts'),
  bridge: () => import('./bridge.ts'),
  'agent-api': () => import('./agent-api.ts'),
};

const usage = `usage: entrypoint <${Object.keys(PROCESSES).join('|')}>`;

const [name, ...extra] = process.argv.slice(2);
if (name === '--help' || name === '-h') {
  process.stdout.write(`${usage}\n`);
} else if (!name || !(name in PROCESSES) || extra.length > 0) {
  process.stderr.write(`tempered: ${name ? `unknown process '${[name, ...extra].join(' ')}'` : 'which process?'}\n${usage}\n`);
  process.exitCode = 2;
} else {
  const load = PROCESSES[name] as (typeof PROCESSES)[string];
  await (await load()).main();
}
