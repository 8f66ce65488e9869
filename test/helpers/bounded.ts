import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { abortFuseMountsUnder } from './mounts';

export interface Bounded {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The deadline passed: the FUSE mounts under the test's directory were aborted, the child killed. */
  hung: boolean;
}

/**
 * Runs a program that might hang on a FUSE mount waiting on itself (an unkillable wait): past
 * `ms`, the FUSE connections of the mounts under `under` are aborted (the one way out of such a
 * wait) and the child is killed, so a failing test fails, never hangs.
 */
export function runBounded(file: string, args: string[], opts: { under: string; ms?: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<Bounded> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let hung = false;
    const deadline = setTimeout(() => {
      hung = true;
      abortFuseMountsUnder(opts.under);
      child.kill('SIGKILL');
    }, opts.ms ?? 20_000);
    child.once('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr, hung });
    });
  });
}

/** The mount points under `prefix`, newest last. */
export function fuseMountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).filter((f) => f.length > 4)
    .map((f) => f[4].replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((mp) => mp === prefix || mp.startsWith(prefix + '/'));
}

/**
 * Leaves nothing mounted under `prefix` without ever waiting on a mount that waits on itself:
 * aborts their FUSE connections first, then detaches them.
 */
export function releaseMountsUnder(prefix: string): void {
  abortFuseMountsUnder(prefix);
  for (const mp of fuseMountsUnder(prefix).reverse()) {
    try {
      execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  }
}
