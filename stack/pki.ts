/**
 * Certificates for the local stack, made with the `openssl` CLI (Node has no X.509 issuing API): ECDSA P-256
 * CAs, serving certificates with loopback SANs, client certificates with CN/O as Kubernetes user/groups,
 * and an RSA service-account key pair. Valid for a week; made fresh at every start.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl } from './binaries.ts';

export interface CertPair {
  cert: string;
  key: string;
}

function ssl(args: string[], cwd: string): void {
  execFileSync(openssl(), args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA named `name` in `dir`, valid `days` (default 7). */
export function makeCa(dir: string, name: string, subject: string, days = 7): CertPair {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days),
    '-keyout', pair.key, '-out', pair.cert, '-subj', subject,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return pair;
}

/** A certificate signed by `ca`: serving (with SANs) or client (with CN = user, O = group). */
export function issueCert(dir: string, name: string, ca: CertPair, options: { subject: string; usage: 'server' | 'client'; sans?: string[]; days?: number }): CertPair {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', pair.key, '-out', csr, '-subj', options.subject], dir);
  const lines = [`extendedKeyUsage=${options.usage === 'server' ? 'serverAuth' : 'clientAuth'}`, 'keyUsage=critical,digitalSignature'];
  if (options.sans?.length) lines.push(`subjectAltName=${options.sans.join(',')}`);
  writeFileSync(ext, `${lines.join('\n')}\n`);
  ssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', String(options.days ?? 7), '-out', pair.cert, '-extfile', ext], dir);
  return pair;
}

/** An RSA key pair for signing service-account tokens. */
export function makeServiceAccountKeys(dir: string): { publicKey: string; privateKey: string } {
  const privateKey = join(dir, 'sa.key');
  const publicKey = join(dir, 'sa.pub');
  ssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', privateKey], dir);
  ssl(['pkey', '-in', privateKey, '-pubout', '-out', publicKey], dir);
  return { publicKey, privateKey };
}

export function base64File(path: string): string {
  return readFileSync(path).toString('base64');
}
