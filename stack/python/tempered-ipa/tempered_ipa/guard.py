"""The guard: what keeps a real IPA running on this machine from touching anything but its simulated host.

IPA is written to own the machine it runs on. Here it shares the machine with the test suite, so a Python
audit hook (PEP 578) sits under every file open and every process start in the IPA process, whatever code
path asks for it:

- a block device may only be opened, or named in a command, if it is one of the host's loop devices or a
  partition of one; anything else is refused with PermissionError (EPERM);
- a tool that acts on the machine rather than on a disk (power, clock, kernel modules, EFI variables, RAID
  assembly, iSCSI, multipath, network set-up, the machine's logs) does not exist on the simulated host: it
  is refused with FileNotFoundError (ENOENT), which IPA already treats as "tool not in the ramdisk", unless
  it resolves into the simulated host's own bin directory (poweroff, reboot, hwclock: see host_tools.py);
- a tool that scans every disk when given none (partprobe, parted -l, blkid, fdisk -l) must name one;
- shell command strings are refused: their arguments cannot be checked;
- writes under /proc and /sys (sysrq, drop_caches, debugfs) are refused.

Every decision about a block device or a command is appended to the guard log (JSON lines) so a test can
show what IPA touched. Audit hooks cannot be removed once added; that is the point.
"""
import errno
import json
import os
import re
import shutil
import stat
import sys
import threading
import time

# Tools that act on the machine itself; the simulated host has none of them.
MACHINE_TOOLS = frozenset({
    'poweroff', 'reboot', 'halt', 'shutdown', 'systemctl', 'init', 'telinit', 'kexec',
    'hwclock', 'timedatectl', 'ntpdate', 'chronyd', 'chronyc',
    'modprobe', 'insmod', 'rmmod', 'depmod',
    'efibootmgr', 'grub-install', 'grub2-install', 'bootctl', 'chroot',
    'mdadm', 'iscsistart', 'iscsiadm', 'multipath', 'multipathd', 'mpathconf',
    'ipmitool', 'lshw', 'dmidecode', 'biosdevname', 'lldpad', 'lldptool',
    'ip', 'ifconfig', 'dhclient', 'dhcpcd', 'iptables', 'nft', 'sysctl', 'vconfig',
    'dmesg', 'journalctl', 'podman', 'docker', 'mokutil', 'sbctl',
})

# Tools that act on every disk of the machine when no device is named.
SCAN_ALL_WITHOUT_DEVICE = frozenset({'partprobe', 'parted', 'blkid', 'fdisk', 'sfdisk', 'sgdisk', 'wipefs'})

SHELLS = frozenset({'sh', 'bash', 'dash', 'zsh', 'busybox'})

# Character devices any process may use.
HARMLESS_DEV = frozenset({'/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom',
                          '/dev/stdin', '/dev/stdout', '/dev/stderr', '/dev/tty'})

_PART_OF_LOOP = re.compile(r'^/dev/(loop\d+)p\d+$')


