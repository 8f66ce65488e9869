/**
 * writeLayerDiff: a container's writable layer (an overlay upper directory) as an OCI layer, as the
 * merged view shows it: whiteouts as `.wh.NAME`, opaque directories with `.wh..wh..opq`, redirected
 * (renamed lower) directories and metacopy files written out whole from the merged view. The
 * output is deterministic: entries sorted (a directory, its opaque marker, then its children by
 * name in byte order), times and owners as the upper has them (mtime only, to the nanosecond; no
 * atime/ctime, no user names), whiteouts with mode 0, owner 0 and time 0; no entry for the root.
 * See docs/formats.md.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { PassThrough, type Writable } from 'node:stream';
import * as sys from '../../sys';
import { O, S } from '../../sys';
import { Overlay } from '../../engine';
import { dataSegments } from '../../engine/copy-data';
import type { Digest } from '../types';
import { compress, type Compression } from './compression';
import { LayerError } from './errors';
import { OCI_OPAQUE, OCI_WHITEOUT_PREFIX } from './apply';
import type { LayerDigests } from './extract';
import type { EntryType, SparseSegment, TarTime } from './tar-reader';
import { TarWriter, type TarWriteEntry } from './tar-writer';

export interface LayerDiffOptions {
  /** the read-only layers under the upper, top first (what redirects and metacopy files point into) */
  lower: string[];
  /** the writable layer */
  upper: string;
  /** where the blob goes; it is ended when the layer is written */
  out: Writable;
  compression: Compression;
  /** write files with holes as sparse entries (default true) */
  sparse?: boolean;
}

const PRIVATE = ['trusted.overlay.', 'user.overlay.'];
const isPrivate = (name: string): boolean => PRIVATE.some((p) => name.startsWith(p));
const ZERO_TIME: TarTime = { sec: 0, nsec: 0 };
const CHUNK = 1 << 20;

function typeOf(mode: number): EntryType | null {
  switch (mode & S.IFMT) {
    case S.IFREG: return 'file';
    case S.IFDIR: return 'dir';
    case S.IFLNK: return 'symlink';
    case S.IFCHR: return 'char';
    case S.IFBLK: return 'block';
    case S.IFIFO: return 'fifo';
    default: return null; // sockets have no tar form
  }
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** The first value among the overlay marker names (either prefix), or null. */
function marker(names: string[], get: (n: string) => Buffer | null, what: string): Buffer | null {
  for (const p of PRIVATE) {
    if (names.includes(p + what)) {
      const v = get(p + what);
      if (v !== null) return v;
    }
  }
  return null;
}

/** Visits every object but directories below the directory `fd` (links not followed), depth first. */
function walkFiles(fd: number, rel: string, visit: (dirFd: number, name: string, rel: string, type: number, ino: number) => void): void {
  const list = sys.readdir(fd);
  for (let i = 0; i < list.names.length; i++) {
    const name = list.names[i];
    const childRel = rel === '' ? name : `${rel}/${name}`;
    if (list.types[i] === sys.DT.DIR) {
      const sub = sys.openat(fd, name, O.RDONLY | O.DIRECTORY | O.NOFOLLOW);
      try { walkFiles(sub, childRel, visit); } finally { sys.close(sub); }
    } else {
      visit(fd, name, childRel, list.types[i], list.inos[i]);
    }
  }
}

/** Data runs of an open file (the engine's SEEK_DATA/SEEK_HOLE walk), or null when it has no holes. */
function dataRuns(fd: number, size: number): SparseSegment[] | null {
  const runs = dataSegments(fd, size).map(([offset, length]) => ({ offset, length }));
  const data = runs.reduce((n, r) => n + r.length, 0);
  return data === size ? null : runs;
}

/** Reads `runs` (or the whole file) of fd, in fresh buffers (the tar stream keeps them). */
async function* readRuns(fd: number, runs: SparseSegment[]): AsyncGenerator<Buffer> {
  for (const r of runs) {
    let pos = r.offset;
    const end = r.offset + r.length;
    while (pos < end) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - pos));
      const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, buf.length, pos, (e, k) => (e ? reject(e) : resolve(k))));
      if (n === 0) return; // the file shrank: the writer reports the short body
      pos += n;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  }
}

const LAYER_SHIFT = 2 ** 43;

