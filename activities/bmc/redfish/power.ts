/**
 * Power through `#ComputerSystem.Reset`: ResetType discovery (inline AllowableValues, then ActionInfo, then the
 * standard enum), a request only when the host is not already there, and a wait until the state is reached,
 * polling at a fixed short interval up to a deadline (Ironic's power_state_change_timeout), never backing off.
 */
import type { PowerAction, PowerOptions, PowerResult, PowerState } from '../driver.ts';
import { BmcError } from '../errors.ts';
import { sleep } from '../lock.ts';
import type { RedfishContext } from './context.ts';
import { action, str, type Json } from './resources.ts';

/** Resource.json#/definitions/ResetType. */
export const STANDARD_RESET_TYPES = ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn', 'PushPowerButton', 'PowerCycle', 'Suspend', 'Pause', 'Resume', 'FullPowerCycle'];

/** Ironic's reading: PoweringOn counts as on, PoweringOff as off. */
export function readPowerState(system: Json): PowerState | undefined {
  switch (str(system.PowerState)) {
    case 'On':
    case 'PoweringOn':
    case 'Paused':
      return 'on';
    case 'Off':
    case 'PoweringOff':
      return 'off';
    default:
      return undefined;
  }
}

/** The ResetType to send for a transition, in order of preference, among the allowed ones. */
export function chooseResetType(want: 'on' | 'off' | 'soft-off' | 'soft-restart' | 'restart', allowed: string[]): string | undefined {
  const preference: Record<typeof want, string[]> = {
    on: ['On', 'ForceOn'],
    off: ['ForceOff'],
    'soft-off': ['GracefulShutdown'],
    'soft-restart': ['GracefulRestart'],
    restart: ['ForceRestart', 'PowerCycle'],
  };
  return preference[want].find((t) => allowed.includes(t));
}

/** Allowed ResetTypes of the system (cached per connection). */
export async function resetTypes(ctx: RedfishContext, system: Json, signal?: AbortSignal): Promise<{ target: string; allowed: string[] }> {
  const reset = action(system, '#ComputerSystem.Reset');
  if (!reset) throw new BmcError('BmcUnsupported', `the system at ${ctx.endpoint} has no #ComputerSystem.Reset action`);
  if (!ctx.cachedResetTypes) {
    ctx.cachedResetTypes = (await ctx.allowableValues(reset.annotations, 'ResetType', signal, STANDARD_RESET_TYPES)) ?? STANDARD_RESET_TYPES;
  }
  return { target: reset.target, allowed: ctx.cachedResetTypes };
}

function unavailable(ctx: RedfishContext, what: string, allowed: string[]): BmcError {
  return new BmcError('BmcUnsupported', `the BMC at ${ctx.endpoint} offers no ResetType for ${what} (allowed: ${allowed.join(', ') || 'none'})`);
}

async function readState(ctx: RedfishContext, signal?: AbortSignal, shared = false): Promise<{ system: Json; state: PowerState }> {
  const system = (await ctx.system(signal, shared)).body;
  const state = readPowerState(system);
  if (!state) throw new BmcError('BmcServerError', `the system at ${ctx.endpoint} reports an unknown PowerState ${JSON.stringify(system.PowerState)}`);
  return { system, state };
}

/**
 * GET the system's power state. A look of its own, never a poll (power changes poll with `waitFor`): the activity's
 * read of the system since our last change may answer (bmc/reads.ts), e.g. a virtual-media boot's verification
 * right after the power-on's last poll saw the host on.
 */
export async function getPowerState(ctx: RedfishContext, signal?: AbortSignal): Promise<PowerState> {
  return (await readState(ctx, signal, true)).state;
}

/**
 * POSTs one ResetType. A 400/409 that says the host is already there (or a re-read that shows it) is success
 * (Ironic's set_power_state); transitional refusals surface as BmcBusy for the converge loop.
 */
async function reset(ctx: RedfishContext, target: string, resetType: string, expect: PowerState | undefined, signal?: AbortSignal): Promise<void> {
  try {
    await ctx.client.post(target, { ResetType: resetType }, { signal });
  } catch (err) {
    if (!(err instanceof BmcError) || (err.status !== 400 && err.status !== 409) || !expect) throw err;
    // Only the BMC's own state says "already there"; a refusal that is not confirmed by it is rethrown
    // (transitional ones are retried by the converge loop, which re-reads the state first).
    const now = readPowerState((await ctx.system(signal)).body);
    if (now === expect) return;
    throw err;
  }
}

