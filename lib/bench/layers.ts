/**
 * The layer sets of `layerfs bench`, generated deterministically (a seeded generator: the same
 * names, sizes, modes and links on every machine), scaled by Sizes:
 *   tree  a /usr-like tree (bin, lib with .so symlink chains, share/doc, man pages, hard links)
 *         under a change layer (whiteouts, opaque directories, modified and chmod'ed files);
 *         or the user's directories (--layers), or an image's layers (--image)
 *   data  a big incompressible file and a directory of N merged entries over 3 layers (shared
 *         names, whiteouts)
 *   deep  100 layers, a file set in the bottom one and another in the top one
 * Whiteouts and opaque directories are written in the kernel's form as root (character device
 * 0/0, trusted.overlay.opaque), in the OCI form (.wh.NAME, .wh..wh..opq) otherwise.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../sys';
import type { LayerSet, Sizes } from './types';

const MiB = 1 << 20;

/** mulberry32: a small seeded generator, so every run builds the same layers. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One MiB of seeded pseudo-random bytes (incompressible), the source of every file's content. */
function noise(seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 4) b.writeUInt32LE((r() * 0x100000000) >>> 0, i);
  return b;
}

const FIXED_TIME = 1_600_000_000;

class Writer {
  readonly kernelForm = process.getuid?.() === 0;
  private readonly data: Buffer;
  private readonly r: () => number;
  entries = 0;
  constructor(seed: number) {
    this.data = noise(seed);
    this.r = rng(seed + 1);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  dir(p: string): void {
    if (!fs.existsSync(p)) {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.mkdirSync(p);
      this.entries++;
    }
  }
  file(p: string, size: number, mode = 0o644): void {
    this.dir(path.dirname(p));
    const off = this.int(0, MiB - Math.min(size, MiB));
    fs.writeFileSync(p, this.data.subarray(off, off + Math.min(size, MiB)), { mode });
    fs.chmodSync(p, mode);
    fs.utimesSync(p, FIXED_TIME, FIXED_TIME);
    this.entries++;
  }
  symlink(target: string, p: string): void {
    this.dir(path.dirname(p));
    fs.symlinkSync(target, p);
    this.entries++;
  }
  hardlink(existing: string, p: string): void {
    fs.linkSync(existing, p);
    this.entries++;
  }
  whiteout(p: string): void {
    this.dir(path.dirname(p));
    if (this.kernelForm) sys.mknodat(sys.AT.FDCWD, p, sys.S.IFCHR, sys.makedev(0, 0));
    else fs.writeFileSync(path.join(path.dirname(p), `.wh.${path.basename(p)}`), '');
  }
  opaque(p: string): void {
    this.dir(p);
    if (this.kernelForm) sys.setxattrat(sys.AT.FDCWD, p, 'trusted.overlay.opaque', Buffer.from('y'));
    else fs.writeFileSync(path.join(p, '.wh..wh..opq'), '');
  }
  /** A big incompressible file, 1 MiB writes. */
  bigFile(p: string, size: number): void {
    const fd = fs.openSync(p, 'w');
    try {
      for (let off = 0; off < size; off += MiB) fs.writeSync(fd, this.data, 0, Math.min(MiB, size - off));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

const pkg = (i: number) => `pkg${String(i).padStart(4, '0')}`;

/** A /usr-like tree of about `entries` entries under `root`. */
function writeUsrTree(root: string, entries: number): { packages: number; entries: number } {
  const w = new Writer(1);
  const lib = path.join(root, 'usr/lib/x86_64-linux-gnu');
  let p = 0;
  while (w.entries < entries) {
    const n = pkg(p);
    w.file(path.join(root, 'usr/share/doc', n, 'copyright'), w.int(200, 3000));
    w.file(path.join(root, 'usr/share/doc', n, 'changelog.Debian.gz'), w.int(300, 9000));
    w.file(path.join(root, 'usr/bin', n), w.int(4000, 60000), 0o755);
    if (p % 5 === 0) w.hardlink(path.join(root, 'usr/bin', n), path.join(root, 'usr/bin', `${n}-alias`));
    w.file(path.join(lib, `lib${n}.so.1.2.3`), w.int(8000, 120000));
    w.symlink(`lib${n}.so.1.2.3`, path.join(lib, `lib${n}.so.1`));
    if (p % 3 === 0) w.symlink(`lib${n}.so.1`, path.join(lib, `lib${n}.so`));
    w.file(path.join(root, 'usr/share/man/man1', `${n}.1.gz`), w.int(500, 4000));
    const extra = w.int(0, 8);
    for (let k = 0; k < extra; k++) w.file(path.join(root, 'usr/share', n, k < 4 ? '' : 'data', `f${k}`), w.int(64, 16000));
    if (p % 4 === 0) w.file(path.join(root, 'usr/include', `${n}.h`), w.int(200, 8000));
    p++;
  }
  w.symlink('usr/bin', path.join(root, 'bin'));
  w.symlink('usr/lib', path.join(root, 'lib'));
  return { packages: p, entries: w.entries };
}

/** The change layer over the tree: whiteouts, opaque directories, modified and chmod'ed files, new files. */
function writeChangeLayer(root: string, packages: number): Record<string, number> {
  const w = new Writer(2);
  const c = { whiteouts: 0, opaque: 0, modified: 0, chmodded: 0 };
  for (let p = 0; p < packages; p++) {
    const n = pkg(p);
    if (p % 10 === 3) {
      w.whiteout(path.join(root, 'usr/share/doc', n));
      c.whiteouts++;
    }
    if (p % 17 === 5) {
      w.opaque(path.join(root, 'usr/share', n));
      w.file(path.join(root, 'usr/share', n, 'replaced'), 100);
      c.opaque++;
    }
    if (p % 7 === 1) {
      w.file(path.join(root, 'usr/bin', n), w.int(4000, 60000), 0o755);
      c.modified++;
    }
    if (p % 11 === 2) {
      w.file(path.join(root, 'usr/share/man/man1', `${n}.1.gz`), 1000, 0o600);
      c.chmodded++;
    }
  }
  w.file(path.join(root, 'etc/app.conf'), 300);
  return c;
}

export function buildTreeSet(dir: string, sizes: Sizes): LayerSet {
  const [top, bottom] = ['change', 'usr'].map((n) => path.join(dir, n));
  fs.mkdirSync(top, { recursive: true });
  fs.mkdirSync(bottom, { recursive: true });
  const t = writeUsrTree(bottom, sizes.treeEntries);
  const c = writeChangeLayer(top, t.packages);
  return { name: 'tree', lower: [top, bottom], info: { generated: true, bottomEntries: t.entries, ...c } };
}

const nm = (i: number) => `n${String(i).padStart(5, '0')}`;

/**
 * The big file and a directory of `dirEntries` merged entries over 3 layers, the 10k layout scaled:
 *   bottom: big, n0..6000 (every 50th a directory, every 97th a symlink)
 *   middle: n4000..7999, whiteouts for n0..499
 *   top:    n7000..11499, whiteouts for n2000..2499 and n5000..5499
 */
export function buildDataSet(dir: string, sizes: Sizes): LayerSet {
  const s = (i: number) => Math.round((i * sizes.dirEntries) / 10000);
  const w = new Writer(3);
  const [top, middle, bottom] = ['top', 'middle', 'bottom'].map((n) => path.join(dir, n));
  for (const d of [top, middle, bottom]) fs.mkdirSync(path.join(d, 'dir'), { recursive: true });
  w.bigFile(path.join(bottom, 'big'), sizes.bigFile);
  const touch = (p: string) => fs.closeSync(fs.openSync(p, 'w'));
  for (let i = 0; i < s(6000); i++) {
    const p = path.join(bottom, 'dir', nm(i));
    if (i % 50 === 0) fs.mkdirSync(p);
    else if (i % 97 === 0) fs.symlinkSync('elsewhere', p);
    else touch(p);
  }
  for (let i = s(4000); i < s(8000); i++) touch(path.join(middle, 'dir', nm(i)));
  for (let i = 0; i < s(500); i++) w.whiteout(path.join(middle, 'dir', nm(i)));
  for (let i = s(7000); i < s(11500); i++) touch(path.join(top, 'dir', nm(i)));
  for (let i = s(2000); i < s(2500); i++) w.whiteout(path.join(top, 'dir', nm(i)));
  for (let i = s(5000); i < s(5500); i++) w.whiteout(path.join(top, 'dir', nm(i)));
  return { name: 'data', lower: [top, middle, bottom], info: { big: '/big', bigBytes: sizes.bigFile, dir: '/dir', dirEntries: s(11500) - 3 * s(500) } };
}

/** `deepLayers` layers; d/ in each holds 20 names (half in every layer); d/b* only in the bottom one, d/t* only in the top one. */
export function buildDeepSet(dir: string, sizes: Sizes): LayerSet {
  const layers: string[] = [];
  const touch = (p: string) => fs.closeSync(fs.openSync(p, 'w'));
  for (let k = 0; k < sizes.deepLayers; k++) {
    const d = path.join(dir, `l${String(k).padStart(3, '0')}`, 'd');
    fs.mkdirSync(d, { recursive: true });
    for (let i = 0; i < 20; i++) touch(path.join(d, i < 10 ? `common${i}` : `l${k}_${i}`));
    layers.push(path.dirname(d));
  }
  for (let i = 0; i < sizes.deepFiles; i++) {
    touch(path.join(layers[layers.length - 1], 'd', `b${i}`));
    touch(path.join(layers[0], 'd', `t${i}`));
  }
  return { name: 'deep', lower: layers, info: { files: sizes.deepFiles } };
}

/** A tarball of about `tarBytes` (many small files, some big ones), for the untar workload. */
export function buildTarball(dir: string, sizes: Sizes): { tar: string; files: number } {
  const src = path.join(dir, 'tar-src');
  const w = new Writer(4);
  let bytes = 0;
  let files = 0;
  for (let i = 0; bytes < sizes.tarBytes; i++) {
    const big = i % 20 === 19;
    const size = big ? w.int(256 * 1024, MiB) : w.int(512, 16 * 1024);
    w.file(path.join(src, `d${Math.floor(i / 100)}`, `f${i}`), size);
    bytes += size;
    files++;
  }
  const tar = path.join(dir, 'untar.tar');
  execFileSync('tar', ['-cf', tar, '-C', src, '.']);
  fs.rmSync(src, { recursive: true, force: true });
  return { tar, files };
}
