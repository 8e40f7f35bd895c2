/**
 * `tempered bmc`: talk to one BMC directly, through the same drivers the activities use. JSON on stdout; on
 * failure the error code and message on stderr and a non-zero exit (1: the BMC operation failed, 2: bad usage).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BmcDriver } from '../activities/bmc/driver.ts';
import { BmcError, isBmcError } from '../activities/bmc/errors.ts';
import { createBmcDriver } from '../activities/bmc/factory.ts';

export const usage = [
  'usage: tempered bmc <command> --address <Metal3 BMC address> --username <user> --password-file <file> [options]',
  '',
  'commands:',
  '  inventory          hardware inventory (HardwareData shape) plus firmware components and manager facts',
  '  power-state        the host power state',
  '  power-on           power the host on and wait until it is on',
  '  power-off          power the host off (hard) and wait until it is off',
  '  boot-cd            boot from the virtual CD once (UEFI)',
  '  insert-media URL   insert an ISO as virtual CD (ejecting what is there) and read it back',
  '  eject-media        eject every virtual CD/DVD',
  '',
  'options:',
  '  --address A            e.g. redfish-virtualmedia+https://10.0.0.5/redfish/v1/Systems/1, ipmi://10.0.0.6:623',
  '  --username U',
  '  --password-file F      file holding the password (`-` reads stdin); the password never goes on the command line',
  '  --insecure             skip TLS certificate verification (disableCertificateVerification)',
  '  --timeout S            power wait deadline in seconds (default 120)',
  '  --ipmi-cipher-suite N  IPMI cipher suite (default 3)',
  '  --ipmi-interval-ms N   minimum time between two IPMI commands (default 5000, Ironic\'s)',
].join('\n');

const COMMANDS = ['inventory', 'power-state', 'power-on', 'power-off', 'boot-cd', 'insert-media', 'eject-media'] as const;
type Command = (typeof COMMANDS)[number];

class UsageError extends Error {}

function readPassword(file: string): string {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  // Secret files usually end in one newline that is not part of the password.
  return text.replace(/\r?\n$/, '');
}

function need<T>(value: T | undefined, what: string, driver: BmcDriver): T {
  if (value === undefined) {
    throw new BmcError('BmcUnsupported', `${what} is not available over ${driver.address.protocol.toUpperCase()} (address scheme '${driver.address.scheme}'); use a Redfish address`);
  }
  return value;
}

async function execute(command: Command, positional: string[], driver: BmcDriver, timeoutMs: number | undefined): Promise<unknown> {
  switch (command) {
    case 'inventory':
      return need(driver.inspection, 'inventory', driver).inventory();
    case 'power-state': {
      const state = await driver.getPowerState();
      return { powerState: state, poweredOn: state === 'on' };
    }
    case 'power-on':
      return driver.setPower('on', timeoutMs === undefined ? {} : { timeoutMs });
    case 'power-off':
      return driver.setPower('off', timeoutMs === undefined ? {} : { timeoutMs });
    case 'boot-cd':
      return driver.setBootOverride({ device: 'cd', mode: 'UEFI' });
    case 'insert-media': {
      const url = positional[0];
      if (!url) throw new UsageError('insert-media needs the image URL');
      return need(driver.virtualMedia, 'virtual media', driver).insert(url);
    }
    case 'eject-media':
      return { ejected: await need(driver.virtualMedia, 'virtual media', driver).eject() };
  }
}

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        address: { type: 'string' },
        username: { type: 'string' },
        'password-file': { type: 'string' },
        insecure: { type: 'boolean', default: false },
        timeout: { type: 'string' },
        'ipmi-cipher-suite': { type: 'string' },
        'ipmi-interval-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`tempered bmc: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (values.help ? console.log : console.error)(usage);
    return values.help ? 0 : 2;
  }
  if (!(COMMANDS as readonly string[]).includes(command)) {
    console.error(`tempered bmc: unknown command '${command}'\n\n${usage}`);
    return 2;
  }
  const missing = (['address', 'username', 'password-file'] as const).filter((k) => !values[k]);
  if (missing.length) {
    console.error(`tempered bmc: missing ${missing.map((m) => `--${m}`).join(', ')}\n\n${usage}`);
    return 2;
  }
  const number = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number`);
    return n;
  };

  let driver: BmcDriver | undefined;
  try {
    const timeoutS = number('timeout', values.timeout);
    const cipherSuite = number('ipmi-cipher-suite', values['ipmi-cipher-suite']);
    const interval = number('ipmi-interval-ms', values['ipmi-interval-ms']);
    let password: string;
    try {
      password = readPassword(values['password-file'] ?? '');
    } catch (err) {
      throw new BmcError('BmcCredentialsMissing', `cannot read the password file ${values['password-file']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    driver = createBmcDriver({
      address: values.address ?? '',
      credentials: { username: values.username ?? '', password },
      disableCertificateVerification: values.insecure,
      ipmi: {
        ...(cipherSuite === undefined ? {} : { cipherSuite }),
        ...(interval === undefined ? {} : { timings: { minCommandIntervalMs: interval, powerPollIntervalMs: Math.max(interval, 1000) } }),
      },
    });
    const result = await execute(command as Command, rest, driver, timeoutS === undefined ? undefined : timeoutS * 1000);
    console.log(JSON.stringify(result, null, 2));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`tempered bmc: ${err.message}\n\n${usage}`);
      return 2;
    }
    if (isBmcError(err)) {
      console.error(`tempered bmc: ${err.code}: ${err.message}${err.retryable ? ' (transient: retrying may help)' : ''}`);
      return 1;
    }
    console.error(`tempered bmc: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  } finally {
    await driver?.close();
  }
}
