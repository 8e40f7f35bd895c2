import { describe, expect, it } from 'vitest';
import { normaliseInventory, type RawInventory } from './inventory.ts';

function raw(overrides: Partial<RawInventory>): RawInventory {
  return {
    root: { Vendor: 'Contoso', RedfishVersion: '1.11.0' },
    systemPath: '/redfish/v1/Systems/1',
    system: { Id: '1', PowerState: 'On' },
    managerPath: undefined,
    manager: undefined,
    processors: undefined,
    memory: undefined,
    nics: undefined,
    drives: undefined,
    simpleStorage: undefined,
    firmwareInventory: undefined,
    bios: undefined,
    warnings: [],
    ...overrides,
  };
}

describe('normaliseInventory', () => {
  it('maps a full system to HardwareDetails', () => {
    const inv = normaliseInventory(raw({
      system: { Id: '1', Manufacturer: 'Contoso', Model: 'R740', SerialNumber: 'SN1', SKU: 'TAG1', BiosVersion: '2.4.1', PowerState: 'On', HostName: 'web1', MemorySummary: { TotalSystemMemoryGiB: 999 } },
      managerPath: '/redfish/v1/Managers/BMC',
      manager: { Id: 'BMC', FirmwareVersion: '5.10', Model: 'BMC-X' },
      processors: [
        { Id: 'CPU1', ProcessorType: 'CPU', InstructionSet: 'x86-64', Model: 'Xeon 6230', MaxSpeedMHz: 3900, TotalCores: 20, TotalThreads: 40 },
        { Id: 'CPU2', ProcessorType: 'CPU', InstructionSet: 'x86-64', Model: 'Xeon 6230', MaxSpeedMHz: 3900, TotalCores: 20, TotalThreads: 40 },
        { Id: 'GPU1', ProcessorType: 'GPU', TotalThreads: 5000 },
        { Id: 'CPU3', Status: { State: 'Absent' }, TotalThreads: 40 },
      ],
      memory: [{ CapacityMiB: 32768 }, { CapacityMiB: 32768 }, { CapacityMiB: 0, Status: { State: 'Absent' } }],
      nics: [
        { Id: 'NIC.1', MACAddress: 'AA:BB:CC:00:00:01', SpeedMbps: 25000, IPv4Addresses: [{ Address: '10.1.1.5' }], Status: { State: 'Enabled' } },
        { Id: 'NIC.2', PermanentMACAddress: 'aa:bb:cc:00:00:02', SpeedMbps: 1000, IPv6Addresses: [{ Address: 'fe80::1' }, { Address: '2001:db8::5' }] },
        { Id: 'NIC.3', Status: { State: 'Absent' }, MACAddress: 'aa:bb:cc:00:00:03' },
        { Id: 'NIC.4' },
      ],
      drives: [
        { Id: 'Disk.0', CapacityBytes: 960_000_000_000, MediaType: 'SSD', Protocol: 'SATA', Manufacturer: 'Intel', Model: 'S4510', SerialNumber: 'D0', Identifiers: [{ DurableNameFormat: 'NAA', DurableName: '55cd2e404c1a2b3c' }] },
        { Id: 'Disk.1', CapacityBytes: 4_000_000_000_000, MediaType: 'HDD', RotationSpeedRPM: 7200, Protocol: 'SAS' },
        { Id: 'nvme0', CapacityBytes: 1_600_000_000_000, MediaType: 'SSD', Protocol: 'NVMe' },
        { Id: 'Bay.9', Status: { State: 'Absent' } },
      ],
      firmwareInventory: [{ Id: 'BIOS', Name: 'System BIOS', Version: '2.4.1', ReleaseDate: '2024-01-02T00:00:00Z', Manufacturer: 'Contoso', Updateable: true, '@odata.id': '/redfish/v1/UpdateService/FirmwareInventory/BIOS' }, { Id: 'NIC.1', Version: '22.5' }],
      bios: { Attributes: { BootMode: 'Uefi' } },
    }));
    expect(inv.hardware).toEqual({
      systemVendor: { manufacturer: 'Contoso', productName: 'R740', serialNumber: 'SN1' },
      firmware: { bios: { date: '2024-01-02T00:00:00Z', vendor: 'Contoso', version: '2.4.1' } },
      // Ironic's Redfish inspection: MemorySummary.TotalSystemMemoryGiB wins over the DIMMs listed.
      ramMebibytes: 999 * 1024,
      nics: [
        { name: 'NIC.1', model: '', mac: 'aa:bb:cc:00:00:01', ip: '10.1.1.5', speedGbps: 25, vlanId: 0, pxe: false },
        { name: 'NIC.2', model: '', mac: 'aa:bb:cc:00:00:02', ip: '2001:db8::5', speedGbps: 1, vlanId: 0, pxe: false },
      ],
      storage: [
        { name: 'Disk.0', rotational: false, type: 'SSD', sizeBytes: 960_000_000_000, vendor: 'Intel', model: 'S4510', serialNumber: 'D0', wwn: '55cd2e404c1a2b3c' },
        { name: 'Disk.1', rotational: true, type: 'HDD', sizeBytes: 4_000_000_000_000, vendor: '', model: '', serialNumber: '' },
        { name: 'nvme0', rotational: false, type: 'NVME', sizeBytes: 1_600_000_000_000, vendor: '', model: '', serialNumber: '' },
      ],
      cpu: { arch: 'x86_64', model: 'Xeon 6230', clockMegahertz: 3900, flags: [], count: 80 },
      hostname: 'web1',
    });
    expect(inv.firmware.map((f) => [f.component, f.version])).toEqual([['bios', '2.4.1'], ['bmc', '5.10'], ['BIOS', '2.4.1'], ['NIC.1', '22.5']]);
    expect(inv.manager).toMatchObject({ id: 'BMC', firmwareVersion: '5.10', vendor: 'Contoso', redfishVersion: '1.11.0' });
    expect(inv.biosAttributes).toEqual({ BootMode: 'Uefi' });
  });

  it('sums the DIMMs only when MemorySummary gives no total', () => {
    const memory = [{ CapacityMiB: 32768 }, { CapacityMiB: 16384 }, { CapacityMiB: 8192, Status: { State: 'Absent' } }];
    expect(normaliseInventory(raw({ memory })).hardware.ramMebibytes).toBe(49152);
    expect(normaliseInventory(raw({ memory, system: { MemorySummary: { TotalSystemMemoryGiB: 0 } } })).hardware.ramMebibytes).toBe(49152);
    expect(normaliseInventory(raw({ memory, system: { MemorySummary: { TotalSystemMemoryGiB: 1.5 } } })).hardware.ramMebibytes).toBe(1536);
  });

  it('counts logical CPUs: the TotalThreads of present CPUs, as sushy does', () => {
    const processors = [
      { ProcessorType: 'CPU', TotalCores: 8, TotalThreads: 16 },
      { ProcessorType: 'CPU', TotalCores: 8, TotalThreads: 16 },
      { ProcessorType: 'FPGA', TotalThreads: 4 },
      { Status: { State: 'Absent' } },
    ];
    expect(normaliseInventory(raw({ processors, system: { ProcessorSummary: { Count: 2, CoreCount: 16, LogicalProcessorCount: 99 } } })).hardware.cpu.count).toBe(32);
  });

  it('lists SoftwareInventory members after FirmwareInventory ones, with what each member is', () => {
    const inv = normaliseInventory(raw({
      systemPath: '/redfish/v1/Systems/1',
      system: { BiosVersion: 'U46 1.0' },
      managerPath: '/redfish/v1/Managers/1',
      manager: { FirmwareVersion: '2.46' },
      firmwareInventory: [
        { Id: '1', Name: 'iLO 5', Version: '2.46', Updateable: true },
        { Id: '2', Name: 'System ROM', Version: 'U46 1.0', RelatedItem: [{ '@odata.id': '/redfish/v1/Systems/1' }] },
        { Id: '10', Name: 'Marvell FastLinQ 41000 Series - 2P 25GbE SFP28 Adapter - NIC', Version: '08.50.78' },
        { Id: 'CPLD', Name: 'System Programmable Logic Device' },
      ],
      softwareInventory: [{ Id: '3', Name: 'cray-heartbeat', Version: '1.2.2' }],
    }));
    expect(inv.firmware.map((f) => [f.component, f.source, f.role, f.version])).toEqual([
      ['bios', 'System', 'bios', 'U46 1.0'],
      ['bmc', 'Manager', 'bmc', '2.46'],
      ['1', 'FirmwareInventory', 'bmc', '2.46'],
      ['2', 'FirmwareInventory', 'bios', 'U46 1.0'],
      ['10', 'FirmwareInventory', 'nic', '08.50.78'],
      ['CPLD', 'FirmwareInventory', 'other', ''],
      ['3', 'SoftwareInventory', 'other', '1.2.2'],
    ]);
  });

  it('takes the Dell service tag from SKU', () => {
    const inv = normaliseInventory(raw({ root: { Vendor: 'Dell' }, system: { Manufacturer: 'Dell Inc.', SerialNumber: 'CNBOARD', SKU: '7X9K2Q3', PowerState: 'Off' } }));
    expect(inv.hardware.systemVendor.serialNumber).toBe('7X9K2Q3');
  });

  it('degrades to the summaries and SimpleStorage when collections are missing (sushy-tools)', () => {
    const inv = normaliseInventory(raw({
      system: { PowerState: 'Off', ProcessorSummary: { Count: 2, LogicalProcessorCount: 16, Model: 'EPYC' }, MemorySummary: { TotalSystemMemoryGiB: 64 } },
      simpleStorage: [{ Devices: [{ Name: 'SATA 0', CapacityBytes: 500_000_000_000, Model: 'WD' }, { Name: 'Bay 2', Status: { State: 'Absent' } }, { Name: 'Empty' }] }],
      warnings: ['processors: HTTP 501'],
    }));
    expect(inv.hardware.cpu).toEqual({ arch: '', model: 'EPYC', clockMegahertz: 0, flags: [], count: 16 });
    expect(inv.hardware.ramMebibytes).toBe(65536);
    expect(inv.hardware.storage).toEqual([{ name: 'SATA 0', rotational: false, sizeBytes: 500_000_000_000, vendor: '', model: 'WD', serialNumber: '' }]);
    expect(inv.warnings).toEqual(['processors: HTTP 501']);
    expect(inv.manager).toBeUndefined();
  });

  it('maps ARM and POWER instruction sets', () => {
    expect(normaliseInventory(raw({ processors: [{ InstructionSet: 'ARM-A64', TotalThreads: 128 }] })).hardware.cpu).toMatchObject({ arch: 'aarch64', count: 128 });
    expect(normaliseInventory(raw({ processors: [{ InstructionSet: 'PowerISA', TotalThreads: 8 }] })).hardware.cpu.arch).toBe('ppc64le');
  });
});
