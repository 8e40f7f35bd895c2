/**
 * Vendor profiles: which mockup tree a simulated BMC serves, which quirks it reproduces, and the vendor's
 * small differences (session limits, how pending BIOS settings are shown, task ids, Metal3 address scheme).
 */
import { fileURLToPath } from 'node:url';
import type { QuirkId } from './quirks.ts';

/** The one-system vendor profiles: every one a fleet `mix` uses in turn. */
export const PROFILE_IDS = ['dmtf', 'ilo5', 'ami', 'xcc', 'idrac', 'supermicro'] as const;
/** Every profile: the vendor ones and `multinode` (several systems behind one BMC). */
export const ALL_PROFILE_IDS = [...PROFILE_IDS, 'multinode'] as const;
/** A profile id. */
export type ProfileId = (typeof ALL_PROFILE_IDS)[number];

/** A vendor profile. */
export interface VendorProfile {
  readonly id: ProfileId;
  /** A human name for listings. */
  readonly title: string;
  /** Folder under `sim/mockups/` holding the tree this profile serves by default. */
  readonly mockup: string;
  /** The Metal3 BMC address scheme (without `+http`) that suits this vendor. */
  readonly scheme: string;
  /** Quirks on by default (structural ones are facts of the default mockup and listed for reference). */
  readonly quirks: readonly QuirkId[];
  /** Concurrent sessions allowed; the next POST to Sessions fails. */
  readonly maxSessions: number;
  /** Status and MessageId of the session-limit error. */
  readonly sessionLimitError: { readonly status: number; readonly messageId: string; readonly message: string };
  /** `changed`: the settings object lists only pending changes (Dell, AMI); `full`: every attribute (HPE, Lenovo). */
  readonly biosPendingView: 'changed' | 'full';
  /** How refusals of BIOS values are worded: HPE answers from its iLO registry, the others from Base. */
  readonly biosMessages: 'base' | 'ilo';
  /** SupportedApplyTimes published on `@Redfish.Settings` of the BIOS. */
  readonly biosApplyTimes: readonly string[];
  /** `jid`: Dell-style `JID_<12 digits>` task ids; `number`: 1, 2, 3. */
  readonly taskIds: 'jid' | 'number';
  /** The realm in `WWW-Authenticate`. */
  readonly realm: string;
  /** Systems behind the one BMC (a multi-node chassis composed from the mockup's system); absent for one. */
  readonly nodes?: number;
}

const base = {
  maxSessions: 16,
  sessionLimitError: {
    status: 503,
    messageId: 'Base.1.5.SessionLimitExceeded',
    message: 'The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.',
  },
  biosPendingView: 'full',
  biosMessages: 'base',
  biosApplyTimes: ['OnReset'],
  taskIds: 'number',
} as const;

const dmtf = {
  ...base,
  mockup: 'dmtf-rackmount1',
  scheme: 'redfish-virtualmedia',
  quirks: ['simpleupdate-actioninfo'],
  realm: 'Redfish',
  biosApplyTimes: ['Immediate', 'OnReset'],
} as const;

