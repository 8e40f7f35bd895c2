/**
 * What a live ISO's boot must look like when read back from the BMC: the host on, with that ISO inserted.
 * Shared by the boot activity (activities/boot-media.ts) and the provision workflow's older path.
 */

/** What the BMC reports about power and virtual media. */
export interface BootState {
  poweredOn: boolean;
  mediaInserted: boolean;
  mediaUrl?: string;
}

/** Why a read-back does not show the host on with the live ISO `url` inserted, or undefined when it does. */
export function liveIsoBootMismatch(booted: BootState, url: string): string | undefined {
  if (booted.poweredOn && booted.mediaInserted && booted.mediaUrl === url) return undefined;
  return `after booting, the BMC reports power ${booted.poweredOn ? 'on' : 'off'} and media ${booted.mediaInserted ? `'${booted.mediaUrl}'` : 'not inserted'}, not the live ISO ${url}`;
}
