/**
 * The patches of the host workflow (workflows/host.ts) and of the operation children it starts, in a module
 * without workflow APIs so the bridge can hand them to the host runs it starts, and a host run to its children.
 * A new run takes every patch its code has; one it is told about in its input (`patches`) it takes without
 * recording a marker and a TemporalChangeVersion upsert, two history events per patch at the start of every run
 * (workflows/patches.ts). The input is history, so a replay decides the same; a
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
  'fewer-history-events',
  'inline-bmc-operations',
] as const;

export type HostPatch = (typeof HOST_PATCHES)[number];

/**
 * The patches of the operation children (workflows/provision.ts, workflows/register.ts, the ramdisk boot of
 * workflows/agent-steps.ts),
 * handed on in their input (`patches`) by a host run that has `fewer-history-events`: one marker and one upsert
 * fewer in each such child.
 */
export const CHILD_PATCHES = [
  'provision-boot-in-one-call',
  'provision-from-bmc-state',
  'ramdisk-boot-in-one-call',
  'register-firmware-in-one-call',
] as const;

export type ChildPatch = (typeof CHILD_PATCHES)[number];
