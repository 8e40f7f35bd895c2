/**
 * ISO 9660 images through a real tool, `xorriso` (Debian's package; the stack installs it with `imageTools` in
 * stack/binaries.ts): build one from files (the config drive, the stand-in IPA ISO), list and read files back, read
 * the volume label and El Torito boot entries, and remaster an ISO with some files replaced while its boot setup
 * is kept (`-boot_image any replay`). Builds are reproducible: file times and SOURCE_DATE_EPOCH are fixed.
 */
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describeFormat, detectDiskFormat, FORMAT_PROBE_BYTES } from '../domain/image.ts';
import { ImageError } from './image-error.ts';
import { runTool } from './run-tool.ts';

/** Where builds take their time stamps from: fixed, so the same files make the same bytes. */
const EPOCH_SECONDS = 1_700_000_000;

export interface XorrisoOptions {
  /** The xorriso binary; default `xorriso` on PATH. */
  xorriso?: string;
  signal?: AbortSignal;
}

/** Runs xorriso, resolving with stdout; a failure names the command's last lines of stderr. */
export async function runXorriso(args: string[], options: XorrisoOptions = {}): Promise<string> {
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH_SECONDS) };
  const run = await runTool(options.xorriso ?? 'xorriso', args, {
    debianPackage: 'xorriso',
    env,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (run.code !== 0) {
    const tail = run.stderr
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('xorriso 1.'))
      .slice(-4)
      .join(' | ');
    const what = `xorriso ${args.slice(0, 4).join(' ')} …`;
    throw new ImageError('InternalError', `${what} failed (exit ${run.code}): ${tail}`);
  }
  return run.stdout;
}

/** xorriso's name for an image to read: `stdio:` lets it be a block device or partition as well as a file. */
const indev = (iso: string): string => `stdio:${iso}`;

/** File content for an ISO, by its path inside the ISO (`openstack/latest/meta_data.json`). */
export type IsoFiles = Record<string, Buffer | string>;

/** Writes `files` under `root` with fixed times (directories too), so a build of them is reproducible. */
async function writeTree(root: string, files: IsoFiles): Promise<void> {
  const dirs = new Set<string>([root]);
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path.replace(/^\/+/, ''));
    await mkdir(dirname(full), { recursive: true, mode: 0o700 });
    for (let d = dirname(full); d.startsWith(root); d = dirname(d)) dirs.add(d);
    await writeFile(full, content, { mode: 0o600 });
    await utimes(full, EPOCH_SECONDS, EPOCH_SECONDS);
  }
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) await utimes(d, EPOCH_SECONDS, EPOCH_SECONDS);
}

