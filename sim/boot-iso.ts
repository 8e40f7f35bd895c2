/**
 * What firmware finds on a booted ISO: the kernel command line of its boot configuration (`/boot/grub/grub.cfg`,
 * else `/EFI/BOOT/grub.cfg`, for UEFI; `/isolinux/isolinux.cfg` for legacy BIOS), read with HTTP range requests
 * from the virtual media URL so only the few sectors needed travel (a server that ignores ranges is read
 * whole, up to a limit). A deploy ISO carries `ipa-api-url` (and the agent token) there; a live ISO none.
 */
import { fetch } from 'undici';
import { BOOT_CONFIG_PATHS, type BootConfigKind, kernelParamsOf } from '../lib/boot-config.ts';
import { Iso9660, type ReadAt } from '../lib/iso9660.ts';

/** Largest ISO read whole from a server that ignores range requests. */
const WHOLE_READ_LIMIT = 1024 * 1024 * 1024;
const BLOCK = 64 * 1024;

/**
 * A reader over an HTTP URL: 64 KiB blocks fetched with `Range` and cached; if the server answers 200 instead
 * of 206 the body is kept whole (up to 1 GiB).
 */
export function httpReader(url: string, signal?: AbortSignal): ReadAt {
  const blocks = new Map<number, Promise<Buffer>>();
  let whole: Promise<Buffer> | undefined;
  const block = (index: number): Promise<Buffer> => {
    let cached = blocks.get(index);
    if (!cached) {
      cached = (async () => {
        if (whole) return (await whole).subarray(index * BLOCK, (index + 1) * BLOCK);
        const response = await fetch(url, {
          headers: { range: `bytes=${index * BLOCK}-${(index + 1) * BLOCK - 1}` },
          ...(signal ? { signal } : {}),
        });
        if (response.status === 206) return Buffer.from(await response.arrayBuffer());
        if (response.status === 416) {
          await response.body?.cancel();
          return Buffer.alloc(0);
        }
        if (response.status !== 200) {
          await response.body?.cancel();
          throw new Error(`GET ${url} answered ${response.status}`);
        }
        const length = Number(response.headers.get('content-length') ?? 0);
        if (length > WHOLE_READ_LIMIT) {
          await response.body?.cancel();
          throw new Error(`${url} ignores range requests and is too big to read whole (${length} bytes)`);
        }
        whole = response.arrayBuffer().then((body) => Buffer.from(body));
        return (await whole).subarray(index * BLOCK, (index + 1) * BLOCK);
      })();
      cached.catch(() => blocks.delete(index));
      blocks.set(index, cached);
    }
    return cached;
  };
  return async (offset, length) => {
    const parts: Buffer[] = [];
    for (let index = Math.floor(offset / BLOCK); index * BLOCK < offset + length; index += 1) {
      const data = await block(index);
      parts.push(data);
      if (data.length < BLOCK) break;
    }
    const all = Buffer.concat(parts);
    const start = offset - Math.floor(offset / BLOCK) * BLOCK;
    return all.subarray(start, start + length);
  };
}

/**
 * The booted kernel's parameters, or undefined when the ISO has no boot configuration for this mode. A bare
 * flag (`nofb`) maps to ''; ISOLINUX passes `initrd=` on the command line, so it is one of the parameters.
 */
export async function isoKernelParams(
  read: ReadAt,
  mode: 'UEFI' | 'Legacy',
): Promise<Record<string, string> | undefined> {
  const iso = await Iso9660.open(read);
  const kind: BootConfigKind = mode === 'UEFI' ? 'grub' : 'isolinux';
  // UEFI firmware runs the GRUB of the El Torito EFI image, which reads /boot/grub/grub.cfg (Ironic's layout)
  // or, on some ISOs, /EFI/BOOT/grub.cfg.
  for (const [path, pathKind] of Object.entries(BOOT_CONFIG_PATHS)) {
    if (pathKind !== kind) continue;
    const config = (await iso.readFile(path))?.toString('utf8');
    if (config === undefined) continue;
    const line = kernelParamsOf(config, kind);
    if (!line) return undefined;
    const params: Record<string, string> = {};
    if (kind === 'isolinux' && line.initrd) params['initrd'] = line.initrd;
    for (const [key, value] of Object.entries(line.params)) params[key] = value === true ? '' : value;
    return params;
  }
  return undefined;
}

/** Parameters with secrets (the agent token) hidden, for logs and status. */
export function redactParams(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params))
    out[key] = /token|password|secret/i.test(key) && value !== '' ? '***' : value;
  return out;
}
