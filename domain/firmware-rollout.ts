/**
 * The firmware rollout as pure data and functions: the plan (a canary, then waves of cumulative percentages of
 * the rest), which hosts start next (the current wave only, never more than `maxUnavailable` in flight, none
 * while paused or aborted), what a host's answer does (a failure counts against the budget, and the budget used
 * pauses the rollout), what a resume does (failed hosts are tried again) and what an abort does (hosts not
 * started end Aborted, hosts in flight finish), and the status the bridge writes. The rollout workflow
 * (workflows/rollout.ts) only executes this; tests check it without Temporal.
 */
import type { RolloutHostState, RolloutPhase, RolloutStrategy } from './firmware-rollout.schema.ts';
import type { FirmwareSettingIntent, FirmwareUpdateIntent, RolloutReply } from './host-model.ts';

/** A host of the rollout. */
export interface RolloutHostKey {
  namespace: string;
  name: string;
}

/** The strategy with its defaults filled in. */
export type Strategy = Required<RolloutStrategy>;

export const DEFAULT_STRATEGY: Strategy = { canary: 1, waves: [100], maxUnavailable: 1, failureBudget: 1, hostTimeoutMinutes: 180 };

/** What the rollout does to each host. */
export interface RolloutWork {
  updates: FirmwareUpdateIntent[];
  settings: Record<string, FirmwareSettingIntent>;
}

/** The FirmwareRollout's spec fields that steer a running rollout, as the bridge sends them. */
export interface RolloutControl {
  generation: number;
  paused: boolean;
  abort: boolean;
  /** The FirmwareRollout was deleted: no new host starts, the workflow ends once the hosts in flight answered. */
  gone?: boolean;
}

/** One host's progress. */
export interface RolloutHostRecord extends RolloutHostKey {
  wave: number;
  state: RolloutHostState;
  message?: string;
  attempt: number;
  startedAt?: string;
  finishedAt?: string;
  versions?: { component: string; version: string }[];
}

/** The whole rollout's progress: what the workflow carries across continue-as-new. */
export interface RolloutState {
  waves: string[];
  hosts: RolloutHostRecord[];
  control: RolloutControl;
  /** Failures since the start or the last resume: the failure budget's count. */
  budgetUsed: number;
  /**
   * The failure budget paused the rollout (`count` such pauses so far). `seenPaused`: the spec showed
   * `paused: true` since (the bridge sets it); a resume is `paused` turning false after that.
   */
  budgetPause?: { count: number; active: boolean; seenPaused: boolean };
  startedAt?: string;
  completedAt?: string;
}

const keyOf = (h: RolloutHostKey) => `${h.namespace}/${h.name}`;
const TERMINAL: readonly RolloutHostState[] = ['Updated', 'Failed', 'Skipped', 'Aborted'];

/** Fills in the strategy's defaults. */
export function strategyOf(strategy: Partial<RolloutStrategy> | undefined): Strategy {
  return { ...DEFAULT_STRATEGY, ...Object.fromEntries(Object.entries(strategy ?? {}).filter(([, v]) => v !== undefined)) };
}

/**
 * The size of each wave: the canary first (when there are hosts for it), then each percentage of the hosts after
 * the canary, cumulative (25, 50, 100 take a quarter, then up to half, then the rest). Empty waves are left out.
 */
export function waveSizes(total: number, strategy: Strategy): { name: string; size: number }[] {
  const out: { name: string; size: number }[] = [];
  const canary = Math.min(strategy.canary, total);
  if (canary > 0) out.push({ name: 'canary', size: canary });
  const rest = total - canary;
  let assigned = 0;
  const percentages = strategy.waves.length > 0 ? strategy.waves : [100];
  percentages.forEach((percent, i) => {
    const last = i === percentages.length - 1;
    const target = last ? rest : Math.min(rest, Math.ceil((rest * percent) / 100));
    const size = Math.max(0, target - assigned);
    assigned += size;
    if (size > 0) out.push({ name: `wave ${out.filter((w) => w.name !== 'canary').length + 1}`, size });
  });
  return out;
}

/** A new rollout over `hosts` (in the order given: the canary is the first). */
export function initialRolloutState(hosts: readonly RolloutHostKey[], strategy: Strategy, control: RolloutControl): RolloutState {
  const sizes = waveSizes(hosts.length, strategy);
  const records: RolloutHostRecord[] = [];
  let next = 0;
  sizes.forEach((wave, index) => {
    for (const host of hosts.slice(next, next + wave.size)) records.push({ namespace: host.namespace, name: host.name, wave: index, state: 'Pending', attempt: 0 });
    next += wave.size;
  });
  return { waves: sizes.map((w) => w.name), hosts: records, control, budgetUsed: 0 };
}

const count = (hosts: readonly RolloutHostRecord[], state: RolloutHostState) => hosts.filter((h) => h.state === state).length;

/** The wave being rolled out: the first with a host not done yet (the last when all are done). */
export function currentWave(state: RolloutState): number {
  const open = state.hosts.find((h) => !TERMINAL.includes(h.state));
  return open ? open.wave : Math.max(0, state.waves.length - 1);
}

