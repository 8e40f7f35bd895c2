import { describe, expect, it } from 'vitest';
import {
  checksumOf,
  describeFormat,
  detectDiskFormat,
  FORMAT_PROBE_BYTES,
  formatMatches,
  imageFileName,
  imageInfoFor,
  imageSpecProblem,
  isChecksumUrl,
  parseChecksumFile,
  writableFormat,
  type DetectedFormat,
  type ResolvedImage,
} from './image.ts';

const MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
const SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SHA512 =
  'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce' +
  '47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

describe('imageSpecProblem: BMO admission of spec.image (Image.GetChecksum)', () => {
  it.each([
    [
      'a qcow2 image without a checksum',
      { url: 'http://i/os.qcow2', format: 'qcow2' as const },
      'checksum is required for normal images',
    ],
    ['an image without format or checksum', { url: 'http://i/os.img' }, 'checksum is required for normal images'],
    [
      'an unknown checksumType',
      { url: 'http://i/os.img', checksum: SHA256, checksumType: 'SHA42' as never },
      'unknown checksumType SHA42, supported are auto, md5, sha256, sha512',
    ],
    [
      'an OCI image with a checksum',
      { url: 'oci://registry/os:1', checksum: SHA256 },
      'spec.image.checksum must be empty for OCI images (oci:// images have embedded checksums)',
    ],
    [
      'an OCI image, upper-case scheme, with a checksum',
      { url: 'OCI://registry/os:1', checksum: SHA256 },
      'spec.image.checksum must be empty for OCI images (oci:// images have embedded checksums)',
    ],
  ])('refuses %s', (_, image, message) => {
    expect(imageSpecProblem(image)).toBe(message);
  });

  it.each([
    ['a live ISO without a checksum', { url: 'http://i/live.iso', format: 'live-iso' as const }],
    ['an OCI image without a checksum', { url: 'oci://registry/os:1' }],
    ['a digest with checksumType auto', { url: 'http://i/os.img', checksum: SHA256, checksumType: 'auto' as const }],
    ['a checksum URL', { url: 'http://i/os.img', checksum: 'http://i/SHA256SUMS', checksumType: 'sha256' as const }],
  ])('accepts %s', (_, image) => {
    expect(imageSpecProblem(image)).toBeUndefined();
  });
});

describe('checksumOf: algorithm from checksumType, or auto by digest length', () => {
  it.each([
    ['md5 by length', MD5, undefined, 'md5'],
    ['sha256 by length', SHA256, undefined, 'sha256'],
    ['sha512 by length', SHA512, 'auto', 'sha512'],
    ['explicit sha256', SHA256, 'sha256', 'sha256'],
    ['explicit md5', MD5, 'md5', 'md5'],
    ['upper-case digest, lower-cased', SHA256.toUpperCase(), 'sha256', 'sha256'],
    ['surrounding blanks trimmed', ` ${SHA256}\n`, undefined, 'sha256'],
  ])('%s', (_, digest, type, algorithm) => {
    const check = checksumOf(digest, type);
    expect(check).toEqual({ ok: true, checksum: { algorithm, value: digest.trim().toLowerCase() } });
  });

  it.each([
    [
      'a digest of the wrong length for its type',
      MD5,
      'sha256',
      'checksumType sha256 expects a digest of 64 hexadecimal digits, but the checksum has 32',
    ],
    [
      'a length no algorithm has',
      'abcdef',
      'auto',
      'checksumType auto cannot tell the algorithm of a digest of 6 hexadecimal digits ' +
        '(md5 has 32, sha256 64, sha512 128); set checksumType',
    ],
    [
      'text that is not hex',
      'not-a-digest',
      undefined,
      "the checksum 'not-a-digest' is neither a hexadecimal digest nor an http(s):// URL of a checksum file",
    ],
    ['an Ironic-style algo:value', `sha256:${SHA256}`, undefined, 'is neither a hexadecimal digest'],
    ['an unknown type', SHA256, 'sha1', 'unknown checksumType sha1, supported are auto, md5, sha256, sha512'],
  ])('refuses %s, naming what was expected and found', (_, digest, type, message) => {
    const check = checksumOf(digest, type);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.message).toContain(message);
  });

  it('tells checksum URLs from digests', () => {
    expect(isChecksumUrl('https://i/SHA256SUMS')).toBe(true);
    expect(isChecksumUrl('HTTP://i/SHA256SUMS')).toBe(true);
    expect(isChecksumUrl(SHA256)).toBe(false);
    expect(isChecksumUrl('ftp://i/SUMS')).toBe(false);
  });
});

