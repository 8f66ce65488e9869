import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { trackMount, unmount } from './mounts';

export interface KernelMount {
  mountpoint: string;
  unmount(): void;
}

/**
 * Mounts kernel overlayfs over `lower` (top first). Layer paths are passed relative to their common
 * parent (the mount runs there), so hundreds of layers fit in one page of mount options.
 */
export function mountKernelOverlay(opts: { lower: string[]; upper?: string; work?: string; mountpoint: string; extra?: string[] }): KernelMount {
  const cwd = path.dirname(opts.lower[0]);
  const rel = (p: string) => (path.dirname(p) === cwd ? path.basename(p) : p);
  const options = [`lowerdir=${opts.lower.map(rel).join(':')}`];
  if (opts.upper) options.push(`upperdir=${rel(opts.upper)}`, `workdir=${rel(opts.work!)}`);
  options.push(...(opts.extra ?? []));
  fs.mkdirSync(opts.mountpoint, { recursive: true });
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', options.join(','), opts.mountpoint], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  trackMount(opts.mountpoint);
  return { mountpoint: opts.mountpoint, unmount: () => unmount(opts.mountpoint) };
}

/** Runs `fn` with a kernel overlay mounted, unmounting whatever happens. */
export async function withKernelOverlay<T>(opts: Parameters<typeof mountKernelOverlay>[0], fn: (m: KernelMount) => T | Promise<T>): Promise<T> {
  const m = mountKernelOverlay(opts);
  try {
    return await fn(m);
  } finally {
    m.unmount();
  }
}

