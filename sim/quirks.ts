/**
 * The registry of vendor quirks the simulator reproduces, each with a stable id (used in profiles, options,
 * counters and tests) and the row of `reference/redfish.md` it comes from.
 *
 * - `structural` quirks are facts of a profile's mockup tree (where virtual media lives, how ResetType values
 *   are published); they hold whenever that tree is served.
 * - `behavioural` quirks are switches in the simulator's code; profiles turn a set of them on, and any BMC can
 *   add or remove them (`quirks: { add, remove }`), so each one can be tested on its own.
 * Time-window quirks last `quirkWindowMs` (an option; 0 turns every window off).
 */

/** One quirk: what a real BMC does that a naive client trips over. */
export interface QuirkInfo {
  readonly id: string;
  readonly kind: 'structural' | 'behavioural';
  /** Who does this, as reported in redfish.md. */
  readonly vendor: string;
  /** One line: what the simulated BMC does. */
  readonly description: string;
  /** Where it is documented: a row (`#n`) or section (`§x`) of reference/redfish.md. */
  readonly source: string;
}

const list = [
  // Structural: facts of the mockup trees.
  { id: 'vmedia-on-manager', kind: 'structural', vendor: 'HPE iLO 5, AMI, Lenovo XCC, Supermicro', source: '§1.3',
    description: 'VirtualMedia lives under Managers/<id>/VirtualMedia, not under the System' },
  { id: 'reset-actioninfo-only', kind: 'structural', vendor: 'AMI MegaRAC (Gigabyte)', source: '§1.1 step 2',
    description: 'ResetType values are published only through @Redfish.ActionInfo; a value not listed there gets 400' },
  { id: 'reset-no-force-on', kind: 'structural', vendor: 'HPE iLO 5', source: '§1.1',
    description: 'Reset AllowableValues lack ForceOn; ForceOn gets 400 ActionParameterValueNotInList' },
  { id: 'case-insensitive-uris', kind: 'structural', vendor: 'HPE iLO 5', source: '§1.5, §4.1',
    description: 'links are lowercase with trailing slashes (/redfish/v1/systems/1/bios/); the service matches URIs ignoring case and trailing slash' },
  { id: 'simpleupdate-actioninfo', kind: 'structural', vendor: 'AMI, DMTF', source: '§1.6',
    description: 'SimpleUpdate parameters are published only through @Redfish.ActionInfo' },
  { id: 'service-tag-in-sku', kind: 'structural', vendor: 'Dell iDRAC', source: '#18',
    description: 'the service tag is in SKU; SerialNumber holds the board serial' },
  { id: 'multipart-push-update', kind: 'structural', vendor: 'Lenovo XCC, Supermicro, Dell', source: '§1.6',
    description: 'firmware can be pushed to MultipartHttpPushUri (multipart/form-data: UpdateParameters + UpdateFile)' },

  // Behavioural: ETags, sessions, errors.
  { id: 'if-match-required', kind: 'behavioural', vendor: 'Lenovo XCC', source: '§1.7',
    description: 'PATCH without If-Match gets 428 PreconditionRequired' },
  { id: 'weak-etag-strict-if-match', kind: 'behavioural', vendor: 'HPE iLO', source: '§1.7',
    description: 'ETags are weak (W/"x", also @odata.etag); If-Match with the weak form gets 412, the strong form "x" passes' },
  { id: 'registries-406-identity', kind: 'behavioural', vendor: 'HPE Gen10 Plus', source: '#21',
    description: 'GET of a message registry with Accept-Encoding: identity gets 406' },
  { id: 'sys518-after-write', kind: 'behavioural', vendor: 'Dell iDRAC', source: '#5',
    description: 'the first request within the window after a write gets 500 with MessageId IDRAC.2.8.SYS518' },
  { id: 'busy-503-after-power-on', kind: 'behavioural', vendor: 'Dell iDRAC 5.x (any BMC)', source: '#40',
    description: 'GETs within the window after the host powers on get 503 with Retry-After (the BMC is busy during POST)' },

  // Power.
  { id: 'stale-power-state', kind: 'behavioural', vendor: 'Dell iDRAC, Lenovo XCC', source: '§1.1',
    description: 'no PoweringOn/PoweringOff: PowerState shows the old value during a transition and for the window after it' },
  { id: 'power-on-conflict-after-off', kind: 'behavioural', vendor: 'Dell iDRAC10', source: '#11',
    description: 'On within the window after a power-off gets 409 ActionParameterValueConflict' },
  { id: 'already-in-state-409', kind: 'behavioural', vendor: 'Dell iDRAC (any BMC)', source: '#41',
    description: 'On for a host that is on, or ForceOff/GracefulShutdown for one that is off, gets 409' },
  { id: 'power-change-too-fast', kind: 'behavioural', vendor: 'HPE iLO', source: '#20',
    description: 'a Reset within the window after another Reset gets 400 InvalidOperationForSystemState' },
  { id: 'reset-202-task', kind: 'behavioural', vendor: 'AMI MegaRAC', source: '§1 (status codes), Gigabyte OperationApplyTimeSupport',
    description: 'Reset answers 202 with Location of a Task that completes when the power state is reached' },

  // Boot override.
  { id: 'patch-during-post', kind: 'behavioural', vendor: 'HPE iLO', source: '#19',
    description: 'a Boot PATCH within the window after a power-on or reboot gets 400 UnableToModifyDuringSystemPOST' },
  { id: 'full-boot-payload-required', kind: 'behavioural', vendor: 'AMI MegaRAC, ASRock Rack', source: '#34',
    description: 'a Boot PATCH must carry Target, Enabled and Mode together; a partial one gets 400' },
  { id: 'override-enabled-reverts', kind: 'behavioural', vendor: 'Supermicro', source: '#27',
    description: 'a Boot PATCH that sets Target without Enabled resets Enabled to Once' },
  { id: 'boot-mode-resets-legacy', kind: 'behavioural', vendor: 'Supermicro', source: '#28',
    description: 'a Boot PATCH that changes Target without Mode resets BootSourceOverrideMode to Legacy' },
  { id: 'continuous-override-rejected', kind: 'behavioural', vendor: 'various', source: '#35',
    description: 'BootSourceOverrideEnabled Continuous gets 400 PropertyValueNotInList' },
  { id: 'boot-settings-object', kind: 'behavioural', vendor: 'Lenovo SE450, Nokia, Dell iDRAC10', source: '#10, #33',
    description: 'Boot lives in the System\'s @Redfish.Settings object (<system>/Pending); a Boot PATCH on the System gets 400' },
  { id: 'managed-by-missing', kind: 'behavioural', vendor: 'Huawei 1288H', source: '#39',
    description: 'the System has Links.Managers instead of Links.ManagedBy' },

  // Virtual media.
  { id: 'vmedia-patch-only', kind: 'behavioural', vendor: 'Lenovo XCC, SD530', source: '#32',
    description: 'no InsertMedia/EjectMedia actions: PATCH the slot (Allow lists PATCH) with Image and Inserted; without Inserted gets 400' },
  { id: 'eject-before-insert', kind: 'behavioural', vendor: 'Dell iDRAC', source: '#8, §1.3',
    description: 'InsertMedia on a slot that already holds media gets 400 (VRM0012); eject first' },
  { id: 'insert-after-eject-5xx', kind: 'behavioural', vendor: 'Dell iDRAC', source: '#7',
    description: 'InsertMedia within the window after an eject gets 500 (the eject is still in progress)' },
  { id: 'stale-inserted-after-eject', kind: 'behavioural', vendor: 'Dell iDRAC', source: '#8',
    description: 'after an eject the slot still shows Inserted=true and the old Image for the window' },
  { id: 'vmedia-slot1-only', kind: 'behavioural', vendor: 'Dell iDRAC10', source: '#9',
    description: 'media inserted in a slot other than "1" is accepted but never boots' },
  { id: 'vmedia-boot-needs-oem', kind: 'behavioural', vendor: 'Dell iDRAC (<6.0, iDRAC10)', source: '#1',
    description: 'Boot=Cd boots the physical drive; virtual media boots only after OEM ImportSystemConfiguration BootOnce VCD-DVD' },
  { id: 'eject-needs-body', kind: 'behavioural', vendor: 'HPE iLO', source: '#22',
    description: 'EjectMedia with no body gets 415; with {} it works' },
  { id: 'vmedia-boot-usbcd', kind: 'behavioural', vendor: 'Supermicro X11/X12', source: '#29',
    description: 'virtual media boots only with target UsbCd; Cd boots the (empty) physical drive' },
  { id: 'insert-rejects-default-flags', kind: 'behavioural', vendor: 'Supermicro X11/X12', source: '#30',
    description: 'InsertMedia with Inserted or WriteProtected in the body gets 400' },
  { id: 'transfer-protocol-required', kind: 'behavioural', vendor: 'Nokia', source: '#38',
    description: 'InsertMedia without TransferProtocolType gets 400 ActionParameterMissing' },
  { id: 'vmedia-dvd-only', kind: 'behavioural', vendor: 'Cisco UCS', source: '#36',
    description: 'slots list MediaTypes ["DVD"] only (no "CD")' },
  { id: 'image-url-no-query', kind: 'behavioural', vendor: 'some BMCs', source: '#43',
    description: 'an image URL containing ? or & gets 400' },

  // BIOS.
  { id: 'bios-apply-time-required', kind: 'behavioural', vendor: 'Dell iDRAC', source: '#12',
    description: 'BIOS settings PATCHed without @Redfish.SettingsApplyTime stay pending forever; a PATCH while changes are pending gets 400 SYS011' },
  { id: 'reset-bios-needs-body', kind: 'behavioural', vendor: 'Dell R630 (iDRAC 2.75)', source: '#17',
    description: '#Bios.ResetBios with no body gets 400; with {} it works' },
  { id: 'secureboot-license-required', kind: 'behavioural', vendor: 'Supermicro', source: '#31',
    description: 'SecureBoot answers 400 OemLicenseNotPassed (needs an OOB/DCMS licence)' },

  // Firmware and tasks.
  { id: 'task-starts-new', kind: 'behavioural', vendor: 'Dell iDRAC', source: '#15',
    description: 'a firmware Task stays in TaskState New for the first third of its run' },
  { id: 'task-location-is-task', kind: 'behavioural', vendor: 'Dell iDRAC', source: '§1.6',
    description: 'the 202 Location is the Task (TaskService/Tasks/JID_...) itself, which answers 200, not a 202 task monitor' },
  { id: 'transient-404-new-task', kind: 'behavioural', vendor: 'Dell iDRAC', source: '#6',
    description: 'a new Task answers 404 for the window after it is created' },
  { id: 'update-202-no-location', kind: 'behavioural', vendor: 'HPE iLO 5', source: '#23',
    description: 'SimpleUpdate answers 202 without Location; the task is named by the body @odata.id' },
  { id: 'bios-firmware-staged', kind: 'behavioural', vendor: 'HPE iLO', source: '#24',
    description: 'a BIOS firmware Task completes once the image is staged; the version changes at the next boot' },
  { id: 'update-service-busy', kind: 'behavioural', vendor: 'Lenovo XCC', source: '§1.6',
    description: 'while an update runs, HttpPushUriTargetsBusy is true and another push or SimpleUpdate gets 503' },
  { id: 'bmc-reboots-after-update', kind: 'behavioural', vendor: 'any BMC flashing itself', source: '§1.6 (BMC)',
    description: 'a BMC firmware update ends with the BMC rebooting: unreachable (connections dropped) for the reboot time, sessions lost; the version changes when it is back' },
  { id: 'bios-update-waits-for-reboot', kind: 'behavioural', vendor: 'Dell iDRAC (Ironic reboots for any BIOS update)', source: '§1.6 (BIOS)',
    description: 'a BIOS firmware Task stays in TaskState Starting until the host reboots, then runs; the version changes when it completes' },
  { id: 'firmware-id-carries-version', kind: 'behavioural', vendor: 'Dell iDRAC', source: '§1.4 (firmware versions)',
    description: 'FirmwareInventory ids carry the version (Installed-<component>-<version>): a flash renames the member and adds Previous-<component>-<old version>' },
  { id: 'firmware-inventory-dangling-member', kind: 'behavioural', vendor: 'any (a component removed or mid-update)', source: '§1.4 (firmware versions)',
    description: 'the FirmwareInventory collection lists a member that answers 404' },

  // Inventory.
  { id: 'network-adapters-400-os-down', kind: 'behavioural', vendor: 'HPE', source: '#26',
    description: 'Chassis NetworkAdapters GETs get 400 until the host has booted' },
] as const satisfies readonly QuirkInfo[];

/** Every quirk id. */
export type QuirkId = (typeof list)[number]['id'];

/** The registry, in a stable order. */
export const QUIRKS: readonly QuirkInfo[] = list;

const ids = new Set<string>(list.map((quirk) => quirk.id));

/** True when `id` names a quirk in the registry. */
export function isQuirkId(id: string): id is QuirkId {
  return ids.has(id);
}

/** Looks up a quirk; throws on an unknown id so typos in options fail loudly. */
export function quirk(id: string): QuirkInfo {
  const found = QUIRKS.find((entry) => entry.id === id);
  if (!found) throw new Error(`unknown quirk '${id}' (see sim/quirks.ts)`);
  return found;
}
