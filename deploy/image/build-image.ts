/**
 * `npm run image`: builds Tempered's container image (deploy/image/Containerfile) on a machine with no
 * registry but Debian's and npm's, with Debian's daemonless builder (buildah):
 *
 * 1. the base, a Debian bookworm root made from Debian packages alone (mmdebstrap: ca-certificates, ipmitool,
 *    qemu-utils, xorriso, and the non-root user 65532), cached by a hash of its recipe outside the repo
 *    (`~/.cache/tempered/image-base-…/rootfs.tar`) and imported into the builder's storage once;
 * 2. Node 24 from the npm registry (the `node-linux-<arch>` package of bin/node24.mjs's version), cached;
 * 3. the production dependencies (`npm ci --omit=dev` against package-lock.json, the Temporal core's
 *    binaries for other platforms dropped), cached by a hash of the lockfile, so they are installed once per
 *    dependency change and form an image layer of their own that buildah reuses;
 * 4. the app: the `npm pack` package (its prepack is `npm run build`: compiled JavaScript, workflow bundle);
 * 5. `buildah bud` of the Containerfile over them: COPY steps only, no container runtime needed.
 *
 *   npm run image                      builds localhost/tempered:<package version>
 *   npm run image -- --tarball T.tgz   uses an already packed package
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { NODE_VERSION } from '../../bin/node24.mjs';
import { cacheRoot, cached, debianCommands, jemallocPath, type Progress } from '../../stack/binaries.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONTAINERFILE = fileURLToPath(new URL('./Containerfile', import.meta.url));
const execFileAsync = promisify(execFile);

/** The base image's recipe: change anything here and the cache key changes with it. */
export const BASE_RECIPE = {
  suite: 'bookworm',
  variant: 'essential',
  // libstdc++6: Node itself links it. libjemalloc2: the allocator every process preloads (Containerfile).
  packages: ['ca-certificates', 'libstdc++6', 'libjemalloc2', 'ipmitool', 'qemu-utils', 'xorriso'],
  mirrors: [
    'deb http://deb.debian.org/debian bookworm main',
    'deb http://deb.debian.org/debian bookworm-updates main',
    'deb http://deb.debian.org/debian-security bookworm-security main',
  ],
  user: { name: 'tempered', uid: 65532 },
  /** Bump to rebuild the base on purpose (e.g. to take Debian's security updates). */
  revision: 1,
} as const;

/** Node's platform name for the Node binary packages and the Temporal core's release directories. */
const PLATFORM = {
  x64: { node: 'linux-x64', core: 'x86_64-unknown-linux-gnu' },
  arm64: { node: 'linux-arm64', core: 'aarch64-unknown-linux-gnu' },
}[process.arch as 'x64' | 'arm64'];

export interface ImageBuildOptions {
  /** Default: localhost/tempered:<package.json version>, what deploy/base names. */
  tag?: string;
  /** An `npm pack` tarball to put in the image; default: pack the repo now. */
  tarball?: string;
  progress?: Progress;
}

export interface ImageBuild {
  image: string;
  base: string;
  /** Seconds per step; `base` is near zero when the cached base was used. */
  timings: { base: number; node: number; pack: number; dependencies: number; build: number; total: number };
  /** The image's size as the builder reports it ("496 MB"). */
  size: string;
}

