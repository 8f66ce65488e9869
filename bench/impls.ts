/**
 * The three contenders of the mount benchmarks, mounted the same way over the same layers, each on
 * a fresh upper and work directory: layerfs (bench/layerfs-server.ts in a child process), kernel
 * overlayfs (optionally with metacopy=on) and fuse-overlayfs (run in the foreground, so its PID is
 * ours). Every mount is undone in finally blocks by the callers and, as a last resort, by the exit
 * hook here (lazy umount, then the server processes we started are killed by PID).
 */
import { SERVER_NODE_FLAGS } from '../lib/cli/mount-command';
import { ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountKernelOverlay } from '../test/helpers/kernel-overlay';

/** 'layerfs': its defaults (passthrough, as root); 'layerfs-kernel-opens': opens=kernel (served I/O). */
export type ImplName = 'layerfs' | 'layerfs-kernel-opens' | 'kernel' | 'kernel-metacopy' | 'fuse-overlayfs';
export const MAIN_IMPLS: ImplName[] = ['layerfs', 'kernel', 'fuse-overlayfs'];

export interface CopyUpEvent {
  path: string;
  bytes: number;
  method: string;
  metadataOnly: boolean;
  ms: number;
}

export interface Mounted {
  impl: ImplName;
  mountpoint: string;
  upper: string;
  /** The user-space server's PID (null for the kernel). */
  pid: number | null;
  /** layerfs only: copy-up events reported by the engine so far. */
  copyUps: CopyUpEvent[];
  /** layerfs: waits for the next copy-up event (or times out with null). */
  nextCopyUp(timeoutMs?: number): Promise<CopyUpEvent | null>;
  unmount(): Promise<void>;
}

export interface StackDirs {
  lower: string[];
  upper: string;
  work: string;
  mountpoint: string;
}

const liveMounts = new Set<string>();
const liveChildren = new Set<ChildProcess>();