describe('imageFileName: the name a checksum file is searched for', () => {
  it.each([
    ['http://i/images/os.qcow2', 'os.qcow2'],
    ['https://bucket.s3.example/os.raw?X-Amz-Signature=abc&X-Amz-Expires=60', 'os.raw'],
    ['http://i/a/b/c.img#frag', 'c.img'],
    ['http://i/dir/', ''],
    ['http://i', ''],
    ['http://i/os%20v2.img', 'os%20v2.img'],
  ])('%s -> %s', (url, name) => {
    expect(imageFileName(url)).toBe(name);
  });
});

describe('parseChecksumFile: SHA256SUMS-style files, as Ironic and IPA read them', () => {
  const other = 'a'.repeat(64);
  it.each([
    ['GNU text mode', `${SHA256}  os.img\n`, SHA256],
    ['GNU binary mode', `${SHA256} *os.img\n`, SHA256],
    ['BSD tag (shasum --tag, CentOS CHECKSUM)', `SHA256 (os.img) = ${SHA256}\n`, SHA256],
    ['several entries, the named one', `${other}  other.img\n${SHA256}  os.img\n${other}  os.img.sig\n`, SHA256],
    [
      'comments and blank lines',
      `# SHA256 checksums\n\n${other}  a.img\n# os.img is next\n${SHA256}  os.img\n`,
      SHA256,
    ],
    ['CRLF line ends', `${other}  a.img\r\n${SHA256}  os.img\r\n`, SHA256],
    ['MD5SUMS', `${MD5}  os.img\n`, MD5],
    ['SHA512SUMS in BSD form', `SHA512 (os.img) = ${SHA512}\n`, SHA512],
    ['a file of one bare digest', `${SHA256}\n`, SHA256],
    ['upper-case digests', `${SHA256.toUpperCase()}  os.img\n`, SHA256],
    ['the first of two entries for the name', `${SHA256}  os.img\n${other}  os.img\n`, SHA256],
  ])('%s', (_, text, digest) => {
    expect(parseChecksumFile(text, 'os.img')).toEqual({ ok: true, value: digest });
  });

  it('matches a percent-encoded URL name against the listed name', () => {
    expect(parseChecksumFile(`${SHA256}  os v2.img\n`, 'os%20v2.img')).toEqual({ ok: true, value: SHA256 });
  });

  it('does not match a name that only ends with the file name', () => {
    const result = parseChecksumFile(`${SHA256}  images/os.img\n${SHA256}  my-os.img\n`, 'os.img');
    expect(result).toMatchObject({ ok: false, reason: 'not-listed', listed: ['images/os.img', 'my-os.img'] });
  });

  it.each([
    [
      'not listed: names what it lists',
      `${other}  a.img\n${other}  b.img\n`,
      'not-listed',
      'the checksum file does not list os.img (it lists a.img, b.img)',
    ],
    [
      'not listed: many names shortened',
      Array.from({ length: 8 }, (_, i) => `${other}  f${i}.img`).join('\n'),
      'not-listed',
      'it lists f0.img, f1.img, f2.img, f3.img, f4.img, and 3 more',
    ],
    ['empty', '\n \n', 'empty', 'the checksum file is empty'],
    ['one line that is no digest', 'hello\n', 'invalid', "holds neither a digest nor '<digest>  <file name>' lines"],
    ['no digest lines at all', '<html><body>Not here</body></html>\n<p>x</p>', 'invalid', 'does not list os.img'],
    ['digests of an unknown length', `${'a'.repeat(40)}  os.img\n`, 'invalid', 'does not list os.img'],
  ])('refuses %s', (_, text, reason, message) => {
    const result = parseChecksumFile(text, 'os.img');
    expect(result).toMatchObject({ ok: false, reason });
    expect(result.ok ? '' : result.message).toContain(message);
  });
});

/** A probe-sized buffer of zeros with `bytes` written at `offset`. */
function head(offset: number, bytes: number[] | string, size = FORMAT_PROBE_BYTES): Uint8Array {
  const out = new Uint8Array(size);
  const data = typeof bytes === 'string' ? [...bytes].map((c) => c.charCodeAt(0)) : bytes;
  out.set(data, offset);
  return out;
}

