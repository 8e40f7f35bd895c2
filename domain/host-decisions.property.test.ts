/**
 * Properties of the decisions over generated cases (state, spec, annotations, credentials, BMC outcome),
 * from a seeded generator so a failure names the case that breaks it:
 * - every decision is a table edge: a transition names a trigger the table has from that state, and the
 *   outcome of every operation it starts (success or any failure) moves the host only along edges;
 * - every wait is one of the documented `WAITS`, and a timed wait ends in the future;
 * - every state has a way forward: with a good intent and a BMC that answers, a host in any state reaches
 *   a steady state (or is released, when deleted) without the workflow's decision-loop guard tripping;
 * - adversarial walks (intent changing under it, BMC failing at random) never make an illegal move.
 */
import { describe, expect, it } from 'vitest';
import { BMC_ADDRESS, LIVE_ISO, NOW, annotations, hostDesired, hostIn } from '../test/fixtures/hosts.ts';
import { ERROR_CODES, type ErrorCode } from './errors.ts';
import { WAITS, decide, type Step } from './host-decisions.ts';
import {
  DEFAULT_LIFECYCLE_CONFIG,
  applyFailure,
  applySuccess,
  attach,
  detach,
  onDesiredChanged,
  operationOf,
  transition,
  undelay,
  type Moved,
  type OperationRequest,
  type OperationResults,
} from './host-lifecycle.ts';
import type { HostAnnotations, HostDesired, HostState, ImageIntent } from './host-model.ts';
import { CAPACITY_LIMITED_STATES, PROVISIONING_STATES, canTransition, nextState, type Metal3ProvisioningState } from './host-state.ts';

/** mulberry32: a small seeded PRNG, so every case can be rebuilt from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = rng(seed);
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pick<T>(values: readonly T[]): T {
    return values[Math.floor(this.#next() * values.length)] as T;
  }
  int(max: number): number {
    return Math.floor(this.#next() * (max + 1));
  }
}

const OTHER_ISO: ImageIntent = { url: 'http://images.example/other.iso', format: 'live-iso' };
const QCOW: ImageIntent = { url: 'http://images.example/os.qcow2', checksum: 'abc', format: 'qcow2' };
const IMAGES = [undefined, LIVE_ISO, OTHER_ISO, QCOW] as const;
const STATES = [...PROVISIONING_STATES, 'ready'] as const;
const ERROR_TYPES = ['', '', '', 'registration error', 'provisioned registration error', 'inspection error', 'provisioning error', 'power management error'] as const;
const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

function genAnnotations(g: Gen): HostAnnotations {
  const reboot: HostAnnotations['reboot'] = {};
  if (g.chance(0.15)) reboot['reboot.metal3.io'] = { mode: g.pick(['soft', 'hard'] as const), force: false };
  if (g.chance(0.1)) reboot['reboot.metal3.io/remediation'] = { mode: g.pick(['soft', 'hard'] as const), force: false };
  return annotations({
    paused: g.chance(0.05),
    reboot,
    ...(g.chance(0.15) ? { detached: { deleteAction: g.pick(['delete', 'delay'] as const), force: g.chance(0.3) } } : {}),
    ...(g.chance(0.2) ? { inspect: g.pick(['', 'disabled'] as const) } : {}),
    ...(g.chance(0.1) ? { hardwareDetails: { ramMebibytes: 1024 } } : {}),
  });
}

function genDesired(g: Gen): HostDesired {
  const image = g.pick(IMAGES);
  const credentials = g.pick([
    { name: 'host-0-bmc', version: '100' },
    { name: 'host-0-bmc', version: '101' },
    { name: 'other', version: '7' },
    { name: 'host-0-bmc', problem: 'the Secret metal3/host-0-bmc does not exist' },
  ]);
  return hostDesired(
    {
      online: g.chance(0.6),
      bmc: g.chance(0.9) ? { address: g.chance(0.9) ? BMC_ADDRESS : 'ipmi://10.0.0.9', credentialsName: credentials.name } : undefined,
      ...(image ? { image } : {}),
      ...(g.chance(0.1) ? { customDeploy: { method: g.pick(['install_coreos', 'other']) } } : {}),
      ...(g.chance(0.1) ? { externallyProvisioned: true } : {}),
      ...(g.chance(0.15) ? { inspectionMode: 'disabled' as const } : {}),
      ...(g.chance(0.1) ? { rootDeviceHints: { deviceName: '/dev/sdb' } } : {}),
      ...(g.chance(0.1) ? { bootMode: 'legacy' as const } : {}),
      ...(g.chance(0.05) ? { disablePowerOff: true } : {}),
    },
    { annotations: genAnnotations(g), credentials, deleting: g.chance(0.2) },
  );
}

function genState(g: Gen): HostState {
  const ps = g.pick(STATES);
  const errorType = g.pick(ERROR_TYPES);
  const target = g.pick(CAPACITY_LIMITED_STATES);
  return hostIn(ps, {
    poweredOn: g.chance(0.5),
    detached: g.chance(0.1),
    ...(g.chance(0.2) ? { goodCredentials: undefined } : {}),
    ...(errorType ? { errorType, errorMessage: 'earlier failure', errorCount: 1 + g.int(5), errorCode: g.pick(CODES) } : {}),
    ...(g.chance(0.3) ? { retryAfter: new Date(NOW + (g.chance(0.5) ? 1 : -1) * 60_000 * (1 + g.int(10))).toISOString() } : {}),
    ...(g.chance(0.5) ? { lastAttemptedImage: g.pick(IMAGES) } : {}),
    ...(g.chance(0.4) ? { image: g.pick(IMAGES) } : {}),
    ...(g.chance(0.05) ? { customDeploy: { method: 'install_coreos' } } : {}),
    provisioningFailCount: g.int(6),
    deleteAttempts: g.int(4),
    ...(g.chance(0.3) ? { bootMode: 'UEFI' } : {}),
    ...(g.chance(0.2) ? { consumedAnnotations: ['reboot.metal3.io', 'inspect.metal3.io'] } : {}),
    ...(g.chance(0.1) && nextState(ps, 'provisionRequested') !== undefined ? { delayed: { state: target, reason: 'busy', offered: g.chance(0.5) } } : {}),
    ...(g.chance(0.2) ? { powerCheckedAt: new Date(NOW - 3_600_000).toISOString() } : {}),
  });
}

/** The result an operation returns when the BMC does what it is asked. */
function success(request: OperationRequest, state: HostState, desired: HostDesired): OperationResults[OperationRequest['name']] {
  switch (request.name) {
    case 'register':
      return { poweredOn: state.poweredOn, credentialsVersion: desired.credentials?.version ?? '', bmcAddress: desired.spec.bmc?.address ?? '' };
    case 'power':
      return { poweredOn: request.on };
    case 'provision':
      return { poweredOn: true };
    case 'deprovision':
      return { poweredOn: false };
    default:
      return { poweredOn: state.poweredOn };
  }
}

