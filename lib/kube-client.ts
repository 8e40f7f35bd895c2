/**
 * Kubernetes API clients that keep their connections. `KubeConfig.makeApiClient` of @kubernetes/client-node
 * 2.x gives every request a new undici Agent, so every request opens a new TCP and TLS connection (a new
 * SecureContext, a full handshake, a client certificate checked by the apiserver): the fleet benchmark's
 * profile showed a quarter of the bridge's CPU in that, and the apiserver paying for it too. A client made
 * here authenticates each request as the KubeConfig says, then sends it through one Agent per KubeConfig,
 * whose connections stay open (keep-alive) and are shared by every client made from that KubeConfig.
 */
import * as k8s from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<k8s.RequestContext['getDispatcher']>>;

const shared = new WeakMap<k8s.KubeConfig, Dispatcher>();

/** `kc.makeApiClient(apiClientType)`, with the connections of all clients of `kc` pooled and kept. */
export function pooledApiClient<T extends k8s.ApiType>(kc: k8s.KubeConfig, apiClientType: k8s.ApiConstructor<T>): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('No active cluster!');
  const auth: k8s.SecurityAuthentication = {
    getName: () => 'kubeconfig authentication, pooled connections',
    async applySecurityAuthentication(context: k8s.RequestContext) {
      // Headers (tokens, exec plugins) are applied per request as the KubeConfig says; the Agent it makes
      // for this request is replaced by the shared one (the first, made with the same TLS options).
      await kc.applySecurityAuthentication(context);
      const made = context.getDispatcher();
      if (!made) return;
      let pool = shared.get(kc);
      if (!pool) shared.set(kc, (pool = made));
      context.setDispatcher(pool);
    },
  };
  return new apiClientType(k8s.createConfiguration({ baseServer: new k8s.ServerConfiguration(cluster.server, {}), authMethods: { default: auth } }));
}
