/**
 * Mount benchmarks: layerfs (FUSE, kernel passthrough) against kernel overlayfs and fuse-overlayfs,
 * over the same lower layers, each mount on a fresh upper and work directory, the implementations
 * interleaved (the order flips every round) and the medians reported with their ratio to the kernel.
 *
 *   mount-data  A. sequential read of a 1 GiB lower file (cold, cached), 4k random read QD1 (cached,
 *               fio --readonly --invalidate=0), sequential write 1 GiB + fsync
 *   mount-meta  B. warm lstat of a ~20k-entry tree copied from /usr, first readdir + lstat of a 10k
 *               directory, create + 4 KiB write + unlink of 5k files, lookup under 100 layers
 *   mount-rss   D. server RSS after walking a 200k-file tree (20k with --quick)
 *   copyup      C. first 1-byte append to lower files (1 MiB, 100 MiB, 1 GiB, 1 GiB sparse) and
 *               chmod of a 1 GiB file, on ext4 (/tmp) and on an xfs reflink loop filesystem
 *
 * Measuring rules (docs: /work/shared/notes/measured-facts.md): warm data is mlock'ed (python3 +
 * ctypes) while cached figures are taken, cold figures drop only the file's own cache
 * (posix_fadvise DONTNEED), and every sample records /proc/vmstat drop_pagecache so that samples hit
 * by someone else's drop_caches can be spotted in the JSON.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildLookupFixture, buildReaddirFixture } from './fixtures';
import { fuseOverlayfsAvailable, ImplName, MAIN_IMPLS, Mounted, procMemory, withMount } from './impls';
import { dropCount, Measure, median, summarise } from './measure';
import { makeRow3, Row, WorkloadOptions, WorkloadResult } from './types';

/** The mount program container tools run (native-bindings/src/launcher.c). */
const LAUNCHER = path.join(__dirname, '..', '..', 'native-bindings', 'build', 'Release', 'layerfs');

const GiB = 1 << 30;
const MiB = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Sample bookkeeping

class Samples {
  readonly values = new Map<string, Map<string, number[]>>();
  readonly drops = new Map<string, Map<string, number[]>>();
  readonly order: string[] = [];

  add(key: string, impl: string, value: number, drops = 0): void {
    if (!this.values.has(key)) {
      this.values.set(key, new Map());
      this.drops.set(key, new Map());
      this.order.push(key);
    }
    const v = this.values.get(key)!;
    const d = this.drops.get(key)!;
    if (!v.has(impl)) {
      v.set(impl, []);
      d.set(impl, []);
    }
    v.get(impl)!.push(value);
    d.get(impl)!.push(drops);
  }

  measure(key: string, impl: string): Measure | null {
    const xs = this.values.get(key)?.get(impl);
    return xs && xs.length > 0 ? summarise(xs, 'per-call') : null;
  }

  row(group: string, key: string, impls: { layerfs?: string; kernel?: string; fuse?: string } = {}, extra: Parameters<typeof makeRow3>[3] = {}): Row {
    return makeRow3(group, key, {
      layerfs: this.measure(key, impls.layerfs ?? 'layerfs'),
      kernel: this.measure(key, impls.kernel ?? 'kernel'),
      fuse: this.measure(key, impls.fuse ?? 'fuse-overlayfs'),
    }, extra);
  }

  toJSON(): unknown {
    const o: Record<string, unknown> = {};
    for (const k of this.order) {
      o[k] = Object.fromEntries([...this.values.get(k)!].map(([impl, xs]) => [impl, { samples: xs, drops: this.drops.get(k)!.get(impl) }]));
    }
    return o;
  }
}

/** Times `fn` (µs) and counts the machine's page-cache drops meanwhile. */
async function timed(fn: () => unknown): Promise<{ us: number; drops: number }> {
  const d0 = dropCount() ?? 0;
  const t0 = process.hrtime.bigint();
  await fn();
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  return { us, drops: (dropCount() ?? 0) - d0 };
}

