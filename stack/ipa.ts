/**
 * The real ironic-python-agent (IPA), installed for simulated hosts that boot the stock deploy ramdisk: a venv
 * with `ironic-python-agent` from PyPI (dependencies pinned by stack/python/ipa-constraints.txt), our plugin
 * package (stack/python/tempered-ipa: the simulated host's hardware manager, the guard and the launcher)
 * installed beside it, and the Debian tools IPA runs for the commands the suite uses. Both Python parts live
 * in the versioned cache; the plugin's entry is keyed by a hash of its sources, so editing it reinstalls only
 * the plugin. sim/agent/ipa-runner.ts runs it; docs/deploy-agent.md explains how and why it is safe.
 */
import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSIONS, cacheRoot, cached, debianCommands, run, type Progress } from './binaries.ts';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** Where the real IPA lives on this machine, and the system tools it needs. */
export interface IpaInstall {
  /** The venv's Python: run `python -m tempered_ipa.launch` with `PYTHONPATH=pluginPath`. */
  python: string;
  /** The directory holding the `tempered_ipa` package and its entry point (put it on PYTHONPATH). */
  pluginPath: string;
  /** Absolute paths of the tools the runner itself calls. */
  tools: { losetup: string; unshare: string };
}

/**
 * The Debian tools IPA 13.0.0 runs for lookup, inventory, write_image (raw and qcow2, config drive),
 * erase_devices(_metadata) and get_partition_uuids on loop devices; missing ones are installed from Debian.
 * `udevadm settle`, `hdparm -I` and `fuser` are called unconditionally (IPA fails without them); `lshw` is not needed
 * because the simulated host's hardware manager answers everything IPA would ask lshw.
 */
const IPA_TOOLS = {
  lsblk: 'util-linux', blkid: 'util-linux', wipefs: 'util-linux', blockdev: 'util-linux',
  blkdiscard: 'util-linux', findmnt: 'util-linux', unshare: 'util-linux', losetup: 'mount',
  partx: 'util-linux', findfs: 'util-linux', sgdisk: 'gdisk', parted: 'parted', partprobe: 'parted',
  'qemu-img': 'qemu-utils', hdparm: 'hdparm', udevadm: 'udev', hexdump: 'bsdextrautils', fuser: 'psmisc',
} as const;

function hashTree(dir: string, hash = createHash('sha256')): ReturnType<typeof createHash> {
  for (const entry of readdirSync(dir).sort()) {
    if (entry === '__pycache__' || entry.endsWith('.egg-info') || entry === 'build') continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) hashTree(path, hash.update(`${entry}/`));
    else hash.update(entry).update(readFileSync(path));
  }
  return hash;
}

/** Installs (once, cached) and returns the real IPA with our plugin and the tools it runs. */
export async function ipaAgent(progress: Progress): Promise<IpaInstall> {
  const v = VERSIONS.ironicPythonAgent;
  const constraints = here('./python/ipa-constraints.txt');
  const pins = createHash('sha256').update(readFileSync(constraints)).digest('hex').slice(0, 10);
  const venv = join(cacheRoot(), `ironic-python-agent-${v}-${pins}`);
  const python = join(venv, 'bin', 'python');
  const tools = await debianCommands(IPA_TOOLS, progress);
  await cached(venv, async () => {
    const system = process.env.PYTHON ?? 'python3';
    await run('creating a Python venv for ironic-python-agent', system, ['-m', 'venv', venv], { progress });
    await run(`installing ironic-python-agent ${v} from PyPI (cold: about 20-60 s)`, python, [
      '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-c', constraints, `ironic-python-agent==${v}`,
      // A setuptools that builds wheels on its own, for installing the plugin below without the network.
      'setuptools',
    ], { progress });
  });

  const source = here('./python/tempered-ipa');
  const plugin = join(cacheRoot(), `tempered-ipa-${v}-${pins}-${hashTree(source).digest('hex').slice(0, 10)}`);
  await cached(plugin, async () => {
    // Build from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    const copy = join(plugin, 'src');
    cpSync(source, copy, { recursive: true });
    await run('installing the simulated host\'s IPA hardware manager', python, [
      '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--no-build-isolation',
      '--no-index', '--target', join(plugin, 'lib'), copy,
    ], { progress });
    rmSync(copy, { recursive: true, force: true });
  });
  return {
    python,
    pluginPath: join(plugin, 'lib'),
    tools: { losetup: tools.losetup, unshare: tools.unshare },
  };
}
