/**
 * What firmware finds on a booted ISO: the kernel command line of its boot configuration (`/boot/grub/grub.cfg`,
 * else `/EFI/BOOT/grub.cfg`, for UEFI; `/isolinux/isolinux.cfg` for legacy BIOS), read with HTTP range requests
 * from the virtual media URL so only the few sectors needed travel (a server that ignores ranges is read
 * whole, up to a limit). A deploy ISO carries `ipa-api-url` (and the agent token) there; a live ISO none.
 */
import { fetch } from 'undici';
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

/** Splits a kernel command line into `key=value` parameters (a bare word maps to ''); quotes are honoured. */
export function parseKernelCommandLine(line: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of line.matchAll(/(?:[^\s"]+|"[^"]*")+/g)) {
    const token = match[0].replace(/"/g, '');
    if (token === '--' || token === '') continue;
    const equals = token.indexOf('=');
    if (equals < 0) params[token] = '';
    else params[token.slice(0, equals)] = token.slice(equals + 1);
  }
  return params;
}

/** The kernel arguments of the default entry of a GRUB configuration (the `linux`/`linuxefi` line). */
export function grubKernelLine(config: string): string | undefined {
  const defaultMatch = /^\s*set\s+default\s*=\s*"?(\d+)"?/m.exec(config);
  const wanted = defaultMatch ? Number(defaultMatch[1]) : 0;
  const entries = config.split(/^\s*menuentry\b/m).slice(1);
  const entry = entries[wanted] ?? entries[0] ?? config;
  const linux = /^\s*linux(?:efi|16)?\s+\S+\s*(.*)$/m.exec(entry);
  return linux?.[1]?.trim();
}

/** The kernel arguments of the default label of an ISOLINUX configuration (its `append` line). */
export function isolinuxKernelLine(config: string): string | undefined {
  const lines = config.split('\n').map((line) => line.trim());
  const wanted = lines.map((line) => /^default\s+(\S+)/i.exec(line)?.[1]).find((label) => label !== undefined);
  let current: string | undefined;
  let first: string | undefined;
  for (const line of lines) {
    const label = /^label\s+(\S+)/i.exec(line)?.[1];
    if (label !== undefined) current = label;
    const append = /^append\s+(.*)$/i.exec(line)?.[1];
    if (append === undefined) continue;
    first ??= append;
    if (wanted === undefined || current === wanted) return append.trim();
  }
  return first?.trim();
}

/** The booted kernel's parameters, or undefined when the ISO has no boot configuration for this mode. */
export async function isoKernelParams(
  read: ReadAt,
  mode: 'UEFI' | 'Legacy',
): Promise<Record<string, string> | undefined> {
  const iso = await Iso9660.open(read);
  // UEFI firmware runs the GRUB of the El Torito EFI image, which reads /boot/grub/grub.cfg (Ironic's layout)
  // or, on some ISOs, /EFI/BOOT/grub.cfg.
  const paths = mode === 'UEFI' ? ['/boot/grub/grub.cfg', '/EFI/BOOT/grub.cfg'] : ['/isolinux/isolinux.cfg'];
  let config: string | undefined;
  for (const path of paths) {
    config ??= (await iso.readFile(path))?.toString('utf8');
  }
  if (config === undefined) return undefined;
  const line = mode === 'UEFI' ? grubKernelLine(config) : isolinuxKernelLine(config);
  return line === undefined ? undefined : parseKernelCommandLine(line);
}

/** Parameters with secrets (the agent token) hidden, for logs and status. */
export function redactParams(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params))
    out[key] = /token|password|secret/i.test(key) && value !== '' ? '***' : value;
  return out;
}