/** Checks that a state change (by an outcome fold) is nothing or an edge of the table. */
function expectEdgeOrStay(from: HostState, to: HostState, what: string): void {
  if (from.provisioningState === to.provisioningState) return;
  expect(canTransition(from.provisioningState as Metal3ProvisioningState, to.provisioningState as Metal3ProvisioningState), what).toBe(true);
}

/** Executes a step the way the host workflow does (no Temporal): the next state, or undefined when it waits. */
function execute(step: Step, state: HostState, desired: HostDesired, now: number, outcome: { fails?: ErrorCode }): Moved | undefined {
  switch (step.kind) {
    case 'transition':
      return transition(state, step.trigger, desired, now);
    case 'operation': {
      if (outcome.fails) return applyFailure(state, operationOf(step.request), { code: outcome.fails, message: 'injected' }, desired, now, 0.5);
      return applySuccess(state, step.request as never, success(step.request, state, desired) as never, desired, now);
    }
    case 'fail':
      return applyFailure(state, step.operation, { code: step.code, message: step.message }, desired, now, 0.5);
    case 'consume':
      return { state: { ...state, consumedAnnotations: [...state.consumedAnnotations, ...step.annotations] }, events: [], consume: step.annotations };
    case 'detach':
      return detach(state);
    case 'attach':
      return attach(state);
    case 'undelay':
      return { state: undelay(state), events: [], consume: [] };
    case 'checkPower':
      return { state: { ...state, powerCheckedAt: new Date(now).toISOString() }, events: [], consume: [] };
    case 'wait':
    case 'release':
      return undefined;
  }
}