describe('detectDiskFormat: the first bytes', () => {
  const cases: [string, Uint8Array, DetectedFormat][] = [
    ['qcow2 magic', head(0, [0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), 'qcow2'],
    ['vmdk sparse extent', head(0, 'KDMV'), 'vmdk'],
    ['vhdx', head(0, 'vhdxfile'), 'vhdx'],
    ['dynamic vhd', head(0, 'conectix'), 'vhd'],
    ['vdi signature at 0x40', head(0x40, [0x7f, 0x10, 0xda, 0xbe]), 'vdi'],
    ['LUKS', head(0, [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]), 'luks'],
    ['gzip', head(0, [0x1f, 0x8b, 0x08, 0]), 'gzip'],
    ['xz', head(0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), 'xz'],
    ['zstd', head(0, [0x28, 0xb5, 0x2f, 0xfd]), 'zstd'],
    ['bzip2', head(0, 'BZh9'), 'bzip2'],
    ['ISO 9660', head(0x8001, 'CD001'), 'iso'],
    ['GPT at LBA 1', head(512, 'EFI PART'), 'gpt'],
    ['GPT on 4 KiB sectors', head(4096, 'EFI PART'), 'gpt'],
    ['MBR disk', head(510, [0x55, 0xaa]), 'raw'],
    ['zeros', head(0, []), 'raw'],
    ['a short raw file', new Uint8Array([1, 2, 3]), 'raw'],
    ['an empty file', new Uint8Array(), 'empty'],
    ['BZh without a block size digit is raw', head(0, 'BZhx'), 'raw'],
  ];
  it.each(cases)('%s', (_, bytes, format) => {
    expect(detectDiskFormat(bytes)).toBe(format);
  });

  it('calls a hybrid ISO (ISO 9660 and GPT) an ISO, as Ironic does', () => {
    const hybrid = head(512, 'EFI PART');
    hybrid.set(
      [...'CD001'].map((c) => c.charCodeAt(0)),
      0x8001,
    );
    expect(detectDiskFormat(hybrid)).toBe('iso');
  });

  it('needs the ISO signature inside the probe', () => {
    expect(0x8001 + 5).toBeLessThanOrEqual(FORMAT_PROBE_BYTES);
  });
});

describe('formatMatches: declared against detected (Ironic image_format_matches)', () => {
  const table: [declared: Parameters<typeof formatMatches>[0], detected: DetectedFormat, matches: boolean][] = [
    ['raw', 'raw', true],
    ['raw', 'gpt', true],
    ['raw', 'qcow2', false],
    ['raw', 'iso', false],
    ['raw', 'gzip', false],
    ['qcow2', 'qcow2', true],
    ['qcow2', 'raw', false],
    ['qcow2', 'gpt', false],
    ['vmdk', 'vmdk', true],
    ['vdi', 'vdi', true],
    ['vdi', 'vmdk', false],
    ['live-iso', 'iso', true],
    ['live-iso', 'raw', false],
    [undefined, 'qcow2', true],
    [undefined, 'gpt', true],
    [undefined, 'vhd', false],
    [undefined, 'xz', false],
  ];
  it.each(table)('declared %s, found %s: %s', (declared, detected, matches) => {
    expect(formatMatches(declared, detected)).toBe(matches);
  });

  it('writes GPT disks as raw and refuses what qemu-img is not asked to convert', () => {
    expect(writableFormat('gpt')).toBe('raw');
    expect(writableFormat('vhdx')).toBeUndefined();
    expect(describeFormat('gzip')).toBe('gzip-compressed data');
  });
});

describe('imageInfoFor: IPA write_image image_info', () => {
  const resolved: ResolvedImage = {
    url: 'https://images.example/rhel-9.4.qcow2',
    fileName: 'rhel-9.4.qcow2',
    checksum: { algorithm: 'sha256', value: SHA256.toUpperCase() },
    checksumUrl: 'https://images.example/SHA256SUMS',
    diskFormat: 'qcow2',
    detectedFormat: 'qcow2',
    sizeBytes: 1234,
  };

  it('maps a resolved image as Ironic does with image_download_source = http', () => {
    expect(imageInfoFor(resolved, { nodeUuid: 'uid-1' })).toEqual({
      id: 'rhel-9.4.qcow2',
      urls: ['https://images.example/rhel-9.4.qcow2'],
      disk_format: 'qcow2',
      container_format: null,
      stream_raw_images: true,
      os_hash_algo: 'sha256',
      os_hash_value: SHA256,
      node_uuid: 'uid-1',
    });
  });

  it('duplicates the config drive for old agents when given', () => {
    expect(imageInfoFor(resolved, { nodeUuid: 'uid-1', configDrive: 'H4sI', streamRawImages: false })).toMatchObject({
      configdrive: 'H4sI',
      stream_raw_images: false,
    });
  });
});
