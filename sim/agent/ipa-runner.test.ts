// The kernel command line the real IPA reads back as /proc/cmdline: the same pairs the ISO carried.
import { describe, expect, it } from 'vitest';
import { kernelCommandLine } from './ipa-runner.ts';

describe('kernelCommandLine', () => {
  it.each([
    ['key=value pairs in order', { 'ipa-api-url': 'http://127.0.0.1:6385', 'ipa-agent-token': 'T' },
      'ipa-api-url=http://127.0.0.1:6385 ipa-agent-token=T'],
    ['a bare flag stays bare', { nofb: '', 'ipa-debug': '1' }, 'nofb ipa-debug=1'],
    ['a value holding "=" is kept whole', { BOOTIF: '01-52-54-00-aa-bb-cc', x: 'a=b' },
      'BOOTIF=01-52-54-00-aa-bb-cc x=a=b'],
  ])('%s', (_name, params, expected) => {
    expect(kernelCommandLine(params)).toBe(expected);
  });
});
