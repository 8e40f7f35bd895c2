import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PROCESS_MODULE = fileURLToPath(new URL('./process.ts', import.meta.url));

describe("the Temporal runtime of Tempered's processes", () => {
  it("leaves SIGUSR2 (Node's heap-snapshot signal) and SIGQUIT alone, and drains on SIGTERM and SIGINT", () => {
    // In a process of its own: the runtime is a per-process singleton, and the test process has one already.
    const script = `
      import pino from 'pino';
      import { installTemporalRuntime } from ${JSON.stringify(PROCESS_MODULE)};
      const count = () => Object.fromEntries(['SIGUSR2', 'SIGQUIT', 'SIGTERM', 'SIGINT'].map((s) => [s, process.listenerCount(s)]));
      const before = count();
      await installTemporalRuntime(pino({ level: 'silent' }));
      console.log(JSON.stringify({ before, after: count() }));
      process.exit(0);
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8', timeout: 30_000 });
    const { before, after } = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<'before' | 'after', Record<string, number>>;
    // The SDK's default list shuts every worker of the process down for good on all four.
    expect(after).toEqual({ SIGUSR2: before.SIGUSR2, SIGQUIT: before.SIGQUIT, SIGTERM: before.SIGTERM! + 1, SIGINT: before.SIGINT! + 1 });
  });
});