process.on('exit', () => {
  for (const mp of [...liveMounts]) {
    try {
      execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  }
  for (const c of liveChildren) {
    try {
      if (c.pid) process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

export function isMounted(mp: string): boolean {
  const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return lines.some((l) => l.split(' ')[4] === mp);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let stackSeq = 0;
/** Fresh upper, work and mount point directories under `scratch` (on the filesystem measured). */
export function freshStack(scratch: string, lower: string[]): StackDirs & { dir: string } {
  const dir = path.join(scratch, `s${stackSeq++}`);
  const s = { dir, lower, upper: path.join(dir, 'u'), work: path.join(dir, 'w'), mountpoint: path.join(dir, 'm') };
  for (const d of [s.upper, s.work, s.mountpoint]) fs.mkdirSync(d, { recursive: true });
  return s;
}

export function removeStack(s: { dir: string; mountpoint: string }): void {
  if (isMounted(s.mountpoint)) throw new Error(`${s.mountpoint} still mounted`);
  fs.rmSync(s.dir, { recursive: true, force: true });
}

const LAYERFS_SERVER = path.join(__dirname, 'layerfs-server.js');

async function mountLayerfs(s: StackDirs, opts: { volatile?: boolean; passthrough?: boolean; opens?: 'kernel' | 'server' }): Promise<Mounted> {
  // The same V8 flags as the layerfs mount program's server.
  const execArgv = [...SERVER_NODE_FLAGS, ...(process.env.LAYERFS_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LAYERFS_BENCH_PROF}`] : [])];
  const child = fork(LAYERFS_SERVER, [JSON.stringify({ lower: s.lower, upper: s.upper, work: s.work, mountpoint: s.mountpoint, ...opts })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
  });
  liveChildren.add(child);
  const copyUps: CopyUpEvent[] = [];
  let waiter: ((e: CopyUpEvent) => void) | null = null;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  void exited.then(() => liveChildren.delete(child));
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (m: { type: string; event?: CopyUpEvent; message?: string }) => {
      if (m.type === 'ready') resolve();
      else if (m.type === 'failed') reject(new Error(`layerfs mount failed: ${m.message}`));
      else if (m.type === 'copy-up') {
        copyUps.push(m.event!);
        const w = waiter;
        waiter = null;
        w?.(m.event!);
      }
    });
    void exited.then(() => reject(new Error('layerfs server exited before ready')));
  });
  await ready;
  liveMounts.add(s.mountpoint);
  return {
    impl: 'layerfs',
    mountpoint: s.mountpoint,
    upper: s.upper,
    pid: child.pid!,
    copyUps,
    nextCopyUp: (timeoutMs = 30000) =>
      new Promise((resolve) => {
        const t = setTimeout(() => {
          waiter = null;
          resolve(null);
        }, timeoutMs);
        waiter = (e) => {
          clearTimeout(t);
          resolve(e);
        };
      }),
    unmount: async () => {
      if (child.exitCode === null) {
        child.send({ type: 'unmount' });
        const t = setTimeout(() => child.kill('SIGKILL'), 30000);
        await exited;
        clearTimeout(t);
      }
      if (isMounted(s.mountpoint)) execFileSync('umount', ['-l', s.mountpoint], { stdio: 'ignore' });
      liveMounts.delete(s.mountpoint);
    },
  };
}

async function mountFuseOverlayfs(s: StackDirs): Promise<Mounted> {
  const child = spawn('fuse-overlayfs', ['-f', '-o', `lowerdir=${s.lower.join(':')},upperdir=${s.upper},workdir=${s.work}`, s.mountpoint], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  liveChildren.add(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  void exited.then(() => liveChildren.delete(child));
  liveMounts.add(s.mountpoint);
  const t0 = Date.now();
  while (!isMounted(s.mountpoint)) {
    if (child.exitCode !== null) throw new Error(`fuse-overlayfs exited (${child.exitCode}): ${stderr.trim()}`);
    if (Date.now() - t0 > 20000) throw new Error('fuse-overlayfs did not mount within 20 s');
    await sleep(5);
  }
  return {
    impl: 'fuse-overlayfs',
    mountpoint: s.mountpoint,
    upper: s.upper,
    pid: child.pid!,
    copyUps: [],
    nextCopyUp: async () => null,
    unmount: async () => {
      try {
        execFileSync('fusermount3', ['-u', s.mountpoint], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', s.mountpoint], { stdio: 'ignore' });
      }
      const t = setTimeout(() => child.kill('SIGKILL'), 30000);
      await exited;
      clearTimeout(t);
      liveMounts.delete(s.mountpoint);
    },
  };
}

function mountKernel(s: StackDirs, extra: string[]): Mounted {
  const m = mountKernelOverlay({ lower: s.lower, upper: s.upper, work: s.work, mountpoint: s.mountpoint, extra });
  liveMounts.add(s.mountpoint);
  return {
    impl: extra.includes('metacopy=on') ? 'kernel-metacopy' : 'kernel',
    mountpoint: s.mountpoint,
    upper: s.upper,
    pid: null,
    copyUps: [],
    nextCopyUp: async () => null,
    unmount: async () => {
      m.unmount();
      liveMounts.delete(s.mountpoint);
    },
  };
}

/** Mounts `impl` over `s`; kernel mounts get metacopy=off unless impl is 'kernel-metacopy'. */
export async function mountImpl(impl: ImplName, s: StackDirs, opts: { volatile?: boolean } = {}): Promise<Mounted> {
  switch (impl) {
    case 'layerfs':
      return mountLayerfs(s, { volatile: opts.volatile });
    case 'layerfs-kernel-opens':
      return mountLayerfs(s, { volatile: opts.volatile, opens: 'kernel' });
    case 'kernel':
      return mountKernel(s, ['metacopy=off', ...(opts.volatile ? ['volatile'] : [])]);
    case 'kernel-metacopy':
      return mountKernel(s, ['metacopy=on', ...(opts.volatile ? ['volatile'] : [])]);
    case 'fuse-overlayfs':
      return mountFuseOverlayfs(s);
  }
}

/**
 * Mounts `impl` on a fresh stack, runs `fn`, and always unmounts and removes the stack.
 */
export async function withMount<T>(impl: ImplName, scratch: string, lower: string[], fn: (m: Mounted) => T | Promise<T>, opts: { volatile?: boolean } = {}): Promise<T> {
  const s = freshStack(scratch, lower);
  try {
    const m = await mountImpl(impl, s, opts);
    try {
      return await fn(m);
    } finally {
      await m.unmount();
    }
  } finally {
    removeStack(s);
  }
}

/** VmRSS and VmHWM of a process, in bytes. */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(st.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Whether fuse-overlayfs is installed. */
export function fuseOverlayfsAvailable(): boolean {
  try {
    execFileSync('fuse-overlayfs', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
