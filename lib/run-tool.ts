/**
 * Runs one of the system tools images need (xorriso, qemu-img) to completion: stdout collected, the tail of
 * stderr kept for the message, an abort signal honoured, and a tool that cannot start reported with the Debian
 * package that provides it.
 */
import { spawn } from 'node:child_process';
import { ImageError } from './image-error.ts';

export interface ToolRun {
  code: number | null;
  stdout: string;
  /** The last 4000 characters of stderr. */
  stderr: string;
}

/** Runs `command` with `args`; rejects only when it cannot run (InternalError naming `debianPackage`) or is aborted. */
export async function runTool(
  command: string,
  args: string[],
  options: {
    debianPackage: string;
    env?: NodeJS.ProcessEnv;
    signal?: AbortSignal;
    /** Sees stdout as it arrives (progress lines); it is collected all the same. */
    onStdout?: (text: string) => void;
  },
): Promise<ToolRun> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env ? { env: options.env } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    options.onStdout?.(d);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  }).catch((err: unknown) => {
    options.signal?.throwIfAborted();
    const why = (err as { code?: string }).code ?? (err as Error).message;
    throw new ImageError('InternalError', `${command} cannot run (${why}); install Debian's ${options.debianPackage}`, {
      cause: err,
    });
  });
  return { code, stdout, stderr };
}
