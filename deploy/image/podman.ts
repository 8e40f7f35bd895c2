/**
 * Running Tempered's image with podman on the machines this project runs on, locked down as the manifests
 * run it (non-root, read-only root, no capabilities, no privilege escalation, /tmp the only writable path).
 * Two adjustments these VMs need, found by trying (docs/local-stack.md, "Containers"):
 * - cgroups are hybrid (v1 controllers plus a v2 hierarchy that holds `hugetlb`); Debian's crun 1.8 refuses
 *   that ("cgroups in hybrid mode not supported"), runc accepts it with the cgroupfs manager;
 * - the VM grants root no CAP_SYS_RESOURCE, so podman's default rlimits (nofile 1048576) cannot be set:
 *   the container gets the machine's own open-files limit and a process limit below podman's.
 */
import { readFileSync } from 'node:fs';
import { debianCommands, type Progress } from '../../stack/binaries.ts';

export interface Podman {
  podman: string;
  /** Global flags (before the subcommand): the runtime and cgroup manager this machine needs. */
  global: string[];
  /** `podman run` flags: the locked-down security settings and the rlimits this machine allows. */
  run: string[];
}

/** True when some controller lives in the v2 hierarchy of a hybrid cgroup layout (crun cannot run there). */
export function hybridCgroups(readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): boolean {
  try {
    return readFile('/sys/fs/cgroup/unified/cgroup.controllers').trim() !== '';
  } catch {
    return false;
  }
}

/** The hard open-files limit of this process (what a container may be given without CAP_SYS_RESOURCE). */
export function openFilesLimit(limits: string = readFileSync('/proc/self/limits', 'utf8')): number {
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
  const hard = Number(line?.trim().split(/\s+/)[4]);
  return Number.isFinite(hard) && hard > 0 ? hard : 1024;
}

/** podman and the flags to run the image here (see the file header); installs podman and runc from Debian. */
export async function podmanForThisMachine(progress: Progress): Promise<Podman> {
  const tools = await debianCommands({ podman: 'podman', runc: 'runc' }, progress);
  const files = openFilesLimit();
  return {
    podman: tools.podman,
    global: hybridCgroups() ? ['--runtime', tools.runc, '--cgroup-manager', 'cgroupfs'] : [],
    run: [
      '--read-only',
      '--tmpfs', '/tmp:rw,size=64m,mode=1777',
      '--cap-drop', 'ALL',
      '--security-opt', 'no-new-privileges',
      '--ulimit', `nofile=${files}:${files}`,
      '--ulimit', 'nproc=4096:4096',
    ],
  };
}