/** The bridge removes consumed annotations; the workflow hears of it through syncHost. */
function withoutAnnotations(desired: HostDesired, keys: string[]): HostDesired {
  if (keys.length === 0) return desired;
  const a = { ...desired.annotations, reboot: { ...desired.annotations.reboot } };
  for (const k of keys) {
    delete a.reboot[k];
    if (k === 'inspect.metal3.io') delete a.inspect;
    if (k === 'inspect.metal3.io/hardwaredetails') delete a.hardwareDetails;
  }
  return { ...desired, annotations: a };
}

const CASES = 3000;
const seeds = Array.from({ length: CASES }, (_, i) => 1000 + i);

type Decide = typeof decide;

/** Checks one generated case against the properties; throws naming the seed when one does not hold. */
function checkCase(seed: number, decideFn: Decide = decide): void {
  const g = new Gen(seed);
  const state = genState(g);
  const desired = genDesired(g);
  const what = `seed ${seed}: ${state.provisioningState || 'none'}`;
  const step = decideFn(state, desired, NOW);
  if (step.kind === 'transition') {
    expect(nextState(state.provisioningState as Metal3ProvisioningState, step.trigger), `${what} on ${step.trigger}`).toBeDefined();
  }
  if (step.kind === 'wait') {
    expect(Object.keys(WAITS), what).toContain(step.why);
    expect(step.reason, what).not.toBe('');
    if (step.until !== undefined) expect(step.until, what).toBeGreaterThan(NOW);
  }
  // Every BMC outcome of what it decided: success, and a failure with any code.
  const outcomes = step.kind === 'operation' ? [{}, { fails: g.pick(CODES) }, { fails: 'BmcUnreachable' as const }] : [{}];
  for (const outcome of outcomes) {
    const moved = execute(step, state, desired, NOW, outcome);
    if (moved) expectEdgeOrStay(state, moved.state, `${what}: ${step.kind} ${JSON.stringify(outcome)}`);
  }
}

describe('every decision is a table edge, every wait is documented', () => {
  it.each([0, 1, 2, 3, 4, 5])('generated cases, batch %i', (batch) => {
    for (const seed of seeds.filter((_, i) => i % 6 === batch)) checkCase(seed);
  });
});

/** Walks a host from `start` under `desired` with a BMC that answers; returns how the walk ended. */
interface WalkOptions {
  fails?: (step: number) => ErrorCode | undefined;
  change?: (step: number) => HostDesired | undefined;
  decideFn?: Decide;
}

function walk(start: HostState, initial: HostDesired, options: WalkOptions = {}) {
  const decideFn = options.decideFn ?? decide;
  let state = start;
  let desired = initial;
  let now = NOW;
  let inARow = 0;
  for (let i = 0; i < 400; i++) {
    const changed = options.change?.(i);
    if (changed) {
      desired = changed;
      state = onDesiredChanged(state, desired);
    }
    const step = decideFn(state, desired, now);
    if (step.kind === 'release') return { end: 'release' as const, state, steps: i };
    if (step.kind === 'wait') {
      inARow = 0;
      if (step.why === 'delayed') {
        // The bridge offers the slot.
        state = { ...state, delayed: state.delayed && { ...state.delayed, offered: true } };
        continue;
      }
      if (step.why === 'steady' && !options.change) return { end: step.why, state, steps: i };
      if (step.until !== undefined) {
        now = step.until + 1;
        continue;
      }
      if (!options.change) return { end: step.why, state, steps: i };
      now += 60_000;
      continue;
    }
    inARow += 1;
    if (inARow > 50) throw new Error(`${inARow} decisions without a wait, at ${state.provisioningState}: ${JSON.stringify(step)}`);
    const before = state;
    const moved = execute(step, state, desired, now, { fails: options.fails?.(i) }) as Moved;
    state = moved.state;
    expectEdgeOrStay(before, state, `${step.kind} from ${before.provisioningState}`);
    desired = withoutAnnotations(desired, moved.consume);
    state = onDesiredChanged(state, desired);
  }
  return { end: 'still going' as const, state, steps: 400 };
}

/**
 * A good intent: BMC details and a usable Secret, nothing pausing the host, a live ISO or nothing; sometimes
 * the detached annotation (letting deletion go on), which holds the host detached.
 */
function goodDesired(g: Gen, deleting: boolean): HostDesired {
  return hostDesired(
    {
      online: g.chance(0.6),
      ...(g.chance(0.5) ? { image: g.pick([LIVE_ISO, OTHER_ISO]) } : {}),
      ...(g.chance(0.1) ? { externallyProvisioned: true } : {}),
      ...(g.chance(0.2) ? { inspectionMode: 'disabled' as const } : {}),
    },
    {
      deleting,
      credentials: g.pick([{ name: 'host-0-bmc', version: '100' }, { name: 'host-0-bmc', version: '101' }]),
      annotations: annotations(g.chance(0.2) ? { detached: { deleteAction: 'delete', force: g.chance(0.5) } } : {}),
    },
  );
}

