/** What the integration tier's global set-up hands to tests: plain data, so it crosses process boundaries. */
import type { SushySystem } from '../stack/sushy.ts';

export interface StackInfo {
  stateDir: string;
  temporal: { address: string; namespace: string; cli: string };
  kube: { server: string; kubeconfig: string; kubectl: string; auditLog: string };
  sushy: { url: string; username: string; password: string; systems: SushySystem[] };
  ipmi: { address: string; port: number; username: string; password: string; ipmitool: string; stateDir: string }[];
  /** The Cluster API managers (the `capi` project's stack only): their log files. */
  capi?: { logs: string[] };
}
