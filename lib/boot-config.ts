/**
 * The kernel command line inside a deploy ISO's boot configuration: GRUB's `linux` lines (`/boot/grub/grub.cfg`,
 * UEFI) and ISOLINUX's `append` lines (`/isolinux/isolinux.cfg`, legacy BIOS). `withKernelParams` writes the
 * agent's parameters (`ipa-api-url=…`, `ipa-agent-token=…`, `boot_method=vmedia`) into every such line, replacing
 * earlier values of the same keys and keeping the kernel, the initrd and the other parameters, before a closing
 * `--` as Ironic's templates have it. `kernelParamsOf` reads them back: how the simulator "boots" a deploy ISO.
 * Pure text functions.
 */

/** Kernel parameters in order: `key=value`, or `true` for a bare flag (`nofb`). */
export type KernelParams = Record<string, string | true>;

export type BootConfigKind = 'grub' | 'isolinux';

/** The ISO paths of the boot configurations a deploy ISO may carry, and their kind. */
export const BOOT_CONFIG_PATHS: Readonly<Record<string, BootConfigKind>> = {
  '/boot/grub/grub.cfg': 'grub',
  '/EFI/BOOT/grub.cfg': 'grub',
  '/isolinux/isolinux.cfg': 'isolinux',
};

const GRUB_KERNEL = /^(\s*(?:linux|linuxefi|linux16)\s+)(\S+)(.*)$/;
const ISOLINUX_APPEND = /^(\s*append)(\s.*|)$/i;

/** Splits a command line into tokens; double quotes group (`a="b c"`), as the kernel parses it. */
export function splitCommandLine(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quoted = false;
  let started = false;
  for (const c of text) {
    if (c === '"') {
      quoted = !quoted;
      current += c;
      started = true;
    } else if (/\s/.test(c) && !quoted) {
      if (started) tokens.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (started) tokens.push(current);
  return tokens;
}

const keyOf = (token: string): string => token.split('=', 1)[0] ?? token;

/** Formats parameters as kernel command-line tokens; values with spaces are quoted. */
export function formatKernelParams(params: KernelParams): string[] {
  return Object.entries(params).map(([key, value]) => {
    if (value === true) return key;
    return /\s/.test(value) ? `${key}="${value}"` : `${key}=${value}`;
  });
}

/** Parses command-line tokens into parameters (the last of a repeated key wins; `--` and after are dropped). */
export function parseKernelParams(tokens: readonly string[]): KernelParams {
  const out: KernelParams = {};
  for (const token of tokens) {
    if (token === '--') break;
    const eq = token.indexOf('=');
    if (eq < 0) out[token] = true;
    else out[token.slice(0, eq)] = token.slice(eq + 1).replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** Replaces the keys of `params` among `tokens` and adds them before a closing `--` (or at the end). */
function mergeTokens(tokens: string[], params: KernelParams): string[] {
  const keys = new Set(Object.keys(params));
  const end = tokens.indexOf('--');
  const head = (end < 0 ? tokens : tokens.slice(0, end)).filter((t) => !keys.has(keyOf(t)));
  const tail = end < 0 ? [] : tokens.slice(end);
  return [...head, ...formatKernelParams(params), ...tail];
}

/**
 * Writes `params` into every kernel line of a boot configuration; returns the new text and how many lines
 * carry them (0 means the configuration boots no kernel this way).
 */
export function withKernelParams(
  text: string,
  kind: BootConfigKind,
  params: KernelParams,
): { text: string; lines: number } {
  let lines = 0;
  const out = text.split('\n').map((line) => {
    if (kind === 'grub') {
      const m = GRUB_KERNEL.exec(line);
      if (!m) return line;
      lines++;
      return `${m[1]}${m[2]} ${mergeTokens(splitCommandLine(m[3] ?? ''), params).join(' ')}`;
    }
    const m = ISOLINUX_APPEND.exec(line);
    if (!m) return line;
    lines++;
    return `${m[1]} ${mergeTokens(splitCommandLine(m[2] ?? ''), params).join(' ')}`;
  });
  return { text: out.join('\n'), lines };
}

/** The kernel, initrd and parameters of the first kernel line of a boot configuration; undefined if none. */
export function kernelParamsOf(
  text: string,
  kind: BootConfigKind,
): { kernel?: string; initrd?: string; params: KernelParams } | undefined {
  const lines = text.split('\n');
  if (kind === 'grub') {
    const index = lines.findIndex((l) => GRUB_KERNEL.test(l));
    if (index < 0) return undefined;
    const m = GRUB_KERNEL.exec(lines[index] ?? '');
    const initrd = lines
      .slice(index + 1)
      .map((l) => /^\s*initrd(?:efi|16)?\s+(\S+)/.exec(l)?.[1])
      .find(Boolean);
    return {
      ...(m?.[2] ? { kernel: m[2] } : {}),
      ...(initrd ? { initrd } : {}),
      params: parseKernelParams(splitCommandLine(m?.[3] ?? '')),
    };
  }
  const index = lines.findIndex((l) => ISOLINUX_APPEND.test(l));
  if (index < 0) return undefined;
  const tokens = splitCommandLine(ISOLINUX_APPEND.exec(lines[index] ?? '')?.[2] ?? '');
  const kernel = lines
    .slice(0, index)
    .reverse()
    .map((l) => /^\s*(?:kernel|linux)\s+(\S+)/i.exec(l)?.[1])
    .find(Boolean);
  const initrd = tokens.find((t) => t.startsWith('initrd='))?.slice('initrd='.length);
  const params = parseKernelParams(tokens.filter((t) => !t.startsWith('initrd=')));
  return { ...(kernel ? { kernel } : {}), ...(initrd ? { initrd } : {}), params };
}
