/**
 * TLS to the BMC: verification is on by default, `disableCertificateVerification` turns it off, and a private CA
 * can be trusted. A loopback HTTPS Redfish fake with a certificate made by openssl (stack/pki.ts).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert, makeCa } from '../../stack/pki.ts';
import type { BmcError } from './errors.ts';
import { createBmcDriver } from './factory.ts';
import { basicResources, startFakeRedfish, type FakeRedfish } from '../../test/fakes/redfish-server.ts';

let fake: FakeRedfish;
let caPem: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tempered-bmc-tls-'));
  const ca = makeCa(dir, 'ca', '/CN=bmc-test-ca');
  const server = issueCert(dir, 'bmc', ca, { subject: '/CN=bmc', usage: 'server', sans: ['IP:127.0.0.1'] });
  caPem = readFileSync(ca.cert, 'utf8');
  fake = await startFakeRedfish({ resources: basicResources(), sessions: true, tls: { cert: readFileSync(server.cert, 'utf8'), key: readFileSync(server.key, 'utf8') } });
});

afterAll(async () => {
  await fake?.close();
});

const address = () => `redfish+https://127.0.0.1:${fake.port}/redfish/v1/Systems/1`;
const credentials = { username: 'admin', password: 'secret' };

describe('Redfish over TLS', () => {
  it('verifies the certificate by default: an untrusted one is BmcTlsFailed (permanent), nothing sent', async () => {
    const before = fake.requests.length;
    const d = createBmcDriver({ address: address(), credentials });
    const err = (await d.getPowerState().catch((e: unknown) => e)) as BmcError;
    await d.close();
    expect(err.code).toBe('BmcTlsFailed');
    expect(err.disposition).toBe('permanent');
    expect(err.message).toMatch(/disableCertificateVerification/);
    expect(fake.requests.length).toBe(before);
  });

  it('honours disableCertificateVerification', async () => {
    const d = createBmcDriver({ address: address(), credentials, disableCertificateVerification: true });
    expect(await d.getPowerState()).toBe('off');
    await d.close();
    expect(fake.deletedSessions.length).toBeGreaterThan(0);
  });

  it('trusts a private CA given to the client, with verification on', async () => {
    const d = createBmcDriver({ address: address(), credentials, redfish: { client: { ca: caPem } } });
    expect(await d.getPowerState()).toBe('off');
    await d.close();
  });
});
