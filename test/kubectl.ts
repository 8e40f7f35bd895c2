/** The stack's kubectl, as the admin, from tests: stdout and stderr, stdin when given, a readable failure. */
import { spawn } from 'node:child_process';
import type { StackInfo } from './stack-info.ts';

export interface KubectlResult {
  stdout: string;
  stderr: string;
}

/** Runs `kubectl --kubeconfig <the stack's admin> ...args`; rejects with stderr when it exits non-zero. */
export function kubectl(stack: Pick<StackInfo, 'kube'>, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(stack.kube.kubectl, ['--kubeconfig', stack.kube.kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`kubectl ${args.join(' ')} exited ${code}: ${stderr.trim()}`))));
    child.stdin.end(input ?? '');
  });
}
