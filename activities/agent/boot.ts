/**
 * Which deploy ramdisk a host boots, and the signed URL of its per-boot ISO: a PreprovisioningImage that is
 * ready for the host (an ISO, with its `extraKernelParams`) wins, else the configured IPA ISO, as BMO hands
 * Ironic a `deploy_iso`. Nothing is built here: the agent API builds the ISO when the BMC fetches the URL
 * (agent-api/server.ts), so this is a quick call (one Kubernetes read) that puts no secret in history.
 */
import * as k8s from '@kubernetes/client-node';
import type { AgentKeys } from '../../agent-api/token.ts';
import type { AgentBootPurpose } from '../../domain/agent.ts';
import type { HostRef } from '../../domain/host-model.ts';
import { METAL3_GROUP, METAL3_VERSION } from '../../domain/names.ts';
import { AgentError } from './client.ts';

/** What the activity needs of a PreprovisioningImage. */
export interface PreprovisioningImageView {
  ready: boolean;
  format?: string;
  imageUrl?: string;
  extraKernelParams?: string;
}

export interface AgentBootDeps {
  keys: AgentKeys | undefined;
  /** The agent API's public URL (TEMPERED_AGENT_API_URL). */
  apiUrl: string | undefined;
  /** The configured deploy ISO (TEMPERED_IPA_ISO_URL; Metal3's DEPLOY_ISO_URL). */
  ipaIsoUrl: string | undefined;
  /** Reads the host's PreprovisioningImage (same name); undefined when there is none. */
  preprovisioningImage?: (namespace: string, name: string) => Promise<PreprovisioningImageView | undefined>;
  /** How long a deploy ISO URL stays valid after its boot started (default 6 hours: beyond any callback timeout). */
  isoUrlTtlMs?: number;
}

export interface AgentBootRequest {
  host: HostRef;
  bootId: string;
  purpose: AgentBootPurpose;
  /** When the boot started (workflow time, ms): the URL's expiry counts from it, so a retry makes the same URL. */
  startedAt: number;
}

export interface AgentBootPlan {
  /** The URL to insert as virtual media. */
  isoUrl: string;
  /** The ramdisk it is made from, and where that came from (for the UI and Events). */
  baseIso: string;
  source: 'PreprovisioningImage' | 'TEMPERED_IPA_ISO_URL';
}

/** Reads a PreprovisioningImage from the Kubernetes API: ready when its `Ready` condition is True. */
export function kubePreprovisioningImages(kubeconfig: k8s.KubeConfig): NonNullable<AgentBootDeps['preprovisioningImage']> {
  const api = kubeconfig.makeApiClient(k8s.CustomObjectsApi);
  return async (namespace, name) => {
    let object: { status?: { conditions?: { type?: string; status?: string }[]; format?: string; imageUrl?: string; extraKernelParams?: string } };
    try {
      object = (await api.getNamespacedCustomObject({ group: METAL3_GROUP, version: METAL3_VERSION, plural: 'preprovisioningimages', namespace, name })) as typeof object;
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 404 || code === 403) return undefined; // none, or not allowed to read them: use the configured ISO
      throw new AgentError('AgentUnreachable', `reading the PreprovisioningImage ${namespace}/${name} failed: ${(error as Error).message}`);
    }
    const status = object.status ?? {};
    return {
      ready: (status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      ...(status.format ? { format: status.format } : {}),
      ...(status.imageUrl ? { imageUrl: status.imageUrl } : {}),
      ...(status.extraKernelParams ? { extraKernelParams: status.extraKernelParams } : {}),
    };
  };
}

/** Plans one ramdisk boot (see the file header). */
export async function planAgentBoot(deps: AgentBootDeps, request: AgentBootRequest): Promise<AgentBootPlan> {
  if (!deps.keys || !deps.apiUrl) {
    throw new AgentError('DeployRamdiskUnavailable', 'this worker has no agent API URL or installation key (TEMPERED_AGENT_API_URL, TEMPERED_AGENT_KEY_FILE), so it cannot boot a deploy ramdisk', { retryable: false });
  }
  const { namespace, name, uid } = request.host;
  const ppi = await deps.preprovisioningImage?.(namespace, name);
  const usable = ppi?.ready && ppi.imageUrl && (ppi.format ?? 'iso') === 'iso';
  const baseIso = usable ? (ppi.imageUrl as string) : deps.ipaIsoUrl;
  if (!baseIso) {
    const why = ppi && !usable ? `its PreprovisioningImage ${namespace}/${name} is not a ready ISO` : 'no PreprovisioningImage exists for it';
    throw new AgentError('DeployRamdiskUnavailable', `no deploy ramdisk for ${namespace}/${name}: ${why} and no IPA ISO is configured (TEMPERED_IPA_ISO_URL)`, { retryable: false });
  }
  const expires = Math.floor((request.startedAt + (deps.isoUrlTtlMs ?? 6 * 3600_000)) / 1000);
  const extra = usable ? ppi.extraKernelParams : undefined;
  return {
    isoUrl: deps.keys.deployIsoUrl(deps.apiUrl, { hostUid: uid, bootId: request.bootId, purpose: request.purpose, baseIso, expires, ...(extra ? { extraKernelParams: extra } : {}) }),
    baseIso,
    source: usable ? 'PreprovisioningImage' : 'TEMPERED_IPA_ISO_URL',
  };
}
