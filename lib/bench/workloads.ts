/**
 * The workloads of `layerfs bench`, one entry each. A workload runs on a fresh mount of one
 * implementation and returns one value (it times its own work, so untimed setup can sit beside
 * it) and, where it can, a witness (entries seen, bytes in the upper) that must be the same on
 * every implementation: a differential check that all of them did the same work.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { rng } from './layers';
import { PODMAN_WORKLOADS } from './podman';
import { syncFs } from './system';
import type { MountContext, Workload } from './types';

const MiB = 1 << 20;

/** 1 GiB, 64 MiB, 512 KiB: a size for a title. */
export function bytes(n: number): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

/** 10k, 5k, 312: a count for a title. */
export function count(n: number): string {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

export interface Measured {
  value: number;
  witness?: unknown;
}

/** Milliseconds `fn` took. */
export function timeMs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** readdir + lstat of every entry below `root`; returns how many. */
export function walk(root: string): number {
  let n = 0;
  const visit = (dir: string) => {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      const st = fs.lstatSync(p);
      n++;
      if (st.isDirectory()) visit(p);
    }
  };
  visit(root);
  return n;
}

const readBuf = Buffer.allocUnsafe(MiB);
/** Reads a whole file with 1 MiB reads; returns the bytes read. */
export function readAll(file: string): number {
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

/** µs per 4 KiB random read at queue depth 1: fio (psync) when installed, else `count` reads from Node. */
export function randomRead(file: string, ctx: MountContext): number {
  if (ctx.tools.fio) {
    const out = execFileSync('fio', [
      '--name=rr', `--filename=${file}`, '--readonly', '--invalidate=0', '--rw=randread', '--bs=4k', '--ioengine=psync',
      '--time_based', `--runtime=${ctx.sizes.fioMs}ms`, '--output-format=json',
    ], { encoding: 'utf8', maxBuffer: 64 * MiB });
    const iops = JSON.parse(out.slice(out.indexOf('{'))).jobs[0].read.iops as number;
    if (!(iops > 0)) throw new Error('fio read nothing');
    return 1e6 / iops;
  }
  const size = fs.statSync(file).size;
  const blocks = Math.max(1, Math.floor(size / 4096));
  const r = rng(7);
  const offsets = Array.from({ length: ctx.sizes.randReads }, () => Math.floor(r() * blocks) * 4096);
  const buf = Buffer.allocUnsafe(4096);
  const fd = fs.openSync(file, 'r');
  try {
    const ms = timeMs(() => {
      for (const off of offsets) fs.readSync(fd, buf, 0, 4096, off);
    });
    return (ms * 1000) / offsets.length;
  } finally {
    fs.closeSync(fd);
  }
}

const info = (ctx: MountContext, key: string) => ctx.layers.info[key] as string;
const inMount = (ctx: MountContext, rel: string) => path.join(ctx.mountpoint, rel);

function lookups(ctx: MountContext, prefix: 'b' | 't'): Measured {
  const n = ctx.layers.info.files as number;
  const names = Array.from({ length: n }, (_, i) => path.join(ctx.mountpoint, 'd', `${prefix}${i}`));
  fs.lstatSync(path.join(ctx.mountpoint, 'd')); // the directory itself, untimed
  const ms = timeMs(() => {
    for (const p of names) fs.lstatSync(p);
  });
  return { value: (ms * 1000) / n, witness: n };
}

function writeFsync(file: string, bytes: number): void {
  const buf = Buffer.alloc(MiB, 0x5a);
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < bytes; off += MiB) fs.writeSync(fd, buf, 0, Math.min(MiB, bytes - off));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every workload, in run order (the container ones last). */
export const WORKLOADS: Workload[] = [
  {
    id: 'walk-cold', title: 'walk + lstat of every entry of the tree, first pass after mount', layers: 'tree', unit: 'ms', dropSensitive: false, cold: true,
    measure: (ctx) => {
      let n = 0;
      return { value: timeMs(() => (n = walk(ctx.mountpoint))), witness: n };
    },
  },
  {
    id: 'walk-warm', title: 'walk + lstat of every entry, again on the same mount', layers: 'tree', unit: 'ms', dropSensitive: true,
    measure: (ctx) => {
      walk(ctx.mountpoint);
      let n = 0;
      return { value: timeMs(() => (n = walk(ctx.mountpoint))), witness: n };
    },
  },
  {
    id: 'readdir-first', title: (s) => `readdir of a ${count(s.dirEntries)}-entry directory merged from 3 layers, first after mount`, layers: 'data', unit: 'ms', dropSensitive: false, cold: true,
    measure: (ctx) => {
      let n = 0;
      return { value: timeMs(() => (n = fs.readdirSync(inMount(ctx, info(ctx, 'dir'))).length)), witness: n };
    },
  },
  {
    id: 'readdir-repeat', title: (s) => `readdir of the ${count(s.dirEntries)}-entry directory, repeated (mean of 5)`, layers: 'data', unit: 'ms', dropSensitive: true,
    measure: (ctx) => {
      const d = inMount(ctx, info(ctx, 'dir'));
      fs.readdirSync(d);
      let n = 0;
      return { value: timeMs(() => { for (let i = 0; i < 5; i++) n = fs.readdirSync(d).length; }) / 5, witness: n };
    },
  },
  {
    id: 'seqread-cold', title: (s) => `sequential read of a ${bytes(s.bigFile)} lower file, cold`, layers: 'data', unit: 'ms', dropSensitive: false, cold: true,
    measure: (ctx) => {
      let n = 0;
      return { value: timeMs(() => (n = readAll(inMount(ctx, info(ctx, 'big'))))), witness: n };
    },
  },
  {
    id: 'seqread-cached', title: (s) => `sequential read of the ${bytes(s.bigFile)} file, cached (after one read)`, layers: 'data', unit: 'ms', dropSensitive: true,
    measure: (ctx) => {
      const f = inMount(ctx, info(ctx, 'big'));
      readAll(f);
      let n = 0;
      return { value: timeMs(() => (n = readAll(f))), witness: n };
    },
  },
  {
    id: 'randread-cold', title: '4 KiB random read QD1, cold (µs per read)', layers: 'data', unit: 'us', dropSensitive: false, cold: true,
    measure: (ctx) => ({ value: randomRead(inMount(ctx, info(ctx, 'big')), ctx) }),
  },
  {
    id: 'randread-cached', title: '4 KiB random read QD1, cached (µs per read)', layers: 'data', unit: 'us', dropSensitive: true,
    measure: (ctx) => {
      const f = inMount(ctx, info(ctx, 'big'));
      readAll(f);
      return { value: randomRead(f, ctx) };
    },
  },
  {
    id: 'copyup-append', title: (s) => `first append of 1 byte to the ${bytes(s.bigFile)} lower file (copy-up)`, layers: 'data', unit: 'ms', dropSensitive: false,
    measure: (ctx) => {
      const f = inMount(ctx, info(ctx, 'big'));
      const value = timeMs(() => {
        const fd = fs.openSync(f, 'a');
        try {
          fs.writeSync(fd, 'x');
        } finally {
          fs.closeSync(fd);
        }
      });
      const size = fs.statSync(path.join(ctx.upper, info(ctx, 'big'))).size;
      return { value, witness: size };
    },
  },
  {
    id: 'chmod-big', title: (s) => `chmod of the ${bytes(s.bigFile)} lower file`, layers: 'data', unit: 'ms', dropSensitive: false,
    measure: (ctx) => {
      const f = inMount(ctx, info(ctx, 'big'));
      const value = timeMs(() => fs.chmodSync(f, 0o600));
      return { value, witness: fs.statSync(f).mode & 0o7777 };
    },
  },
  {
    id: 'touch-big', title: (s) => `touch (utimes) of the ${bytes(s.bigFile)} lower file`, layers: 'data', unit: 'ms', dropSensitive: false,
    measure: (ctx) => {
      const f = inMount(ctx, info(ctx, 'big'));
      const value = timeMs(() => fs.utimesSync(f, 1_700_000_000, 1_700_000_000));
      return { value, witness: fs.statSync(f).mtimeMs };
    },
  },
  {
    id: 'create-unlink', title: (s) => `create + 4 KiB write + unlink of ${count(s.creates)} files`, layers: 'tree', unit: 'ms', dropSensitive: false,
    measure: (ctx) => {
      const d = inMount(ctx, 'cw');
      fs.mkdirSync(d);
      syncFs(ctx.scratch);
      const b = Buffer.alloc(4096, 0x61);
      const n = ctx.sizes.creates;
      const value = timeMs(() => {
        for (let i = 0; i < n; i++) fs.writeFileSync(path.join(d, `f${i}`), b);
        for (let i = 0; i < n; i++) fs.unlinkSync(path.join(d, `f${i}`));
      });
      return { value, witness: fs.readdirSync(d).length };
    },
  },
  {
    id: 'untar', title: (s) => `untar of a ${bytes(s.tarBytes)} tarball into the mount`, layers: 'tree', unit: 'ms', dropSensitive: false,
    measure: (ctx) => {
      const tar = ctx.layers.info.tarball as string;
      const d = inMount(ctx, 'untar');
      fs.mkdirSync(d);
      syncFs(ctx.scratch);
      let status: number | null = null;
      let stderr = '';
      const value = timeMs(() => {
        const r = spawnSync('tar', ['-xf', tar, '-C', d], { encoding: 'utf8' });
        status = r.status;
        stderr = r.stderr;
      });
      if (status !== 0) throw new Error(`tar -xf failed: ${stderr.trim()}`);
      return { value, witness: walk(d) };
    },
  },
  {
    id: 'lookup-bottom', title: (s) => `first lookup of a bottom-layer file under ${s.deepLayers} layers (µs each)`, layers: 'deep', unit: 'us', dropSensitive: false,
    measure: (ctx) => lookups(ctx, 'b'),
  },
  {
    id: 'lookup-top', title: (s) => `first lookup of a top-layer file under ${s.deepLayers} layers (µs each)`, layers: 'deep', unit: 'us', dropSensitive: false,
    measure: (ctx) => lookups(ctx, 't'),
  },
  {
    id: 'seqwrite-fsync', title: (s) => `sequential write of a new ${bytes(s.seqWrite)} file + fsync`, layers: 'data', unit: 'ms', dropSensitive: false,
    measure: (ctx) => {
      syncFs(ctx.scratch);
      const f = inMount(ctx, 'new');
      const value = timeMs(() => writeFsync(f, ctx.sizes.seqWrite));
      const size = fs.statSync(f).size;
      syncFs(ctx.scratch);
      return { value, witness: size };
    },
  },
  ...PODMAN_WORKLOADS,
];