/** Whether the rollout is paused: by the spec, or by the failure budget until resumed. */
export function isPaused(state: RolloutState): boolean {
  return state.control.paused || Boolean(state.budgetPause?.active);
}

/** Whether no host may start any more (aborted, or the FirmwareRollout is gone). */
export function isStopping(state: RolloutState): boolean {
  return state.control.abort || Boolean(state.control.gone);
}

/** The hosts to start now: of the current wave, within maxUnavailable, unless paused or stopping. */
export function hostsToStart(state: RolloutState, strategy: Strategy): RolloutHostRecord[] {
  if (isPaused(state) || isStopping(state)) return [];
  const free = strategy.maxUnavailable - count(state.hosts, 'InProgress');
  if (free <= 0) return [];
  const wave = currentWave(state);
  return state.hosts.filter((h) => h.wave === wave && h.state === 'Pending').slice(0, free);
}

function update(state: RolloutState, key: string, change: (h: RolloutHostRecord) => RolloutHostRecord): RolloutState {
  return { ...state, hosts: state.hosts.map((h) => (keyOf(h) === key ? change(h) : h)) };
}

/** Hosts started: InProgress, with a new attempt number. */
export function markStarted(state: RolloutState, started: readonly RolloutHostKey[], now: string): RolloutState {
  let next = state.startedAt ? state : { ...state, startedAt: now };
  for (const host of started) {
    next = update(next, keyOf(host), (h) => ({ ...h, state: 'InProgress', attempt: h.attempt + 1, startedAt: now, message: undefined, finishedAt: undefined }));
  }
  return next;
}

const OUTCOME_STATE: Record<RolloutReply['outcome'], RolloutHostState> = {
  updated: 'Updated',
  failed: 'Failed',
  skipped: 'Skipped',
  aborted: 'Aborted',
};

/** A host answered: its state, and a failure counted against the budget (which pauses the rollout when used). */
export function recordReply(state: RolloutState, reply: RolloutReply, strategy: Strategy, now: string): RolloutState {
  const key = keyOf(reply.host);
  const current = state.hosts.find((h) => keyOf(h) === key);
  if (!current || current.state !== 'InProgress' || current.attempt !== reply.attempt) return state;
  let next = update(state, key, (h) => ({
    ...h,
    state: OUTCOME_STATE[reply.outcome],
    message: reply.message,
    finishedAt: now,
    ...(reply.versions && reply.versions.length > 0 ? { versions: reply.versions } : {}),
  }));
  if (reply.outcome === 'failed') {
    next = { ...next, budgetUsed: next.budgetUsed + 1 };
    if (next.budgetUsed >= strategy.failureBudget && !next.budgetPause?.active && !isStopping(next)) {
      next = { ...next, budgetPause: { count: (next.budgetPause?.count ?? 0) + 1, active: true, seenPaused: false } };
    }
  }
  return finishIfDone(next, now);
}

/**
 * The spec changed. A resume (paused false after the budget's pause was seen in the spec) tries the failed hosts
 * again with a fresh budget; an abort ends every host not started as Aborted.
 */
export function applyControl(state: RolloutState, control: RolloutControl, now: string): RolloutState {
  let next: RolloutState = { ...state, control };
  const pause = next.budgetPause;
  if (pause?.active) {
    if (control.paused && !pause.seenPaused) next = { ...next, budgetPause: { ...pause, seenPaused: true } };
    else if (!control.paused && pause.seenPaused) {
      next = {
        ...next,
        budgetPause: { ...pause, active: false },
        budgetUsed: 0,
        hosts: next.hosts.map((h) => (h.state === 'Failed' ? { ...h, state: 'Pending', message: `retrying after: ${h.message ?? 'a failure'}` } : h)),
      };
    }
  }
  if (isStopping(next)) {
    const why = control.abort ? 'not started: the rollout was aborted' : 'not started: the FirmwareRollout was deleted';
    next = { ...next, hosts: next.hosts.map((h) => (h.state === 'Pending' ? { ...h, state: 'Aborted', message: why, finishedAt: now } : h)) };
  }
  return finishIfDone(next, now);
}

function finishIfDone(state: RolloutState, now: string): RolloutState {
  if (state.completedAt || state.hosts.some((h) => !TERMINAL.includes(h.state))) return state;
  // A pause for the budget waits for a resume (the failed hosts are tried again then), unless the rollout stops.
  if (state.budgetPause?.active && !isStopping(state) && count(state.hosts, 'Failed') > 0) return state;
  return { ...state, completedAt: now };
}

/** Whether the rollout has ended: every host in a final state, and nothing left to resume. */
export function isFinished(state: RolloutState): boolean {
  return state.completedAt !== undefined;
}

