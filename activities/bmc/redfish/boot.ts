/**
 * One-time (or continuous) boot override through `ComputerSystem.Boot`: full payloads (Target, Enabled, Mode)
 * as AMI/ASRock/Supermicro need, the settings-object variant (iDRAC10, Lenovo SE450, Nokia), AllowableValues
 * from either place, Supermicro's UsbCd, Continuous emulated by re-applying where it is refused, and a read-back.
 */
import type { BootDevice, BootMode, BootOverride, BootOverrideResult, CallOptions } from '../driver.ts';
import { BmcError } from '../errors.ts';
import type { RedfishContext } from './context.ts';
import { waitTask } from './firmware.ts';
import { link, obj, str, strings, type Json } from './resources.ts';

export const BOOT_TARGETS: Record<BootDevice, string> = {
  pxe: 'Pxe',
  cd: 'Cd',
  disk: 'Hdd',
  bios: 'BiosSetup',
  'uefi-http': 'UefiHttp',
  usb: 'Usb',
};

interface BootPlace {
  /** Where the Boot keys are PATCHed: the system or its settings object. */
  path: string;
  etag: string | undefined;
  boot: Json;
  inSettings: boolean;
}

async function bootPlace(ctx: RedfishContext, signal?: AbortSignal): Promise<{ system: Json; place: BootPlace; allowedTargets: string[] | undefined; allowedEnabled: string[] | undefined }> {
  const res = await ctx.system(signal);
  const system = res.body;
  const systemPath = await ctx.systemPath(signal);
  const sysBoot = obj(system.Boot);
  let place: BootPlace = { path: systemPath, etag: res.etag, boot: sysBoot, inSettings: false };
  const settingsPath = link(obj(system['@Redfish.Settings']).SettingsObject);
  if (settingsPath) {
    const settings = await ctx.client.get(settingsPath, { signal, accept: [400, 404, 405, 501] });
    const settingsBoot = obj(settings.body?.Boot);
    if (settings.status < 300 && Object.keys(settingsBoot).length > 0) {
      place = { path: settingsPath, etag: settings.etag, boot: settingsBoot, inSettings: true };
    }
  }
  const allowed = (key: string): string[] | undefined => {
    const k = `${key}@Redfish.AllowableValues`;
    const v = place.boot[k] ?? sysBoot[k];
    return Array.isArray(v) ? strings(v) : undefined;
  };
  return { system, place, allowedTargets: allowed('BootSourceOverrideTarget'), allowedEnabled: allowed('BootSourceOverrideEnabled') };
}

/** The target to send for a device on this BMC. */
export function bootTarget(device: BootDevice, manufacturer: string, allowed: string[] | undefined): string {
  const target = BOOT_TARGETS[device];
  // Supermicro X11/X12 boot virtual media only from UsbCd; Cd fails silently.
  if (device === 'cd' && /supermicro/i.test(manufacturer) && allowed?.includes('UsbCd')) return 'UsbCd';
  return target;
}

/** The SCP that makes iDRAC boot its virtual CD once (Ironic's idrac-redfish-virtual-media boot interface). */
const DELL_VCD_BOOT_ONCE =
  '<SystemConfiguration><Component FQDD="iDRAC.Embedded.1">' +
  '<Attribute Name="ServerBoot.1#BootOnce">Enabled</Attribute>' +
  '<Attribute Name="ServerBoot.1#FirstBootDevice">VCD-DVD</Attribute>' +
  '</Component></SystemConfiguration>';

/**
 * iDRAC (before 6.0, and iDRAC10) boots its physical drive for a standard Boot=Cd: with the idrac-virtualmedia
 * scheme the one-time virtual CD boot goes through the OEM ImportSystemConfiguration job instead (#1, #2).
 */
async function dellVirtualCdBoot(ctx: RedfishContext, opts: CallOptions): Promise<BootOverrideResult | undefined> {
  const managerPath = await ctx.managerPath(opts.signal);
  if (!managerPath) return undefined;
  const manager = (await ctx.client.get(managerPath, { signal: opts.signal })).body;
  const oem = obj(obj(manager.Actions).Oem);
  const key = Object.keys(oem).find((k) => k.endsWith('ImportSystemConfiguration'));
  const target = key ? str(obj(oem[key]).target) : undefined;
  if (!target) return undefined;
  const res = await ctx.client.post(target, { ShareParameters: { Target: ['ALL'] }, ImportBuffer: DELL_VCD_BOOT_ONCE }, { signal: opts.signal });
  const task = res.location ?? str(obj(res.body)['@odata.id']);
  if (task) await waitTask(ctx, { monitor: task, task: undefined }, { ...opts, timeoutMs: 600_000 });
  return { device: 'cd', target: 'VCD-DVD', enabled: 'Once', mode: undefined, changed: true, reapplyBeforePowerOn: false };
}