async function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim().slice(-3000)}`, { cause: error });
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, Math.round((performance.now() - started) / 100) / 10];
}

/** The base image's tag: its recipe's hash, so a changed recipe never reuses an old base. */
export function baseTag(): string {
  const key = createHash('sha256').update(JSON.stringify(BASE_RECIPE)).digest('hex').slice(0, 12);
  return `localhost/tempered-base:${BASE_RECIPE.suite}-${key}`;
}

/** The Debian root as a tarball (cached), imported into buildah's storage under `baseTag()` when missing. */
export async function ensureBase(tools: { buildah: string; mmdebstrap: string }, progress: Progress): Promise<string> {
  const tag = baseTag();
  const dir = join(cacheRoot(), `image-base-${tag.split(':')[1]}`);
  const tarball = join(dir, 'rootfs.tar');
  await cached(dir, async () => {
    const { uid, name } = BASE_RECIPE.user;
    progress(`making the ${BASE_RECIPE.suite} base from Debian packages with mmdebstrap (${BASE_RECIPE.packages.join(', ')})`);
    await run(tools.mmdebstrap, [
      `--variant=${BASE_RECIPE.variant}`,
      `--include=${BASE_RECIPE.packages.join(',')}`,
      '--aptopt=Acquire::Retries "3"',
      // No manuals or docs in an image nobody logs into; licences stay.
      '--dpkgopt=path-exclude=/usr/share/man/*',
      '--dpkgopt=path-exclude=/usr/share/doc/*',
      '--dpkgopt=path-include=/usr/share/doc/*/copyright',
      '--dpkgopt=path-exclude=/usr/share/locale/*',
      `--customize-hook=echo '${name}:x:${uid}:${uid}:${name}:/home/${name}:/usr/sbin/nologin' >> "$1/etc/passwd"`,
      `--customize-hook=echo '${name}:x:${uid}:' >> "$1/etc/group"`,
      `--customize-hook=mkdir -p "$1/home/${name}" && chown ${uid}:${uid} "$1/home/${name}" && chmod 0750 "$1/home/${name}"`,
      BASE_RECIPE.suite,
      tarball,
      ...BASE_RECIPE.mirrors,
    ]);
  });
  const known = await execFileAsync(tools.buildah, ['images', '--quiet', tag]).then(() => true, () => false);
  if (!known) {
    progress(`importing ${tarball} as ${tag}`);
    const container = (await run(tools.buildah, ['from', 'scratch'])).trim();
    try {
      await run(tools.buildah, ['add', container, tarball, '/']);
      await run(tools.buildah, ['config', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', container]);
      await run(tools.buildah, ['commit', '--quiet', container, tag]);
    } finally {
      await run(tools.buildah, ['rm', container]).catch(() => '');
    }
  }
  return tag;
}

/** The Node 24 binary of bin/node24.mjs's version, from the npm registry (cached). */
export async function nodeBinary(progress: Progress): Promise<string> {
  if (!PLATFORM) throw new Error(`no Node binary package for ${process.arch}`);
  const pkg = `node-${PLATFORM.node}`;
  const dir = join(cacheRoot(), `${pkg}-${NODE_VERSION}`);
  await cached(dir, async () => {
    progress(`fetching ${pkg}@${NODE_VERSION} from the npm registry`);
    const file = (await run('npm', ['pack', '--silent', `${pkg}@${NODE_VERSION}`, '--pack-destination', dir])).trim().split('\n').at(-1) ?? '';
    await run('tar', ['-xzf', join(dir, file), '-C', dir, 'package/bin/node', 'package/LICENSE']);
    rmSync(join(dir, file));
  });
  return join(dir, 'package');
}

/** Packs the repository (`npm pack`, whose prepack builds dist/); returns the tarball's path. */
export async function packRepository(destination: string): Promise<string> {
  mkdirSync(destination, { recursive: true });
  const out = await run('npm', ['pack', '--silent', '--pack-destination', destination], { cwd: ROOT });
  const file = out.trim().split('\n').at(-1) ?? '';
  if (!file.endsWith('.tgz')) throw new Error(`npm pack printed no tarball name: ${out}`);
  return join(destination, file);
}

/**
 * The production dependencies of package-lock.json, installed once per lockfile (cached by its hash);
 * returns the directory holding `node_modules`. Older entries are removed once a newer one exists.
 */
export async function productionDependencies(progress: Progress): Promise<string> {
  const lock = readFileSync(join(ROOT, 'package-lock.json'));
  const key = createHash('sha256').update(lock).update(process.arch).digest('hex').slice(0, 12);
  const dir = join(cacheRoot(), `image-deps-${key}`);
  await cached(dir, async () => {
    progress('installing the production dependencies (npm ci --omit=dev)');
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir });
    // The Temporal core ships a native library per platform (about 30 MB each): keep this one's.
    const releases = join(dir, 'node_modules', '@temporalio', 'core-bridge', 'releases');
    if (PLATFORM && existsSync(releases)) {
      for (const platform of readdirSync(releases)) if (platform !== PLATFORM.core) rmSync(join(releases, platform), { recursive: true, force: true });
    }
  });
  for (const old of readdirSync(cacheRoot()).filter((d) => d.startsWith('image-deps-') && d !== `image-deps-${key}` && !d.endsWith('.lock'))) {
    rmSync(join(cacheRoot(), old), { recursive: true, force: true });
  }
  return dir;
}

/** A copy of `from` at `to` made of hard links (instant, no space) where the filesystem allows, else a copy. */
async function linkTree(from: string, to: string): Promise<void> {
  try {
    await run('cp', ['-al', from, to]);
  } catch {
    rmSync(to, { recursive: true, force: true });
    cpSync(from, to, { recursive: true });
  }
}

/** Builds the image (see the file header). */
export async function buildImage(options: ImageBuildOptions = {}): Promise<ImageBuild> {
  const progress = options.progress ?? (() => {});
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const image = options.tag ?? `localhost/tempered:${version}`;
  const started = performance.now();
  const tools = await debianCommands({ buildah: 'buildah', mmdebstrap: 'mmdebstrap' }, progress);
  const context = mkdtempSync(join(tmpdir(), 'tempered-image-'));
  try {
    const [base, baseSeconds] = await timed(() => ensureBase(tools, progress));
    const [node, nodeSeconds] = await timed(() => nodeBinary(progress));
    cpSync(node, join(context, 'node'), { recursive: true });
    const [tarball, packSeconds] = await timed(async () => {
      if (options.tarball) return options.tarball;
      progress('packing the repository (npm pack: npm run build first)');
      return packRepository(join(context, 'pack'));
    });
    const [, dependenciesSeconds] = await timed(async () => {
      mkdirSync(join(context, 'deps'), { recursive: true });
      await linkTree(join(await productionDependencies(progress), 'node_modules'), join(context, 'deps', 'node_modules'));
    });
    mkdirSync(join(context, 'app'), { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', join(context, 'app'), '--strip-components=1']);
    rmSync(join(context, 'pack'), { recursive: true, force: true });
    progress(`building ${image} over ${base}`);
    const imageId = async () => (await run(tools.buildah, ['images', '--quiet', '--no-trunc', image]).catch(() => '')).trim();
    const previous = await imageId();
    const [, buildSeconds] = await timed(() =>
      run(tools.buildah, ['bud', '--quiet', '--layers', '--pull-never', '-f', CONTAINERFILE, '--build-arg', `BASE_IMAGE=${base}`, '--build-arg', `MALLOC_LIBRARY=${jemallocPath()}`, '-t', image, context]),
    );
    // The image this tag named before is now nameless: remove it, unless a container still uses it.
    if (previous && previous !== (await imageId())) await run(tools.buildah, ['rmi', previous]).catch(() => '');
    const listed = JSON.parse(await run(tools.buildah, ['images', '--json', image])) as { size?: string }[];
    const size = listed[0]?.size ?? 'unknown';
    const total = Math.round((performance.now() - started) / 100) / 10;
    return { image, base, size, timings: { base: baseSeconds, node: nodeSeconds, pack: packSeconds, dependencies: dependenciesSeconds, build: buildSeconds, total } };
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

async function main(args: string[]): Promise<number> {
  const at = args.indexOf('--tarball');
  const result = await buildImage({ ...(at >= 0 && args[at + 1] ? { tarball: args[at + 1] } : {}), progress: (m) => console.error(`[image] ${m}`) });
  const t = result.timings;
  console.log(`built ${result.image} (${result.size}) over ${result.base} in ${t.total} s: base ${t.base} s, node ${t.node} s, pack ${t.pack} s, dependencies ${t.dependencies} s, build ${t.build} s`);
  console.log(`run it:  podman run --rm ${result.image} --help`);
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