function implsFor(opts: WorkloadOptions, extra: ImplName[] = []): ImplName[] {
  const fuse = fuseOverlayfsAvailable();
  if (!fuse) opts.log('fuse-overlayfs not found: its column stays empty');
  return [...MAIN_IMPLS, ...extra].filter((i) => (i.startsWith('kernel') ? opts.kernel : i === 'fuse-overlayfs' ? fuse : true));
}

/** Runs `fn` for every implementation, `rounds` times, the order reversed every other round. */
async function interleave(impls: ImplName[], rounds: number, fn: (impl: ImplName, round: number) => Promise<void>): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const impl of round % 2 === 0 ? impls : [...impls].reverse()) await fn(impl, round);
  }
}

function tempBase(label: string, parent = '/tmp'): string {
  return fs.mkdtempSync(path.join(parent, `layerfs-bench-${label}-`));
}

function rmrf(p: string): void {
  const mounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => {
    const mp = l.split(' ')[4];
    return mp !== undefined && (mp === p || mp.startsWith(p + '/'));
  });
  if (mounted) {
    process.stderr.write(`bench: not removing ${p}: a mount below it is still live\n`);
    return;
  }
  fs.rmSync(p, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// File helpers

/** Writes `size` bytes of incompressible data (a random MiB repeated) and fsyncs. */
function writeDataFile(file: string, size: number): void {
  const buf = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 4) buf.writeUInt32LE((Math.random() * 0xffffffff) >>> 0, i);
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < size; off += MiB) fs.writeSync(fd, buf, 0, Math.min(MiB, size - off));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A 1 GiB sparse file with 4 KiB of data in the middle. */
function writeSparseFile(file: string, size: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, Buffer.alloc(4096, 7), 0, 4096, Math.floor(size / 2));
    fs.ftruncateSync(fd, size);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const readBuf = Buffer.allocUnsafe(MiB);
/** Reads the whole file with 1 MiB reads; returns the bytes read. */
function readAll(file: string): number {
  const fd = fs.openSync(file, 'r');
  let total = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, readBuf, 0, MiB, null);
      if (n === 0) break;
      total += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

/** Drops one file's pages from the page cache (not the whole machine's). */
function dropFileCache(file: string): void {
  execFileSync('python3', ['-c', 'import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY)\nos.fdatasync(fd)\nos.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)', file]);
}

