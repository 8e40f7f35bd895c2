"""Runs the stock ironic-python-agent as the deploy ramdisk of a Tempered simulated host.

`launch` starts it in a private mount namespace with the booted kernel command line, `guard` refuses any
block device or machine-level tool that is not the simulated host's, and `manager` is the hardware manager
that shows IPA only the host's loop devices, NIC, CPUs and memory.
"""
