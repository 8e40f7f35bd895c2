import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { BmcError, classifyHttpStatus, classifyIpmitoolFailure, classifyTransportError, parseRetryAfter, redfishErrorInfo } from './errors.ts';
import { toApplicationFailure } from './failure.ts';

const ctx = { what: 'GET /redfish/v1/Systems/1', endpoint: 'https://10.0.0.5', username: 'admin' };
const ext = (id: string, message = 'x') => ({ error: { code: 'Base.1.8.GeneralError', message: 'error', '@Message.ExtendedInfo': [{ MessageId: id, Message: message }] } });

describe('classifyHttpStatus', () => {
  it.each([
    ['401 bad credentials', 401, {}, {}, 'BmcAuthFailed', 'permanent'],
    ['403 forbidden', 403, {}, {}, 'BmcAuthFailed', 'permanent'],
    ['404 missing resource', 404, {}, {}, 'BmcNotFound', 'permanent'],
    ['405 method not allowed', 405, {}, {}, 'BmcUnsupported', 'permanent'],
    ['501 not implemented (sushy fake driver BIOS)', 501, {}, {}, 'BmcUnsupported', 'permanent'],
    ['400 PropertyValueNotInList', 400, ext('Base.1.8.PropertyValueNotInList'), {}, 'BmcBadRequest', 'permanent'],
    ['415 unsupported media type', 415, {}, {}, 'BmcBadRequest', 'permanent'],
    ['503 with Retry-After', 503, {}, { 'retry-after': '7' }, 'BmcBusy', 'transient'],
    ['429 throttled', 429, {}, {}, 'BmcBusy', 'transient'],
    ['500 server error', 500, {}, {}, 'BmcServerError', 'transient'],
    ['502 bad gateway', 502, {}, {}, 'BmcServerError', 'transient'],
    ['409 conflict', 409, {}, {}, 'BmcBusy', 'transient'],
    ['412 precondition failed', 412, {}, {}, 'BmcBusy', 'transient'],
    ['408 request timeout', 408, {}, {}, 'BmcTimeout', 'transient'],
    ['400 iDRAC SYS518 (transient despite 400)', 400, ext('IDRAC.2.8.SYS518'), {}, 'BmcBusy', 'transient'],
    ['400 iLO InvalidOperationForSystemState', 400, ext('iLO.2.14.InvalidOperationForSystemState'), {}, 'BmcBusy', 'transient'],
    ['400 iLO UnableToModifyDuringSystemPOST', 400, ext('iLO.2.14.UnableToModifyDuringSystemPOST'), {}, 'BmcBusy', 'transient'],
    ['409 iDRAC10 ActionParameterValueConflict', 409, ext('Base.1.12.ActionParameterValueConflict'), {}, 'BmcBusy', 'transient'],
  ] as const)('%s → %s', (_s, status, body, headers, code, disposition) => {
    const err = classifyHttpStatus(status, body, { ...ctx, headers });
    expect(err.code).toBe(code);
    expect(err.disposition).toBe(disposition);
    expect(err.status).toBe(status);
  });

  it('carries Retry-After and the vendor pacing of transitional states', () => {
    expect(classifyHttpStatus(503, {}, { ...ctx, headers: { 'retry-after': '7' } }).retryAfterMs).toBe(7000);
    expect(classifyHttpStatus(409, ext('Base.1.12.ActionParameterValueConflict'), ctx).retryAfterMs).toBe(10_000);
    expect(classifyHttpStatus(400, ext('iLO.2.14.UnableToModifyDuringSystemPOST'), ctx).retryAfterMs).toBe(5000);
  });

  it('names the user, never the password, and the fix', () => {
    const err = classifyHttpStatus(401, {}, ctx);
    expect(err.message).toMatch(/user 'admin'.*credentials Secret/);
  });
});

describe('redfishErrorInfo', () => {
  it('reads the standard error body, a single-object ExtendedInfo (iDRAC), and plain text', () => {
    expect(redfishErrorInfo(ext('Base.1.8.PropertyMissing', 'TransferProtocolType is missing'))).toEqual({ messageIds: ['Base.1.8.GeneralError', 'Base.1.8.PropertyMissing'], messages: ['error', 'TransferProtocolType is missing'] });
    expect(redfishErrorInfo({ error: { '@Message.ExtendedInfo': { MessageId: 'IDRAC.2.8.SYS518', Message: 'busy' } } }).messageIds).toEqual(['IDRAC.2.8.SYS518']);
    expect(redfishErrorInfo('Internal Server Error').messages).toEqual(['Internal Server Error']);
    expect(redfishErrorInfo(undefined)).toEqual({ messageIds: [], messages: [] });
  });
});

