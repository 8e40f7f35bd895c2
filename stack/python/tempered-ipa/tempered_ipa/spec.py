"""The simulated host a launched IPA stands for, as the Node runner wrote it (sim/agent/ipa-runner.ts).

The launcher, the guard and the hardware manager all read this one file, named by TEMPERED_IPA_SPEC, so the
devices IPA may touch and the devices it is shown cannot disagree.
"""
import functools
import json
import os

ENV = 'TEMPERED_IPA_SPEC'


class SpecError(RuntimeError):
    """The simulated host's description is missing or malformed."""


@functools.lru_cache(maxsize=1)
def load():
    """Returns the spec dict; raises SpecError when TEMPERED_IPA_SPEC is unset or the file is wrong."""
    path = os.environ.get(ENV)
    if not path:
        raise SpecError(f'{ENV} is not set: this IPA is not running for a simulated host; '
                        'start it through tempered_ipa.launch')
    with open(path, encoding='utf-8') as f:
        spec = json.load(f)
    for key in ('hostId', 'disks', 'nics', 'cpus', 'memoryMiB', 'bootMode', 'stateDir', 'runnerMountNamespace'):
        if key not in spec:
            raise SpecError(f'{path}: missing "{key}"')
    for disk in spec['disks']:
        device = disk.get('device', '')
        if not (device.startswith('/dev/loop') and device[len('/dev/loop'):].isdigit()):
            raise SpecError(f'{path}: disk device {device!r} is not a loop device; '
                            'the runner only hands IPA loop devices')
    return spec


def loop_names(spec):
    """Kernel names ('loop3', ...) of the host's disks."""
    return frozenset(os.path.basename(d['device']) for d in spec['disks'])
