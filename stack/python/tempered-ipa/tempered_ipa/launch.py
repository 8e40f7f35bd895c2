"""Starts the stock ironic-python-agent as the deploy ramdisk of one simulated host.

Run as `unshare --mount --propagation private --pid --fork --mount-proc -- python -m tempered_ipa.launch SPEC`
with TEMPERED_IPA_SPEC set to the same file (sim/agent/ipa-runner.ts does both). Inside that private mount
namespace, before IPA is imported:

- the booted kernel command line is bind-mounted over /proc/cmdline, so IPA reads its parameters
  (ipa-api-url, ipa-agent-token, BOOTIF, ...) exactly as in a ramdisk, through its own get_agent_params();
- the machine's system directories (/etc, /usr, /var, /tmp, ...) become read-only, but for this boot's own
  directory (IPA's TMPDIR);
- /run/ironic-python-agent (auto-TLS key and certificate) and /var/log (what IPA's log collector tars up)
  become private tmpfs, so hosts running side by side neither share keys nor ship the machine's logs;
- the simulated host's own tools (poweroff, reboot, hwclock; host_tools.py) go first on PATH;
- the guard's audit hook is installed.

Then IPA's own console-script entry point runs with the runner's command-line options (listen and advertise
address). Nothing in IPA is patched.
"""
import os
import signal
import subprocess
import sys

from tempered_ipa import guard
from tempered_ipa import spec as host_spec

HOST_TOOLS = ('poweroff', 'reboot', 'hwclock')
READ_ONLY = ('/etc', '/usr', '/boot', '/root', '/home', '/opt', '/srv', '/var', '/tmp')


def _fail(message):
    print(f'tempered-ipa: {message}', file=sys.stderr, flush=True)
    sys.exit(2)


def _mount(*args):
    subprocess.run(['mount', *args], check=True)


def _private_namespace(spec):
    """Refuses to go on in the runner's mount namespace: the mounts below would hit the whole machine."""
    ours = os.readlink('/proc/self/ns/mnt')
    if ours == spec['runnerMountNamespace']:
        _fail('not in a private mount namespace; start with `unshare --mount --propagation private`')


def _host_bin(state_dir):
    """Writes the simulated host's tools; each runs `python -m tempered_ipa.host_tools <name>`."""
    bin_dir = os.path.join(state_dir, 'host-bin')
    os.makedirs(bin_dir, exist_ok=True)
    for name in HOST_TOOLS:
        path = os.path.join(bin_dir, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(f'#!/bin/sh\nexec "{sys.executable}" -m tempered_ipa.host_tools {name} "$@"\n')
        os.chmod(path, 0o755)
    return bin_dir


def main(argv):
    if len(argv) != 2:
        _fail('usage: python -m tempered_ipa.launch SPEC.json')
    os.environ[host_spec.ENV] = os.path.abspath(argv[1])
    spec = host_spec.load()
    _private_namespace(spec)

    _mount('--bind', spec['cmdlineFile'], '/proc/cmdline')
    # The machine's system directories are read-only for IPA (it would write /etc in rescue mode, for one);
    # only this boot's own directory stays writable.
    for system in READ_ONLY:
        if os.path.isdir(system) and not os.path.islink(system):
            _mount('--bind', system, system)
            _mount('-o', 'remount,bind,ro', system)
    _mount('--bind', spec['stateDir'], spec['stateDir'])
    _mount('-o', 'remount,bind,rw', spec['stateDir'])
    for private in ('/run/ironic-python-agent', '/var/log'):
        os.makedirs(private, exist_ok=True)
        _mount('-t', 'tmpfs', '-o', 'mode=0755,size=64m', 'tempered-ipa', private)

    bin_dir = _host_bin(spec['stateDir'])
    os.environ['PATH'] = bin_dir + os.pathsep + os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')
    guard.install(host_spec.loop_names(spec), bin_dir, spec['guardLog'])

    # IPA runs as PID 1 of its PID namespace, which the kernel shields from signals it does not handle: without
    # this, the runner's SIGTERM (the host losing power) would be ignored until the SIGKILL that follows.
    signal.signal(signal.SIGTERM, lambda signum, _frame: os._exit(128 + signum))

    sys.argv = ['ironic-python-agent', *spec.get('ipaArgs', [])]
    from ironic_python_agent.cmd import agent  # reads /proc/cmdline at import
    agent.run()


if __name__ == '__main__':
    main(sys.argv)