/** Pages of `file` in the page cache, in bytes (fincore). */
function cachedBytes(file: string): number | null {
  try {
    const out = execFileSync('fincore', ['-b', '-n', '-o', 'RES', file], { encoding: 'utf8' }).trim();
    return Number(out);
  } catch {
    return null;
  }
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
    a = libc.mmap(None, size, 1, 1, fd, 0)
    if a is None or a == ctypes.c_void_p(-1).value: sys.exit('mmap failed')
    if libc.mlock(ctypes.c_void_p(a), size) != 0: sys.exit('mlock failed, errno %d' % ctypes.get_errno())
print('locked', flush=True)
sys.stdin.read()
`;

/** Keeps `files` in memory (mmap + mlock in a python3 child) until release() is called. */
async function lockInMemory(files: string[]): Promise<{ release(): Promise<void> }> {
  const child: ChildProcess = spawn('python3', ['-c', MLOCK_PY, ...files], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const onExit = () => child.kill('SIGKILL');
  process.on('exit', onExit);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    void exited.then(() => reject(new Error('mlock helper exited')));
  });
  return {
    release: async () => {
      child.stdin!.end();
      await exited;
      process.off('exit', onExit);
    },
  };
}

function fio(file: string, runtime: number): { iops: number; clat50_us: number } {
  const out = execFileSync('fio', [
    '--name=rr', `--filename=${file}`, '--readonly', '--invalidate=0', '--rw=randread', '--bs=4k', '--ioengine=psync',
    '--time_based', `--runtime=${runtime}`, '--output-format=json',
  ], { encoding: 'utf8', maxBuffer: 64 * MiB });
  const j = JSON.parse(out.slice(out.indexOf('{')));
  const r = j.jobs[0].read;
  return { iops: r.iops, clat50_us: (r.clat_ns?.percentile?.['50.000000'] ?? NaN) / 1000 };
}

/** Syncs the filesystem holding `p` (untimed, between samples: nobody's writeback leaks into the next). */
function syncfs(p: string): void {
  execFileSync('sync', ['-f', p]);
}

// ---------------------------------------------------------------------------------------------
// A. data path

export async function runMountData(opts: WorkloadOptions): Promise<WorkloadResult> {
  const G = 'A. data path (mount)';
  const size = opts.quick ? 256 * MiB : GiB;
  const label = opts.quick ? '256 MiB' : '1 GiB';
  const rounds = opts.quick ? 1 : 3;
  const fioRuntime = opts.quick ? 2 : 5;
  // layerfs twice: its default (passthrough, as root) and opens=kernel (served I/O)
  const impls = implsFor(opts, ['layerfs-kernel-opens']);
  const base = tempBase('data');
  const s = new Samples();
  const notes: Record<string, unknown> = {};
  try {
    const lower = path.join(base, 'lower');
    const scratch = path.join(base, 'stacks');
    fs.mkdirSync(lower);
    fs.mkdirSync(scratch);
    const big = path.join(lower, 'big');
    opts.log(`mount-data: writing a ${label} lower file`);
    writeDataFile(big, size);

    const coldKey = `sequential read ${label}, cold`;
    opts.log(`mount-data: ${coldKey}`);
    const residual: Record<string, number[]> = {};
    await interleave(impls, rounds, async (impl) => {
      await withMount(impl, scratch, [lower], async (m) => {
        dropFileCache(big);
        (residual[impl] ??= []).push(cachedBytes(big) ?? -1);
        const t = await timed(() => readAll(path.join(m.mountpoint, 'big')));
        s.add(coldKey, impl, t.us, t.drops);
      });
    });
    notes.coldResidentBytesBefore = residual;

    const lock = await lockInMemory([big]);
    try {
      const cachedKey = `sequential read ${label}, cached`;
      opts.log(`mount-data: ${cachedKey}`);
      await interleave(impls, rounds, async (impl) => {
        await withMount(impl, scratch, [lower], async (m) => {
          const f = path.join(m.mountpoint, 'big');
          readAll(f); // warm whatever the implementation caches itself
          for (let i = 0; i < 3; i++) {
            const t = await timed(() => readAll(f));
            s.add(cachedKey, impl, t.us, t.drops);
          }
        });
      });
      const rrKey = '4k random read QD1, cached (fio psync)';
      opts.log(`mount-data: ${rrKey}`);
      const clat: Record<string, number[]> = {};
      await interleave(impls, rounds, async (impl) => {
        await withMount(impl, scratch, [lower], async (m) => {
          const f = path.join(m.mountpoint, 'big');
          const d0 = dropCount() ?? 0;
          const r = fio(f, fioRuntime);
          s.add(rrKey, impl, 1e6 / r.iops, (dropCount() ?? 0) - d0);
          (clat[impl] ??= []).push(r.clat50_us);
        });
      });
      notes.randreadClat50us = clat;
    } finally {
      await lock.release();
    }

    const wKey = `sequential write ${label} + fsync, new file`;
    opts.log(`mount-data: ${wKey}`);
    const wbuf = Buffer.alloc(MiB, 0x5a);
    // fsync-bound on a shared disk: the first round is slow for everyone, so two more rounds.
    await interleave(impls, rounds + 2, async (impl) => {
      await withMount(impl, scratch, [lower], async (m) => {
        syncfs(scratch);
        const t = await timed(() => {
          const fd = fs.openSync(path.join(m.mountpoint, 'new'), 'w');
          try {
            for (let off = 0; off < size; off += MiB) fs.writeSync(fd, wbuf, 0, MiB);
            fs.fsyncSync(fd);
          } finally {
            fs.closeSync(fd);
          }
        });
        s.add(wKey, impl, t.us, t.drops);
      });
      syncfs(scratch);
    });

    const withPassthrough = (key: string, extra: Parameters<typeof makeRow3>[3]): Row[] => [
      s.row(G, key, {}, extra),
      makeRow3(G, '  (layerfs opens=kernel)', { layerfs: s.measure(key, 'layerfs-kernel-opens'), kernel: null, fuse: null }, extra),
    ];
    const rows = [
      ...withPassthrough(coldKey, { bytesPerOp: size, note: 'only the lower file\'s cache dropped (posix_fadvise DONTNEED) before each sample; fresh mount per sample' }),
      ...withPassthrough(`sequential read ${label}, cached`, { bytesPerOp: size, note: 'lower file mlock\'ed; 1 MiB read() calls from Node; 3 reads per mount after one warm-up read' }),
      ...withPassthrough('4k random read QD1, cached (fio psync)', { showOps: true, note: `time per read = 1/IOPS; fio --readonly --invalidate=0, ${fioRuntime} s per sample` }),
      ...withPassthrough(wKey, { bytesPerOp: size, note: '1 MiB write() calls, then fsync, upper on the /tmp ext4' }),
    ];
    return { rows, ratios: [], details: { samples: s.toJSON(), ...notes } };
  } finally {
    rmrf(base);
  }
}

// ---------------------------------------------------------------------------------------------
// B. metadata

/** Copies regular files, directories and symlinks of `src` into `dst` until `maxFiles` files. */
function copyTreeLimited(srcs: string[], dst: string, maxFiles: number): number {
  let files = 0;
  const walk = (src: string, to: string): void => {
    let names: string[];
    try {
      names = fs.readdirSync(src).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (files >= maxFiles) return;
      const a = path.join(src, name);
      const b = path.join(to, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(a);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        fs.mkdirSync(b);
        walk(a, b);
      } else if (st.isSymbolicLink()) {
        fs.symlinkSync(fs.readlinkSync(a), b);
        files++;
      } else if (st.isFile()) {
        try {
          fs.copyFileSync(a, b);
          fs.chmodSync(b, st.mode & 0o7777);
          files++;
        } catch {
          /* unreadable: skip */
        }
      }
    }
  };
  for (const src of srcs) {
    const to = path.join(dst, path.basename(src));
    fs.mkdirSync(to, { recursive: true });
    walk(src, to);
  }
  return files;
}

function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

export async function runMountMeta(opts: WorkloadOptions): Promise<WorkloadResult> {
  const G = 'B. metadata (mount)';
  const impls = implsFor(opts);
  const rounds = opts.quick ? 1 : 3;
  const base = tempBase('meta');
  const s = new Samples();
  const extra: Record<string, unknown> = {};
  const cleanups: (() => void)[] = [];
  try {
    const scratch = path.join(base, 'stacks');
    fs.mkdirSync(scratch);

    // --- warm lstat of every entry of a tree from /usr
    const maxFiles = opts.quick ? 5000 : 20000;
    const tree = path.join(base, 'tree');
    const nFiles = copyTreeLimited(['/usr/share', '/usr/lib'], tree, maxFiles);
    const entries = listTree(tree);
    extra.treeFiles = nFiles;
    extra.treeEntries = entries.length;
    const walkKey = `lstat every entry of a ${entries.length}-entry /usr tree, warm`;
    const firstKey = `lstat every entry of the tree, first pass after mount`;
    opts.log(`mount-meta: ${walkKey}`);
    for (const e of entries) fs.lstatSync(path.join(tree, e)); // warm the lower fs
    await interleave(impls, rounds, async (impl) => {
      await withMount(impl, scratch, [tree], async (m) => {
        const stAll = () => {
          for (const e of entries) fs.lstatSync(path.join(m.mountpoint, e));
        };
        const t1 = await timed(stAll);
        s.add(firstKey, impl, t1.us, t1.drops);
        for (let i = 0; i < 3; i++) {
          const t = await timed(stAll);
          s.add(walkKey, impl, t.us, t.drops);
        }
      });
    });

    // --- the same first pass, on a mount made by a layerfs server already running (the mount
    // service: docs/cli.md), as every container after the first gets it: JIT warm, caches cold.
    const warmKey = 'lstat every entry of the tree, first pass after mount, warm server (mount service)';
    if (impls.includes('layerfs') && fs.existsSync(LAUNCHER)) {
      opts.log(`mount-meta: ${warmKey}`);
      const env = { ...process.env, LAYERFS_SERVICE_LINGER: '5' };
      for (let i = 0; i < rounds + 1; i++) {
        const dir = path.join(scratch, `svc${i}`);
        for (const d of ['u', 'w', 'm']) fs.mkdirSync(path.join(dir, d), { recursive: true });
        const mnt = path.join(dir, 'm');
        execFileSync(LAUNCHER, ['-o', `lowerdir=${tree},upperdir=${dir}/u,workdir=${dir}/w`, mnt], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        try {
          const t = await timed(() => {
            for (const e of entries) fs.lstatSync(path.join(mnt, e));
          });
          if (i > 0) s.add(warmKey, 'layerfs', t.us, t.drops); // the first mount starts the server
        } finally {
          execFileSync('umount', [mnt]);
        }
      }
    }

    // --- first readdir + lstat of a 10k-entry merged directory (3 layers, whiteouts)
    const rf = buildReaddirFixture(opts.quick ? 0.5 : 1);
    cleanups.push(() => rf.remove());
    const rdKey = `first readdir + lstat of a ${rf.visible}-entry dir (3 layers)`;
    opts.log(`mount-meta: ${rdKey}`);
    for (const l of rf.lower) {
      const d = path.join(l, rf.dir);
      if (fs.existsSync(d)) for (const n of fs.readdirSync(d)) fs.lstatSync(path.join(d, n));
    }
    await interleave(impls, opts.quick ? 2 : 5, async (impl) => {
      await withMount(impl, scratch, rf.lower, async (m) => {
        const d = path.join(m.mountpoint, rf.dir);
        let n = 0;
        const t = await timed(() => {
          const names = fs.readdirSync(d);
          for (const name of names) fs.lstatSync(path.join(d, name));
          n = names.length;
        });
        if (n !== rf.visible) throw new Error(`${impl}: readdir shows ${n} entries, want ${rf.visible}`);
        s.add(rdKey, impl, t.us, t.drops);
      });
    });

    // --- create + 4 KiB write + unlink
    const nCreate = opts.quick ? 1000 : 5000;
    const cwKey = `create + 4 KiB write + unlink, ${nCreate} files`;
    opts.log(`mount-meta: ${cwKey}`);
    const b4k = Buffer.alloc(4096, 0x61);
    await interleave(impls, rounds, async (impl) => {
      await withMount(impl, scratch, rf.lower, async (m) => {
        const d = path.join(m.mountpoint, 'cw');
        fs.mkdirSync(d);
        syncfs(scratch);
        const t = await timed(() => {
          for (let i = 0; i < nCreate; i++) fs.writeFileSync(path.join(d, `f${i}`), b4k);
          for (let i = 0; i < nCreate; i++) fs.unlinkSync(path.join(d, `f${i}`));
        });
        s.add(cwKey, impl, t.us, t.drops);
      });
    });

    // --- lookup of a bottom-layer file under 100 layers
    const lf = buildLookupFixture(100, 50);
    cleanups.push(() => lf.remove());
    const lkKey = 'lstat of a bottom-layer file under 100 layers, warm';
    const lkFirst = 'first lookup of that file after mount';
    opts.log(`mount-meta: ${lkKey}`);
    for (const l of lf.layers) {
      try {
        fs.lstatSync(path.join(l, lf.target));
      } catch {
        /* the negative lookups are what we warm */
      }
    }
    const calls = opts.quick ? 500 : 2000;
    await interleave(impls, rounds, async (impl) => {
      await withMount(impl, scratch, lf.lowerFor(100), async (m) => {
        const f = path.join(m.mountpoint, lf.target);
        const t1 = await timed(() => fs.lstatSync(f));
        s.add(lkFirst, impl, t1.us, t1.drops);
        const xs: number[] = [];
        for (let i = 0; i < calls; i++) {
          const t0 = process.hrtime.bigint();
          fs.lstatSync(f);
          xs.push(Number(process.hrtime.bigint() - t0) / 1000);
        }
        s.add(lkKey, impl, median(xs));
      });
    });

    const rows = [
      s.row(G, walkKey, {}, { note: `${nFiles} files copied from /usr/share and /usr/lib as one lower layer; 3 timed passes per mount after the first` }),
      s.row(G, firstKey),
      ...(s.values.has(warmKey) ? [s.row(G, warmKey, {}, { note: 'each sample a new mount through the launcher, made by the server the first one started' })] : []),
      s.row(G, rdKey, {}, { note: 'fresh mount per sample; lower directories pre-warmed' }),
      s.row(G, cwKey, {}, { note: 'writeFileSync then unlinkSync, in a new upper directory' }),
      s.row(G, lkKey, {}, { note: `each sample: median of ${calls} lstat calls on one mount; lower negative lookups pre-warmed` }),
      s.row(G, lkFirst),
    ];
    return { rows, ratios: [], details: { samples: s.toJSON(), ...extra } };
  } finally {
    for (const c of cleanups) c();
    rmrf(base);
  }
}

// ---------------------------------------------------------------------------------------------
// D. server memory after a big walk

export async function runMountRss(opts: WorkloadOptions): Promise<WorkloadResult> {
  const G = 'D. server memory (mount)';
  const impls = implsFor(opts);
  const nFiles = opts.quick ? 20000 : 200000;
  const nDirs = nFiles / 500;
  const rounds = opts.quick ? 1 : 2;
  const base = tempBase('rss');
  const s = new Samples();
  try {
    const scratch = path.join(base, 'stacks');
    fs.mkdirSync(scratch);
    const lower = path.join(base, 'lower');
    opts.log(`mount-rss: generating ${nFiles} empty files in ${nDirs} dirs`);
    for (let d = 0; d < nDirs; d++) {
      const dir = path.join(lower, `d${String(d).padStart(3, '0')}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 500; i++) fs.closeSync(fs.openSync(path.join(dir, `f${String(i).padStart(3, '0')}`), 'w'));
    }
    const walk = (root: string) => {
      let n = 0;
      for (const d of fs.readdirSync(root)) {
        const dp = path.join(root, d);
        fs.lstatSync(dp);
        for (const f of fs.readdirSync(dp)) {
          fs.lstatSync(path.join(dp, f));
          n++;
        }
      }
      return n;
    };
    walk(lower); // warm the lower fs
    const kWalk = `walk (readdir + lstat) of ${nFiles / 1000}k files, first after mount`;
    const kMount = 'server RSS after mount';
    const kAfter = `server RSS after the walk`;
    const kHwm = 'server peak RSS (VmHWM)';
    opts.log(`mount-rss: ${kWalk}`);
    await interleave(impls, rounds, async (impl) => {
      await withMount(impl, scratch, [lower], async (m) => {
        if (m.pid) s.add(kMount, impl, procMemory(m.pid).rss);
        let n = 0;
        const t = await timed(() => (n = walk(m.mountpoint)));
        if (n !== nFiles) throw new Error(`${impl}: walked ${n} files, want ${nFiles}`);
        s.add(kWalk, impl, t.us, t.drops);
        if (m.pid) {
          const mem = procMemory(m.pid);
          s.add(kAfter, impl, mem.rss);
          s.add(kHwm, impl, mem.hwm);
        }
      });
    });
    const rows = [
      s.row(G, kWalk),
      s.row(G, kMount, {}, { unit: 'bytes' }),
      s.row(G, kAfter, {}, { unit: 'bytes', note: 'VmRSS of the server process (layerfs: bench/layerfs-server.ts, serving on its main thread like the layerfs mount program; fuse-overlayfs -f); the kernel has no server process' }),
      s.row(G, kHwm, {}, { unit: 'bytes' }),
    ];
    return { rows, ratios: [], details: { samples: s.toJSON() } };
  } finally {
    rmrf(base);
  }
}

