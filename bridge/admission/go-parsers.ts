/**
 * The few Go standard-library parsers whose verdicts (and error texts) BMO's webhook passes on to users:
 * `net.ParseMAC`, `github.com/google/uuid.Parse` and `net/url.ParseRequestURI`. Matching them keeps a spec
 * that BMO accepts accepted here, and the reverse, with the same words in `kubectl`'s output.
 */

const HEX2 = /^[0-9a-fA-F]{2}$/;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * Checks a MAC address the way Go's `net.ParseMAC` does: 6, 8 or 20 octets as `xx:xx:..`, `xx-xx-..` or
 * `xxxx.xxxx.xxxx`. Returns Go's error text, or undefined when the address is valid.
 */
export function macAddressError(address: string): string | undefined {
  const error = `address ${address}: invalid MAC address`;
  if (address.length < 14) return error;
  const sizes = [6, 8, 20];
  const sep = address[2];
  if (sep === ':' || sep === '-') {
    if ((address.length + 1) % 3 !== 0) return error;
    const groups = address.split(sep);
    if (!sizes.includes(groups.length) || !groups.every((g) => HEX2.test(g))) return error;
    return undefined;
  }
  if (address[4] === '.') {
    if ((address.length + 1) % 5 !== 0) return error;
    const groups = address.split('.');
    if (!sizes.includes(groups.length * 2) || !groups.every((g) => HEX4.test(g))) return error;
    return undefined;
  }
  return error;
}

const UUID_36 = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Whether google/uuid's `Parse` accepts `value`: the 36-character form, 32 hex digits, `{...}` or `urn:uuid:...`. */
export function isUuid(value: string): boolean {
  if (value.length === 32) return /^[0-9a-fA-F]{32}$/.test(value);
  if (value.length === 36) return UUID_36.test(value);
  if (value.length === 38) return value.startsWith('{') && value.endsWith('}') && UUID_36.test(value.slice(1, -1));
  if (value.length === 45) return value.slice(0, 9).toLowerCase() === 'urn:uuid:' && UUID_36.test(value.slice(9));
  return false;
}

// Characters Go's net/url accepts unescaped in a host name (RFC 3986 unreserved and sub-delims, plus the
// few extras Go tolerates there).
const HOST_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]<>"]$/;

function badEscape(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '%') continue;
    const hex = s.slice(i + 1, i + 3);
    if (!HEX2.test(hex)) return `invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`;
    i += 2;
  }
  return undefined;
}

function authorityError(authority: string): string | undefined {
  const at = authority.lastIndexOf('@');
  const host = at < 0 ? authority : authority.slice(at + 1);
  if (at >= 0 && /[^A-Za-z0-9\-._~!$&'()*+,;=:%@]/.test(authority.slice(0, at))) return 'net/url: invalid userinfo';
  const validPort = (port: string) => port === '' || /^:\d*$/.test(port);
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0) return "missing ']' in host";
    const port = host.slice(close + 1);
    if (!validPort(port)) return `invalid port ${JSON.stringify(port)} after host`;
    return undefined;
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && !validPort(host.slice(colon))) return `invalid port ${JSON.stringify(host.slice(colon))} after host`;
  for (const ch of host) {
    if (ch === '%' || ch.charCodeAt(0) >= 0x80) continue;
    if (!HOST_CHAR.test(ch)) return `invalid character ${JSON.stringify(ch)} in host name`;
  }
  return badEscape(host);
}

/**
 * Checks a URL the way Go's `url.ParseRequestURI` does (an absolute URL or an absolute path, no fragment
 * handling). Returns Go's error text (`parse "<url>": <reason>`), or undefined when it parses.
 */
export function requestUriError(raw: string): string | undefined {
  const fail = (reason: string) => `parse ${JSON.stringify(raw)}: ${reason}`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) return fail('net/url: invalid control character in URL');
  if (raw === '') return fail('empty url');
  if (raw === '*') return undefined;

  let scheme = '';
  let rest = raw;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? '';
    if (/[A-Za-z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ':') {
      if (i === 0) return fail('missing protocol scheme');
      scheme = raw.slice(0, i);
      rest = raw.slice(i + 1);
    }
    break;
  }

  const query = rest.indexOf('?');
  if (query >= 0) rest = rest.slice(0, query);
  if (!rest.startsWith('/')) {
    // "mailto:x" style: an opaque URL is fine once it has a scheme.
    return scheme !== '' ? undefined : fail('invalid URI for request');
  }
  if (scheme !== '' && rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    const problem = authorityError(authority);
    if (problem) return fail(problem);
    rest = slash < 0 ? '' : rest.slice(slash);
  }
  const escape = badEscape(rest);
  return escape ? fail(escape) : undefined;
}
