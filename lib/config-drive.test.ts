import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CONFIG_DRIVE_MAX_BYTES, configDriveFromWireForm, configDriveWireForm } from './config-drive.ts';
import { imageFailure as failure } from '../test/images.ts';

const iso = Buffer.concat([Buffer.alloc(0x8001), Buffer.from('CD001'), Buffer.alloc(1000, 7)]);

describe('config drive wire form (Ironic gzip + base64, IPA get_configdrive)', () => {
  it('round-trips an ISO', () => {
    const wire = configDriveWireForm(iso);
    expect(wire).toMatch(/^H4sI/); // gzip magic, base64
    expect(configDriveFromWireForm(wire).equals(iso)).toBe(true);
  });

  it('tolerates line breaks in the base64', () => {
    const wire = configDriveWireForm(iso).replace(/(.{76})/g, '$1\n');
    expect(configDriveFromWireForm(wire).equals(iso)).toBe(true);
  });

  it('refuses text that is not base64', async () => {
    expect((await failure(() => configDriveFromWireForm('not base64!'))).code).toBe('HostConfigDataInvalid');
  });

  it('refuses base64 that is not gzip', async () => {
    expect((await failure(() => configDriveFromWireForm(Buffer.from('plain').toString('base64')))).message).toBe(
      'the config drive is not gzip-compressed',
    );
  });

  it('refuses a drive over 64 MiB once decompressed, as IPA does', async () => {
    const big = gzipSync(Buffer.alloc(CONFIG_DRIVE_MAX_BYTES + 1)).toString('base64');
    expect((await failure(() => configDriveFromWireForm(big))).message).toContain(
      `larger than ${CONFIG_DRIVE_MAX_BYTES} bytes`,
    );
  });
});
