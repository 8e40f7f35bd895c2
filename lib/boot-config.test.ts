import { describe, expect, it } from 'vitest';
import {
  formatKernelParams,
  kernelParamsOf,
  parseKernelParams,
  splitCommandLine,
  withKernelParams,
  type KernelParams,
} from './boot-config.ts';

const AGENT_LINE = 'ipa-api-url=https://10.0.0.1:6385 ipa-agent-token=tok-123 boot_method=vmedia';
const AGENT: KernelParams = {
  'ipa-api-url': 'https://10.0.0.1:6385',
  'ipa-agent-token': 'tok-123',
  boot_method: 'vmedia',
};

// Shapes of boot configurations found on IPA ISOs: Ironic's templates, ironic-python-agent-builder's, distro-like.
const IRONIC_GRUB =
  'set default=0\nset timeout=5\n\nmenuentry "boot_partition" {\nlinux /vmlinuz  --\ninitrd /initrd\n}\n';
const BUILDER_GRUB = [
  'set default=0',
  'menuentry "Ironic Python Agent" {',
  '  linuxefi /vmlinuz nofb nomodeset vga=normal ipa-insecure=1 ipa-api-url=http://old:6385',
  '  initrdefi /initrd',
  '}',
  'menuentry "Rescue" {',
  '  linux /vmlinuz rescue',
  '  initrd /initrd',
  '}',
].join('\n');
const IRONIC_ISOLINUX = 'default boot\n\nlabel boot\nkernel /vmlinuz\nappend initrd=/initrd text  --\n';

describe('withKernelParams: agent parameters into every kernel line', () => {
  it("fills Ironic's GRUB template before the closing --, keeping linux and initrd", () => {
    const out = withKernelParams(IRONIC_GRUB, 'grub', AGENT);
    expect(out.lines).toBe(1);
    expect(out.text).toContain(`linux /vmlinuz ${AGENT_LINE} --\ninitrd /initrd\n`);
  });

  it("fills Ironic's ISOLINUX template, keeping initrd= and text", () => {
    const out = withKernelParams(IRONIC_ISOLINUX, 'isolinux', AGENT);
    expect(out.lines).toBe(1);
    expect(out.text).toContain(`kernel /vmlinuz\nappend initrd=/initrd text ${AGENT_LINE} --\n`);
  });

  it('replaces an old value of the same key and keeps the other parameters, in every menu entry', () => {
    const out = withKernelParams(BUILDER_GRUB, 'grub', AGENT);
    expect(out.lines).toBe(2);
    expect(out.text).toContain(`  linuxefi /vmlinuz nofb nomodeset vga=normal ipa-insecure=1 ${AGENT_LINE}\n`);
    expect(out.text).toContain('  linux /vmlinuz rescue ipa-api-url=');
    expect(out.text).not.toContain('http://old:6385');
    expect(out.text).toContain('  initrdefi /initrd');
  });

  it('is idempotent: a second pass changes nothing', () => {
    const once = withKernelParams(IRONIC_GRUB, 'grub', AGENT).text;
    expect(withKernelParams(once, 'grub', AGENT).text).toBe(once);
  });

  it('reports 0 lines when nothing boots a kernel', () => {
    expect(withKernelParams('set timeout=5\n', 'grub', AGENT).lines).toBe(0);
    expect(withKernelParams('default boot\nlabel boot\nkernel /vmlinuz\n', 'isolinux', AGENT).lines).toBe(0);
  });

  it('writes bare flags and quotes values with spaces', () => {
    expect(formatKernelParams({ nofb: true, 'ipa-debug': '1', note: 'a b' })).toEqual([
      'nofb',
      'ipa-debug=1',
      'note="a b"',
    ]);
  });
});

describe('kernelParamsOf: how the simulator reads a deploy ISO', () => {
  it("reads GRUB's first kernel line", () => {
    const patched = withKernelParams(BUILDER_GRUB, 'grub', AGENT).text;
    expect(kernelParamsOf(patched, 'grub')).toEqual({
      kernel: '/vmlinuz',
      initrd: '/initrd',
      params: { nofb: true, nomodeset: true, vga: 'normal', 'ipa-insecure': '1', ...AGENT },
    });
  });

  it("reads ISOLINUX's append line, without initrd= and what follows --", () => {
    const patched = withKernelParams(IRONIC_ISOLINUX, 'isolinux', {
      ...AGENT,
      'ipa-inspection-callback-url': 'https://10.0.0.1:6385/v1/continue_inspection',
    }).text;
    expect(kernelParamsOf(patched, 'isolinux')).toEqual({
      kernel: '/vmlinuz',
      initrd: '/initrd',
      params: { text: true, ...AGENT, 'ipa-inspection-callback-url': 'https://10.0.0.1:6385/v1/continue_inspection' },
    });
  });

  it('is undefined without a kernel line', () => {
    expect(kernelParamsOf('set timeout=5', 'grub')).toBeUndefined();
  });

  it('splits on blanks but not inside double quotes; the last repeated key wins', () => {
    expect(splitCommandLine('  a=1  b="x y"\tc ')).toEqual(['a=1', 'b="x y"', 'c']);
    expect(parseKernelParams(['a=1', 'b="x y"', 'a=2', '--', 'init=x'])).toEqual({ a: '2', b: 'x y' });
  });
});