describe('classifyTransportError', () => {
  const cases: [string, unknown, string, boolean][] = [
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'BmcUnreachable', false],
    ['no route', Object.assign(new Error('x'), { code: 'EHOSTUNREACH' }), 'BmcUnreachable', false],
    ['DNS failure', Object.assign(new Error('getaddrinfo ENOTFOUND bmc'), { code: 'ENOTFOUND' }), 'BmcUnreachable', false],
    ['reset mid-request', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'BmcUnreachable', true],
    ['undici socket closed', Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }), 'BmcUnreachable', true],
    ['connect timeout', Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 'BmcTimeout', false],
    ['headers timeout', Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'BmcTimeout', false],
    ['self-signed certificate', Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'BmcTlsFailed', false],
    ['wrong host name in certificate', Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'BmcTlsFailed', false],
    ['nested cause', new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }), 'BmcUnreachable', false],
    ['happy eyeballs AggregateError', Object.assign(new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })], 'x'), {}), 'BmcUnreachable', false],
  ];
  it.each(cases)('%s → %s', (_s, err, code, lost) => {
    const e = classifyTransportError(err, ctx);
    expect(e.code).toBe(code);
    expect(e.connectionLost).toBe(lost);
  });

  it('tells how to fix a TLS failure', () => {
    const e = classifyTransportError(Object.assign(new Error('x'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), ctx);
    expect(e.disposition).toBe('permanent');
    expect(e.message).toMatch(/disableCertificateVerification/);
  });
});

describe('classifyIpmitoolFailure', () => {
  const ictx = { what: 'power status', endpoint: '10.0.0.9:623', username: 'admin' };
  it.each([
    ['bad password or LAN off', 'Error: Unable to establish IPMI v2 / RMCP+ session', 'BmcAuthFailed', 'permanent'],
    ['no matching cipher suite', 'Error in open session response message : no matching cipher suite', 'BmcUnsupported', 'permanent'],
    ['invalid authentication algorithm (-C 17 on ipmi_sim)', 'Error in open session response message : invalid authentication algorithm', 'BmcUnsupported', 'permanent'],
    ['session slots exhausted', 'Error: insufficient resources for session', 'BmcBusy', 'transient'],
    ['node busy', 'Set Chassis Power Control to On failed: Node busy', 'BmcBusy', 'transient'],
    ['BMC initialising', 'BMC initialization in progress', 'BmcBusy', 'transient'],
    ['unsupported command', 'Chassis Power Control: Invalid data field in request', 'BmcUnsupported', 'permanent'],
    ['unknown failure', 'something odd', 'BmcServerError', 'transient'],
  ] as const)('%s → %s', (_s, output, code, disposition) => {
    const e = classifyIpmitoolFailure(output, ictx);
    expect(e.code).toBe(code);
    expect(e.disposition).toBe(disposition);
  });

  it('timeouts and a missing ipmitool', () => {
    expect(classifyIpmitoolFailure('', { ...ictx, timedOut: true }).code).toBe('BmcTimeout');
    expect(classifyIpmitoolFailure('', { ...ictx, notFound: true }).code).toBe('BmcUnsupported');
  });
});

describe('parseRetryAfter', () => {
  it('seconds, an HTTP date, and junk', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(1_000_000 + 5000).toUTCString(), 1_000_000)).toBe(5000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('toApplicationFailure', () => {
  it('types the failure with the code, non-retryable for permanent codes', () => {
    const f = toApplicationFailure(new BmcError('BmcAuthFailed', 'refused', { status: 401 })) as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.type).toBe('BmcAuthFailed');
    expect(f.nonRetryable).toBe(true);
    expect(f.details).toEqual([{ code: 'BmcAuthFailed', status: 401, messageIds: [] }]);
  });

  it('passes Retry-After as nextRetryDelay for transient codes', () => {
    const f = toApplicationFailure(new BmcError('BmcBusy', 'busy', { retryAfterMs: 7000 })) as ApplicationFailure;
    expect(f.nonRetryable).toBe(false);
    expect(f.nextRetryDelay).toBe(7000);
  });

  it('marks benign outcomes BENIGN and leaves other errors alone', () => {
    const f = toApplicationFailure(new BmcError('PowerStateNotReached', 'not yet', { disposition: 'benign' })) as ApplicationFailure;
    expect(f.category).toBe('BENIGN');
    const plain = new Error('bug');
    expect(toApplicationFailure(plain)).toBe(plain);
  });
});
