/** Which ramdisk a host boots: a ready PreprovisioningImage ISO first, else the configured IPA ISO, else a clear error. */
import { describe, expect, it } from 'vitest';
import { AgentKeys } from '../../agent-api/token.ts';
import { planAgentBoot, type PreprovisioningImageView } from './boot.ts';
import { type AgentError } from './client.ts';

const keys = new AgentKeys('installation key of the boot planning test!!');
const host = { namespace: 'ns', name: 'h', uid: 'uid-h' };
const request = { host, bootId: 'b3', purpose: 'deploy' as const, startedAt: 1_800_000_000_000 };
const deps = (ppi?: PreprovisioningImageView, ipaIsoUrl: string | null = 'http://images/ipa.iso') => ({ keys, apiUrl: 'http://agent-api:6385', ipaIsoUrl: ipaIsoUrl ?? undefined, preprovisioningImage: async () => ppi });
const check = (url: string) => {
  const u = new URL(url);
  const [, , , hostUid = '', bootId = '', file = ''] = u.pathname.split('/');
  return keys.checkDeployIso({ hostUid, bootId, purpose: file.replace('.iso', ''), query: u.searchParams }, 0);
};

describe('planning a ramdisk boot', () => {
  it('uses a ready PreprovisioningImage ISO with its extra kernel parameters', async () => {
    const plan = await planAgentBoot(deps({ ready: true, format: 'iso', imageUrl: 'http://ppi/h.iso', extraKernelParams: 'ip=dhcp' }), request);
    expect(plan).toMatchObject({ baseIso: 'http://ppi/h.iso', source: 'PreprovisioningImage' });
    expect(check(plan.isoUrl)).toMatchObject({ ok: true, ref: { hostUid: 'uid-h', bootId: 'b3', baseIso: 'http://ppi/h.iso', extraKernelParams: 'ip=dhcp' } });
  });

  it.each([
    ['not ready', { ready: false, format: 'iso', imageUrl: 'http://ppi/h.iso' }],
    ['an initrd', { ready: true, format: 'initrd', imageUrl: 'http://ppi/h.initrd' }],
    ['absent', undefined],
  ])('uses the configured IPA ISO when the PreprovisioningImage is %s', async (_name, ppi) => {
    const plan = await planAgentBoot(deps(ppi), request);
    expect(plan).toMatchObject({ baseIso: 'http://images/ipa.iso', source: 'TEMPERED_IPA_ISO_URL' });
  });

  it('makes the same URL when retried for the same boot', async () => {
    expect((await planAgentBoot(deps(), request)).isoUrl).toBe((await planAgentBoot(deps(), request)).isoUrl);
  });

  it('without any ramdisk: DeployRamdiskUnavailable, saying what is missing', async () => {
    const error = (await planAgentBoot(deps({ ready: false }, null), request).catch((e: unknown) => e)) as AgentError;
    expect(error.code).toBe('DeployRamdiskUnavailable');
    expect(error.message).toContain('PreprovisioningImage ns/h is not a ready ISO and no IPA ISO is configured (TEMPERED_IPA_ISO_URL)');
  });
});
