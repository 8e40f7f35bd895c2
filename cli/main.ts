/**
 * The `tempered` CLI: the operator's entry point. Each command group lives in its own module that exports
 * `run(args)` and `usage`; this file only dispatches. JSON output for scripts, readable output for people.
 */
interface CommandGroup {
  usage: string;
  run(args: string[]): Promise<number>;
}

const groups: Record<string, () => Promise<CommandGroup>> = {
  bmc: () => import('./bmc.ts'),
  sim: () => import('./sim.ts'),
  setup: () => import('./setup.ts'),
};

function usage(): string {
  return [
    'usage: tempered <group> <command> [options]',
    '',
    'groups:',
    '  bmc   talk to a BMC directly (inventory, power, boot, virtual media): an SRE\'s first tool',
    '  sim   run the simulated data centre (Redfish BMCs serving vendor mockups)',
    '  setup prepare what Tempered runs against: Temporal search attributes, webhook certificates',
    '',
    'Run `tempered <group> --help` for the commands of a group.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [group, ...rest] = argv;
  if (!group || group === '--help' || group === '-h' || group === 'help') {
    console.log(usage());
    return group ? 0 : 2;
  }
  const load = groups[group];
  if (!load) {
    console.error(`tempered: unknown command group '${group}'\n\n${usage()}`);
    return 2;
  }
  const module = await load();
  return module.run(rest);
}

process.exitCode = await main(process.argv.slice(2));