/** Sets the boot override unless it is already set, then reads it back. */
export async function setBootOverride(ctx: RedfishContext, override: BootOverride, opts: CallOptions = {}): Promise<BootOverrideResult> {
  return ctx.converge(`boot ${override.device}`, opts, async () => {
    if (override.device === 'cd' && !override.persistent && ctx.address.capabilities.bootInterface === 'idrac-redfish-virtual-media') {
      const dell = await dellVirtualCdBoot(ctx, opts);
      if (dell) return dell;
    }
    const { system, place, allowedTargets, allowedEnabled } = await bootPlace(ctx, opts.signal);
    const manufacturer = `${await ctx.vendor(opts.signal, system)} ${str(system.Manufacturer) ?? ''}`;
    const target = bootTarget(override.device, manufacturer, allowedTargets);
    if (allowedTargets && !allowedTargets.includes(target)) {
      throw new BmcError('BmcUnsupported', `the BMC at ${ctx.endpoint} cannot boot from ${override.device} (BootSourceOverrideTarget ${target} is not among ${allowedTargets.join(', ')})`);
    }
    let enabled: 'Once' | 'Continuous' = override.persistent ? 'Continuous' : 'Once';
    let reapply = false;
    if (enabled === 'Continuous' && allowedEnabled && !allowedEnabled.includes('Continuous')) {
      enabled = 'Once';
      reapply = true;
    }
    // HPE Gen9 has no BootSourceOverrideMode: send a mode only where the BMC reports one.
    const hasMode = 'BootSourceOverrideMode' in place.boot || 'BootSourceOverrideMode' in obj(system.Boot);
    const mode: BootMode | undefined = hasMode ? (override.mode ?? 'UEFI') : undefined;
    const current = place.boot;
    const httpUri = override.device === 'uefi-http' ? override.httpBootUri : undefined;
    if (override.device === 'uefi-http' && !httpUri) throw new BmcError('BmcBadRequest', 'booting from uefi-http needs httpBootUri');
    const sameHttp = httpUri === undefined ? !str(current.HttpBootUri) : current.HttpBootUri === httpUri;
    const already = current.BootSourceOverrideTarget === target && current.BootSourceOverrideEnabled === enabled && (mode === undefined || current.BootSourceOverrideMode === mode) && sameHttp;
    const result = (changed: boolean): BootOverrideResult => ({ device: override.device, target, enabled, mode, changed, reapplyBeforePowerOn: reapply });
    if (already) return result(false);

    const boot: Json = { BootSourceOverrideTarget: target, BootSourceOverrideEnabled: enabled };
    if (mode) boot.BootSourceOverrideMode = mode;
    if (httpUri) boot.HttpBootUri = httpUri;
    else if (str(current.HttpBootUri)) boot.HttpBootUri = null; // sushy: clear a stale HTTP boot URI
    try {
      await ctx.client.patch(place.path, { Boot: boot }, { etag: place.etag, signal: opts.signal });
    } catch (err) {
      // Some BMCs refuse Continuous without saying so in AllowableValues: fall back to Once, re-applied by the caller.
      if (!(err instanceof BmcError) || err.code !== 'BmcBadRequest' || enabled !== 'Continuous') throw err;
      enabled = 'Once';
      reapply = true;
      boot.BootSourceOverrideEnabled = 'Once';
      await ctx.client.patch(place.path, { Boot: boot }, { etag: place.etag, signal: opts.signal });
    }

    // Read back from where it was written. sushy-tools always reports Enabled as Continuous: accept any
    // enabled value but Disabled for a Once request.
    const check = place.inSettings ? obj((await ctx.client.get(place.path, { signal: opts.signal })).body.Boot) : obj((await ctx.system(opts.signal)).body.Boot);
    const gotEnabled = str(check.BootSourceOverrideEnabled);
    const enabledOk = enabled === 'Continuous' ? gotEnabled === 'Continuous' : gotEnabled !== 'Disabled';
    if (check.BootSourceOverrideTarget !== target || !enabledOk) {
      throw new BmcError('BmcServerError', `the BMC at ${ctx.endpoint} accepted boot override ${target}/${enabled} but reads back ${String(check.BootSourceOverrideTarget)}/${String(gotEnabled)}`);
    }
    return result(true);
  });
}
