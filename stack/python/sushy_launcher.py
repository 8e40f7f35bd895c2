"""Starts sushy-tools' Redfish emulator with a controllable power delay.

The fake driver applies a power change random.randint(1, 11) seconds after the request (on the next GET).
TEMPERED_SUSHY_POWER_DELAY fixes that delay in seconds ("0": visible on the next GET); unset keeps the stock
random delay, which the benchmarks use to compare with Ironic under realistic power timing.
"""
import os
import sys
import types

from sushy_tools.emulator.resources.systems import fakedriver

_delay = os.environ.get("TEMPERED_SUSHY_POWER_DELAY")
if _delay is not None:
    fakedriver.random = types.SimpleNamespace(randint=lambda low, high: int(_delay))

from sushy_tools.emulator import main  # noqa: E402  (after the patch above)

sys.exit(main.main())