/**
 * Polls PowerState at a fixed interval until it settles at `want` (`On`/`Off`, not `PoweringOn`: the host is
 * there when the caller goes on) or the deadline passes.
 */
async function waitFor(ctx: RedfishContext, want: PowerState, timeoutMs: number, opts: PowerOptions, initialMs = ctx.timings.powerPollInitialMs): Promise<void> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  const settled = want === 'on' ? 'On' : 'Off';
  await sleep(Math.min(initialMs, timeoutMs), opts.signal);
  for (;;) {
    const body = (await ctx.system(opts.signal)).body;
    const state = readPowerState(body);
    if (body.PowerState === settled) return;
    const now = Date.now();
    opts.onProgress?.({ what: `power ${want}`, elapsedMs: now - started, detail: `PowerState is ${state ?? 'unknown'}` });
    if (now >= deadline) {
      throw new BmcError('PowerStateNotReached', `the host behind ${ctx.endpoint} did not reach power ${want} within ${Math.round(timeoutMs / 1000)} s (still ${state ?? 'unknown'})`);
    }
    await sleep(Math.min(ctx.timings.powerPollIntervalMs, Math.max(0, deadline - now)), opts.signal);
  }
}

/** Requests `action` unless the host is already there, then waits for it. */
export async function setPower(ctx: RedfishContext, powerAction: PowerAction, opts: PowerOptions = {}): Promise<PowerResult> {
  const started = Date.now();
  const sent: string[] = [];
  const t = ctx.timings;
  const timeout = opts.timeoutMs ?? (powerAction.startsWith('soft') ? t.softPowerTimeoutMs : t.powerTimeoutMs);
  const send = async (system: Json, want: Parameters<typeof chooseResetType>[0], expect: PowerState | undefined) => {
    const { target, allowed } = await resetTypes(ctx, system, opts.signal);
    const type = chooseResetType(want, allowed);
    if (!type) throw unavailable(ctx, want, allowed);
    await reset(ctx, target, type, expect, opts.signal);
    sent.push(type);
  };
  const done = (state: PowerState, changed: boolean): PowerResult => ({ action: powerAction, state, changed, sent, elapsedMs: Date.now() - started });

  return ctx.converge(`power ${powerAction}`, opts, async (attempt) => {
    // The first look may be the activity's read since our last change (bmc/reads.ts); a retry reads again.
    const { system, state } = await readState(ctx, opts.signal, attempt === 1);
    switch (powerAction) {
      case 'on':
        if (state === 'on') return done('on', sent.length > 0);
        // An On sent while the host is still powering off can be dropped or cancel the off half-way (the host
        // stays up without booting what was just inserted): let the off settle first.
        if (str(system.PowerState) === 'PoweringOff') await waitFor(ctx, 'off', timeout, opts, 0);
        await send(system, 'on', 'on');
        await waitFor(ctx, 'on', timeout, opts);
        return done('on', true);
      case 'off':
      case 'soft-off':
        if (state === 'off') return done('off', sent.length > 0);
        await send(system, powerAction === 'off' ? 'off' : 'soft-off', 'off');
        await waitFor(ctx, 'off', timeout, opts);
        return done('off', true);
      case 'reboot': {
        // Ironic's hard reboot: ForceOff, wait, On, wait (ForceRestart only when ForceOff is not offered).
        // `sent` survives converge attempts, so a retry after the off only turns the host on.
        if (state === 'on' && sent.length === 0) {
          const { allowed } = await resetTypes(ctx, system, opts.signal);
          if (!allowed.includes('ForceOff')) {
            await send(system, 'restart', undefined);
            await waitFor(ctx, 'on', timeout, opts, t.softRebootSettleMs);
            return done('on', true);
          }
          await send(system, 'off', 'off');
          await waitFor(ctx, 'off', timeout, opts);
        }
        const fresh = sent.length === 0 ? { system, state } : await readState(ctx, opts.signal);
        if (fresh.state === 'on') return done('on', sent.length > 0);
        await send(fresh.system, 'on', 'on');
        await waitFor(ctx, 'on', timeout, opts);
        return done('on', true);
      }
      case 'soft-reboot':
        if (state === 'off') {
          await send(system, 'on', 'on');
          await waitFor(ctx, 'on', timeout, opts);
          return done('on', true);
        }
        if (!sent.includes('GracefulRestart')) await send(system, 'soft-restart', undefined);
        await waitFor(ctx, 'on', timeout, opts, t.softRebootSettleMs);
        return done('on', true);
    }
  });
}
