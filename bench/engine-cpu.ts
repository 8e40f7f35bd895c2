/**
 * CPU seconds spent by the processes a benchmark started (stack/processes.ts keeps their process groups), by
 * role: Tempered's worker and bridge, the Temporal server, the apiserver and etcd. A role counts every live
 * process of its groups (a wrapper and the Node process it runs), read from /proc; take it before and after
 * the measured part and subtract.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { liveProcessGroups } from '../stack/processes.ts';

const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** The roles a benchmark reports, by what the group leader's command line contains. */
export type Role = 'worker' | 'bridge' | 'temporal server' | 'kube-apiserver' | 'etcd' | 'other';

function roleOf(command: string): Role {
  if (command.includes('workers/worker')) return 'worker';
  if (command.includes('workers/bridge')) return 'bridge';
  if (command.includes('temporal') && command.includes('start-dev')) return 'temporal server';
  if (command.includes('kube-apiserver')) return 'kube-apiserver';
  if (command.includes('etcd')) return 'etcd';
  return 'other';
}

const read = (file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** CPU seconds (user + system) of every live process, by process group. */
function cpuByGroup(): Map<number, number> {
  const groups = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // Fields after the command (which may hold spaces): state ppid pgrp ... utime(14) stime(15), 1-based.
    const fields = read(`/proc/${entry}/stat`).split(') ')[1]?.split(' ');
    if (!fields) continue;
    const pgrp = Number(fields[2]);
    const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
    groups.set(pgrp, (groups.get(pgrp) ?? 0) + seconds);
  }
  return groups;
}

/** CPU seconds spent so far by each role's live processes. */
export function cpuByRole(): Map<Role, number> {
  const groups = cpuByGroup();
  const roles = new Map<Role, number>();
  for (const leader of liveProcessGroups()) {
    const role = roleOf(read(`/proc/${leader}/cmdline`).replaceAll('\0', ' '));
    roles.set(role, (roles.get(role) ?? 0) + (groups.get(leader) ?? 0));
  }
  return roles;
}

/** What each role spent between two readings of cpuByRole(). */
export function cpuSpent(before: Map<Role, number>, after: Map<Role, number>): Record<Role, number> {
  const roles: Role[] = ['worker', 'bridge', 'temporal server', 'kube-apiserver', 'etcd', 'other'];
  return Object.fromEntries(roles.map((r) => [r, (after.get(r) ?? 0) - (before.get(r) ?? 0)])) as Record<Role, number>;
}
