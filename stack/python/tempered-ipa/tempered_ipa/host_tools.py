"""The simulated host's own poweroff, reboot and hwclock, first on IPA's PATH (see launch.py).

`poweroff` is what IPA's standby.power_off runs: here it asks the runner, over the control socket named in
the spec, to power the simulated host off (the runner calls the host's powerOff(), so the BMC sees it).
`reboot` fails: the runner has no way to reset the host, and a failed reboot is what IPA reports honestly.
`hwclock` succeeds without doing anything: the simulated host keeps no hardware clock.
"""
import socket
import sys

from tempered_ipa import spec as host_spec


def _ask_runner(verb):
    path = host_spec.load()['controlSocket']
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(f'{verb}\n'.encode())
        reply = s.recv(256).decode().strip()
    if reply != 'ok':
        raise SystemExit(f'{verb}: the runner answered {reply!r}')


def main(argv):
    tool = argv[1] if len(argv) > 1 else ''
    if tool == 'poweroff':
        _ask_runner('poweroff')
        print('simulated host: powering off', file=sys.stderr)
        return 0
    if tool == 'reboot':
        print('simulated host: the ramdisk runner cannot reboot the host', file=sys.stderr)
        return 1
    if tool == 'hwclock':
        return 0
    print(f'simulated host: no tool {tool!r}', file=sys.stderr)
    return 127


if __name__ == '__main__':
    sys.exit(main(sys.argv))
