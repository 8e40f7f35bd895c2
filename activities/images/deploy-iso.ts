/**
 * The deploy ISO a host boots by virtual media: a base IPA ISO (a configured IPA ISO, or a PreprovisioningImage's
 * image, fetched into a file by the caller) remastered with xorriso so that its boot configurations carry the
 * kernel parameters the agent needs, as Ironic's virtual-media boot builds them (`ipa-api-url`, `ipa-agent-token`,
 * `boot_method=vmedia`, `ipa-inspection-callback-url`, plus `[redfish]kernel_append_params`). Every kernel line
 * of `/boot/grub/grub.cfg` (UEFI) and `/isolinux/isolinux.cfg` (legacy BIOS) is rewritten; the kernel, the initrd
 * and the El Torito boot entries are kept.
 *
 * `buildStandInIpaIso` makes the local stack's base ISO: no IPA kernel exists in any registry this project can
 * reach, so its kernel and initramfs are placeholder files that say so, next to real GRUB and ISOLINUX
 * configurations. The simulator "boots" a deploy ISO by reading the kernel command line from them.
 */
import { BOOT_CONFIG_PATHS, withKernelParams, type KernelParams } from '../../lib/boot-config.ts';
import { ImageError } from '../../lib/image-error.ts';
import { listIsoFiles, makeIso, readIsoFile, remasterIso, type XorrisoOptions } from '../../lib/iso.ts';

export type { KernelParams };

export interface DeployIsoRequest extends XorrisoOptions {
  /** The base deploy ISO, a local file. */
  baseIso: string;
  /** Where to write the result (replaced if it exists). It carries the agent token: keep it private. */
  output: string;
  /** Added to (or replacing the same keys in) every kernel line. */
  kernelParams: KernelParams;
}

export interface DeployIsoResult {
  output: string;
  sizeBytes: number;
  /** The boot configurations rewritten (`/boot/grub/grub.cfg`, `/isolinux/isolinux.cfg`). */
  patched: string[];
}

/**
 * Remasters `baseIso` into `output` with `kernelParams` on every kernel line. Fails with DeployIsoInvalid when
 * the base is not an ISO, or has no GRUB or ISOLINUX configuration with a kernel line to carry the parameters.
 */
export async function buildDeployIso(req: DeployIsoRequest): Promise<DeployIsoResult> {
  const files = new Set(await listIsoFiles(req.baseIso, req));
  const configs = Object.entries(BOOT_CONFIG_PATHS).filter(([path]) => files.has(path));
  if (configs.length === 0) {
    throw new ImageError(
      'DeployIsoInvalid',
      `the deploy ISO ${req.baseIso} has neither ${Object.keys(BOOT_CONFIG_PATHS).join(' nor ')}, ` +
        "so it cannot carry the agent's kernel parameters",
      {
        expected: Object.keys(BOOT_CONFIG_PATHS).join(' or '),
        found: 'none',
      },
    );
  }
  const replace: Record<string, string> = {};
  for (const [path, kind] of configs) {
    const text = (await readIsoFile(req.baseIso, path, req))?.toString('utf8') ?? '';
    const patched = withKernelParams(text, kind, req.kernelParams);
    if (patched.lines === 0) {
      throw new ImageError(
        'DeployIsoInvalid',
        `the deploy ISO ${req.baseIso} has ${path} without a ${kind === 'grub' ? 'linux' : 'append'} line ` +
          "to carry the agent's kernel parameters",
        {
          expected: kind === 'grub' ? 'a linux line' : 'an append line',
          found: 'none',
        },
      );
    }
    replace[path] = patched.text;
  }
  const result = await remasterIso({ ...req, base: req.baseIso, output: req.output, replace });
  return { ...result, patched: Object.keys(replace) };
}

/** The version written into the stand-in's placeholder files, so a cached ISO is rebuilt when they change. */
export const STAND_IN_IPA_VERSION = '1';

const placeholder = (what: string) =>
  [
    `Tempered stand-in for the ironic-python-agent ${what}.`,
    '',
    'No IPA kernel or ramdisk can be fetched from the package registries this project reaches, so the local',
    "stack's deploy ISO carries this text instead. Nothing boots it: the simulated BMCs read the kernel command",
    'line from /boot/grub/grub.cfg or /isolinux/isolinux.cfg and start the simulated agent with it. A real',
    'deployment configures a real IPA ISO (ironic-python-agent-builder) and Tempered remasters it the same way.',
    `Stand-in version ${STAND_IN_IPA_VERSION}.`,
    '',
  ].join('\n');

/** GRUB's configuration as Ironic's `grub_conf.template` writes it, with no parameters yet. */
const GRUB_CFG = [
  'set default=0',
  'set timeout=5',
  'set hidden_timeout_quiet=false',
  '',
  'menuentry "boot_partition" {',
  'linux /vmlinuz --',
  'initrd /initrd',
  '}',
  '',
].join('\n');

/** ISOLINUX's configuration as Ironic's `isolinux_config.template` writes it. */
const ISOLINUX_CFG = ['default boot', '', 'label boot', 'kernel /vmlinuz', 'append initrd=/initrd text --', ''].join(
  '\n',
);

/**
 * Builds the local stack's stand-in base IPA ISO at `output`: placeholder kernel, initramfs and boot loaders that
 * say what they stand for, real boot configurations, El Torito entries for BIOS and UEFI. Label VMEDIA_BOOT_ISO.
 */
export async function buildStandInIpaIso(
  output: string,
  options: XorrisoOptions = {},
): Promise<{ output: string; sizeBytes: number }> {
  return makeIso({
    ...options,
    output,
    volumeId: 'VMEDIA_BOOT_ISO',
    publisher: 'tempered',
    files: {
      vmlinuz: placeholder('kernel (vmlinuz)'),
      initrd: placeholder('initramfs (initrd)'),
      'isolinux/isolinux.bin': placeholder('BIOS boot loader (isolinux.bin)'),
      'isolinux/isolinux.cfg': ISOLINUX_CFG,
      'boot/grub/efiboot.img': placeholder('EFI system partition image (efiboot.img)'),
      'boot/grub/grub.cfg': GRUB_CFG,
      'README.txt': placeholder('ISO'),
    },
    boot: { bios: 'isolinux/isolinux.bin', efi: 'boot/grub/efiboot.img' },
  });
}
