import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DELETION_TRIGGERS,
  OPERATIONAL_STATUS,
  OPERATIONAL_STATUSES,
  PROVISIONING_STATES,
  STATE,
  STATE_KIND,
  TRANSITIONS,
  TRIGGERS,
  canTransition,
  nextState,
  parseProvisioningState,
  reachableStates,
  transitionsFrom,
  type Metal3ProvisioningState,
  type ProvisioningState,
  type TransitionTrigger,
} from './host-state.ts';

describe('provisioning states', () => {
  it("are Metal3's 13 strings, verbatim", () => {
    expect(PROVISIONING_STATES).toEqual([
      '',
      'unmanaged',
      'registering',
      'match profile',
      'inspecting',
      'preparing',
      'available',
      'provisioning',
      'provisioned',
      'externally provisioned',
      'deprovisioning',
      'powering off before delete',
      'deleting',
    ]);
    expect(Object.values(STATE).sort()).toEqual([...PROVISIONING_STATES].sort());
    expect(Object.keys(STATE_KIND).sort()).toEqual([...PROVISIONING_STATES].sort());
  });

  it.each([
    ...PROVISIONING_STATES.map((s) => ({ input: s, want: s as ProvisioningState | undefined })),
    { input: 'ready', want: 'available' as const },
    { input: 'Ready', want: undefined },
    { input: 'provisioned ', want: undefined },
    { input: 'fast-inspecting', want: undefined },
  ])('parseProvisioningState($input) is $want', ({ input, want }) => {
    expect(parseProvisioningState(input)).toBe(want);
  });

  it('the deprecated "ready" moves exactly like "available"', () => {
    expect(transitionsFrom('ready')).toEqual(transitionsFrom('available'));
    expect(transitionsFrom('ready').length).toBeGreaterThan(0);
    expect(nextState('ready', 'provisionRequested')).toBe('provisioning');
    expect(canTransition('preparing', 'ready')).toBe(true);
  });
});

// Reference §1.6, row by row.
const REFERENCE_ROWS: { from: Metal3ProvisioningState; to: ProvisioningState; trigger: TransitionTrigger }[] = [
  { from: '', to: 'registering', trigger: 'bmcDetailsFound' },
  { from: '', to: 'unmanaged', trigger: 'bmcDetailsMissing' },
  { from: 'unmanaged', to: 'registering', trigger: 'bmcDetailsFound' },
  { from: 'registering', to: 'externally provisioned', trigger: 'externallyProvisioned' },
  { from: 'registering', to: 'preparing', trigger: 'inspectionDisabled' },
  { from: 'registering', to: 'inspecting', trigger: 'registered' },
  { from: 'inspecting', to: 'preparing', trigger: 'inspected' },
  { from: 'match profile', to: 'preparing', trigger: 'legacyMatchProfile' },
  { from: 'preparing', to: 'available', trigger: 'prepared' },
  { from: 'available', to: 'externally provisioned', trigger: 'externallyProvisioned' },
  { from: 'available', to: 'inspecting', trigger: 'inspectionRequested' },
  { from: 'available', to: 'preparing', trigger: 'settingsChanged' },
  { from: 'available', to: 'provisioning', trigger: 'provisionRequested' },
  { from: 'provisioning', to: 'provisioned', trigger: 'deployed' },
  { from: 'provisioning', to: 'deprovisioning', trigger: 'provisioningFailed' },
  { from: 'provisioning', to: 'deprovisioning', trigger: 'provisioningCancelled' },
  { from: 'provisioned', to: 'deprovisioning', trigger: 'provisioningCancelled' },
  { from: 'externally provisioned', to: 'provisioned', trigger: 'externallyProvisionedCleared' },
  { from: 'deprovisioning', to: 'available', trigger: 'deprovisioned' },
  { from: 'deprovisioning', to: 'powering off before delete', trigger: 'deprovisionedForDelete' },
  { from: 'deprovisioning', to: 'powering off before delete', trigger: 'cleanupGaveUp' },
  { from: 'deprovisioning', to: 'deleting', trigger: 'unregisteredWithoutCredentials' },
  { from: 'powering off before delete', to: 'deleting', trigger: 'poweredOff' },
  { from: 'powering off before delete', to: 'deleting', trigger: 'powerOffGaveUp' },
  { from: 'powering off before delete', to: 'deleting', trigger: 'unregisteredWithoutCredentials' },
  { from: 'available', to: 'powering off before delete', trigger: 'deleteRequested' },
  { from: 'externally provisioned', to: 'powering off before delete', trigger: 'deleteRequested' },
  { from: 'inspecting', to: 'powering off before delete', trigger: 'deleteRequested' },
  { from: 'registering', to: 'deleting', trigger: 'deleteRequested' },
  { from: 'unmanaged', to: 'deleting', trigger: 'deleteRequested' },
  { from: '', to: 'deleting', trigger: 'deleteRequested' },
  { from: 'provisioning', to: 'deprovisioning', trigger: 'deleteRequested' },
  { from: 'provisioned', to: 'deprovisioning', trigger: 'deleteRequested' },
  { from: 'provisioned', to: 'deleting', trigger: 'deleteRequestedWhileDetached' },
  { from: 'available', to: 'deleting', trigger: 'deleteRequestedWhileDetached' },
];

