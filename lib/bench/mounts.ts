/**
 * Mounting each implementation over the same lower layers, always on a fresh upper, work and
 * mount point directory: layerfs through its own mount program in the foreground (so the server is
 * our child: its CPU time and RSS can be read), kernel overlayfs with mount(8), fuse-overlayfs and
 * --impl commands as fuse-overlayfs is called. Every mount is undone by the caller (withMount) and,
 * as a last resort, by the exit hook here; servers we started are killed by PID.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SERVER_NODE_FLAGS } from '../cli/mount-command';
import { isMounted, removeDir, sleep } from './system';
import type { ImplSpec } from './types';

/** The layerfs mount program of this build. */
export const LAYERFS_CLI = path.join(__dirname, '..', 'cli', 'main.js');

export interface Stack {
  dir: string;
  lower: string[];
  upper: string;
  work: string;
  mountpoint: string;
}

export interface Mounted {
  mountpoint: string;
  upper: string;
  /** The user-space server's PID (null: the kernel, or a command that went to the background). */
  pid: number | null;
  unmount(): Promise<void>;
}

const liveMounts = new Set<string>();
const liveChildren = new Set<ChildProcess>();

process.on('exit', () => {
  for (const mp of [...liveMounts].reverse()) {
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

let seq = 0;
/** Fresh upper, work and mount point directories under `scratch` (the filesystem measured). */
export function freshStack(scratch: string, lower: string[]): Stack {
  const dir = path.join(scratch, `s${seq++}`);
  const s = { dir, lower, upper: path.join(dir, 'u'), work: path.join(dir, 'w'), mountpoint: path.join(dir, 'm') };
  for (const d of [s.upper, s.work, s.mountpoint]) fs.mkdirSync(d, { recursive: true });
  return s;
}

function umount(mp: string): void {
  const root = process.getuid?.() === 0;
  try {
    execFileSync(root ? 'umount' : 'fusermount3', root ? [mp] : ['-u', mp], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync(root ? 'umount' : 'fusermount3', root ? ['-l', mp] : ['-uz', mp], { stdio: 'ignore' });
    } catch {
      /* reported by the caller when the mount stays */
    }
  }
}

/**
 * Kernel overlayfs. Layer paths are passed relative to the top layer's parent (mount runs there),
 * so 100 layers fit in the one page of mount options the kernel takes.
 */
function mountKernel(s: Stack, extra: string[]): Mounted {
  const cwd = path.dirname(s.lower[0]);
  const rel = (p: string) => (path.dirname(p) === cwd ? path.basename(p) : p);
  const options = [`lowerdir=${s.lower.map(rel).join(':')}`, `upperdir=${s.upper}`, `workdir=${s.work}`, ...extra];
  try {
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', options.join(','), s.mountpoint], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`kernel overlayfs mount failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
  }
  liveMounts.add(s.mountpoint);
  return {
    mountpoint: s.mountpoint,
    upper: s.upper,
    pid: null,
    unmount: async () => {
      umount(s.mountpoint);
      liveMounts.delete(s.mountpoint);
    },
  };
}

/** A FUSE server started as `argv... -o lowerdir=..,upperdir=..,workdir=..[,options] MNT`; waits for the mount. */
async function mountCommand(name: string, argv: string[], options: string[], s: Stack, env: NodeJS.ProcessEnv): Promise<Mounted> {
  const o = [`lowerdir=${s.lower.join(':')}`, `upperdir=${s.upper}`, `workdir=${s.work}`, ...options].join(',');
  const child = spawn(argv[0], [...argv.slice(1), '-o', o, s.mountpoint], { stdio: ['ignore', 'ignore', 'pipe'], env });
  liveChildren.add(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const st: { exit: number | null } = { exit: null };
  const exited = new Promise<void>((r) => child.once('close', (code, signal) => {
    st.exit = code ?? (signal ? 128 : 0);
    liveChildren.delete(child);
    r();
  }));
  child.once('error', (err) => (stderr += err.message));
  liveMounts.add(s.mountpoint);
  const t0 = Date.now();
  while (!isMounted(s.mountpoint)) {
    if (st.exit !== null && st.exit !== 0) {
      liveMounts.delete(s.mountpoint);
      throw new Error(`${name}: mount failed (exit ${st.exit}): ${stderr.trim().split('\n').pop() ?? ''}`);
    }
    if (Date.now() - t0 > 30_000) {
      child.kill('SIGKILL');
      liveMounts.delete(s.mountpoint);
      throw new Error(`${name}: not mounted within 30 s`);
    }
    await sleep(st.exit === 0 ? 20 : 3);
  }
  fs.statSync(s.mountpoint); // waits for the server's INIT reply, untimed
  const foreground = st.exit === null;
  return {
    mountpoint: s.mountpoint,
    upper: s.upper,
    pid: foreground ? child.pid ?? null : null,
    unmount: async () => {
      umount(s.mountpoint);
      if (foreground) {
        const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(t);
      }
      if (isMounted(s.mountpoint)) throw new Error(`${name}: ${s.mountpoint} is still mounted after umount`);
      liveMounts.delete(s.mountpoint);
    },
  };
}

/** Mounts `impl` over `s`. */
export async function mountImpl(impl: ImplSpec, s: Stack): Promise<Mounted> {
  switch (impl.kind) {
    case 'kernel':
      return mountKernel(s, impl.options);
    case 'layerfs':
      // The mount program in the foreground, with the server's V8 flags; no warm-up (its requests
      // would run during the first measurement) unless the caller's environment asks for it.
      return mountCommand(impl.name, [process.execPath, ...SERVER_NODE_FLAGS, LAYERFS_CLI, '-f'], impl.options, s, {
        ...process.env,
        LAYERFS_WARM_UP: process.env.LAYERFS_WARM_UP ?? '0',
        LAYERFS_NO_SERVICE: '1',
      });
    case 'command':
      return mountCommand(impl.name, impl.argv!, impl.options, s, process.env);
  }
}

/** Mounts `impl` on a fresh stack, runs `fn`, and always unmounts and removes the stack. */
export async function withMount<T>(impl: ImplSpec, scratch: string, lower: string[], fn: (m: Mounted) => Promise<T>): Promise<T> {
  const s = freshStack(scratch, lower);
  try {
    const m = await mountImpl(impl, s);
    try {
      return await fn(m);
    } finally {
      await m.unmount();
    }
  } finally {
    removeDir(s.dir);
  }
}

/** Whether `impl` mounts here (null) or why not: one mount of a one-file layer, the file read back. */
export async function probeMount(impl: ImplSpec, scratch: string): Promise<string | null> {
  const dir = fs.mkdtempSync(path.join(scratch, 'probe-'));
  try {
    const lower = path.join(dir, 'l');
    fs.mkdirSync(lower);
    fs.writeFileSync(path.join(lower, 'f'), 'x');
    await withMount(impl, dir, [lower], async (m) => {
      if (fs.readFileSync(path.join(m.mountpoint, 'f'), 'utf8') !== 'x') throw new Error('read back the wrong content');
    });
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  } finally {
    removeDir(dir);
  }
}

/** Whether kernel overlayfs mounts work here (null) or why not. */
export function probeKernelOverlay(scratch: string): string | null {
  const dir = fs.mkdtempSync(path.join(scratch, 'probe-'));
  try {
    const lower = path.join(dir, 'l');
    fs.mkdirSync(lower);
    fs.writeFileSync(path.join(lower, 'f'), 'x');
    const s = freshStack(dir, [lower]);
    const m = mountKernel(s, []);
    try {
      fs.readFileSync(path.join(s.mountpoint, 'f'));
    } finally {
      umount(s.mountpoint);
      liveMounts.delete(s.mountpoint);
    }
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  } finally {
    removeDir(dir);
  }
}
