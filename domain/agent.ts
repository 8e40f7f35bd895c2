/**
 * The deploy agent (ironic-python-agent, IPA) as the engine sees it: what the agent API tells a host workflow
 * (lookup, heartbeat, inspection data), what the workflow answers, and the session activities use to command
 * the agent. Plain JSON that travels in Temporal payloads, so it carries no secret: the agent token of a boot
 * is derived from the installation key by whoever needs it (agent-api/token.ts), never stored here.
 */

/** Why a deploy ramdisk is booted: what the engine will ask the agent to do in that boot. */
export type AgentBootPurpose = 'deploy' | 'clean' | 'inspect';

/** A boot id: short, URL- and kernel-command-line-safe, unique per host (it is part of the agent token). */
export const BOOT_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

/** `GET /v1/lookup` from a freshly booted agent, as the agent API found it. */
export interface AgentLookup {
  /** The MAC addresses the agent reported, normalised (lower case, colon separated). */
  addresses: string[];
  /** The `node_uuid` query parameter, when the agent sent one (after an inspection callback). */
  nodeUuid?: string;
  /** When the agent API received it (ISO 8601), for the UI. */
  receivedAt: string;
}

/** The host workflow's answer to a lookup it accepts (a lookup it rejects is answered 404, as Ironic does). */
export interface AgentLookupReply {
  /** The boot the agent belongs to; the agent API derives its token from it. */
  bootId: string;
  /**
   * Hand the agent its token in the lookup answer. False when the token was put on the deploy ISO's kernel
   * command line (Ironic's pre-generated token: the answer says `******`), or was already handed out once.
   */
  issueToken: boolean;
  /** Ironic's `[api]ramdisk_heartbeat_timeout`: the agent heartbeats every 30-60% of it. */
  heartbeatTimeoutSeconds: number;
}

/** `POST /v1/heartbeat/{node}`, after the agent API checked its token (which names the boot). */
export interface AgentHeartbeat {
  bootId: string;
  /** Where the agent's command API listens: `http(s)://<ip>:<port>`, no path. */
  callbackUrl: string;
  agentVersion: string;
  /** The PEM of the agent's self-signed certificate (auto TLS, API 1.68+): the one CA trusted for this agent. */
  verifyCa?: string;
  receivedAt: string;
}

/** `POST /v1/continue_inspection`: the agent's inventory, without its logs. */
export interface AgentInspection {
  receivedAt: string;
  /** IPA's `inventory` (interfaces, cpu, memory, disks, system_vendor, boot, bmc_address, hostname). */
  inventory: Record<string, unknown>;
  /** Plugin data the engine uses: `root_disk`, `boot_interface`, `lldp_raw`, `error`; never `logs`. */
  pluginData: Record<string, unknown>;
}

/** Where a running agent is and how to trust it: what command activities need (the token is derived). */
export interface AgentSession {
  /** The BareMetalHost's UID: Ironic's node UUID for the agent. */
  hostUid: string;
  bootId: string;
  url: string;
  verifyCa?: string;
  agentVersion?: string;
}

/** A MAC address in the form the engine compares (`aa:bb:cc:dd:ee:ff`), or undefined when it is not one. */
export function normalizeMac(value: string): string | undefined {
  const hex = value.trim().toLowerCase().replace(/[-:.]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) return undefined;
  return hex.match(/../g)?.join(':');
}