// ---------------------------------------------------------------------------------------------
// C. copy-up

interface CopyUpFs {
  name: string;
  /** Where layers and stacks go. */
  base: string;
  cleanup(): void;
}

function ext4Fs(): CopyUpFs {
  const base = tempBase('copyup-ext4');
  return { name: 'ext4', base, cleanup: () => rmrf(base) };
}

const extraMounts = new Set<string>();
process.on('exit', () => {
  for (const mp of extraMounts) {
    try {
      execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  }
});

function xfsReflinkFs(): CopyUpFs {
  const dir = tempBase('copyup-xfs');
  const img = path.join(dir, 'xfs.img');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  try {
    execFileSync('truncate', ['-s', '3G', img]);
    execFileSync('mkfs.xfs', ['-q', '-f', '-m', 'reflink=1', img]);
    execFileSync('mount', ['-o', 'loop', img, mnt]);
    extraMounts.add(mnt);
  } catch (err) {
    rmrf(dir);
    throw err;
  }
  return {
    name: 'xfs reflink',
    base: mnt,
    cleanup: () => {
      try {
        execFileSync('umount', [mnt]);
      } catch {
        execFileSync('umount', ['-l', mnt]);
      }
      extraMounts.delete(mnt);
      rmrf(dir);
    },
  };
}

async function copyUpOnFs(opts: WorkloadOptions, G: string, fsx: CopyUpFs, rows: Row[], details: Record<string, unknown>): Promise<void> {
  const rounds = opts.quick ? 1 : 3;
  const impls = implsFor(opts);
  const s = new Samples();
  const ev = new Samples();
  const methods: Record<string, string[]> = {};
  const upperAlloc: Record<string, Record<string, number[]>> = {};
  const lower = path.join(fsx.base, 'lower');
  const scratch = path.join(fsx.base, 'stacks');
  fs.mkdirSync(lower);
  fs.mkdirSync(scratch);
  const files: { name: string; label: string; size: number; sparse?: boolean }[] = [
    { name: 'f1m', label: '1 MiB', size: MiB },
    { name: 'f100m', label: '100 MiB', size: 100 * MiB },
    { name: 'f1g', label: '1 GiB', size: GiB },
    { name: 'sparse1g', label: '1 GiB sparse (4 KiB data)', size: GiB, sparse: true },
  ];
  opts.log(`copyup (${fsx.name}): writing lower files`);
  for (const f of files) (f.sparse ? writeSparseFile : writeDataFile)(path.join(lower, f.name), f.size);
  syncfs(lower);

  const oneSample = async (impl: ImplName, key: string, file: string, op: (p: string) => void, check?: (m: Mounted) => void) => {
    await withMount(impl, scratch, [lower], async (m) => {
      readAll(path.join(lower, file)); // copy from cached source, as the other samples
      const evP = m.nextCopyUp(impl === 'layerfs' ? 60000 : 0);
      const t = await timed(() => op(path.join(m.mountpoint, file)));
      s.add(key, impl, t.us, t.drops);
      const e = await evP;
      if (e) {
        ev.add(key, impl, e.ms * 1000);
        (methods[key] ??= []).push(`${e.method}${e.metadataOnly ? ' (metadata only)' : ''}`);
      }
      check?.(m);
    });
    syncfs(scratch);
  };

  for (const f of files) {
    const key = `append 1 byte to ${f.label} lower file, ${fsx.name}`;
    opts.log(`copyup: ${key}`);
    const alloc: Record<string, number[]> = (upperAlloc[key] = {});
    await interleave(impls, f.size <= 100 * MiB ? rounds + 2 : rounds, (impl) =>
      oneSample(
        impl,
        key,
        f.name,
        (p) => {
          const fd = fs.openSync(p, 'a');
          fs.writeSync(fd, 'x');
          fs.closeSync(fd);
        },
        (m) => {
          const st = fs.statSync(path.join(m.upper, f.name));
          if (st.size !== f.size + 1) throw new Error(`${impl}: upper ${f.name} has ${st.size} bytes, want ${f.size + 1}`);
          (alloc[impl] ??= []).push(st.blocks * 512);
        },
      ),
    );
  }
  const chmodKey = `chmod of the 1 GiB lower file, ${fsx.name}`;
  opts.log(`copyup: ${chmodKey}`);
  const chmodImpls = implsFor(opts, opts.kernel ? ['kernel-metacopy'] : []);
  await interleave(chmodImpls, rounds, (impl) => oneSample(impl, chmodKey, 'f1g', (p) => fs.chmodSync(p, 0o600)));

  const fmtAlloc = (a: Record<string, number[]>) =>
    Object.entries(a).map(([impl, xs]) => `${impl} ${(median(xs) / 1024).toFixed(0)} KiB`).join(', ');
  for (const f of files) {
    const key = `append 1 byte to ${f.label} lower file, ${fsx.name}`;
    const note = `layerfs copy-up method: ${[...new Set(methods[key] ?? [])].join(', ') || '?'}; upper allocation: ${fmtAlloc(upperAlloc[key])}`;
    rows.push(s.row(G, key, {}, { note }));
    rows.push(makeRow3(G, `  (layerfs engine copy-up event time)`, { layerfs: ev.measure(key, 'layerfs'), kernel: null, fuse: null }));
  }
  // Both chmod rows use the same layerfs and fuse-overlayfs samples; only the kernel column differs.
  rows.push(makeRow3(G, `${chmodKey}, kernel metacopy=off`, {
    layerfs: s.measure(chmodKey, 'layerfs'), kernel: s.measure(chmodKey, 'kernel'), fuse: s.measure(chmodKey, 'fuse-overlayfs'),
  }, { note: `layerfs: ${[...new Set(methods[chmodKey] ?? [])].join(', ')}` }));
  rows.push(makeRow3(G, `${chmodKey}, kernel metacopy=on`, {
    layerfs: s.measure(chmodKey, 'layerfs'), kernel: s.measure(chmodKey, 'kernel-metacopy'), fuse: s.measure(chmodKey, 'fuse-overlayfs'),
  }));
  rows.push(makeRow3(G, `  (layerfs engine copy-up event time)`, { layerfs: ev.measure(chmodKey, 'layerfs'), kernel: null, fuse: null }));
  details[fsx.name] = { samples: s.toJSON(), engineEvents: ev.toJSON(), methods, upperAllocation: upperAlloc };
}

export async function runCopyUp(opts: WorkloadOptions): Promise<WorkloadResult> {
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  for (const make of [ext4Fs, xfsReflinkFs]) {
    let fsx: CopyUpFs;
    try {
      fsx = make();
    } catch (err) {
      opts.log(`copyup: ${make === xfsReflinkFs ? 'xfs reflink filesystem' : 'ext4'} unavailable: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    try {
      await copyUpOnFs(opts, `C. copy-up on ${fsx.name} (time seen by the caller)`, fsx, rows, details);
    } finally {
      fsx.cleanup();
    }
  }
  return { rows, ratios: [], details };
}

