"""The simulated host's hardware manager for the stock ironic-python-agent.

IPA asks its hardware managers, highest priority first, what the machine has and how to act on it. This one
outranks every manager IPA ships (SERVICE_PROVIDER + 1) and answers from the runner's spec: the disks are
the host's loop devices only, reported with the identities of the host's disks (model, vendor, serial, WWN,
rotational, HCTL), plus one NIC per host MAC, the host's CPUs, memory, vendor and boot mode. Every step
(write_image, erase_devices, erase_devices_metadata, ...) stays IPA's own code, inherited from
GenericHardwareManager; only the inventory it works from is replaced. Asked about any other device, it
raises. The guard (guard.py) enforces the same limit underneath, for code paths that do not ask a manager.
"""
import json
import os
import platform

from ironic_python_agent import errors
from ironic_python_agent import hardware
from ironic_python_agent import utils
from oslo_log import log

from tempered_ipa import spec as host_spec

LOG = log.getLogger(__name__)

MiB = 1024 * 1024


class NotOnSimulatedHost(errors.RESTError):
    """A device IPA asked about is not part of the simulated host."""

    message = 'Not part of the simulated host'

    def __init__(self, details):
        super().__init__(details)


class SimulatedHostHardwareManager(hardware.GenericHardwareManager):
    """Shows IPA the simulated host and nothing else."""

    HARDWARE_MANAGER_NAME = 'tempered_simulated_host'
    HARDWARE_MANAGER_VERSION = '1.0'

    def __init__(self):
        super().__init__()
        self.spec = host_spec.load()
        self.disks = {d['device']: d for d in self.spec['disks']}
        self.nics = {n['name']: n for n in self.spec['nics']}

    def evaluate_hardware_support(self):
        return hardware.HardwareSupport.SERVICE_PROVIDER + 1

    def initialize(self):
        # GenericHardwareManager.initialize assembles RAID, loads kernel modules and waits for the machine's
        # disks; the simulated host has its disks attached before IPA starts, so only check they are there.
        first = hardware.get_managers()[0]
        if first is not self:
            raise RuntimeError(f'{first.__class__.__name__} outranks the simulated host\'s hardware manager; '
                               'IPA would see the machine instead of the host')
        for device in self.disks:
            if not os.path.exists(f'/sys/class/block/{os.path.basename(device)}'):
                raise NotOnSimulatedHost(f'{device} is not attached')

    # --- disks ---------------------------------------------------------------------------------------

    def _own(self, name):
        base = name
        if name not in self.disks:
            for device in self.disks:
                if name.startswith(device + 'p') and name[len(device) + 1:].isdigit():
                    base = device
                    break
            else:
                raise NotOnSimulatedHost(f'{name} is not one of the simulated host\'s disks '
                                         f'({", ".join(sorted(self.disks))})')
        return self.disks[base]

    def _lsblk(self):
        columns = utils.LSBLK_COLUMNS
        out = utils.execute('lsblk', '-bia', '--json', '-o' + ','.join(columns), *sorted(self.disks),
                            check_exit_code=[0])[0]
        return json.loads(out)['blockdevices']

    def list_block_devices(self, include_partitions=False, all_serial_and_wwn=False):
        devices = []
        partitions = []
        for row in self._lsblk():
            name = '/dev/' + row['kname']
            disk = self._own(name)
            serial, wwn = disk.get('serial') or None, disk.get('wwn') or None
            devices.append(hardware.BlockDevice(
                name=name,
                model=disk.get('model') or '',
                size=int(row['size'] or 0),
                rotational=bool(disk.get('rotational')),
                wwn=[wwn] if all_serial_and_wwn else wwn,
                serial=[serial] if all_serial_and_wwn else serial,
                vendor=disk.get('vendor') or None,
                hctl=disk.get('hctl') or None,
                uuid=row.get('uuid'),
                partuuid=row.get('partuuid'),
                logical_sectors=row.get('log-sec'),
                physical_sectors=row.get('phy-sec'),
                tran=disk.get('tran') or None))
            for child in row.get('children') or []:
                if child.get('type') != 'part':
                    continue
                partitions.append(hardware.BlockDevice(
                    name='/dev/' + child['kname'],
                    model='',
                    size=int(child['size'] or 0),
                    rotational=bool(disk.get('rotational')),
                    uuid=child.get('uuid'),
                    partuuid=child.get('partuuid'),
                    logical_sectors=child.get('log-sec'),
                    physical_sectors=child.get('phy-sec')))
        if include_partitions:
            devices.extend(partitions)
        return hardware.filter_devices(devices)

    def erase_block_device(self, node, block_device):
        self._own(block_device.name)
        return super().erase_block_device(node, block_device)

    def erase_pstore(self, node, ports):
        # pstore belongs to the machine's kernel; the simulated host keeps no crash records.
        LOG.info('The simulated host has no pstore to erase')

    # --- everything else the inventory holds ---------------------------------------------------------

    def list_network_interfaces(self):
        return [self.get_interface_info(name) for name in self.nics]

    def get_interface_info(self, interface_name):
        nic = self.nics.get(interface_name)
        if nic is None:
            raise NotOnSimulatedHost(f'interface {interface_name} is not one of the simulated host\'s NICs')
        return hardware.NetworkInterface(
            nic['name'], nic['mac'].lower(),
            ipv4_address=nic.get('ipv4'),
            has_carrier=True,
            speed_mbps=nic.get('speedMbps', 10000),
            driver='tempered-sim')

    def collect_lldp_data(self, interface_names=None):
        return {}

    def get_cpus(self):
        return hardware.CPU(
            model_name=self.spec.get('cpuModel', 'Tempered simulated CPU'),
            frequency=str(self.spec.get('cpuMHz', '2400.0000')),
            count=int(self.spec['cpus']),
            architecture=platform.machine(),
            flags=[],
            socket_count=1)

    def get_memory(self):
        mib = int(self.spec['memoryMiB'])
        return hardware.Memory(total=mib * MiB, physical_mb=mib)

    def get_bmc_address(self):
        return None

    def get_bmc_v6address(self):
        return None

    def get_bmc_mac(self):
        raise errors.IncompatibleHardwareMethodError()

    def get_system_vendor_info(self):
        return hardware.SystemVendorInfo(
            product_name=self.spec.get('productName', 'Tempered simulated host'),
            serial_number=self.spec.get('systemSerial', self.spec['hostId']),
            manufacturer=self.spec.get('manufacturer', 'Tempered'),
            firmware=hardware.SystemFirmware(vendor='Tempered', version='1.0', build_date=''))

    def get_boot_info(self):
        mode = 'uefi' if self.spec['bootMode'] == 'UEFI' else 'bios'
        return hardware.BootInfo(current_boot_mode=mode, pxe_interface=utils.get_agent_params().get('BOOTIF'))

    def get_usb_devices(self):
        return []

    def list_hardware_info(self):
        # The base class builds the inventory from the methods above; GenericHardwareManager's version would
        # first run lshw on the machine.
        info = hardware.HardwareManager.list_hardware_info(self)
        info['hostname'] = self.spec.get('hostname', 'localhost')
        return info

    def collect_system_logs(self, io_dict, file_list):
        import io
        io_dict['tempered-simulated-host.json'] = io.BytesIO(json.dumps(self.spec, indent=2).encode())
        try:
            out = utils.execute('lsblk', '--all', '-o' + ','.join(utils.LSBLK_COLUMNS), *sorted(self.disks),
                                binary=True, log_stdout=False)[0]
            io_dict['lsblk-simulated-host'] = io.BytesIO(out)
        except Exception as e:  # logs are best effort, as in IPA's own collector
            LOG.warning('Could not list the simulated host\'s disks for the logs: %s', e)
