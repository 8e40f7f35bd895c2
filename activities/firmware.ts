/**
 * The firmware activities (`FirmwareActivities` in contract.ts): what the prepare, servicing and firmware update
 * workflows ask of a BMC, through the driver boundary. Reads are local activities; `waitFirmwareTask` is the one
 * that can take minutes (a flash), a regular activity that heartbeats every poll, so a worker killed mid-flash is
 * replaced by one that polls the same task by its URI (never a second flash: the update was started once, by
 * `startFirmwareUpdate`, which finds the BMC's task again when called twice).
 *
 * FirmwareSchema names are BMO's (`GetSchemaName`: `schema-` and the first 8 hex digits of a SHA-256 over the
 * sorted names and rule values), so a host moved from BMO keeps its schema.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { SettingSchema } from '../domain/firmware-schema.schema.ts';
import type { FirmwareSettingRule } from '../domain/firmware-schema.ts';
import { settingText } from '../domain/host-firmware.ts';
import type { FirmwareReading } from '../domain/host-model.ts';
import type { BmcTarget, FirmwareActivities } from './contract.ts';
import type { BmcDriver, CallOptions } from './bmc/driver.ts';
import { BmcError } from './bmc/errors.ts';
import { withSharedReads } from './bmc/reads.ts';

/** Runs `fn` with the target's driver, BMC errors turned into typed ApplicationFailures (activities/index.ts). */
export type DriverRunner = <T>(target: BmcTarget, fn: (driver: BmcDriver) => Promise<T>) => Promise<T>;

export interface FirmwareActivityOptions {
  /** How often a firmware task is polled (Ironic polls its BMC tasks every few seconds to a minute). */
  taskPollMs: number;
  /** A task in TaskState Starting this long is held by the BMC for a host reboot (iDRAC's scheduled BIOS job). */
  heldAfterMs: number;
}

export const DEFAULT_FIRMWARE_ACTIVITY_OPTIONS: FirmwareActivityOptions = { taskPollMs: 10_000, heldAfterMs: 30_000 };

/** BMO's `GetSchemaName`: the same rules always give the same name, whichever host they were read from. */
export function firmwareSchemaName(schema: Readonly<Record<string, SettingSchema>>): string {
  const keys: string[] = [];
  for (const [name, rule] of Object.entries(schema)) {
    keys.push(name, rule.attribute_type ?? '', ...(rule.allowable_values ?? []));
    for (const bound of [rule.lower_bound, rule.upper_bound, rule.min_length, rule.max_length]) {
      if (bound !== undefined) keys.push(String(bound));
    }
    if (rule.read_only !== undefined) keys.push(String(rule.read_only));
  }
  keys.sort();
  return `schema-${createHash('sha256').update(`[${keys.join(' ')}]`).digest('hex').slice(0, 8)}`;
}

/** A registry rule as a FirmwareSchema rule: the registry's extras dropped (the CRD has no field for them). */
function schemaRule(rule: FirmwareSettingRule): SettingSchema {
  const { value_expression: _pattern, scalar_increment: _increment, reset_required: _reset, ...kept } = rule;
  return kept;
}

const isPassword = (name: string, rule?: SettingSchema) => name.includes('Password') || rule?.attribute_type === 'Password';

/** The inventory id behind a HostFirmwareComponents component name (`nic:<id>` names an inventory member). */
export function inventoryIdOf(component: string): string {
  return component.startsWith('nic:') ? component.slice(4) : component;
}

function cancellation(): CallOptions {
  try {
    return { signal: Context.current().cancellationSignal };
  } catch {
    return {};
  }
}

/** Waits `ms`, or less when the activity is cancelled. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A failure the activity's retry policy would retry: worth polling again inside a long wait. */
function transient(err: unknown): boolean {
  if (err instanceof BmcError) return err.retryable;
  return err instanceof ApplicationFailure && !err.nonRetryable;
}

