/**
 * The simulated hosts of `npm start`: for each BMC the stack started, a credentials Secret and a
 * BareMetalHost object in the demo namespace, exactly what a Metal3 user would apply.
 */
import * as k8s from '@kubernetes/client-node';

export interface DemoBmc {
  /** The Metal3 BMC address, e.g. redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/<id>. */
  address: string;
  username: string;
  password: string;
  bootMACAddress?: string;
  /** A live ISO to boot, with `online: true`: the host goes on to `provisioned`. */
  liveIso?: string;
  /** A disk image for the deploy agent to write, with `online: true`: the host goes on to `provisioned`. */
  diskImage?: { url: string; checksum: string; format: string };
  /** The simulated host's disks (the simulator only). */
  disks?: DemoDisk[];
  /** The host boots no deploy agent (sushy-tools): automated cleaning, which needs one, is off. */
  noAgent?: boolean;
}

/** A disk of a simulated host: its device name, serial, size and the file holding its bytes. */
export interface DemoDisk {
  name: string;
  serial: string;
  sizeBytes: number;
  path: string;
}

export interface DemoHost {
  namespace: string;
  name: string;
  bmcAddress: string;
  credentialsName: string;
  /** The host's disks, when the simulator runs it (tools can check what a deploy wrote). */
  disks?: DemoDisk[];
}

/** Creates (or replaces) the namespace, Secrets and BareMetalHosts for `bmcs`; returns the hosts. */
export async function createDemoHosts(kubeconfig: string, namespace: string, bmcs: DemoBmc[]): Promise<DemoHost[]> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(ignoreConflict);

  const hosts: DemoHost[] = [];
  for (const [i, bmc] of bmcs.entries()) {
    const name = `host-${i}`;
    const credentialsName = `${name}-bmc-secret`;
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: credentialsName }, type: 'Opaque', stringData: { username: bmc.username, password: bmc.password } },
    }).catch(ignoreConflict);
    await objects.createNamespacedCustomObject({
      group: 'metal3.io', version: 'v1alpha1', namespace, plural: 'baremetalhosts',
      body: {
        apiVersion: 'metal3.io/v1alpha1',
        kind: 'BareMetalHost',
        metadata: { name, labels: { 'tempered.dev/demo': 'true' } },
        spec: {
          online: Boolean(bmc.liveIso ?? bmc.diskImage),
          ...(bmc.noAgent ? { automatedCleaningMode: 'disabled' } : {}),
          bmc: { address: bmc.address, credentialsName },
          ...(bmc.bootMACAddress ? { bootMACAddress: bmc.bootMACAddress } : {}),
          ...(bmc.liveIso ? { image: { url: bmc.liveIso, format: 'live-iso' } } : {}),
          ...(bmc.diskImage && !bmc.liveIso ? { image: bmc.diskImage } : {}),
        },
      },
    }).catch(ignoreConflict);
    const disks = bmc.disks ? { disks: bmc.disks } : {};
    hosts.push({ namespace, name, bmcAddress: bmc.address, credentialsName, ...disks });
  }
  return hosts;
}

function ignoreConflict(err: unknown): void {
  if ((err as { code?: number }).code === 409) return;
  throw err;
}
