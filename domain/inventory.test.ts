/** The agent's inventory as Metal3 HardwareDetails (BMO's mapping), LLDP parsing, and the merge with the BMC's. */
import { describe, expect, it } from 'vitest';
import { hardwareDetailsFromInventory, mergeHardwareDetails, parseLldp } from './inventory.ts';

/** An inventory as IPA 13 serializes it (ipa-protocol.md §6), trimmed to what the mapping reads. */
const INVENTORY = {
  cpu: { model_name: 'AMD EPYC 7302P', frequency: '3000.4500', count: 32, architecture: 'x86_64', flags: ['sse2', 'avx2', 'aes'], socket_count: 1 },
  memory: { total: 134217728000, physical_mb: 131072 },
  disks: [
    { name: '/dev/nvme0n1', model: 'SAMSUNG MZQL2960HCJR', size: 960197124096, rotational: false, wwn: 'eui.3634', serial: 'S64F', vendor: null, hctl: null, by_path: '/dev/disk/by-path/pci-0000:c1:00.0-nvme-1', tran: 'nvme' },
    { name: '/dev/sda', model: 'ST4000NM', size: 4000787030016, rotational: true, serial: 'ZC1', vendor: 'ATA', hctl: '0:0:0:0', by_path: null },
    { name: '/dev/sdb', model: 'MZ7KH', size: 480103981056, rotational: false, serial: 'SSD1', vendor: 'ATA', hctl: '1:0:0:0' },
  ],
  interfaces: [
    {
      name: 'eno1', mac_address: 'B8:CE:F6:01:02:03', ipv4_address: '192.0.2.10', ipv6_address: 'fd00::10%eno1', has_carrier: true, vendor: '0x15b3', product: '0x1017', speed_mbps: 25000, pci_address: '0000:41:00.0', driver: 'mlx5_core',
      // chassis MAC, port name "Ethernet1/7", system name "leaf-1", PVID 100, VLAN 200 named "prov"
      lldp: [[1, '04b8cef6aabbcc'], [2, '0545746865726e6574312f37'], [5, '6c6561662d31'], [127, '0080c2010064'], [127, '0080c20300c80470726f76']],
    },
    { name: 'eno2', mac_address: 'b8:ce:f6:01:02:04', ipv4_address: null, ipv6_address: null, vendor: '0x8086', product: '0x1572', speed_mbps: 10000, pci_address: '0000:42:00.0' },
  ],
  system_vendor: { product_name: 'PowerEdge R6525', serial_number: 'SVC123', manufacturer: 'Dell Inc.', firmware: { vendor: 'Dell Inc.', version: '2.14.1', build_date: '2024-01-01' } },
  boot: { current_boot_mode: 'uefi', pxe_interface: '01-b8-ce-f6-01-02-03' },
  hostname: 'localhost',
};