/** The firmware activities, acting through `run` (the target's driver). */
export function createFirmwareActivities(run: DriverRunner, options: Partial<FirmwareActivityOptions> = {}): FirmwareActivities {
  const o = { ...DEFAULT_FIRMWARE_ACTIVITY_OPTIONS, ...options };
  const bios = (driver: BmcDriver) => {
    if (!driver.bios) throw new BmcError('BmcUnsupported', `the ${driver.address.type} driver has no BIOS settings`);
    return driver.bios;
  };
  const firmware = (driver: BmcDriver) => {
    if (!driver.firmware) throw new BmcError('BmcUnsupported', `the ${driver.address.type} driver has no firmware updates`);
    return driver.firmware;
  };

  return {
    async readFirmware(target, request): Promise<FirmwareReading> {
      // One reading: identify, the BIOS and the inventory share their reads of the system and manager.
      return run(target, (driver) => withSharedReads(async () => {
        const opts = cancellation();
        const reading: FirmwareReading = { components: [] };
        if (!driver.bios || !driver.firmware) return reading;
        // Right after registering (one call: registerBmc), the system it just read is not read again.
        const identity = await driver.identify({ ...opts, shared: true });
        if (identity.manufacturer) reading.vendor = identity.manufacturer;
        if (identity.model) reading.model = identity.model;
        let attributes: Record<string, unknown> | undefined;
        try {
          attributes = (await driver.bios.get(opts)).attributes;
        } catch (err) {
          // A system without a Bios resource has no settings; anything else is a real failure.
          if (!(err instanceof BmcError && (err.code === 'BmcUnsupported' || err.code === 'BmcNotFound'))) throw err;
        }
        if (attributes) {
          reading.settings = Object.fromEntries(
            Object.entries(attributes).filter(([name]) => !isPassword(name)).map(([name, value]) => [name, settingText(value)]),
          );
          const registry = await driver.bios.registry(opts);
          // Without a registry, every setting the BIOS lists is known but unchecked (what Ironic reports then).
          const rules: Record<string, SettingSchema> = {};
          if (registry) {
            for (const [name, rule] of Object.entries(registry.schema)) if (!isPassword(name, rule)) rules[name] = schemaRule(rule);
          } else {
            for (const name of Object.keys(reading.settings)) rules[name] = {};
          }
          reading.schemaName = firmwareSchemaName(rules);
          if (reading.schemaName !== request.knownSchema) reading.schema = rules;
        }
        try {
          const inventory = await driver.firmware.inventory(opts);
          reading.components = inventory.components.map((c) => ({ component: c.component, version: c.version }));
        } catch (err) {
          if (!(err instanceof BmcError && (err.code === 'BmcUnsupported' || err.code === 'BmcNotFound'))) throw err;
        }
        return reading;
      }));
    },

    async applyBiosSettings(target, request) {
      return run(target, async (driver) => {
        const result = await bios(driver).apply(request.settings, cancellation());
        return { changed: result.changed, rebootRequired: result.rebootRequired };
      });
    },

    async readBiosSettings(target, request) {
      return run(target, async (driver) => {
        const settings = await bios(driver).get(cancellation());
        const pick = (values: Record<string, unknown>) =>
          Object.fromEntries(request.names.filter((n) => values[n] !== undefined).map((n) => [n, settingText(values[n])]));
        return { current: pick(settings.attributes), pending: pick(settings.pending) };
      });
    },

    async applyRaid(target, request) {
      return run(target, async (driver) => {
        if (!driver.raid) throw new BmcError('BmcUnsupported', `the ${driver.address.type} driver has no hardware RAID`);
        const result = await driver.raid.apply(request.volumes, cancellation());
        return { state: result.state, rebootRequired: result.rebootRequired, deleted: result.deleted.length, created: result.created.length };
      });
    },

    async startFirmwareUpdate(target, request) {
      return run(target, async (driver) => {
        const opts = cancellation();
        const ops = firmware(driver);
        const id = inventoryIdOf(request.update.component);
        const previousVersion = await ops.version(id, opts);
        let targets: string[] | undefined;
        if (request.update.component.startsWith('nic:')) {
          const member = (await ops.inventory(opts)).components.find((c) => c.id === id);
          if (!member?.path) {
            throw new BmcError('BmcNotFound', `the BMC lists no firmware component ${id} (for ${request.update.component})`);
          }
          targets = [member.path];
        }
        const started = await ops.startUpdate({ imageUrl: request.update.url, since: request.since, ...(targets ? { targets } : {}) }, opts);
        return { state: started.state, taskUri: started.taskUri, previousVersion };
      });
    },

    async waitFirmwareTask(target, request) {
      const { signal } = cancellation();
      let startingSince: number | undefined;
      let last = 'unknown';
      for (;;) {
        Context.current().heartbeat({ taskUri: request.taskUri, state: last });
        if (signal?.aborted) throw ApplicationFailure.create({ type: 'OperationAborted', message: 'firmware task wait cancelled', nonRetryable: true });
        let task: Awaited<ReturnType<NonNullable<BmcDriver['firmware']>['readTask']>> | undefined;
        try {
          task = await run(target, (driver) => firmware(driver).readTask(request.taskUri, { ...(signal ? { signal } : {}) }));
        } catch (err) {
          // A BMC flashing itself reboots and drops everything meanwhile: poll again.
          if (!transient(err)) throw err;
          last = 'unreachable';
        }
        if (task) {
          last = `${task.state}${task.percent !== undefined ? ` ${task.percent}%` : ''}`;
          if (task.done) {
            if (!task.ok && !task.vanished) {
              const why = task.messages.join('; ') || 'no message';
              throw ApplicationFailure.create({
                type: 'BmcTaskFailed',
                message: `the firmware task ${request.taskUri} ended ${task.state}/${task.status ?? '-'}: ${why}`,
                nonRetryable: true,
              });
            }
            return { state: 'done', taskState: task.state, messages: task.messages };
          }
          if (task.state === 'Starting') {
            startingSince ??= Date.now();
            if (Date.now() - startingSince >= o.heldAfterMs) return { state: 'held', taskState: task.state, messages: task.messages };
          } else {
            startingSince = undefined;
          }
        }
        await pause(o.taskPollMs, signal);
      }
    },

    async readFirmwareVersion(target, request) {
      return run(target, async (driver) => ({ version: await firmware(driver).version(inventoryIdOf(request.component), cancellation()) }));
    },
  };
}