describe('transition table', () => {
  it.each(REFERENCE_ROWS)('"$from" → "$to" on $trigger', ({ from, to, trigger }) => {
    expect(canTransition(from, to, trigger)).toBe(true);
    expect(nextState(from, trigger)).toBe(to);
  });

  it.each([
    { from: 'available', to: 'provisioned', why: 'provisioning comes first' },
    { from: 'provisioned', to: 'available', why: 'deprovisioning comes first' },
    { from: 'registering', to: 'available', why: 'inspection or preparation comes first' },
    { from: 'inspecting', to: 'provisioning', why: 'preparing and available come first' },
    { from: 'deprovisioning', to: 'provisioning', why: 'BMO goes through available' },
    { from: 'externally provisioned', to: 'available', why: 'only provisioned or deletion' },
    { from: 'unmanaged', to: 'inspecting', why: 'registration comes first' },
    { from: 'deleting', to: 'available', why: 'deleting is terminal' },
  ] as const)('no edge "$from" → "$to" ($why)', ({ from, to }) => {
    expect(canTransition(from, to)).toBe(false);
  });

  it('a trigger leads to at most one state from any state', () => {
    const keys = TRANSITIONS.map((t) => `${t.from}|${t.trigger}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('every edge uses a known trigger and known states; every trigger is used', () => {
    for (const t of TRANSITIONS) {
      expect(PROVISIONING_STATES).toContain(t.from);
      expect(PROVISIONING_STATES).toContain(t.to);
      expect(Object.keys(TRIGGERS)).toContain(t.trigger);
      expect(t.from).not.toBe(t.to);
    }
    expect(new Set(TRANSITIONS.map((t) => t.trigger))).toEqual(new Set(Object.keys(TRIGGERS)));
  });

  it('deleting is terminal, and every other state can get there', () => {
    expect(transitionsFrom('deleting')).toEqual([]);
    for (const s of PROVISIONING_STATES.filter((x) => x !== 'deleting')) {
      expect(reachableStates(s), s).toContain('deleting');
      expect(nextState(s, 'deleteRequestedWhileDetached'), s).toBe('deleting');
    }
  });

  it('deletion is where BMO sends each state: skip power-off, deprovision first, or power off first', () => {
    const target = (s: ProvisioningState) => nextState(s, 'deleteRequested');
    expect(PROVISIONING_STATES.filter((s) => target(s) === 'deleting')).toEqual(['', 'unmanaged', 'registering']);
    expect(PROVISIONING_STATES.filter((s) => target(s) === 'deprovisioning')).toEqual(['provisioning', 'provisioned']);
    expect(PROVISIONING_STATES.filter((s) => target(s) === 'powering off before delete')).toEqual([
      'match profile',
      'inspecting',
      'preparing',
      'available',
      'externally provisioned',
    ]);
    // Already on the way out: no new deletion edge.
    expect(['deprovisioning', 'powering off before delete', 'deleting'].map((s) => target(s as ProvisioningState))).toEqual([undefined, undefined, undefined]);
  });

  it('a new host can reach every state but the legacy "match profile"; without deletion it never leaves the lifecycle', () => {
    expect(new Set(reachableStates(''))).toEqual(new Set(PROVISIONING_STATES.filter((s) => s !== '' && s !== 'match profile')));
    const lifecycle = reachableStates('', { withDeletion: false });
    expect(lifecycle).not.toContain('deleting');
    expect(lifecycle).not.toContain('powering off before delete');
    expect(lifecycle).toContain('provisioned');
  });

  it('a new image during deprovisioning provisions by way of available', () => {
    expect(nextState(nextState('deprovisioning', 'deprovisioned') ?? 'deleting', 'provisionRequested')).toBe('provisioning');
  });

  it('deletion triggers appear only on the way out', () => {
    for (const t of TRANSITIONS.filter((x) => DELETION_TRIGGERS.includes(x.trigger))) {
      expect(['deprovisioning', 'powering off before delete', 'deleting']).toContain(t.to);
    }
    expect(reachableStates('available', { withDeletion: false })).not.toContain('deleting');
  });
});

describe('operational statuses', () => {
  it('are the CRD enum, empty string included', () => {
    expect(OPERATIONAL_STATUSES).toEqual(['', 'OK', 'discovered', 'error', 'delayed', 'detached', 'servicing']);
    expect(Object.values(OPERATIONAL_STATUS).sort()).toEqual(OPERATIONAL_STATUSES.filter((s) => s !== '').sort());
  });
});

describe('docs/state-diagram.md', () => {
  const doc = readFileSync(new URL('../docs/state-diagram.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1] as string);

  /** The (from, to, trigger) edges of the diagrams, with state ids mapped back to Metal3 strings. */
  function diagramEdges(): string[] {
    const edges: string[] = [];
    for (const block of blocks) {
      const labels = new Map<string, string>([...block.matchAll(/^\s*state "([^"]+)" as (\w+)$/gm)].map((m) => [m[2] as string, m[1] as string]));
      const stateOf = (id: string): string => (id === 'none' ? '' : (labels.get(id) ?? id));
      for (const m of block.matchAll(/^\s*(\w+) --> (\w+) : (.+)$/gm)) {
        for (const trigger of (m[3] as string).split(',').map((t) => t.trim())) {
          edges.push(JSON.stringify([stateOf(m[1] as string), stateOf(m[2] as string), trigger]));
        }
      }
    }
    return edges.sort();
  }

  it('has diagrams', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(1);
    expect(diagramEdges().length).toBeGreaterThan(10);
  });

  it('shows exactly the edges of the transition table', () => {
    const table = TRANSITIONS.map((t) => JSON.stringify([t.from, t.to, t.trigger])).sort();
    expect(diagramEdges()).toEqual(table);
  });

  it('explains every trigger as the table does', () => {
    const rows = [...doc.matchAll(/^\| `(\w+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(Object.fromEntries(rows)).toEqual(TRIGGERS);
  });
});
