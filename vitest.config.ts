// Test tiers, split by realism and all run by `npm test` (STYLE.md):
//   unit        *.test.ts anywhere: pure logic, fakes, no servers
//   replay      test/replay/**: stored histories replayed against the current workflow code
//   integration *.int.test.ts: the real local stack (Temporal dev server, kube-apiserver + etcd,
//               sushy-tools, ipmi_sim, the simulator), started once by test/stack-setup.ts
//   capi        test/capi/*.int.test.ts: a stack of their own with the real Cluster API, kubeadm bootstrap
//               and CAPM3 controllers (same set-up file, `capi` project)
import { defineConfig } from 'vitest/config';

const serverTimeouts = { testTimeout: 120_000, hookTimeout: 900_000, teardownTimeout: 60_000 };

export default defineConfig({
  test: {
    pool: 'forks',
    // Two files at a time on this 2-core machine (vitest's default is cores - 1): an integration file spends much
    // of its time waiting on servers, BMC delays and timers, so one file alone left a core idle. Each worker gets
    // a stack of its own (test/stack-setup.ts), so integration files never share a server while they run.
    maxWorkers: 2,
    setupFiles: ['test/setup-runtime.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // A ceiling, not a wait: CPU-heavy unit tests (a 64 MiB gzip, 200 requests to a simulated BMC) take
          // seconds on a loaded 2-core CI machine; vitest's 5 s default failed them there.
          testTimeout: 30_000,
          include: ['{domain,workflows,activities,workers,bridge,agent-api,sim,stack,cli,deploy,lib,test,bench}/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'test/replay/**', 'node_modules/**'],
        },
      },
      {
        extends: true,
        // hookTimeout: a ceiling for bundling the workflow code once, which took over 10 s at load 20.
        test: { name: 'replay', include: ['test/replay/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000 },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          exclude: ['node_modules/**', 'test/capi/**'],
          globalSetup: ['test/stack-setup.ts'],
          ...serverTimeouts,
        },
      },
      {
        extends: true,
        test: {
          name: 'capi',
          include: ['test/capi/**/*.int.test.ts'],
          // One file at a time on one stack: each starts the Cluster API controllers and workload clusters.
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
          globalSetup: ['test/stack-setup.ts'],
          ...serverTimeouts,
        },
      },
    ],
  },
});
