/**
 * The hardware inventory the simulated agent reports, in the shapes of IPA's `list_hardware_info()` (keys and
 * types as Ironic, gophercloud and Metal3's HardwareData mapping read them: `cpu.frequency` a string,
 * `disks[].size` bytes, `memory.physical_mb`), built from the host's BMC facts and its disks, so out-of-band and
 * in-band inspection describe the same machine.
 */
import type { BlockDevice } from '../../domain/root-device-hints.ts';
import type { RamdiskBoot, SimDisk } from './runner.ts';
import { type MdDevice, mdInventoryDisk } from './software-raid.ts';

/** What the BMC's mockup says about the machine beyond `RamdiskBoot.host`. */
export interface HostFacts {
  manufacturer: string;
  productName: string;
  serialNumber: string;
  biosVendor: string;
  biosVersion: string;
  cpuModel: string;
  /** Maximum CPU speed in MHz, or null when the mockup does not say. */
  cpuMHz: number | null;
  architecture: string;
}

/** Facts used when a mockup lacks them. */
export const UNKNOWN_FACTS: HostFacts = {
  manufacturer: '',
  productName: '',
  serialNumber: '',
  biosVendor: '',
  biosVersion: '',
  cpuModel: '',
  cpuMHz: null,
  architecture: 'x86_64',
};

/** One disk as IPA's `BlockDevice` serializes it. */
export function inventoryDisk(disk: SimDisk): BlockDevice & { logical_sectors: number; physical_sectors: number } {
  const nvme = disk.name.startsWith('/dev/nvme');
  return {
    name: disk.name,
    model: disk.model,
    size: disk.sizeBytes,
    rotational: disk.rotational,
    wwn: disk.wwn ?? null,
    serial: disk.serial,
    vendor: disk.vendor,
    wwn_with_extension: disk.wwn ?? null,
    wwn_vendor_extension: null,
    hctl: disk.hctl ?? null,
    by_path: nvme
      ? `/dev/disk/by-path/pci-0000:${(0x41 + Number(disk.name.slice(9, -2))).toString(16)}:00.0-nvme-1`
      : `/dev/disk/by-path/pci-0000:00:17.0-ata-${Number(disk.hctl?.split(':')[0] ?? 0) + 1}`,
    logical_sectors: 512,
    physical_sectors: 512,
    tran: nvme ? 'nvme' : 'sata',
  };
}

/** The inventory (`inventory` of the inspection callback). */
export function buildInventory(boot: RamdiskBoot, facts: HostFacts, mdDevices: readonly MdDevice[] = []): Record<string, unknown> {
  const bootif = boot.params['BOOTIF'];
  return {
    interfaces: boot.host.macs.map((mac, index) => ({
      name: `eno${index + 1}`,
      mac_address: mac.toLowerCase(),
      ipv4_address: hostIpv4(boot.host.id, index),
      ipv6_address: null,
      has_carrier: true,
      lldp: null,
      vendor: '0x8086',
      product: '0x1572',
      client_id: null,
      biosdevname: null,
      speed_mbps: 10000,
      pci_address: `0000:${(0x18 + index).toString(16).padStart(2, '0')}:00.0`,
      driver: 'i40e',
    })),
    cpu: {
      model_name: facts.cpuModel.trim(),
      frequency: facts.cpuMHz === null ? '' : facts.cpuMHz.toFixed(4),
      count: boot.host.cpus,
      architecture: facts.architecture,
      flags: [
        'fpu',
        'vme',
        'de',
        'pse',
        'tsc',
        'msr',
        'pae',
        'mce',
        'cx8',
        'apic',
        'sse',
        'sse2',
        'ht',
        'lm',
        'vmx',
        'aes',
        'avx',
        'avx2',
      ],
      socket_count: 1,
    },
    disks: [...boot.disks.map(inventoryDisk), ...mdDevices.map(mdInventoryDisk)],
    memory: { total: boot.host.memoryMiB * 1024 * 1024, physical_mb: boot.host.memoryMiB },
    bmc_address: null,
    bmc_v6address: null,
    system_vendor: {
      product_name: facts.productName,
      serial_number: facts.serialNumber,
      manufacturer: facts.manufacturer,
      firmware: { vendor: facts.biosVendor, version: facts.biosVersion, build_date: '' },
    },
    boot: { current_boot_mode: boot.bootMode === 'UEFI' ? 'uefi' : 'bios', pxe_interface: bootif ?? null },
    hostname: 'localhost',
  };
}

/** The IPv4 address a simulated host's NIC gets (DHCP, in the simulation): the ramdisk and the OS agree. */
export function hostIpv4(hostId: string, nicIndex: number): string {
  return `192.0.2.${((hashOf(hostId) + nicIndex) % 250) + 2}`;
}

function hashOf(text: string): number {
  let hash = 0;
  for (const char of text) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash;
}
