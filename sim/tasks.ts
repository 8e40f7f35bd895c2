/**
 * Redfish Tasks of one endpoint: created by long operations (firmware updates, Dell configuration imports,
 * AMI power actions), they take time, move New → Running → Completed or Exception, and apply their effect
 * once, when they complete.
 */
import type { JsonObject } from './tree.ts';

/** How a task's work ended. */
export interface TaskOutcome {
  ok: boolean;
  /** A message for the Task's Messages (MessageId and text). */
  messageId: string;
  message: string;
}

/** What creates a task. */
export interface TaskSpec {
  /** The BMC the task belongs to (for counters and shared endpoints). */
  bmcId: string;
  name: string;
  /** The shortest time from creation to completion. */
  durationMs: number;
  /** Time spent in `New` before `Running` (Dell's `task-starts-new`). */
  newMs?: number;
  /** The work: resolves with the outcome (e.g. when a download finished or a power state was reached). */
  work: Promise<TaskOutcome>;
  /** Runs once when the task completes successfully (the side effect: a version changes). */
  onComplete?: () => void;
  /** Runs once when the task ends, whatever the outcome (Completed, Exception, Cancelled). */
  onFinish?: (state: 'Completed' | 'Exception' | 'Cancelled') => void;
  /** The request that created the task, echoed as the Task's `Payload` (DSP0266), so a client can tell its own task. */
  payload?: { targetUri: string; httpOperation: string; jsonBody: string };
}

/** A task's state. */
export interface SimTask {
  readonly id: string;
  readonly bmcId: string;
  readonly name: string;
  readonly createdAt: number;
  readonly durationMs: number;
  readonly newMs: number;
  readonly payload: TaskSpec['payload'] | null;
  /** A TaskState the work holds the task in for now (`Starting` while waiting for a host reboot), else null. */
  phase: string | null;
  /** When the work started running, for PercentComplete (later than createdAt when it waited for a reboot). */
  runningSince: number;
  /** Set when the task reached a terminal state. */
  final: { state: 'Completed' | 'Exception' | 'Cancelled'; at: number; outcome: TaskOutcome } | null;
  onFinish: TaskSpec['onFinish'] | null;
}

const KEEP = 200;

/** The task service of one endpoint. */
export class TaskStore {
  readonly tasksPath: string;
  private readonly tasks = new Map<string, SimTask>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private next = 1;
  private readonly ids: 'jid' | 'number';
  private readonly now: () => number;

  /** `firstNumber`: where numbered ids start, past the tasks a captured tree already lists. */
  constructor(tasksPath: string, ids: 'jid' | 'number', now: () => number = Date.now, firstNumber = 1) {
    this.tasksPath = tasksPath;
    this.ids = ids;
    this.now = now;
    this.next = firstNumber;
  }

  /** The monitor URI of a task. */
  monitorPath(id: string): string {
    return `${this.tasksPath.replace(/\/Tasks$/, '')}/TaskMonitors/${id}`;
  }

  /** Starts a task. */
  create(spec: TaskSpec): SimTask {
    const serial = this.next++;
    const id = this.ids === 'jid' ? `JID_${String(Date.now()).slice(-9)}${String(serial).padStart(3, '0')}` : String(serial);
    const task: SimTask = {
      id,
      bmcId: spec.bmcId,
      name: spec.name,
      createdAt: this.now(),
      durationMs: spec.durationMs,
      newMs: spec.newMs ?? 0,
      payload: spec.payload ?? null,
      phase: null,
      runningSince: this.now(),
      final: null,
      onFinish: spec.onFinish ?? null,
    };
    this.tasks.set(id, task);
    if (this.tasks.size > KEEP) {
      for (const [oldId, old] of this.tasks) {
        if (old.final) {
          this.tasks.delete(oldId);
          break;
        }
      }
    }
    const finish = (outcome: TaskOutcome): void => {
      if (task.final) return;
      const wait = Math.max(0, task.runningSince + task.durationMs - this.now());
      const settle = (): void => {
        if (task.final) return;
        task.final = { state: outcome.ok ? 'Completed' : 'Exception', at: this.now(), outcome };
        if (outcome.ok) spec.onComplete?.();
        spec.onFinish?.(task.final.state);
      };
      if (wait === 0) {
        settle();
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        settle();
      }, wait);
      timer.unref();
      this.timers.add(timer);
    };
    spec.work.then(finish, (error: unknown) =>
      finish({ ok: false, messageId: 'Base.1.5.InternalError', message: error instanceof Error ? error.message : String(error) }),
    );
    return task;
  }

  /** A task by id (case-insensitive for iLO-style lookups). */
  get(id: string): SimTask | undefined {
    return this.tasks.get(id) ?? [...this.tasks.values()].find((task) => task.id.toLowerCase() === id.toLowerCase());
  }

  /** Every task, oldest first. */
  all(): SimTask[] {
    return [...this.tasks.values()];
  }

  /** Cancels a running task; returns false when it had already ended. */
  cancel(task: SimTask): boolean {
    if (task.final) return false;
    task.final = { state: 'Cancelled', at: this.now(), outcome: { ok: false, messageId: 'Base.1.5.Cancelled', message: 'The task was cancelled.' } };
    task.onFinish?.('Cancelled');
    return true;
  }

  /** The TaskState a client sees now. */
  stateOf(task: SimTask): string {
    if (task.final) return task.final.state;
    if (this.now() - task.createdAt < task.newMs) return 'New';
    return task.phase ?? 'Running';
  }

  /** The Task resource. */
  render(task: SimTask): JsonObject {
    const state = this.stateOf(task);
    const elapsed = this.now() - task.runningSince;
    const running = Math.min(99, Math.floor((elapsed / Math.max(1, task.durationMs)) * 100));
    const percent = task.final ? 100 : task.phase ? 0 : running;
    const body: JsonObject = {
      '@odata.type': '#Task.v1_7_4.Task',
      '@odata.id': `${this.tasksPath}/${task.id}`,
      Id: task.id,
      Name: task.name,
      TaskState: state,
      TaskStatus: task.final && task.final.state !== 'Completed' ? 'Critical' : 'OK',
      PercentComplete: percent,
      StartTime: new Date(task.createdAt).toISOString(),
      TaskMonitor: this.monitorPath(task.id),
      Messages: task.final
        ? [{ MessageId: task.final.outcome.messageId, Message: task.final.outcome.message, Severity: task.final.outcome.ok ? 'OK' : 'Critical' }]
        : [{ MessageId: 'TaskEvent.1.0.TaskStarted', Message: `The task with Id '${task.id}' has started.`, Severity: 'OK' }],
    };
    if (task.final) body['EndTime'] = new Date(task.final.at).toISOString();
    if (task.payload) {
      body['Payload'] = {
        HttpOperation: task.payload.httpOperation,
        TargetUri: task.payload.targetUri,
        JsonBody: task.payload.jsonBody,
        HttpHeaders: [],
      };
    }
    return body;
  }

  /** Stops timers (the simulator is shutting down). */
  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
