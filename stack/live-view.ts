/**
 * The compact live view `npm start` shows: how many BareMetalHosts are in each provisioning state (and how
 * many in error), redrawn in place in a terminal, printed on change otherwise. Reads the hosts through the
 * Kubernetes API like any user would.
 */
import * as k8s from '@kubernetes/client-node';

interface HostLite {
  status?: { provisioning?: { state?: string }; operationalStatus?: string; errorType?: string };
}

const ORDER = ['', 'unmanaged', 'registering', 'inspecting', 'preparing', 'available', 'provisioning', 'provisioned', 'externally provisioned', 'deprovisioning', 'powering off before delete', 'deleting'];

/** One line: `5 hosts | registering 1 | available 3 | provisioned 1 | error 0`. */
export function summarizeHosts(hosts: HostLite[]): string {
  const counts = new Map<string, number>();
  let errors = 0;
  for (const h of hosts) {
    const state = h.status?.provisioning?.state ?? '';
    counts.set(state, (counts.get(state) ?? 0) + 1);
    if (h.status?.operationalStatus === 'error') errors += 1;
  }
  const parts = [...counts.entries()]
    .sort(([a], [b]) => ORDER.indexOf(a) - ORDER.indexOf(b))
    .map(([state, n]) => `${state || 'new'} ${n}`);
  return [`${hosts.length} hosts`, ...parts, `error ${errors}`].join(' | ');
}

/** Polls the hosts every `intervalMs` and writes the summary; returns a function that stops it. */
export function startLiveView(kubeconfig: string, write: (line: string, inPlace: boolean) => void, intervalMs = 1000): () => void {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  let last = '';
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      const list = (await objects.listClusterCustomObject({ group: 'metal3.io', version: 'v1alpha1', plural: 'baremetalhosts' })) as { items: HostLite[] };
      const line = summarizeHosts(list.items);
      const inPlace = Boolean(process.stdout.isTTY);
      if (line !== last || inPlace) write(line, inPlace);
      last = line;
    } catch {
      // The apiserver is stopping or busy: the next tick will tell.
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
  };
  let timer = setTimeout(() => void tick(), 0);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
