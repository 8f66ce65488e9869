import { execFileSync } from 'node:child_process';

/**
 * Every mount a test makes is tracked here and detached when the process exits, even after a failed
 * assertion or Ctrl-C: no test leaves a mount behind.
 */
const live = new Set<string>();

export function trackMount(mountpoint: string): void {
  live.add(mountpoint);
}

/** Unmounts (lazily if busy) and stops tracking. */
export function unmount(mountpoint: string): void {
  try {
    execFileSync('umount', [mountpoint], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('umount', ['-l', mountpoint], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  live.delete(mountpoint);
}

export function untrackMount(mountpoint: string): void {
  live.delete(mountpoint);
}

process.on('exit', () => {
  for (const mp of [...live].reverse()) unmount(mp);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}
