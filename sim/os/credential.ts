/**
 * What a simulated host holds to talk to a workload cluster's apiserver, and the few HTTPS calls its kubelet
 * and `kubeadm join` make. `node:https` with client certificates: no Kubernetes client library, since the
 * simulated OS makes a handful of calls per node (register, heartbeat, renew its Lease).
 */
import { request } from 'node:https';

/** A client credential for one cluster: the apiserver URL, its CA, a client certificate and key (PEM). */
export interface NodeCredential {
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** An apiserver answer: status code and parsed JSON body (undefined when the body is not JSON). */
export interface KubeAnswer<T = unknown> {
  status: number;
  body: T | undefined;
}

/** How a call authenticates: a client certificate, a bearer token (bootstrap token), or none (anonymous). */
export type KubeAuth = { cert: string; key: string } | { token: string } | { anonymous: true };

export interface KubeCall {
  /** `https://host:port` of the apiserver. */
  server: string;
  /** The CA to verify the apiserver with; absent: not verified (the first step of kubeadm's discovery). */
  caPem?: string;
  auth: KubeAuth;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/** Makes one apiserver call; rejects only when the apiserver cannot be reached. */
export function kubeCall<T = unknown>(call: KubeCall): Promise<KubeAnswer<T>> {
  const url = new URL(call.path, call.server);
  const payload = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload) {
    headers['content-type'] = call.contentType ?? 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if ('token' in call.auth) headers.authorization = `Bearer ${call.auth.token}`;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: call.method,
        headers,
        ...(call.caPem ? { ca: call.caPem } : { rejectUnauthorized: false }),
        ...('cert' in call.auth ? { cert: call.auth.cert, key: call.auth.key } : {}),
        timeout: call.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: T | undefined;
          try {
            body = text ? (JSON.parse(text) as T) : undefined;
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`${call.method} ${url.href}: no answer within ${call.timeoutMs ?? 10_000} ms`)),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The certificate auth of a credential. */
export function certAuth(credential: NodeCredential): KubeAuth {
  return { cert: credential.certPem, key: credential.keyPem };
}