class Guard:
    """Decides and records; installed once per process by install()."""

    def __init__(self, loops, host_bin, log_path):
        self.loops = frozenset(loops)
        self.host_bin = os.path.realpath(host_bin)
        self._log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()
        self._local = threading.local()

    # --- what a path is -------------------------------------------------------------------------------

    @staticmethod
    def block_kname(path):
        """Kernel name of the block device at `path` ('loop3p1'), or None when it is not a block device."""
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISBLK(st.st_mode):
            return None
        link = f'/sys/dev/block/{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}'
        return os.path.basename(os.path.realpath(link))

    def owns(self, kname):
        """True for the host's loop devices and their partitions."""
        if kname in self.loops:
            return True
        real = os.path.realpath(f'/sys/class/block/{kname}')
        if os.path.exists(os.path.join(real, 'partition')):
            return os.path.basename(os.path.dirname(real)) in self.loops
        return False

    def check_path(self, path):
        """None when `path` is not a device or is the host's; else the refusal reason."""
        kname = self.block_kname(path)
        if kname is not None:
            return None if self.owns(kname) else f'{path} is block device {kname}, not one of the host\'s disks'
        if (path.startswith('/dev/') and os.path.normpath(path) not in HARMLESS_DEV
                and not path.startswith(('/dev/shm/', '/dev/pts/', '/dev/fd/'))):
            if os.path.exists(path) and not stat.S_ISBLK(os.stat(path).st_mode):
                return f'{path} is a device of the machine, not of the simulated host'
            # A partition that is about to appear (IPA waits for it with `test -e`).
            match = _PART_OF_LOOP.match(path)
            if match and match.group(1) in self.loops:
                return None
            if not os.path.exists(path):
                return f'{path} does not exist on the simulated host'
        return None

    # --- commands ------------------------------------------------------------------------------------

    def _resolve(self, executable, argv, env):
        program = executable or (argv[0] if argv else '')
        program = os.fsdecode(program)
        if '/' in program:
            return os.path.realpath(program)
        search = None
        if env is not None:
            search = os.fsdecode(env.get('PATH') or env.get(b'PATH') or '') or None
        found = shutil.which(program, path=search or os.environ.get('PATH'))
        return os.path.realpath(found) if found else program

    def check_command(self, executable, argv, env, cwd=None):
        """Returns (kind, reason, devices): kind None to allow, 'refused' (EPERM) or 'absent' (ENOENT).

        On a refused device, `devices` holds the path that was refused.
        """
        argv = [os.fsdecode(a) for a in argv] if not isinstance(argv, (str, bytes)) else [os.fsdecode(argv)]
        resolved = self._resolve(executable, argv, env)
        # Both the name asked for and the file it resolves to: Debian's alternatives and multi-call binaries
        # hide a tool behind another name (iptables -> xtables-nft-multi, sh -> dash).
        names = {os.path.basename(resolved), os.path.basename(os.fsdecode(executable or argv[0])),
                 os.path.basename(argv[0])}
        name = os.path.basename(os.fsdecode(argv[0])) if argv else os.path.basename(resolved)
        devices = []
        if os.path.dirname(resolved) == self.host_bin:
            return None, None, devices
        if names & SHELLS and '-c' in argv[1:]:
            return 'refused', 'shell command strings cannot be checked on the simulated host', devices
        if names & MACHINE_TOOLS:
            return 'absent', f'{name} acts on the machine, and the simulated host has no such tool', devices
        for arg in argv[1:]:
            for candidate in (arg, arg.rpartition('=')[2]):
                if not candidate.startswith('/'):
                    # A relative path only matters when it names a block device from the command's directory.
                    local = os.path.join(os.fsdecode(cwd) if cwd else os.getcwd(), candidate)
                    if not candidate or self.block_kname(local) is None:
                        continue
                    candidate = local
                reason = self.check_path(candidate)
                if reason:
                    return 'refused', reason, [candidate]
                kname = self.block_kname(candidate)
                if kname:
                    devices.append(kname)
        if (names & SCAN_ALL_WITHOUT_DEVICE and not devices and '--version' not in argv
                and not any(_PART_OF_LOOP.match(a) for a in argv[1:])):
            return 'refused', f'{name} without a device acts on every disk of the machine', devices
        return None, None, devices

    # --- the hook ------------------------------------------------------------------------------------

    def record(self, entry):
        entry['t'] = round(time.time(), 3)
        line = (json.dumps(entry, sort_keys=True) + '\n').encode()
        with self._lock:
            os.write(self._log_fd, line)

    def hook(self, event, args):
        if event not in ('open', 'subprocess.Popen', 'os.posix_spawn', 'os.exec', 'os.system'):
            return
        if getattr(self._local, 'busy', False):
            return
        self._local.busy = True
        try:
            if event == 'open':
                self._on_open(*args[:3])
            elif event == 'os.system':
                self.record({'event': 'exec', 'argv': [os.fsdecode(args[0])], 'decision': 'refused',
                             'reason': 'os.system is not allowed on the simulated host'})
                raise PermissionError(errno.EPERM, 'os.system refused by the Tempered IPA guard')
            else:
                executable, argv = args[0], args[1]
                if event == 'subprocess.Popen':
                    self._on_exec(executable, argv, args[3], args[2])
                else:
                    self._on_exec(executable, argv, args[2])
        finally:
            self._local.busy = False

    def _on_open(self, path, mode, flags):
        if isinstance(path, int) or path is None:
            return
        path = os.path.abspath(os.fsdecode(path))
        writing = (isinstance(mode, str) and any(c in mode for c in 'wax+')) or bool(
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR))
        if writing and (path.startswith('/proc/') or path.startswith('/sys/')):
            self.record({'event': 'open', 'path': path, 'write': True, 'decision': 'refused',
                         'reason': 'writes to the machine\'s /proc and /sys are refused'})
            raise PermissionError(errno.EPERM, f'{path}: writes to /proc and /sys are refused by the Tempered '
                                               'IPA guard')
        if not path.startswith('/dev/') and not writing:
            return
        kname = self.block_kname(path)
        if kname is None and not path.startswith('/dev/'):
            return
        reason = self.check_path(path)
        entry = {'event': 'open', 'path': path, 'device': kname, 'write': writing,
                 'decision': 'refused' if reason else 'allowed'}
        if reason:
            entry['reason'] = reason
        self.record(entry)
        if reason:
            raise PermissionError(errno.EPERM, f'{reason} (refused by the Tempered IPA guard)')

    def _on_exec(self, executable, argv, env, cwd=None):
        kind, reason, devices = self.check_command(executable, argv, env, cwd)
        shown = [os.fsdecode(a) for a in argv] if not isinstance(argv, (str, bytes)) else [os.fsdecode(argv)]
        entry = {'event': 'exec', 'argv': shown, 'devices': devices,
                 'decision': 'allowed' if kind is None else kind}
        if reason:
            entry['reason'] = reason
        self.record(entry)
        if kind == 'absent':
            raise FileNotFoundError(errno.ENOENT, f'{reason} (Tempered IPA guard)', shown[0])
        if kind == 'refused':
            raise PermissionError(errno.EPERM, f'{reason} (refused by the Tempered IPA guard)')


_installed = None


def install(loops, host_bin, log_path):
    """Adds the audit hook for this process (once) and returns the Guard."""
    global _installed
    if _installed is not None:
        return _installed
    guard = Guard(loops, host_bin, log_path)
    sys.addaudithook(guard.hook)
    _installed = guard
    return guard
