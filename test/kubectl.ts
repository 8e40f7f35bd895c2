/** The stack's kubectl, as the admin, from tests: stdout and stderr, stdin when given, a readable failure. */
import { spawn } from 'node:child_process';
import type { StackInfo } from './stack-info.ts';

export interface KubectlResult {
  stdout: string;
  stderr: string;
}

/** What a kubectl run ended with, failures included. */
export interface KubectlOutcome extends KubectlResult {
  /** The exit code (-1 when killed by a signal). */
  code: number;
}

/** The kubectl binary and the kubeconfig it runs with (`stack.kube`, or another apiserver's). */
export interface KubectlTarget {
  kubectl: string;
  kubeconfig: string;
}

/** Runs `kubectl --kubeconfig <target's> ...args` and resolves with how it ended, a non-zero exit included. */
export function kubectlOutcome(target: KubectlTarget, args: string[], input?: string): Promise<KubectlOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(target.kubectl, ['--kubeconfig', target.kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Runs `kubectl --kubeconfig <the stack's admin> ...args`; rejects with stderr when it exits non-zero. */
export async function kubectl(stack: Pick<StackInfo, 'kube'>, args: string[], input?: string): Promise<KubectlResult> {
  const { code, stdout, stderr } = await kubectlOutcome(stack.kube, args, input);
  if (code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${code}: ${stderr.trim()}`);
  return { stdout, stderr };
}