describe('inventory to HardwareDetails', () => {
  const hw = hardwareDetailsFromInventory(INVENTORY);

  it('maps system, firmware, memory, CPU and hostname as BMO does', () => {
    expect(hw.systemVendor).toEqual({ manufacturer: 'Dell Inc.', productName: 'PowerEdge R6525', serialNumber: 'SVC123' });
    expect(hw.firmware).toEqual({ bios: { vendor: 'Dell Inc.', version: '2.14.1', date: '2024-01-01' } });
    expect(hw.ramMebibytes).toBe(131072);
    expect(hw.cpu).toEqual({ arch: 'x86_64', model: 'AMD EPYC 7302P', clockMegahertz: 3000, count: 32, flags: ['aes', 'avx2', 'sse2'] });
    expect(hw.hostname).toBe('localhost');
  });

  it('names disks by path when there is one, and types them HDD, NVME or SSD', () => {
    expect(hw.storage).toEqual([
      { name: '/dev/disk/by-path/pci-0000:c1:00.0-nvme-1', alternateNames: ['/dev/nvme0n1', '/dev/disk/by-path/pci-0000:c1:00.0-nvme-1'], rotational: false, type: 'NVME', sizeBytes: 960197124096, model: 'SAMSUNG MZQL2960HCJR', serialNumber: 'S64F', wwn: 'eui.3634' },
      { name: '/dev/sda', alternateNames: ['/dev/sda'], rotational: true, type: 'HDD', sizeBytes: 4000787030016, vendor: 'ATA', model: 'ST4000NM', serialNumber: 'ZC1', hctl: '0:0:0:0' },
      { name: '/dev/sdb', alternateNames: ['/dev/sdb'], rotational: false, type: 'SSD', sizeBytes: 480103981056, vendor: 'ATA', model: 'MZ7KH', serialNumber: 'SSD1', hctl: '1:0:0:0' },
    ]);
  });

  it('gives one NIC per address (two for IPv4 and IPv6, one with none), the PXE flag and LLDP', () => {
    expect(hw.nics).toEqual([
      { name: 'eno1', model: '0x15b3 0x1017', mac: 'b8:ce:f6:01:02:03', ip: '192.0.2.10', speedGbps: 25, pxe: true, pciAddress: '0000:41:00.0', vlanId: 100, vlans: [{ id: 200, name: 'prov' }], lldp: { switchID: 'b8:ce:f6:aa:bb:cc', portID: 'Ethernet1/7', switchSystemName: 'leaf-1' } },
      { name: 'eno1', model: '0x15b3 0x1017', mac: 'b8:ce:f6:01:02:03', ip: 'fd00::10', speedGbps: 25, pxe: true, pciAddress: '0000:41:00.0', vlanId: 100, vlans: [{ id: 200, name: 'prov' }], lldp: { switchID: 'b8:ce:f6:aa:bb:cc', portID: 'Ethernet1/7', switchSystemName: 'leaf-1' } },
      { name: 'eno2', model: '0x8086 0x1572', mac: 'b8:ce:f6:01:02:04', speedGbps: 10, pxe: false, pciAddress: '0000:42:00.0' },
    ]);
  });

  it('takes the boot interface from plugin data when the inventory has none, and tolerates a sparse inventory', () => {
    const sparse = hardwareDetailsFromInventory({ interfaces: [{ name: 'eth0', mac_address: '52:54:00:00:00:01' }] }, { boot_interface: '01-52-54-00-00-00-01' });
    expect(sparse.nics).toEqual([{ name: 'eth0', model: '', mac: '52:54:00:00:00:01', speedGbps: 0, pxe: true }]);
    expect(sparse.storage).toEqual([]);
  });
});

describe('LLDP', () => {
  it('ignores malformed TLVs and other organisations', () => {
    expect(parseLldp([[5, 'zz'], [127, '00120f0105'], ['x', '00']])).toBeUndefined();
    expect(parseLldp(null)).toBeUndefined();
  });
});

describe('merge with the BMC\'s view', () => {
  it('keeps the agent\'s values and fills its gaps from the BMC, disk by serial and NIC by MAC', () => {
    const agent = hardwareDetailsFromInventory({ ...INVENTORY, system_vendor: { manufacturer: 'Dell Inc.', firmware: {} }, interfaces: [{ name: 'eno2', mac_address: 'b8:ce:f6:01:02:04' }] });
    const merged = mergeHardwareDetails(agent, {
      systemVendor: { manufacturer: 'DELL', productName: 'R6525', serialNumber: 'SVC123' },
      firmware: { bios: { vendor: 'Dell', version: '2.14.1' } },
      storage: [{ name: 'Disk.Bay.0', serialNumber: 'ZC1', wwn: 'naa.5000' }, { name: 'Disk.Bay.9', serialNumber: 'ONLY-BMC' }],
      nics: [{ mac: 'B8:CE:F6:01:02:04', model: 'Intel X710', speedGbps: 10, pciAddress: '0000:42:00.0' }],
    });
    expect(merged.systemVendor).toEqual({ manufacturer: 'Dell Inc.', productName: 'R6525', serialNumber: 'SVC123' });
    expect(merged.firmware).toEqual({ bios: { vendor: 'Dell', version: '2.14.1' } });
    expect(merged.storage?.find((d) => d.serialNumber === 'ZC1')).toMatchObject({ name: '/dev/sda', wwn: 'naa.5000' });
    expect(merged.storage?.map((d) => d.serialNumber)).not.toContain('ONLY-BMC');
    expect(merged.nics).toEqual([{ name: 'eno2', model: 'Intel X710', mac: 'b8:ce:f6:01:02:04', speedGbps: 10, pxe: false, pciAddress: '0000:42:00.0' }]);
  });
});
