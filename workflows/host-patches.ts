/**
 * The patches of the host workflow (workflows/host.ts), in a module without workflow APIs so the bridge can hand
 * them to the runs it starts. A new run takes every patch its code has; one it is told about in its input
 * (`HostWorkflowInput.patches`) it takes without recording a marker and a TemporalChangeVersion upsert, two
 * history events per patch at the start of every run. The input is history, so a replay decides the same; a
 * history from before a patch has no such list and no marker, and replays the old way.
 * A patch joins this list with its `patch()` call, and leaves it when that call leaves the code.
 */
export const HOST_PATCHES = [
  'coalesce-publications-and-search-attributes',
  'provisioning-limit',
  'deploy-agent',
  'batch-publications',
  'bmc-escape-hatches',
  'verify-node-join',
  'register-reads-firmware',
  'prepare-firmware-raid',
  'software-raid',
  'slot-offered-during-claim',
  'compact-at-steady-state',
  'recreated-while-releasing',
] as const;

export type HostPatch = (typeof HOST_PATCHES)[number];
