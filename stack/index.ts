/**
 * The local stack: one module that tests, `npm start` and the benchmarks all use to bring up real servers on
 * 127.0.0.1 (Temporal dev server or cluster, kube-apiserver + etcd, sushy-tools, ipmi_sim), each with free ports, its own
 * state directory and a readiness wait, and to stop everything it started.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubeControllerManager, type Progress } from './binaries.ts';
import { startCapi, type CapiControllers } from './capi.ts';
import { capiBinaries } from './capi-binaries.ts';
import { startIpmiSim, type IpmiSim } from './ipmi.ts';
import { keepState } from './keep-state.ts';
import { startKube, type KubeApi } from './kube.ts';
import { stopAllProcesses } from './processes.ts';
import { startSushy, type SushyEmulator } from './sushy.ts';
import { startTemporal, type TemporalServer } from './temporal.ts';
import { startTemporalCluster } from './temporal-cluster.ts';

export type { CapiControllers, IpmiSim, KubeApi, SushyEmulator, TemporalServer, Progress };

/** The project's generated CRDs, applied to every apiserver the stack starts. */
export const PROJECT_CRD_DIR = fileURLToPath(new URL('../deploy/crds/', import.meta.url));

export interface StackOptions {
  /** Where each server keeps its state and log; default: a new directory under the OS temp dir. */
  stateDir?: string;
  /**
   * `kind: 'cluster'` runs frontend, history, matching and worker as separate processes on PostgreSQL
   * (stack/temporal-cluster.ts) instead of the dev server; both return the same `TemporalServer`.
   * `uiPort` and `codecEndpoint` (the dev server's Web UI): see stack/temporal.ts.
   */
  temporal?:
    | false
    | { ui?: boolean; uiPort?: number; codecEndpoint?: string; kind?: 'dev' | 'cluster'; historyServices?: number; shards?: number };
  kube?: false | { crdDirs?: string[] };
  sushy?: false | { systems: number; powerDelay?: number | 'stock'; password?: string };
  ipmi?: false | { bmcs: number; password?: string };
  /**
   * The real Cluster API core, kubeadm bootstrap and CAPM3 managers against the stack's apiserver (`stack/capi.ts`);
   * off by default (their first build takes minutes). Needs `kube`.
   */
  capi?: false | { extraArgs?: Parameters<typeof startCapi>[0]['extraArgs'] };
  progress?: Progress;
}

export interface Stack {
  stateDir: string;
  temporal: TemporalServer | undefined;
  kube: KubeApi | undefined;
  sushy: SushyEmulator | undefined;
  ipmi: IpmiSim[];
  capi: CapiControllers | undefined;
  stop(): Promise<void>;
}

const quiet: Progress = () => {};

function uiOptions(options: { uiPort?: number; codecEndpoint?: string }): { uiPort?: number; codecEndpoint?: string } {
  return {
    ...(options.uiPort ? { uiPort: options.uiPort } : {}),
    ...(options.codecEndpoint ? { codecEndpoint: options.codecEndpoint } : {}),
  };
}

/**
 * Starts the servers asked for (all by default; sushy with 2 systems and 1 ipmi_sim). On failure, whatever
 * already started is stopped before the error propagates.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  // A directory of its own making is removed by stop() (servers' data, logs, tests' disk images: GBs), unless
  // TEMPERED_KEEP_STATE is set to look at it afterwards; a directory given is the caller's.
  const ownDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'tempered-stack-'));
  mkdirSync(stateDir, { recursive: true });
  const progress = options.progress ?? quiet;
  const sub = (name: string) => {
    const dir = join(stateDir, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const stack: Stack = {
    stateDir,
    temporal: undefined,
    kube: undefined,
    sushy: undefined,
    ipmi: [],
    capi: undefined,
    async stop() {
      await stack.capi?.stop();
      await Promise.all([
        stack.temporal?.stop(),
        stack.kube?.stop(),
        stack.sushy?.stop(),
        ...stack.ipmi.map((b) => b.stop()),
      ]);
      if (ownDir && !keepState()) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  try {
    // The slow, CPU-bound starts (Temporal, apiserver) overlap; the BMC peers are quick.
    const temporalOpt = options.temporal ?? {};
    const kubeOpt = options.kube ?? {};
    const sushyOpt = options.sushy ?? { systems: 2 };
    const ipmiOpt = options.ipmi ?? { bmcs: 1 };
    if (options.capi && !kubeOpt) throw new Error('the Cluster API controllers need the stack\'s kube-apiserver (kube: false was given)');
    // The managers' first build takes minutes: it runs beside the other starts, with the workload clusters'
    // kube-controller-manager (stack/workload-cluster.ts), which Cluster API tests start next.
    const capiBuild = options.capi ? Promise.all([capiBinaries(progress), kubeControllerManager(progress)]) : undefined;
    await Promise.all([
      capiBuild,
      temporalOpt && (temporalOpt.kind === 'cluster'
        ? startTemporalCluster({ stateDir: sub('temporal'), historyServices: temporalOpt.historyServices, shards: temporalOpt.shards, progress })
        : startTemporal({ stateDir: sub('temporal'), ui: temporalOpt.ui ?? false, progress, ...uiOptions(temporalOpt) })).then((t) => (stack.temporal = t)),
      kubeOpt &&
        startKube({ stateDir: sub('kube'), crdDirs: kubeOpt.crdDirs ?? [PROJECT_CRD_DIR], progress }).then(async (k) => {
          stack.kube = k;
          if (!options.capi) return;
          await capiBuild;
          stack.capi = await startCapi({ stateDir: sub('capi'), kube: k, progress, ...options.capi });
        }),
      sushyOpt && startSushy({ stateDir: sub('sushy'), systems: sushyOpt.systems, powerDelay: sushyOpt.powerDelay, ...(sushyOpt.password ? { password: sushyOpt.password } : {}), progress }).then((s) => (stack.sushy = s)),
      ipmiOpt && (async () => {
        for (let i = 0; i < ipmiOpt.bmcs; i++) stack.ipmi.push(await startIpmiSim({ stateDir: sub(`ipmi-${i}`), ...(ipmiOpt.password ? { password: ipmiOpt.password } : {}), progress }));
      })(),
    ]);
    return stack;
  } catch (err) {
    await stopAllProcesses();
    throw err;
  }
}