/** A lower name of a copied-up lower hard link that the upper does not hold (see findLowerNames). */
interface ExtraName {
  /** the hard-link group: the upper inode's */
  key: string;
  /** an upper name of the file (its data and metadata) */
  upperRel: string;
  st: sys.Stat;
  xattrs: Map<string, Buffer>;
}

type Item =
  | { kind: 'upper'; key: string; name: string; st: sys.Stat; whiteout: boolean }
  | { kind: 'extra'; key: string; name: string; extra: ExtraName }
  | { kind: 'vdir'; key: string; name: string };

class DiffWalker {
  private readonly links = new Map<string, string>();
  private overlay: Overlay | null = null;
  /** dir -> name -> a lower name to write as a hard link of an upper file */
  private readonly extras = new Map<string, Map<string, ExtraName>>();
  /** dir -> names of directories not in the upper that lead to extra names */
  private readonly vdirs = new Map<string, Set<string>>();
  constructor(private readonly opts: LayerDiffOptions, private readonly tar: TarWriter, private readonly upperFd: number) {}

  /**
   * The engine keeps a lower hard link one file after copy-up (work/index): a name copied up shows
   * the new data and metadata under every other lower name too, though those names are not in the
   * upper. Such files carry the engine's `overlay.layerfs.nlink` and `overlay.layerfs.ino` (the
   * lower layer and inode they came from); their other names are found in that lower layer by
   * inode number, kept when the merged view still shows that lower file there, and written as
   * hard links of the upper file.
   */
  findLowerNames(): void {
    const copied: { rel: string; st: sys.Stat; layer: number; ino: number }[] = [];
    walkFiles(this.upperFd, '', (fd, name, childRel, type) => {
      if (type !== sys.DT.REG) return;
      const st = sys.statx(fd, name);
      if (st.nlink < 2) return;
      const names = sys.listxattrat(fd, name);
      if (marker(names, (n) => sys.getxattrat(fd, name, n), 'layerfs.nlink') === null) return;
      const saved = Number(marker(names, (n) => sys.getxattrat(fd, name, n), 'layerfs.ino')?.toString('latin1'));
      if (!Number.isSafeInteger(saved) || saved < LAYER_SHIFT) return;
      const layer = Math.floor(saved / LAYER_SHIFT) - 1;
      if (layer >= 0 && layer < this.opts.lower.length) copied.push({ rel: childRel, st, layer, ino: saved % LAYER_SHIFT });
    });
    if (copied.length === 0) return;
    for (let layer = 0; layer < this.opts.lower.length; layer++) {
      const wanted = new Map(copied.filter((c) => c.layer === layer).map((c) => [c.ino, c]));
      if (wanted.size === 0) continue;
      const hits: { rel: string; c: (typeof copied)[number] }[] = [];
      const root = sys.openat(sys.AT.FDCWD, this.opts.lower[layer], O.RDONLY | O.DIRECTORY);
      try {
        walkFiles(root, '', (_fd, _name, childRel, _type, ino) => {
          const c = wanted.get(ino);
          if (c !== undefined) hits.push({ rel: childRel, c });
        });
      } finally {
        sys.close(root);
      }
      const ov = this.merged();
      for (const { rel, c } of hits) {
        // still that lower file in the merged view (not whited out, replaced or hidden)?
        let ino: number;
        try { ino = ov.getattr('/' + rel).ino; } catch { continue; }
        if (ino !== (layer + 2) * LAYER_SHIFT + c.ino) continue;
        const names = sys.listxattrat(this.upperFd, c.rel);
        const xattrs = new Map<string, Buffer>();
        for (const n of [...names].sort(byBytes)) {
          if (isPrivate(n)) continue;
          const v = sys.getxattrat(this.upperFd, c.rel, n);
          if (v !== null) xattrs.set(n, v);
        }
        const parts = rel.split('/');
        const base = parts.pop()!;
        const dir = parts.join('/');
        if (!this.extras.has(dir)) this.extras.set(dir, new Map());
        this.extras.get(dir)!.set(base, { key: `u${c.st.dev}:${c.st.ino}`, upperRel: c.rel, st: c.st, xattrs });
        for (let i = 0; i < parts.length; i++) {
          const parent = parts.slice(0, i).join('/');
          if (!this.vdirs.has(parent)) this.vdirs.set(parent, new Set());
          this.vdirs.get(parent)!.add(parts[i]);
        }
      }
    }
  }