describe('every state has a way forward', () => {
  it.each([0, 1, 2, 3])('with a good intent and a BMC that answers, a host reaches a steady state or is released (batch %i)', (batch) => {
    for (const seed of seeds.filter((_, i) => i % 4 === batch)) {
      const g = new Gen(seed);
      const start = genState(g);
      const onTheWayOut = ['powering off before delete', 'deleting'].includes(start.provisioningState);
      const desired = goodDesired(g, onTheWayOut || g.chance(0.2));
      const result = walk(start, desired);
      const what = `seed ${seed} from ${start.provisioningState || 'none'} (${result.steps} steps): ended ${result.end} in ${result.state.provisioningState}`;
      if (desired.deleting) {
        expect(result.end, what).toBe('release');
        continue;
      }
      // Documented ends besides the steady state: a retry limit reached for this very image (the user changes
      // the image), and the detached annotation holding the host.
      const ends = ['steady'];
      if (result.state.errorMessage.startsWith('retry limit reached')) ends.push('failed');
      if (desired.annotations.detached) ends.push('detached');
      expect(ends, what).toContain(result.end);
    }
  });

  it('never leaves the lifecycle: a new host provisions a live ISO, deprovisions, and is deleted', () => {
    const online = hostDesired({ online: true, image: LIVE_ISO });
    const up = walk(hostIn(''), online);
    expect(up).toMatchObject({ end: 'steady', state: { provisioningState: 'provisioned', poweredOn: true } });
    const down = walk(up.state, hostDesired({ online: true }));
    expect(down).toMatchObject({ end: 'steady', state: { provisioningState: 'available' } });
    expect(walk(down.state, hostDesired({ online: true }, { deleting: true })).end).toBe('release');
  });
});

describe('adversarial walks never make an illegal move', () => {
  it.each([0, 1, 2, 3])('intent changing under the host and a BMC failing at random (batch %i)', (batch) => {
    for (const seed of seeds.slice(0, 800).filter((_, i) => i % 4 === batch)) {
      const g = new Gen(seed);
      const start = genState(g);
      const first = genDesired(g);
      // walk() checks every state change against the table and the decision-loop guard.
      walk(start, first, {
        fails: () => (g.chance(0.2) ? g.pick(CODES) : undefined),
        change: () => (g.chance(0.1) ? genDesired(g) : undefined),
      });
    }
  });

  it('uses the lifecycle defaults the workflow uses', () => {
    expect(DEFAULT_LIFECYCLE_CONFIG.maxDeleteAttempts).toBe(3);
  });
});

describe('the properties catch planted faults', () => {
  /** `decide`, except in `state`, where it answers `planted`. */
  const planting = (ps: string, planted: Step): Decide => (state, desired, now) => (state.provisioningState === ps ? planted : decide(state, desired, now));
  const anyCase = (decideFn: Decide) => () => seeds.slice(0, 600).forEach((seed) => checkCase(seed, decideFn));

  it('a move the table does not have (the old provisioning → available)', () => {
    expect(anyCase(planting('provisioning', { kind: 'transition', trigger: 'deprovisioned', reason: 'planted' }))).toThrow(/provisioning on deprovisioned/);
  });

  it('a wait that is not documented', () => {
    const planted = { kind: 'wait', why: 'forever', reason: 'planted' } as unknown as Step;
    expect(anyCase(planting('available', planted))).toThrow(/forever/);
  });

  it('a decision loop that never waits', () => {
    const loop: Decide = (state, desired, now) =>
      state.provisioningState === 'available' ? { kind: 'consume', annotations: [], reason: 'planted' } : decide(state, desired, now);
    expect(() => walk(hostIn(''), hostDesired(), { decideFn: loop })).toThrow(/decisions without a wait/);
  });

  it('a state with no way forward', () => {
    const stuck: Decide = (state, desired, now) =>
      state.provisioningState === 'preparing' ? { kind: 'wait', why: 'deletionInProgress', reason: 'planted' } : decide(state, desired, now);
    expect(walk(hostIn(''), hostDesired(), { decideFn: stuck }).end).not.toBe('steady');
  });
});