/** All profiles by id. */
export const PROFILES: Readonly<Record<ProfileId, VendorProfile>> = {
  dmtf: { ...dmtf, id: 'dmtf', title: 'DMTF reference (public-rackmount1)' },
  ilo5: {
    ...base,
    id: 'ilo5',
    title: 'HPE iLO 5 (ProLiant DL325 Gen10 Plus)',
    mockup: 'hpe-ilo5-dl325',
    scheme: 'ilo5-virtualmedia',
    quirks: [
      'vmedia-on-manager', 'reset-no-force-on', 'case-insensitive-uris', 'weak-etag-strict-if-match', 'registries-406-identity',
      'power-change-too-fast', 'patch-during-post', 'eject-needs-body', 'update-202-no-location', 'bios-firmware-staged',
      'network-adapters-400-os-down', 'bmc-reboots-after-update',
    ],
    maxSessions: 10,
    biosMessages: 'ilo',
    realm: 'iLO',
  },
  ami: {
    ...base,
    id: 'ami',
    title: 'AMI MegaRAC (Gigabyte H262-Z63)',
    mockup: 'ami-gigabyte',
    scheme: 'redfish-virtualmedia',
    quirks: [
      'vmedia-on-manager', 'reset-actioninfo-only', 'simpleupdate-actioninfo', 'full-boot-payload-required', 'reset-202-task',
      'bmc-reboots-after-update',
    ],
    biosPendingView: 'changed',
    realm: 'AMI Redfish Server',
    biosApplyTimes: ['OnReset'],
  },
  xcc: {
    ...base,
    id: 'xcc',
    title: 'Lenovo XCC (ThinkSystem SR650)',
    mockup: 'lenovo-xcc',
    scheme: 'redfish-virtualmedia',
    quirks: [
      'vmedia-on-manager', 'multipart-push-update', 'if-match-required', 'vmedia-patch-only', 'stale-power-state', 'update-service-busy',
      'bmc-reboots-after-update',
    ],
    realm: 'XCC',
  },
  idrac: {
    ...base,
    id: 'idrac',
    title: 'Dell iDRAC (PowerEdge R6515, iDRAC10 manager)',
    mockup: 'dell-idrac',
    scheme: 'idrac-virtualmedia',
    quirks: [
      'service-tag-in-sku', 'multipart-push-update', 'sys518-after-write', 'busy-503-after-power-on', 'stale-power-state',
      'power-on-conflict-after-off', 'already-in-state-409', 'eject-before-insert', 'insert-after-eject-5xx',
      'stale-inserted-after-eject', 'vmedia-slot1-only', 'vmedia-boot-needs-oem', 'bios-apply-time-required',
      'reset-bios-needs-body', 'task-starts-new', 'task-location-is-task', 'transient-404-new-task', 'bmc-reboots-after-update',
      'bios-update-waits-for-reboot', 'firmware-id-carries-version',
    ],
    maxSessions: 8,
    sessionLimitError: {
      status: 400,
      messageId: 'IDRAC.2.8.RAC0218',
      message: 'The maximum number of user sessions is reached.',
    },
    biosPendingView: 'changed',
    biosApplyTimes: ['Immediate', 'OnReset', 'AtMaintenanceWindowStart', 'InMaintenanceWindowOnReset'],
    taskIds: 'jid',
    realm: 'iDRAC',
  },
  supermicro: {
    ...base,
    id: 'supermicro',
    title: 'Supermicro X12 (SYS-510T)',
    mockup: 'supermicro-x12',
    scheme: 'redfish-virtualmedia',
    quirks: [
      'vmedia-on-manager', 'multipart-push-update', 'override-enabled-reverts', 'boot-mode-resets-legacy', 'vmedia-boot-usbcd',
      'insert-rejects-default-flags', 'secureboot-license-required', 'bmc-reboots-after-update',
    ],
    maxSessions: 4,
    biosPendingView: 'changed',
    realm: 'Supermicro',
  },
  multinode: {
    ...dmtf,
    id: 'multinode',
    title: 'Multi-node chassis: public-rackmount1 composed into 4 systems behind one BMC',
    nodes: 4,
  },
};

const aliases: Record<string, ProfileId> = {
  dmtf: 'dmtf', reference: 'dmtf',
  ilo5: 'ilo5', ilo: 'ilo5', hpe: 'ilo5',
  ami: 'ami', gigabyte: 'ami', megarac: 'ami',
  xcc: 'xcc', lenovo: 'xcc',
  idrac: 'idrac', dell: 'idrac',
  supermicro: 'supermicro', smc: 'supermicro',
  multinode: 'multinode', '2u4n': 'multinode', blade: 'multinode',
};

/** Resolves a profile id or alias (`dell`, `hpe`, `lenovo`, `gigabyte`, `smc`); throws on unknown names. */
export function profileId(name: string): ProfileId {
  const id = aliases[name.toLowerCase()];
  if (!id) throw new Error(`unknown profile '${name}': use one of ${ALL_PROFILE_IDS.join(', ')}`);
  return id;
}

/** The folder of a profile's bundled mockup tree. */
export function mockupDir(name: string): string {
  return fileURLToPath(new URL(`./mockups/${name}`, import.meta.url));
}