  /** The merged view, read-only (the upper as the top lower layer: no work directory needed). */
  private merged(): Overlay {
    if (this.overlay === null) this.overlay = Overlay.open({ lower: [this.opts.upper, ...this.opts.lower] });
    return this.overlay;
  }

  close(): void {
    this.overlay?.close();
  }

  /**
   * Walks upper directory `rel` ('' for the root), open as `fd` (O_RDONLY|O_DIRECTORY), or, with
   * fd -1, a directory the upper lacks that leads to lower names of copied-up hard links.
   */
  async walkUpper(fd: number, rel: string, xwhiteouts: boolean): Promise<void> {
    const list = fd >= 0 ? sys.readdir(fd) : { names: [] as string[] };
    const items: Item[] = [];
    for (const name of list.names) {
      const st = sys.statx(fd, name);
      let whiteout = (st.mode & S.IFMT) === S.IFCHR && st.rdev === 0;
      if (!whiteout && xwhiteouts && (st.mode & S.IFMT) === S.IFREG && st.size === 0) {
        const names = sys.listxattrat(fd, name);
        whiteout = marker(names, (n) => sys.getxattrat(fd, name, n), 'whiteout') !== null;
      }
      if (name.startsWith(OCI_WHITEOUT_PREFIX)) {
        // an OCI marker left in the upper means what it says in the tar too
        whiteout = false;
      }
      items.push({ kind: 'upper', key: whiteout ? OCI_WHITEOUT_PREFIX + name : name, name, st, whiteout });
    }
    const present = new Set(list.names);
    for (const [name, extra] of this.extras.get(rel) ?? []) if (!present.has(name)) items.push({ kind: 'extra', key: name, name, extra });
    for (const name of this.vdirs.get(rel) ?? []) if (!present.has(name)) items.push({ kind: 'vdir', key: name, name });
    items.sort((a, b) => byBytes(a.key, b.key));
    for (const it of items) {
      const childRel = rel === '' ? it.name : `${rel}/${it.name}`;
      if (it.kind === 'extra') {
        const { extra } = it;
        const entry: TarWriteEntry = {
          name: childRel, type: 'file', mode: extra.st.mode & 0o7777, uid: extra.st.uid, gid: extra.st.gid,
          mtime: { sec: extra.st.mtimeSec, nsec: extra.st.mtimeNsec }, xattrs: extra.xattrs,
        };
        if (await this.hardLink(extra.key, 2, entry)) continue;
        const ffd = sys.openBeneath(this.upperFd, extra.upperRel, O.RDONLY);
        try {
          await this.file(entry, ffd, extra.st.size);
        } finally {
          sys.close(ffd);
        }
        continue;
      }
      if (it.kind === 'vdir') {
        await this.mergedDirEntry(childRel);
        await this.walkUpper(-1, childRel, false);
        continue;
      }
      if (it.whiteout) {
        await this.tar.add({ name: rel === '' ? it.key : `${rel}/${it.key}`, type: 'file', mode: 0, mtime: ZERO_TIME });
        continue;
      }
      const type = typeOf(it.st.mode);
      if (type === null) continue;
      const xnames = type === 'symlink' ? safeList(fd, it.name) : sys.listxattrat(fd, it.name);
      const get = (n: string): Buffer | null => sys.getxattrat(fd, it.name, n);
      const xattrs = new Map<string, Buffer>();
      for (const n of [...xnames].sort(byBytes)) {
        if (isPrivate(n)) continue;
        const v = get(n);
        if (v !== null) xattrs.set(n, v);
      }
      const entry: TarWriteEntry = {
        name: childRel, type, mode: it.st.mode & 0o7777, uid: it.st.uid, gid: it.st.gid,
        mtime: { sec: it.st.mtimeSec, nsec: it.st.mtimeNsec }, xattrs,
      };
      if (type === 'dir') {
        const opaque = marker(xnames, get, 'opaque')?.toString('latin1');
        const redirect = marker(xnames, get, 'redirect');
        await this.tar.add(entry);
        if (redirect !== null) {
          // A renamed lower directory: the layer says it whole, and hides what was below its name.
          await this.tar.add({ name: `${childRel}/${OCI_OPAQUE}`, type: 'file', mode: 0, mtime: ZERO_TIME });
          await this.walkMerged(childRel);
          continue;
        }
        if (opaque === 'y') await this.tar.add({ name: `${childRel}/${OCI_OPAQUE}`, type: 'file', mode: 0, mtime: ZERO_TIME });
        const sub = sys.openat(fd, it.name, O.RDONLY | O.DIRECTORY | O.NOFOLLOW);
        try {
          await this.walkUpper(sub, childRel, opaque === 'x');
        } finally {
          sys.close(sub);
        }
        continue;
      }
      if (type === 'file') {
        if (await this.hardLink(`u${it.st.dev}:${it.st.ino}`, it.st.nlink, entry)) continue;
        if (marker(xnames, get, 'metacopy') !== null) {
          // metadata here, data in a lower layer: read it through the merged view
          const h = this.merged().openRead('/' + childRel);
          try {
            await this.file(entry, h.fd, it.st.size);
          } finally {
            h.close();
          }
          continue;
        }
        const ffd = sys.openat(fd, it.name, O.RDONLY | O.NOFOLLOW);
        try {
          await this.file(entry, ffd, it.st.size);
        } finally {
          sys.close(ffd);
        }
        continue;
      }
      if (type === 'symlink') entry.linkname = sys.readlinkat(fd, it.name);
      if (type === 'char' || type === 'block') {
        entry.devMajor = it.st.rdevMajor;
        entry.devMinor = it.st.rdevMinor;
      }
      await this.tar.add(entry);
    }
  }

