import { describe, expect, it } from 'vitest';
import { isUuid, macAddressError, requestUriError } from './go-parsers.ts';

describe('macAddressError (net.ParseMAC)', () => {
  it.each([
    '00:1a:74:74:e5:cb',
    '00-1A-74-74-E5-CB',
    '001a.7474.e5cb',
    '00:00:5e:00:53:01:02:03',
    '00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01',
  ])('accepts %s', (mac) => {
    expect(macAddressError(mac)).toBeUndefined();
  });

  it.each(['00:00:00:00:00', '00:11:22:33:44:55:66', '00:1a:74:74:e5:cg', '00:1a-74:74:e5:cb', '001a7474e5cb', '00:1a:74:74:e5:cb:'])('refuses %s with Go\'s text', (mac) => {
    expect(macAddressError(mac)).toBe(`address ${mac}: invalid MAC address`);
  });
});

describe('isUuid (google/uuid.Parse)', () => {
  it.each([
    ['07564256-96ae-4315-ab03-8d34ece60fbb', true],
    ['0756425696ae4315ab038d34ece60fbb', true],
    ['{07564256-96ae-4315-ab03-8d34ece60fbb}', true],
    ['urn:uuid:07564256-96ae-4315-ab03-8d34ece60fbb', true],
    ['07564256-96ae-4315-ab03-8d34ece60fbx', false],
    ['worker-0', false],
    ['07564256096ae04315ab0308d34ece60fbb', false],
  ])('%s → %s', (value, expected) => {
    expect(isUuid(value)).toBe(expected);
  });
});

describe('requestUriError (url.ParseRequestURI)', () => {
  it.each([
    'http://172.22.0.1/images/rhcos-ootpa-latest.qcow2',
    'https://[fd00::1]:8443/os.img?x=1',
    'oci://registry.example.com/os/live:1.0',
    'oci://registry.example.com/os/live@sha256:abc',
    '/images/local.raw',
    'file:///var/lib/images/os.img',
    'http://user:p%40ss@host/x',
  ])('accepts %s', (url) => {
    expect(requestUriError(url)).toBeUndefined();
  });

  it.each([
    ['', 'parse "": empty url'],
    ['test1', 'parse "test1": invalid URI for request'],
    ['images/os.img', 'parse "images/os.img": invalid URI for request'],
    [':foo', 'parse ":foo": missing protocol scheme'],
    ['http://host:port/x', 'parse "http://host:port/x": invalid port ":port" after host'],
    ['http://exa mple.com/x', 'parse "http://exa mple.com/x": invalid character " " in host name'],
    ['http://[fd00::1/x', 'parse "http://[fd00::1/x": missing \']\' in host'],
    ['http://host/a%zzb', 'parse "http://host/a%zzb": invalid URL escape "%zz"'],
    ['http://host/\n', 'parse "http://host/\\n": net/url: invalid control character in URL'],
  ])('refuses %j', (url, message) => {
    expect(requestUriError(url)).toBe(message);
  });
});