/** A private scratch directory, removed after `fn` (config drives hold user data). */
export async function withScratch<T>(fn: (dir: string) => Promise<T>, parent = tmpdir()): Promise<T> {
  const dir = await mkdtemp(join(parent, 'tempered-iso-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface MakeIsoRequest extends XorrisoOptions {
  files: IsoFiles;
  output: string;
  volumeId: string;
  publisher?: string;
  /** El Torito boot images (paths inside the ISO): `bios` no-emulation, `efi` as the alternate entry. */
  boot?: { bios?: string; efi?: string };
  /** Parent of the scratch directory; default the OS temp dir. */
  scratch?: string;
}

/**
 * Builds an ISO 9660 image with Rock Ridge and Joliet from `files`, with the options openstacksdk passes for a
 * config drive (`-J -r -l -ldots -allow-lowercase -allow-multidot`). Written to a temporary name, then renamed.
 */
export async function makeIso(req: MakeIsoRequest): Promise<{ output: string; sizeBytes: number }> {
  return withScratch(async (dir) => {
    const root = join(dir, 'root');
    await writeTree(root, req.files);
    const partial = `${req.output}.partial`;
    await rm(partial, { force: true });
    const boot = [
      ...(req.boot?.bios ? ['-b', req.boot.bios, '-no-emul-boot', '-boot-load-size', '4'] : []),
      ...(req.boot?.efi ? [...(req.boot.bios ? ['-eltorito-alt-boot'] : []), '-e', req.boot.efi, '-no-emul-boot'] : []),
    ];
    await runXorriso(
      [
        '-as',
        'mkisofs',
        '-o',
        partial,
        '-ldots',
        '-allow-lowercase',
        '-allow-multidot',
        '-l',
        '-J',
        '-r',
        '-V',
        req.volumeId,
        ...(req.publisher ? ['-publisher', req.publisher] : []),
        ...boot,
        '-quiet',
        root,
      ],
      req,
    );
    await rename(partial, req.output);
    return { output: req.output, sizeBytes: (await stat(req.output)).size };
  }, req.scratch);
}

/**
 * Fails with DeployIsoInvalid unless `iso` is a readable ISO 9660 image (xorriso itself treats anything else
 * as a blank medium, with no error).
 */
export async function assertIso(iso: string): Promise<void> {
  let head: Buffer;
  try {
    const file = await open(iso, 'r');
    try {
      head = Buffer.alloc(FORMAT_PROBE_BYTES);
      head = head.subarray(0, (await file.read(head, 0, head.length, 0)).bytesRead);
    } finally {
      await file.close();
    }
  } catch (err) {
    throw new ImageError(
      'DeployIsoInvalid',
      `${iso} cannot be read: ${(err as { code?: string }).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  const format = detectDiskFormat(head);
  if (format !== 'iso') {
    throw new ImageError(
      'DeployIsoInvalid',
      `${iso} cannot be read as an ISO 9660 image: it is ${describeFormat(format)}`,
      { expected: 'iso', found: format },
    );
  }
}

/** The paths of the files in an ISO (`/boot/grub/grub.cfg`, ...). */
export async function listIsoFiles(iso: string, options: XorrisoOptions = {}): Promise<string[]> {
  await assertIso(iso);
  const out = await runXorriso(['-indev', indev(iso), '-find', '/', '-type', 'f'], options);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith("'") && l.endsWith("'"))
    .map((l) => l.slice(1, -1).replace(/'"'"'/g, "'"));
}

/** One file of an ISO, or undefined when the ISO has no such file. */
export async function readIsoFile(
  iso: string,
  path: string,
  options: XorrisoOptions = {},
): Promise<Buffer | undefined> {
  if (!(await listIsoFiles(iso, options)).includes(path)) return undefined;
  return withScratch(async (dir) => {
    const out = join(dir, 'file');
    await runXorriso(['-osirrox', 'on', '-indev', indev(iso), '-extract', path, out], options);
    return readFile(out);
  });
}

/** The volume label (`config-2`, `VMEDIA_BOOT_ISO`). */
export async function isoVolumeId(iso: string, options: XorrisoOptions = {}): Promise<string> {
  const out = await runXorriso(['-indev', indev(iso), '-pvd_info'], options);
  return /^Volume Id\s*:\s?(.*)$/m.exec(out)?.[1]?.trim() ?? '';
}

/** The El Torito boot images: platform (`BIOS`, `UEFI`) and path inside the ISO. */
export async function isoBootImages(
  iso: string,
  options: XorrisoOptions = {},
): Promise<{ platform: string; path: string }[]> {
  const out = await runXorriso(['-indev', indev(iso), '-report_el_torito', 'plain'], options);
  const platforms = new Map<string, string>();
  const paths = new Map<string, string>();
  for (const line of out.split('\n')) {
    const img = /^El Torito boot img :\s+(\d+)\s+(\S+)/.exec(line);
    if (img?.[1] && img[2]) platforms.set(img[1], img[2]);
    const path = /^El Torito img path :\s+(\d+)\s+(.+)$/.exec(line);
    if (path?.[1] && path[2]) paths.set(path[1], path[2].trim());
  }
  return [...platforms].map(([n, platform]) => ({ platform, path: paths.get(n) ?? '' }));
}

/**
 * Copies `base` to `output` with `replace` written over (or added to) its files, keeping the El Torito boot
 * entries as they were. Written to a temporary name, then renamed.
 */
export async function remasterIso(
  req: XorrisoOptions & { base: string; output: string; replace: IsoFiles },
): Promise<{ output: string; sizeBytes: number }> {
  return withScratch(async (dir) => {
    await writeTree(dir, req.replace);
    const partial = `${req.output}.partial`;
    await rm(partial, { force: true });
    const maps = Object.keys(req.replace).flatMap((path) => [
      '-map',
      join(dir, path.replace(/^\/+/, '')),
      `/${path.replace(/^\/+/, '')}`,
    ]);
    await runXorriso(['-indev', indev(req.base), '-outdev', partial, '-boot_image', 'any', 'replay', ...maps], req);
    await rename(partial, req.output);
    return { output: req.output, sizeBytes: (await stat(req.output)).size };
  });
}