  /** A directory's entry with its merged metadata. */
  private async mergedDirEntry(rel: string): Promise<void> {
    const ov = this.merged();
    const p = '/' + rel;
    const a = ov.getattr(p);
    const xattrs = new Map<string, Buffer>();
    for (const n of ov.listxattr(p).sort(byBytes)) {
      if (isPrivate(n)) continue;
      const v = ov.findXattr(p, n);
      if (v !== null) xattrs.set(n, v);
    }
    await this.tar.add({ name: rel, type: 'dir', mode: a.mode & 0o7777, uid: a.uid, gid: a.gid, mtime: { sec: a.mtimeSec, nsec: a.mtimeNsec }, xattrs });
  }

  /** Everything the merged view shows below `rel` (a redirected directory's contents). */
  private async walkMerged(rel: string): Promise<void> {
    const ov = this.merged();
    const names = ov.readdir('/' + rel).map((e) => e.name).sort(byBytes);
    for (const name of names) {
      const childRel = `${rel}/${name}`;
      const p = '/' + childRel;
      const a = ov.getattr(p);
      const type = typeOf(a.mode);
      if (type === null) continue;
      const xattrs = new Map<string, Buffer>();
      for (const n of ov.listxattr(p).sort(byBytes)) {
        if (isPrivate(n)) continue;
        const v = ov.findXattr(p, n);
        if (v !== null) xattrs.set(n, v);
      }
      const entry: TarWriteEntry = {
        name: childRel, type, mode: a.mode & 0o7777, uid: a.uid, gid: a.gid, mtime: { sec: a.mtimeSec, nsec: a.mtimeNsec }, xattrs,
      };
      if (type === 'dir') {
        await this.tar.add(entry);
        await this.walkMerged(childRel);
      } else if (type === 'file') {
        if (await this.hardLink(`m${a.ino}`, a.nlink, entry)) continue;
        const h = ov.openRead(p);
        try {
          await this.file(entry, h.fd, a.size);
        } finally {
          h.close();
        }
      } else {
        if (type === 'symlink') entry.linkname = ov.readlink(p);
        if (type === 'char' || type === 'block') {
          entry.devMajor = sys.major(a.rdev);
          entry.devMinor = sys.minor(a.rdev);
        }
        await this.tar.add(entry);
      }
    }
  }

  /** A later name of a file already written becomes a hard link entry to the first. */
  private async hardLink(key: string, nlink: number, entry: TarWriteEntry): Promise<boolean> {
    if (nlink < 2) return false;
    const first = this.links.get(key);
    if (first === undefined) {
      this.links.set(key, entry.name);
      return false;
    }
    await this.tar.add({ ...entry, type: 'link', linkname: first, xattrs: null });
    return true;
  }

