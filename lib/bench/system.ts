/**
 * What the bench needs from the machine: page-cache drop counts, keeping files in memory, dropping
 * one file's pages, a server's CPU time and peak RSS, which tools are installed, mount checks.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Page-cache drops made by anyone on the machine so far (/proc/vmstat drop_pagecache); null: unknown. */
export function dropCount(): number | null {
  try {
    const m = fs.readFileSync('/proc/vmstat', 'utf8').match(/^drop_pagecache (\d+)$/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Whether `cmd` runs (found on PATH and answers `args`). */
export function hasCommand(cmd: string, args = ['--version']): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch (err) {
    // Ran but disliked the arguments: it is there.
    return (err as { code?: string }).code !== 'ENOENT' && typeof (err as { status?: unknown }).status === 'number';
  }
}

export function isMounted(mp: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === mp);
}

/** Whether a mount is live at or below `dir`. */
export function mountedUnder(dir: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => {
    const mp = l.split(' ')[4];
    return mp !== undefined && (mp === dir || mp.startsWith(dir + '/'));
  });
}

/** Removes `dir`, but never descends into a live mount. */
export function removeDir(dir: string): void {
  if (mountedUnder(dir)) {
    process.stderr.write(`layerfs bench: not removing ${dir}: a mount below it is still live\n`);
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Drops one file's pages from the page cache (posix_fadvise DONTNEED): never the machine's caches. */
export function dropFileCache(files: string[]): void {
  if (files.length === 0) return;
  execFileSync('python3', ['-c',
    'import os,sys\nfor p in sys.argv[1:]:\n fd=os.open(p,os.O_RDONLY)\n os.fdatasync(fd)\n os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)\n os.close(fd)', ...files]);
}

/** sync, then drops the page cache, dentries and inodes of the whole machine (root). */
export function dropMachineCaches(): void {
  execFileSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}

const MLOCK_PY = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mlock.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    size = os.fstat(fd).st_size
    if size == 0: continue
    a = libc.mmap(None, size, 1, 1, fd, 0)
    if a is None or a == ctypes.c_void_p(-1).value: sys.exit('mmap failed')
    if libc.mlock(ctypes.c_void_p(a), size) != 0: sys.exit('mlock failed, errno %d' % ctypes.get_errno())
print('locked', flush=True)
sys.stdin.read()
`;

export interface MemoryLock {
  release(): Promise<void>;
}

/**
 * Keeps `files` in memory (mmap + mlock in a python3 child) until release(): other users of the
 * machine drop the page cache often, and a cached figure must not read the disk.
 */
export async function lockInMemory(files: string[]): Promise<MemoryLock> {
  const child: ChildProcess = spawn('python3', ['-c', MLOCK_PY, ...files], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const onExit = () => child.kill('SIGKILL');
  process.on('exit', onExit);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('error', reject);
    void exited.then(() => reject(new Error(`cannot keep ${files.join(', ')} in memory: ${stderr.trim() || 'mlock helper exited'}`)));
  });
  return {
    release: async () => {
      child.stdin!.end();
      await exited;
      process.off('exit', onExit);
    },
  };
}

let clockTicks: number | null = null;
function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time (user + system, all threads) of a process so far, in ms; null when it is gone. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** Peak resident size (VmHWM) of a process, in MiB; null when it is gone. */
export function processPeakRssMiB(pid: number): number | null {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+) kB/m);
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Flushes the filesystem holding `p` (untimed, between samples: no one's writeback leaks into the next). */
export function syncFs(p: string): void {
  try {
    execFileSync('sync', ['-f', p], { stdio: 'ignore' });
  } catch {
    /* best effort */
  }
}

/** The filesystem type holding `p` (from /proc/self/mountinfo: the longest mount point prefix). */
export function filesystemOf(p: string): string {
  let best = '';
  let type = 'unknown';
  const real = fs.realpathSync(p);
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = l.split(' ');
    const mp = f[4];
    if (mp === undefined) continue;
    if ((real === mp || real.startsWith(mp.endsWith('/') ? mp : mp + '/')) && mp.length >= best.length) {
      best = mp;
      const dash = f.indexOf('-');
      type = dash > 0 ? f[dash + 1] : 'unknown';
    }
  }
  return `${type} (${best || '/'})`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A new directory for one run (layerfs-bench- prefix), under `parent`. */
export function runDirectory(parent: string): string {
  fs.mkdirSync(parent, { recursive: true });
  return fs.mkdtempSync(path.join(parent, 'layerfs-bench-'));
}