/** The rollout's phase and a sentence saying why. */
export function rolloutPhase(state: RolloutState): { phase: RolloutPhase; message: string } {
  const inFlight = count(state.hosts, 'InProgress');
  const failed = count(state.hosts, 'Failed');
  if (isFinished(state)) {
    if (state.control.abort || state.control.gone) {
      return { phase: 'Aborted', message: `aborted: ${count(state.hosts, 'Updated')} hosts updated, ${count(state.hosts, 'Aborted')} not updated` };
    }
    if (failed > 0) return { phase: 'Failed', message: `${failed} of ${state.hosts.length} hosts failed` };
    return { phase: 'Completed', message: `${count(state.hosts, 'Updated')} hosts updated, ${count(state.hosts, 'Skipped')} skipped` };
  }
  if (isStopping(state)) return { phase: 'Progressing', message: `aborting: waiting for ${inFlight} hosts to finish their current flash` };
  if (state.budgetPause?.active) {
    const names = state.hosts.filter((h) => h.state === 'Failed').map((h) => `${h.name}: ${h.message ?? 'failed'}`);
    const waiting = inFlight > 0 ? `; ${inFlight} hosts in flight finish` : '';
    return { phase: 'Paused', message: `failure budget used (${names.join('; ')})${waiting}; set spec.paused to false to retry them and go on` };
  }
  if (state.control.paused) return { phase: 'Paused', message: inFlight > 0 ? `paused: ${inFlight} hosts in flight finish` : 'paused' };
  if (!state.startedAt) return { phase: 'Pending', message: 'no host started yet' };
  return { phase: 'Progressing', message: `${state.waves[currentWave(state)] ?? ''}: ${inFlight} hosts in flight` };
}

/** The counts of a set of hosts, as the status shows them. */
export function countsOf(hosts: readonly RolloutHostRecord[]): { total: number; updated: number; inProgress: number; failed: number; pending: number; skipped: number; aborted: number } {
  return {
    total: hosts.length,
    updated: count(hosts, 'Updated'),
    inProgress: count(hosts, 'InProgress'),
    failed: count(hosts, 'Failed'),
    pending: count(hosts, 'Pending'),
    skipped: count(hosts, 'Skipped'),
    aborted: count(hosts, 'Aborted'),
  };
}

/** The FirmwareRollout `.status` the bridge writes (see FirmwareRolloutStatusSchema). */
export interface RolloutStatus {
  phase: RolloutPhase;
  message: string;
  progress: string;
  total: number;
  updated: number;
  inProgress: number;
  failed: number;
  pending: number;
  skipped: number;
  aborted: number;
  currentWave: number;
  currentWaveName: string;
  waves: ({ name: string } & ReturnType<typeof countsOf>)[];
  hosts: Omit<RolloutHostRecord, 'namespace'>[];
  observedGeneration: number;
  startedAt?: string;
  completedAt?: string;
  /** The failure budget paused the rollout for the `budgetPauses`-th time: the bridge sets spec.paused once per pause. */
  budgetPauses: number;
  budgetPauseActive: boolean;
}

/** The status of a rollout. */
export function rolloutStatus(state: RolloutState): RolloutStatus {
  const counts = countsOf(state.hosts);
  const done = counts.updated + counts.failed + counts.skipped + counts.aborted;
  const wave = currentWave(state);
  return {
    ...rolloutPhase(state),
    progress: `${done}/${counts.total}`,
    ...counts,
    currentWave: wave,
    currentWaveName: state.waves[wave] ?? '',
    waves: state.waves.map((name, i) => ({ name, ...countsOf(state.hosts.filter((h) => h.wave === i)) })),
    hosts: state.hosts.map(({ namespace: _namespace, ...h }) => h),
    observedGeneration: state.control.generation,
    ...(state.startedAt ? { startedAt: state.startedAt } : {}),
    ...(state.completedAt ? { completedAt: state.completedAt } : {}),
    budgetPauses: state.budgetPause?.count ?? 0,
    budgetPauseActive: Boolean(state.budgetPause?.active),
  };
}

const ICON: Record<RolloutHostState, string> = { Pending: '·', InProgress: '▶', Updated: '✔', Failed: '✘', Skipped: '–', Aborted: '■' };

/** The plan as Markdown, for the Temporal UI's current details: waves, their hosts, results. */
export function renderPlan(state: RolloutState, work: RolloutWork): string {
  const { phase, message } = rolloutPhase(state);
  const what = [
    ...work.updates.map((u) => `${u.component} ← ${u.url}`),
    ...Object.entries(work.settings).map(([k, v]) => `${k}=${String(v)}`),
  ].join(', ');
  const lines = [`**${phase}**: ${message}`, `work: ${what || 'nothing'}`];
  state.waves.forEach((name, i) => {
    const hosts = state.hosts.filter((h) => h.wave === i);
    const c = countsOf(hosts);
    const marker = i === currentWave(state) && !isFinished(state) ? ' ◀' : '';
    lines.push(`- **${name}**${marker} (${c.updated}/${c.total} updated, ${c.failed} failed): ${hosts.map((h) => `${ICON[h.state]} ${h.name}`).join(', ')}`);
  });
  return lines.join('\n\n');
}