  private async file(entry: TarWriteEntry, fd: number, size: number): Promise<void> {
    const runs = this.opts.sparse === false || size === 0 ? null : dataRuns(fd, size);
    entry.size = size;
    if (runs !== null) {
      entry.sparse = runs;
      await this.tar.add(entry, readRuns(fd, runs));
    } else {
      await this.tar.add(entry, readRuns(fd, [{ offset: 0, length: size }]));
    }
  }
}

function safeList(fd: number, name: string): string[] {
  try {
    return sys.listxattrat(fd, name);
  } catch {
    return [];
  }
}

function validate(opts: LayerDiffOptions): void {
  if (opts === null || typeof opts !== 'object') throw new LayerError('EINVAL', 'writeLayerDiff: options must be an object');
  if (!Array.isArray(opts.lower) || opts.lower.some((l) => typeof l !== 'string')) throw new LayerError('EINVAL', 'writeLayerDiff: lower must be an array of directories (top first)');
  if (typeof opts.upper !== 'string' || !fs.existsSync(opts.upper) || !fs.statSync(opts.upper).isDirectory()) {
    throw new LayerError('EINVAL', `writeLayerDiff: upper ${JSON.stringify(opts.upper)} is not a directory`);
  }
  if (!['gzip', 'zstd', 'none'].includes(opts.compression)) throw new LayerError('EINVAL', `writeLayerDiff: compression must be gzip, zstd or none, got ${JSON.stringify(opts.compression)}`);
  if (!opts.out || typeof opts.out.write !== 'function') throw new LayerError('EINVAL', 'writeLayerDiff: out must be a writable stream');
}

function writeOut(out: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = out.write(chunk, (err) => { if (err) reject(err); });
    if (ok) resolve();
    else {
      const onDrain = (): void => { out.off('error', onError); resolve(); };
      const onError = (err: Error): void => { out.off('drain', onDrain); reject(err); };
      out.once('drain', onDrain);
      out.once('error', onError);
    }
  });
}

/**
 * Writes the upper layer's changes as an OCI layer blob to `out` and resolves with its digests.
 * The same upper content gives the same bytes (and digest) every time.
 */
export async function writeLayerDiff(opts: LayerDiffOptions): Promise<LayerDigests> {
  validate(opts);
  const tarHash = crypto.createHash('sha256');
  const blobHash = crypto.createHash('sha256');
  let tarBytes = 0;
  let blobBytes = 0;
  const pipe = new PassThrough({ highWaterMark: 4 * CHUNK });
  const tar = new TarWriter(async (chunk) => {
    tarHash.update(chunk);
    tarBytes += chunk.length;
    if (!pipe.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => { pipe.off('drain', done); pipe.off('close', done); resolve(); };
        pipe.once('drain', done);
        pipe.once('close', done);
      });
    }
  });
  const root = sys.openat(sys.AT.FDCWD, opts.upper, O.RDONLY | O.DIRECTORY);
  const walker = new DiffWalker(opts, tar, root);
  const produce = (async () => {
    try {
      walker.findLowerNames();
      const names = sys.flistxattr(root);
      const xw = marker(names, (n) => sys.fgetxattr(root, n), 'opaque')?.toString('latin1') === 'x';
      await walker.walkUpper(root, '', xw);
      await tar.finish();
      pipe.end();
    } catch (err) {
      pipe.destroy(err as Error);
      throw err;
    } finally {
      sys.close(root);
      walker.close();
    }
  })();
  const consume = (async () => {
    for await (const chunk of compress(pipe as AsyncIterable<Buffer>, opts.compression)) {
      blobHash.update(chunk);
      blobBytes += chunk.length;
      await writeOut(opts.out, chunk);
    }
    await new Promise<void>((resolve, reject) => {
      opts.out.once('error', reject);
      opts.out.end(() => resolve());
    });
  })();
  const results = await Promise.allSettled([produce, consume]);
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) {
    if (!opts.out.destroyed) opts.out.destroy();
    throw failed.reason;
  }
  const digest: Digest = 'sha256:' + blobHash.digest('hex');
  return { digest, size: blobBytes, diffID: 'sha256:' + tarHash.digest('hex'), uncompressedSize: tarBytes };
}
