import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TemporalEnvSchema, temporalSettings } from './temporal-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'tempered-temporal-config-'));
/** A config home of its own, so the developer's ~/.config/temporalio/temporal.toml never leaks in. */
const empty = { XDG_CONFIG_HOME: join(dir, 'empty-home'), HOME: join(dir, 'empty-home') };
const ca = join(dir, 'ca.pem');
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n');
const toml = join(dir, 'temporal.toml');
writeFileSync(
  toml,
  [
    '[profile.default]',
    'address = "temporal.example:7233"',
    'namespace = "metal"',
    '',
    '[profile.cloud]',
    'address = "us-east-1.aws.api.temporal.io:7233"',
    'namespace = "metal.a1b2c"',
    'api_key = "cloud-key-from-file"',
    '',
    '[profile.mtls]',
    'address = "metal.a1b2c.tmprl.cloud:7233"',
    'namespace = "metal.a1b2c"',
    '[profile.mtls.tls]',
    `server_ca_cert_path = "${ca}"`,
    'server_name = "metal.a1b2c.tmprl.cloud"',
    '',
  ].join('\n'),
);
const xdg = join(dir, 'xdg');
mkdirSync(join(xdg, 'temporalio'), { recursive: true });
writeFileSync(join(xdg, 'temporalio', 'temporal.toml'), '[profile.default]\naddress = "from-xdg:7233"\n');

describe('temporalSettings: the Temporal CLI conventions through @temporalio/envconfig', () => {
  it.each([
    { scenario: 'nothing configured: the local dev server', env: {}, address: '127.0.0.1:7233', namespace: 'default', tls: false, apiKey: false },
    { scenario: 'the existing variables', env: { TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'bm' }, address: 'temporal:7233', namespace: 'bm', tls: false, apiKey: false },
    { scenario: 'the default profile of TEMPORAL_CONFIG_FILE', env: { TEMPORAL_CONFIG_FILE: toml }, address: 'temporal.example:7233', namespace: 'metal', tls: false, apiKey: false },
    { scenario: 'a named profile with an API key (TLS implied)', env: { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'cloud' }, address: 'us-east-1.aws.api.temporal.io:7233', namespace: 'metal.a1b2c', tls: true, apiKey: true },
    { scenario: 'the environment overrides the profile field by field', env: { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_NAMESPACE: 'other' }, address: 'temporal.example:7233', namespace: 'other', tls: false, apiKey: false },
    { scenario: 'TEMPORAL_TLS=true alone', env: { TEMPORAL_TLS: 'true' }, address: '127.0.0.1:7233', namespace: 'default', tls: true, apiKey: false },
    { scenario: 'TEMPORAL_TLS=false turns a profile\'s TLS off', env: { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'mtls', TEMPORAL_TLS: 'false' }, address: 'metal.a1b2c.tmprl.cloud:7233', namespace: 'metal.a1b2c', tls: false, apiKey: false },
    { scenario: 'the file in $XDG_CONFIG_HOME/temporalio', env: { XDG_CONFIG_HOME: xdg }, address: 'from-xdg:7233', namespace: 'default', tls: false, apiKey: false },
  ])('$scenario', ({ env, address, namespace, tls, apiKey }) => {
    const settings = temporalSettings({ ...empty, ...env });
    expect(settings.address).toBe(address);
    expect(settings.connectionOptions.address).toBe(address);
    expect(settings.namespace).toBe(namespace);
    expect(settings.summary).toMatchObject({ address, namespace, tls, apiKey });
  });

  it('reads TLS files from a profile and keeps the server name', () => {
    const { connectionOptions } = temporalSettings({ ...empty, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'mtls' });
    const tls = connectionOptions.tls as { serverRootCACertificate?: Uint8Array; serverNameOverride?: string };
    expect(Buffer.from(tls.serverRootCACertificate ?? []).toString()).toContain('BEGIN CERTIFICATE');
    expect(tls.serverNameOverride).toBe('metal.a1b2c.tmprl.cloud');
  });

  it('takes TEMPORAL_TLS_* paths from the environment as before', () => {
    const { connectionOptions, summary } = temporalSettings({ ...empty, TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca, TEMPORAL_TLS_SERVER_NAME: 'frontend' });
    expect(summary.tls).toBe(true);
    expect((connectionOptions.tls as { serverNameOverride?: string }).serverNameOverride).toBe('frontend');
  });

  it('passes the API key to the connection but never into the summary that gets logged', () => {
    const settings = temporalSettings({ ...empty, TEMPORAL_API_KEY: 'sekret-api-key' });
    expect(settings.connectionOptions.apiKey).toBe('sekret-api-key');
    expect(JSON.stringify(settings.summary)).not.toContain('sekret');
  });

  it('a profile that does not exist is an error naming it', () => {
    expect(() => temporalSettings({ ...empty, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'nope' })).toThrow(/Profile 'nope' not found/);
  });

  it('the schema refuses a TEMPORAL_TLS that envconfig would read as false', () => {
    expect(TemporalEnvSchema.safeParse({ TEMPORAL_TLS: 'yes' }).success).toBe(false);
    expect(TemporalEnvSchema.safeParse({ TEMPORAL_TLS: '1' }).success).toBe(true);
  });
});
