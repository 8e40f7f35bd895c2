/**
 * OpenIPMI's `ipmi_sim`: one real IPMI-over-LAN BMC per process on 127.0.0.1, with a chassis hook that keeps
 * power and boot device in files and appends every `set` to a journal, so tests can read back what the BMC
 * was told to do and how many times.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ipmiTools, type Progress } from './binaries.ts';
import { freePort } from './ports.ts';
import { startProcess, waitUntil } from './processes.ts';

const execFileAsync = promisify(execFile);

export interface IpmiSimOptions {
  stateDir: string;
  username?: string;
  password?: string;
  progress: Progress;
}

export interface IpmiBmcState {
  power: 'on' | 'off';
  boot: string;
  /** Every `set` the BMC received, in order, e.g. `power 1`, `boot cdrom`. */
  journal: string[];
}

export interface IpmiSim {
  /** The Metal3 BMC address: `ipmi://127.0.0.1:<port>`. */
  address: string;
  port: number;
  username: string;
  password: string;
  ipmitool: string;
  state(): IpmiBmcState;
  /** Runs `ipmitool -I lanplus -C 3` against this BMC (password through the environment, not argv). */
  ipmitoolRun(args: string[], credentials?: { username: string; password: string }): Promise<string>;
  stop(): Promise<void>;
}

// The hook ipmi_sim runs as `<hook> <mc> get <parm>...` or `<hook> <mc> set <parm> <value>...`.
const CHASSIS_HOOK = `#!/bin/sh
dir=$(dirname "$0")
op=$2
shift 2
case "$op" in
get)
  for p in "$@"; do
    case "$p" in
      power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)" ;;
      boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)" ;;
    esac
  done ;;
set)
  while [ $# -ge 2 ]; do
    echo "$1 $2" >> "$dir/journal"
    case "$1" in
      power) echo "$2" > "$dir/power" ;;
      boot) echo "$2" > "$dir/boot" ;;
      shutdown) [ "$2" = 1 ] && echo 0 > "$dir/power" ;;
    esac
    shift 2
  done ;;
esac
exit 0
`;

export async function startIpmiSim(options: IpmiSimOptions): Promise<IpmiSim> {
  const { ipmiSim, ipmitool } = await ipmiTools(options.progress);
  const dir = options.stateDir;
  mkdirSync(join(dir, 'persist'), { recursive: true });
  const username = options.username ?? 'admin';
  const password = options.password ?? 'password';
  const port = await freePort();

  const hook = join(dir, 'chassis.sh');
  writeFileSync(hook, CHASSIS_HOOK);
  chmodSync(hook, 0o755);
  writeFileSync(join(dir, 'power'), '0\n');
  writeFileSync(join(dir, 'lan.conf'), [
    `name "bmc${port}"`,
    'set_working_mc 0x20',
    '  startlan 1',
    `    addr 127.0.0.1 ${port}`,
    '    priv_limit admin',
    '    allowed_auths_callback none md2 md5 straight',
    '    allowed_auths_user none md2 md5 straight',
    '    allowed_auths_operator none md2 md5 straight',
    '    allowed_auths_admin none md2 md5 straight',
    '    guid a123456789abcdefa123456789abcdef',
    '  endlan',
    `  chassis_control "${hook} 0x20"`,
    '  user 1 true "" "test" user 10 none md2 md5 straight',
    `  user 2 true "${username}" "${password}" admin 10 none md2 md5 straight`,
    '',
  ].join('\n'), { mode: 0o600 });
  writeFileSync(join(dir, 'bmc.emu'), [
    'mc_setbmc 0x20',
    'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr',
    'sel_enable 0x20 1000 0x0a',
    'mc_enable 0x20',
    '',
  ].join('\n'));

  options.progress(`starting ipmi_sim on 127.0.0.1:${port}`);
  const proc = startProcess('ipmi_sim', ipmiSim, ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', join(dir, 'persist'), '-n'], {
    logFile: join(dir, 'ipmi_sim.log'),
  });

  const ipmitoolRun = async (args: string[], credentials = { username, password }): Promise<string> => {
    const { stdout } = await execFileAsync(ipmitool, ['-I', 'lanplus', '-C', '3', '-N', '1', '-R', '2', '-H', '127.0.0.1', '-p', String(port), '-U', credentials.username, '-E', ...args], {
      env: { ...process.env, IPMI_PASSWORD: credentials.password },
      timeout: 15_000,
    });
    return stdout;
  };
  await waitUntil('ipmi_sim', async () => (await ipmitoolRun(['power', 'status'])).includes('Chassis Power'), { timeoutMs: 30_000, intervalMs: 200, process: proc });
  // The readiness probe's reads are not side effects; start the journal empty.
  writeFileSync(join(dir, 'journal'), '');

  return {
    address: `ipmi://127.0.0.1:${port}`,
    port,
    username,
    password,
    ipmitool,
    state() {
      const read = (f: string, fallback: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').trim() : fallback);
      const journal = read('journal', '');
      return { power: read('power', '0') === '1' ? 'on' : 'off', boot: read('boot', 'default'), journal: journal ? journal.split('\n') : [] };
    },
    ipmitoolRun,
    stop: () => proc.stop(),
  };
}
