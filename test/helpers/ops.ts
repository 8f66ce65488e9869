/**
 * The operation model of the write-side differential fuzzer: a small language of filesystem
 * operations, a seeded generator that picks the next operation from the current merged tree, and
 * two executors that apply one operation to a kernel overlayfs mount (Node's fs and lib/sys, the
 * reference) or to the engine, each returning a comparable Outcome.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { TYPE_NAMES, engineContent, engineXattrs, listedChildren, mountedContent, sha, xattrsOf } from './tree';
import type { FileHandle, Overlay } from '../../lib/engine';

export type Op =
  | { k: 'create'; why: string; p: string; mode: number; data: string }
  | { k: 'openCreat'; why: string; p: string; mode: number; data: string }
  | { k: 'write'; why: string; p: string; off: number; data: string }
  | { k: 'append'; why: string; p: string; data: string }
  | { k: 'openTrunc'; why: string; p: string; data: string }
  | { k: 'truncate'; why: string; p: string; size: number }
  | { k: 'mkdir'; why: string; p: string; mode: number }
  | { k: 'rmdir'; why: string; p: string }
  | { k: 'unlink'; why: string; p: string }
  | { k: 'rename'; why: string; from: string; to: string; flags: 0 | 1 | 2 }
  | { k: 'link'; why: string; from: string; to: string }
  | { k: 'symlink'; why: string; target: string; p: string }
  | { k: 'mkfifo'; why: string; p: string; mode: number }
  | { k: 'chmod'; why: string; p: string; mode: number }
  | { k: 'chown'; why: string; p: string; uid: number; gid: number }
  | { k: 'utimes'; why: string; p: string; atime: [number, number]; mtime: [number, number] }
  | { k: 'setxattr'; why: string; p: string; name: string; value: string; flags: number }
  | { k: 'removexattr'; why: string; p: string; name: string }
  | { k: 'read'; why: string; p: string }
  | { k: 'readdir'; why: string; p: string }
  | { k: 'stat'; why: string; p: string }
  | { k: 'getxattr'; why: string; p: string; name: string }
  | { k: 'listxattr'; why: string; p: string }
  | { k: 'readlink'; why: string; p: string }
  | { k: 'fallocate'; why: string; p: string; off: number; len: number }
  | { k: 'punchHole'; why: string; p: string; off: number; len: number }
  | { k: 'fsync'; why: string; p: string; off: number; data: string }
  | { k: 'mknod'; why: string; p: string; mode: number; major: number; minor: number }
  | { k: 'ftruncate'; why: string; p: string; size: number }
  | { k: 'utimesNow'; why: string; p: string; atime: [number, number] };

/** Ops that open their path for writing (a copy-up of a lower file with data). */
export const OPENS_FOR_WRITE: ReadonlySet<Op['k']> = new Set(['openCreat', 'write', 'append', 'openTrunc', 'fallocate', 'punchHole', 'fsync', 'ftruncate']);

/** What an operation did: success (with what it returned), an errno code, or skipped on purpose. */
export type Outcome = { ok: true; data?: unknown } | { ok: false; code: string } | { skip: string };

/** Paths an operation names (merged paths without a leading slash). */
export function opPaths(op: Op): string[] {
  if (op.k === 'rename' || op.k === 'link') return [op.from, op.to];
  return [op.p];
}

/** Whether the kernel side would follow a final symlink (the engine never does: those are skipped). */
function followsFinal(op: Op): boolean {
  return op.k === 'chmod' || op.k === 'truncate' || op.k === 'readdir';
}

const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');

/** Every path an operation touches, for the per-operation state check: its paths and their parents. */
export function touchedPaths(op: Op): string[] {
  const out = new Set<string>();
  for (const p of opPaths(op)) {
    out.add(p);
    out.add(parentOf(p));
  }
  return [...out];
}

// ----------------------------------------------------------------------------------------------
// Outcome helpers

/** Node says ENOTSUP where lib/sys and the kernel's headers say EOPNOTSUPP (the same errno 95). */
export function normCode(code: string): string {
  return code === 'ENOTSUP' ? 'EOPNOTSUPP' : code;
}

function fail(err: unknown): Outcome {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string') return { ok: false, code: normCode(code) };
  return { ok: false, code: `THROWN ${String((err as Error)?.stack ?? err)}` };
}


/**
 * Times at or after this instant were set by the filesystem itself ("now": a write, a create in a
 * directory), and differ between two runs by nature; earlier ones come from the layers or from an
 * explicit utimes and must match to the nanosecond.
 */
export const RECENT_NS = BigInt(Date.now() - 5000) * 1_000_000n;

export function timeClass(ns: bigint): string {
  return ns >= RECENT_NS ? 'recent' : String(ns);
}

/** One path's state, comparable between the two sides (no inode numbers, st_dev, atime or ctime). */
export type PathState = string | {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  nlink?: number;
  size?: number;
  rdev?: string;
  sha?: string;
  target?: string;
  mtime: string;
  xattrs: Record<string, string>;
  children?: string[];
};



// ----------------------------------------------------------------------------------------------
// Kernel side

/** 'symlink' when some directory component of `rel` is a symlink on the mount (the engine never follows those). */
function symlinkOnTheWay(root: string, rel: string, final: boolean): boolean {
  if (rel === '') return false;
  const parts = rel.split('/');
  const upto = final ? parts.length : parts.length - 1;
  for (let i = 1; i <= upto; i++) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path.join(root, ...parts.slice(0, i)));
    } catch {
      return false; // missing or not a directory: the operation fails the same way on both sides
    }
    if (st.isSymbolicLink()) return true;
    if (!st.isDirectory()) return false;
  }
  return false;
}

/**
 * Operations whose paths go through a symlink are skipped on both sides: the kernel's VFS resolves
 * those before overlayfs sees them (and a hostile target such as '/' would escape the mount), while
 * the engine is addressed by merged paths it never resolves through symlinks.
 */
export function skipReason(root: string, op: Op): string | null {
  for (const p of opPaths(op)) if (symlinkOnTheWay(root, p, false)) return 'symlink in path';
  if (followsFinal(op) && symlinkOnTheWay(root, (op as { p: string }).p, true)) return 'final symlink followed';
  if (op.k === 'read') {
    try {
      const st = fs.lstatSync(path.join(root, op.p));
      if (!st.isFile() && !st.isDirectory() && !st.isSymbolicLink()) return 'read of a special file';
    } catch {
      /* the error is the outcome */
    }
  }
  // A device node opened on a mount is the device itself (the engine only opens regular files).
  if (OPENS_FOR_WRITE.has(op.k)) {
    try {
      const st = fs.lstatSync(path.join(root, (op as { p: string }).p));
      if (st.isCharacterDevice() || st.isBlockDevice()) return 'open of a device';
    } catch {
      /* the error is the outcome */
    }
  }
  return null;
}

const WRITE = fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** Opens `file` for writing (no create), runs `fn` on the descriptor, closes it. */
function kernelWithFd(file: string, fn: (fd: number) => Outcome): Outcome {
  let fd: number;
  try {
    fd = fs.openSync(file, WRITE);
  } catch (err) {
    return fail(err);
  }
  try {
    return fn(fd);
  } catch (err) {
    return fail(err);
  } finally {
    fs.closeSync(fd);
  }
}

function kernelWrite(file: string, flags: number, mode: number, data: string, pos: number | null): Outcome {
  let fd: number;
  try {
    fd = fs.openSync(file, flags, mode);
  } catch (err) {
    return fail(err);
  }
  try {
    const buf = Buffer.from(data);
    return { ok: true, data: buf.length === 0 ? 0 : fs.writeSync(fd, buf, 0, buf.length, pos) };
  } catch (err) {
    return fail(err);
  } finally {
    fs.closeSync(fd);
  }
}

/** Applies `op` to a mounted overlay at `root` (the reference). */
export function applyKernel(root: string, op: Op): Outcome {
  const skip = skipReason(root, op);
  if (skip !== null) return { skip };
  const P = (p: string) => (p === '' ? root : path.join(root, p));
  const C = fs.constants;
  try {
    switch (op.k) {
      case 'create':
        return kernelWrite(P(op.p), WRITE | C.O_CREAT | C.O_EXCL, op.mode, op.data, 0);
      case 'openCreat':
        return kernelWrite(P(op.p), WRITE | C.O_CREAT, op.mode, op.data, 0);
      case 'write':
        return kernelWrite(P(op.p), WRITE, 0, op.data, op.off);
      case 'append':
        return kernelWrite(P(op.p), WRITE | C.O_APPEND, 0, op.data, null);
      case 'openTrunc':
        return kernelWrite(P(op.p), WRITE | C.O_TRUNC, 0, op.data, 0);
      case 'truncate':
        fs.truncateSync(P(op.p), op.size);
        return { ok: true };
      case 'mkdir':
        fs.mkdirSync(P(op.p), op.mode);
        return { ok: true };
      case 'rmdir':
        fs.rmdirSync(P(op.p));
        return { ok: true };
      case 'unlink':
        fs.unlinkSync(P(op.p));
        return { ok: true };
      case 'rename':
        sys.renameat2(sys.AT.FDCWD, P(op.from), sys.AT.FDCWD, P(op.to), op.flags);
        return { ok: true };
      case 'link':
        fs.linkSync(P(op.from), P(op.to));
        return { ok: true };
      case 'symlink':
        fs.symlinkSync(op.target, P(op.p));
        return { ok: true };
      case 'mkfifo':
        sys.mknodat(sys.AT.FDCWD, P(op.p), sys.S.IFIFO | op.mode, 0);
        return { ok: true };
      case 'chmod':
        fs.chmodSync(P(op.p), op.mode);
        return { ok: true };
      case 'chown':
        fs.lchownSync(P(op.p), op.uid, op.gid);
        return { ok: true };
      case 'utimes':
        sys.utimensat(sys.AT.FDCWD, P(op.p), op.atime[0], op.atime[1], op.mtime[0], op.mtime[1], sys.AT.SYMLINK_NOFOLLOW);
        return { ok: true };
      case 'setxattr':
        sys.setxattrat(sys.AT.FDCWD, P(op.p), op.name, Buffer.from(op.value), op.flags);
        return { ok: true };
      case 'removexattr':
        sys.removexattrat(sys.AT.FDCWD, P(op.p), op.name);
        return { ok: true };
      case 'read': {
        const fd = fs.openSync(P(op.p), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
        try {
          const b = fs.readFileSync(fd);
          return { ok: true, data: `${b.length}:${sha(b)}` };
        } finally {
          fs.closeSync(fd);
        }
      }
      case 'readdir': {
        return { ok: true, data: listedChildren(P(op.p)) };
      }
      case 'stat':
        return { ok: true, data: kernelState(root, op.p) };
      case 'getxattr': {
        const v = sys.getxattrat(sys.AT.FDCWD, P(op.p), op.name);
        return v === null ? { ok: false, code: 'ENODATA' } : { ok: true, data: v.toString('hex') };
      }
      case 'listxattr':
        return { ok: true, data: sys.listxattrat(sys.AT.FDCWD, P(op.p)).filter((n) => !n.startsWith('security.')).sort() };
      case 'readlink':
        return { ok: true, data: fs.readlinkSync(P(op.p)) };
      case 'fallocate':
        return kernelWithFd(P(op.p), (fd) => (sys.fallocate(fd, 0, op.off, op.len), { ok: true }));
      case 'punchHole':
        return kernelWithFd(P(op.p), (fd) => (sys.fallocate(fd, sys.FALLOC.PUNCH_HOLE | sys.FALLOC.KEEP_SIZE, op.off, op.len), { ok: true }));
      case 'fsync':
        return kernelWithFd(P(op.p), (fd) => {
          const buf = Buffer.from(op.data);
          const n = fs.writeSync(fd, buf, 0, buf.length, op.off);
          fs.fsyncSync(fd);
          return { ok: true, data: n };
        });
      case 'mknod':
        sys.mknodat(sys.AT.FDCWD, P(op.p), op.mode, sys.makedev(op.major, op.minor));
        return { ok: true };
      case 'ftruncate':
        return kernelWithFd(P(op.p), (fd) => (fs.ftruncateSync(fd, op.size), { ok: true }));
      case 'utimesNow':
        sys.utimensat(sys.AT.FDCWD, P(op.p), op.atime[0], op.atime[1], 0, sys.UTIME.NOW, sys.AT.SYMLINK_NOFOLLOW);
        return { ok: true };
    }
  } catch (err) {
    return fail(err);
  }
}



/** State of one merged path on a mount, or the errno code its lstat fails with. */
export function kernelState(root: string, rel: string): PathState {
  if (symlinkOnTheWay(root, rel, false)) return 'via-symlink';
  const p = rel === '' ? root : path.join(root, rel);
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(p, { bigint: true });
  } catch (err) {
    return normCode((err as NodeJS.ErrnoException).code ?? 'EIO');
  }
  const type = TYPE_NAMES[Number(st.mode) & sys.S.IFMT];
  const rec: Exclude<PathState, string> = {
    type, mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), mtime: timeClass(st.mtimeNs),
    xattrs: xattrsOf(sys.listxattrat(sys.AT.FDCWD, p), (n) => sys.getxattrat(sys.AT.FDCWD, p, n)),
  };
  // A directory's link count is left out: the kernel reports 1 for merged ones and counts real subdirs otherwise.
  if (type !== 'dir') rec.nlink = Number(st.nlink);
  Object.assign(rec, mountedContent(p, type, st.size, st.rdev));
  if (type === 'dir') rec.children = listedChildren(p);
  return rec;
}

// ----------------------------------------------------------------------------------------------
// Engine side

/** Opens `file` for writing through the engine, runs `fn` on the handle, closes it. */
async function engineWithHandle(ov: Overlay, file: string, fn: (h: FileHandle) => Promise<Outcome> | Outcome): Promise<Outcome> {
  let h: FileHandle;
  try {
    h = await ov.open(file, sys.O.WRONLY | sys.O.NOFOLLOW | sys.O.NONBLOCK);
  } catch (err) {
    return fail(err);
  }
  try {
    return await fn(h);
  } catch (err) {
    return fail(err);
  } finally {
    h.close();
  }
}

async function engineWrite(ov: Overlay, file: string, flags: number, mode: number, data: string, pos: number | null, exclusive: boolean): Promise<Outcome> {
  let h;
  try {
    h = exclusive ? await ov.create(file, mode, flags) : await ov.open(file, flags, mode);
  } catch (err) {
    return fail(err);
  }
  try {
    const buf = Buffer.from(data);
    return { ok: true, data: buf.length === 0 ? 0 : h.writeSync(buf, 0, buf.length, pos) };
  } catch (err) {
    return fail(err);
  } finally {
    h.close();
  }
}

/** Applies `op` to the engine. `skip` is the kernel side's skip decision (the engine skips the same ops). */
export async function applyEngine(ov: Overlay, op: Op, skip: string | null): Promise<Outcome> {
  if (skip !== null) return { skip };
  const O = sys.O;
  try {
    switch (op.k) {
      case 'create':
        return await engineWrite(ov, op.p, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.NONBLOCK, op.mode, op.data, 0, true);
      case 'openCreat':
        return await engineWrite(ov, op.p, O.WRONLY | O.CREAT | O.NOFOLLOW | O.NONBLOCK, op.mode, op.data, 0, false);
      case 'write':
        return await engineWrite(ov, op.p, O.WRONLY | O.NOFOLLOW | O.NONBLOCK, 0, op.data, op.off, false);
      case 'append':
        return await engineWrite(ov, op.p, O.WRONLY | O.APPEND | O.NOFOLLOW | O.NONBLOCK, 0, op.data, null, false);
      case 'openTrunc':
        return await engineWrite(ov, op.p, O.WRONLY | O.TRUNC | O.NOFOLLOW | O.NONBLOCK, 0, op.data, 0, false);
      case 'truncate':
        await ov.truncate(op.p, op.size);
        return { ok: true };
      case 'mkdir':
        await ov.mkdir(op.p, op.mode);
        return { ok: true };
      case 'rmdir':
        await ov.rmdir(op.p);
        return { ok: true };
      case 'unlink':
        await ov.unlink(op.p);
        return { ok: true };
      case 'rename':
        await ov.rename(op.from, op.to, { noReplace: op.flags === sys.RENAME.NOREPLACE, exchange: op.flags === sys.RENAME.EXCHANGE });
        return { ok: true };
      case 'link':
        await ov.link(op.from, op.to);
        return { ok: true };
      case 'symlink':
        await ov.symlink(op.target, op.p);
        return { ok: true };
      case 'mkfifo':
        await ov.mknod(op.p, sys.S.IFIFO | op.mode, 0);
        return { ok: true };
      case 'chmod':
        await ov.chmod(op.p, op.mode);
        return { ok: true };
      case 'chown':
        await ov.chown(op.p, op.uid, op.gid);
        return { ok: true };
      case 'utimes':
        await ov.utimes(op.p, { sec: op.atime[0], nsec: op.atime[1] }, { sec: op.mtime[0], nsec: op.mtime[1] });
        return { ok: true };
      case 'setxattr':
        await ov.setxattr(op.p, op.name, Buffer.from(op.value), op.flags);
        return { ok: true };
      case 'removexattr':
        await ov.removexattr(op.p, op.name);
        return { ok: true };
      case 'read': {
        const b = ov.readFile(op.p);
        return { ok: true, data: `${b.length}:${sha(b)}` };
      }
      case 'readdir':
        return { ok: true, data: ov.readdir(op.p).map((e) => e.name).sort() };
      case 'stat':
        return { ok: true, data: engineState(ov, op.p) };
      case 'getxattr':
        return { ok: true, data: ov.getxattr(op.p, op.name).toString('hex') };
      case 'listxattr':
        return { ok: true, data: ov.listxattr(op.p).filter((n) => !n.startsWith('security.')).sort() };
      case 'readlink':
        return { ok: true, data: ov.readlink(op.p) };
      case 'fallocate':
        return await engineWithHandle(ov, op.p, async (h) => (await h.fallocate(0, op.off, op.len), { ok: true }));
      case 'punchHole':
        return await engineWithHandle(ov, op.p, async (h) => (await h.fallocate(sys.FALLOC.PUNCH_HOLE | sys.FALLOC.KEEP_SIZE, op.off, op.len), { ok: true }));
      case 'fsync':
        return await engineWithHandle(ov, op.p, async (h) => {
          const buf = Buffer.from(op.data);
          const n = h.writeSync(buf, 0, buf.length, op.off);
          await h.sync();
          return { ok: true, data: n };
        });
      case 'mknod':
        await ov.mknod(op.p, op.mode, sys.makedev(op.major, op.minor));
        return { ok: true };
      case 'ftruncate':
        return await engineWithHandle(ov, op.p, (h) => (h.truncate(op.size), { ok: true }));
      case 'utimesNow':
        await ov.utimes(op.p, { sec: op.atime[0], nsec: op.atime[1] }, 'now');
        return { ok: true };
    }
  } catch (err) {
    return fail(err);
  }
}

/** State of one merged path in the engine, in the form kernelState gives. */
export function engineState(ov: Overlay, rel: string): PathState {
  let node = ov.root;
  const parts = rel === '' ? [] : rel.split('/');
  for (let i = 0; i < parts.length; i++) {
    if (node.type === sys.S.IFLNK) return 'via-symlink';
    if (!node.isDir) return 'ENOTDIR';
    const next = ov.tryLookup(node, parts[i]);
    if (next === null) return 'ENOENT';
    node = next;
  }
  const a = ov.getattr(node);
  const type = TYPE_NAMES[a.mode & sys.S.IFMT];
  const rec: Exclude<PathState, string> = {
    type, mode: a.mode, uid: a.uid, gid: a.gid,
    mtime: timeClass(BigInt(a.mtimeSec) * 1_000_000_000n + BigInt(a.mtimeNsec)),
    xattrs: engineXattrs(ov, node),
  };
  if (type !== 'dir') rec.nlink = a.nlink;
  Object.assign(rec, engineContent(ov, node, type, a));
  if (type === 'dir') rec.children = ov.readdir(node).map((e) => e.name).sort();
  return rec;
}

// ----------------------------------------------------------------------------------------------
// Generator

/** What the generator knows of the merged tree: path -> type and size (taken from the kernel mount). */
export type TreeState = Map<string, { type: string; size: number }>;

export function walkState(root: string): TreeState {
  const out: TreeState = new Map();
  const visit = (rel: string) => {
    const dir = rel === '' ? root : path.join(root, rel);
    for (const name of fs.readdirSync(dir)) {
      const child = rel === '' ? name : `${rel}/${name}`;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(root, child));
      } catch {
        continue;
      }
      const type = TYPE_NAMES[st.mode & sys.S.IFMT];
      out.set(child, { type, size: st.size });
      if (type === 'dir') visit(child);
    }
  };
  visit('');
  return out;
}

export const OP_NAMES = ['a', 'b', 'c', 'd', 'e'];
const NEW_NAMES = [...OP_NAMES, 'n1', 'n2', 'n3'];
const XATTR_NAMES = ['user.a', 'user.b', 'user.layer', 'user.dir', 'trusted.t', 'trusted.overlay.esc'];

/**
 * Scenario kinds the generator draws from, with weights. Each yields one to a few ops; `why` on
 * every op names the scenario (so a failing op list reads as what it was meant to exercise).
 */
const SCENARIOS: [string, number][] = [
  ['create', 5], ['create-existing', 2], ['open-creat', 2], ['write-offset', 5], ['write-hole', 1], ['append', 3],
  ['open-trunc', 3], ['truncate-grow', 2], ['truncate-shrink', 2], ['truncate-zero', 2],
  ['mkdir', 4], ['mkdir-existing', 1], ['deep-path', 2],
  ['rmdir', 3], ['rmdir-nonempty', 2], ['unlink', 4], ['unlink-dir', 1],
  ['rename-file', 4], ['rename-dir', 4], ['rename-over-file', 3], ['rename-over-dir', 3], ['rename-into-subdir', 1],
  ['rename-noreplace', 2], ['rename-exchange', 3], ['rename-self', 1], ['rename-link-twin', 1], ['rename-dir-over-file', 1],
  ['link', 3], ['link-dir', 1], ['symlink', 2], ['mkfifo', 1],
  ['chmod', 3], ['chown', 3], ['utimes', 3],
  ['setxattr', 3], ['setxattr-create', 2], ['setxattr-replace', 2], ['removexattr', 3],
  ['recreate-file', 2], ['recreate-dir', 2], ['file-to-dir', 2], ['dir-to-file', 2], ['under-removed', 3],
  ['read', 2], ['readdir', 2], ['stat', 2], ['getxattr', 1], ['listxattr', 1], ['readlink', 1],
  ['fallocate-extend', 2], ['punch-hole', 2], ['write-fsync', 2], ['mknod-chr', 1], ['ftruncate', 3], ['utimes-now', 2],
];
export const SCENARIO_KINDS = SCENARIOS.map(([k]) => k);
const TOTAL_WEIGHT = SCENARIOS.reduce((s, [, w]) => s + w, 0);

export class OpGenerator {
  /** Every path that ever existed (some of them gone now: ops under removed/renamed dirs). */
  private readonly history = new Set<string>();
  private n = 0;

  /** `exclude`: scenario kinds never chosen (what a transport cannot express). */
  constructor(private readonly r: () => number, private readonly exclude: ReadonlySet<string> = new Set()) {}

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)];
  }

  private chance(p: number): boolean {
    return this.r() < p;
  }

  private data(): string {
    const len = this.pick([0, 1, 5, 17, 40, 100, 300]);
    const tag = `op${this.n}-`;
    return tag.repeat(Math.ceil(len / tag.length) + 1).slice(0, len);
  }

  /** Next ops, chosen against the current merged tree `state`. */
  next(state: TreeState): Op[] {
    this.n++;
    for (const p of state.keys()) this.history.add(p);
    const all = [...state.keys()];
    const of = (...types: string[]) => all.filter((p) => types.includes(state.get(p)!.type));
    const files = of('file');
    const dirs = of('dir');
    const nondirs = all.filter((p) => state.get(p)!.type !== 'dir');
    const existing = (xs: string[]) => (xs.length > 0 ? this.pick(xs) : this.freshPath(dirs));
    const any = () => (this.chance(0.75) && all.length > 0 ? this.pick(all) : this.chance(0.5) ? this.freshPath(dirs) : this.staleOrAny(all, dirs));
    const fresh = () => this.freshPath(dirs);
    const scenarios = this.exclude.size === 0 ? SCENARIOS : SCENARIOS.filter(([k]) => !this.exclude.has(k));
    let roll = this.r() * (this.exclude.size === 0 ? TOTAL_WEIGHT : scenarios.reduce((s, [, w]) => s + w, 0));
    let why = scenarios[0][0];
    for (const [k, w] of scenarios) {
      roll -= w;
      if (roll < 0) {
        why = k;
        break;
      }
    }
    const mode = () => this.pick([0o644, 0o600, 0o755, 0o4755, 0o2755, 0o1777, 0o000]);
    const dirMode = () => this.pick([0o755, 0o700, 0o2775, 0o1777]);
    const time = (): [number, number] => [1_000_000_000 + Math.floor(this.r() * 500_000_000), Math.floor(this.r() * 1e9)];
    switch (why) {
      case 'create':
        return [{ k: 'create', why, p: fresh(), mode: mode(), data: this.data() }];
      case 'create-existing':
        return [{ k: 'create', why, p: any(), mode: mode(), data: this.data() }];
      case 'open-creat':
        return [{ k: 'openCreat', why, p: this.chance(0.5) ? fresh() : any(), mode: mode(), data: this.data() }];
      case 'write-offset':
        return [{ k: 'write', why, p: this.chance(0.85) ? existing(files) : any(), off: this.pick([0, 0, 3, 10, 50]), data: this.data() || 'x' }];
      case 'write-hole':
        return [{ k: 'write', why, p: existing(files), off: this.pick([5000, 70000]), data: 'hole-end' }];
      case 'append':
        return [{ k: 'append', why, p: this.chance(0.85) ? existing(files) : any(), data: this.data() || 'y' }];
      case 'open-trunc':
        return [{ k: 'openTrunc', why, p: this.chance(0.85) ? existing(files) : any(), data: this.chance(0.5) ? '' : this.data() }];
      case 'truncate-grow': {
        const p = existing(files);
        return [{ k: 'truncate', why, p, size: (state.get(p)?.size ?? 0) + this.pick([1, 10, 4096, 10000]) }];
      }
      case 'truncate-shrink': {
        const p = this.chance(0.85) ? existing(files) : any();
        return [{ k: 'truncate', why, p, size: Math.floor((state.get(p)?.size ?? 4) / 2) }];
      }
      case 'truncate-zero':
        return [{ k: 'truncate', why, p: this.chance(0.85) ? existing(files) : any(), size: 0 }];
      case 'mkdir':
        return [{ k: 'mkdir', why, p: fresh(), mode: dirMode() }];
      case 'mkdir-existing':
        return [{ k: 'mkdir', why, p: any(), mode: dirMode() }];
      case 'deep-path': {
        const base = this.chance(0.5) && dirs.length > 0 ? this.pick(dirs) + '/' : '';
        const parts = Array.from({ length: 2 + Math.floor(this.r() * 3) }, () => this.pick(NEW_NAMES));
        const ops: Op[] = [];
        for (let i = 1; i <= parts.length; i++) ops.push({ k: 'mkdir', why, p: base + parts.slice(0, i).join('/'), mode: 0o755 });
        ops.push({ k: 'create', why, p: base + parts.join('/') + '/' + this.pick(NEW_NAMES), mode: 0o644, data: this.data() });
        return ops;
      }
      case 'rmdir': {
        const empty = dirs.filter((d) => !all.some((p) => p.startsWith(d + '/')));
        return [{ k: 'rmdir', why, p: this.chance(0.85) ? existing(this.chance(0.7) && empty.length > 0 ? empty : dirs) : any() }];
      }
      case 'rmdir-nonempty': {
        const full = dirs.filter((d) => all.some((p) => p.startsWith(d + '/')));
        return [{ k: 'rmdir', why, p: existing(full) }];
      }
      case 'unlink':
        return [{ k: 'unlink', why, p: this.chance(0.85) ? existing(nondirs) : any() }];
      case 'unlink-dir':
        return [{ k: 'unlink', why, p: existing(dirs) }];
      case 'rename-file':
        return [{ k: 'rename', why, from: existing(nondirs), to: this.chance(0.7) ? fresh() : any(), flags: 0 }];
      case 'rename-dir':
        return [{ k: 'rename', why, from: existing(dirs), to: this.chance(0.7) ? fresh() : any(), flags: 0 }];
      case 'rename-over-file':
        return [{ k: 'rename', why, from: this.chance(0.7) ? existing(nondirs) : any(), to: existing(nondirs), flags: 0 }];
      case 'rename-over-dir':
        return [{ k: 'rename', why, from: this.chance(0.7) ? existing(dirs) : any(), to: existing(dirs), flags: 0 }];
      case 'rename-dir-over-file':
        return [{ k: 'rename', why, from: existing(dirs), to: existing(nondirs), flags: 0 }];
      case 'rename-into-subdir': {
        const d = existing(dirs);
        const subs = dirs.filter((x) => x.startsWith(d + '/'));
        return [{ k: 'rename', why, from: d, to: (subs.length > 0 && this.chance(0.5) ? this.pick(subs) : d) + '/' + this.pick(NEW_NAMES), flags: 0 }];
      }
      case 'rename-noreplace':
        return [{ k: 'rename', why, from: any(), to: this.chance(0.5) ? fresh() : any(), flags: sys.RENAME.NOREPLACE as 1 }];
      case 'rename-exchange':
        return [{ k: 'rename', why, from: any(), to: this.chance(0.85) ? any() : fresh(), flags: sys.RENAME.EXCHANGE as 2 }];
      case 'rename-self': {
        const p = any();
        return [{ k: 'rename', why, from: p, to: p, flags: this.pick([0, 0, 1, 2] as const) }];
      }
      case 'rename-link-twin': {
        const src = existing(files);
        const twin = fresh();
        return [
          { k: 'link', why, from: src, to: twin },
          this.chance(0.5) ? { k: 'rename', why, from: src, to: twin, flags: 0 } : { k: 'rename', why, from: twin, to: src, flags: 0 },
        ];
      }
      case 'link':
        return [{ k: 'link', why, from: this.chance(0.85) ? existing(nondirs) : any(), to: this.chance(0.8) ? fresh() : any() }];
      case 'link-dir':
        return [{ k: 'link', why, from: existing(dirs), to: this.chance(0.5) ? fresh() : any() }];
      case 'symlink':
        return [{ k: 'symlink', why, target: this.pick(['a', '../b', '/nonexistent', 'c/d', '.']), p: this.chance(0.8) ? fresh() : any() }];
      case 'mkfifo':
        return [{ k: 'mkfifo', why, p: this.chance(0.8) ? fresh() : any(), mode: 0o640 }];
      case 'chmod':
        return [{ k: 'chmod', why, p: any(), mode: this.chance(0.3) ? dirMode() : mode() }];
      case 'chown':
        return [{ k: 'chown', why, p: any(), uid: this.pick([0, 1000, 65534]), gid: this.pick([0, 100, 1000]) }];
      case 'utimes':
        return [{ k: 'utimes', why, p: any(), atime: time(), mtime: time() }];
      case 'setxattr':
        return [{ k: 'setxattr', why, p: any(), name: this.pick(XATTR_NAMES), value: `v${this.n}`, flags: 0 }];
      case 'setxattr-create':
        return [{ k: 'setxattr', why, p: any(), name: this.pick(XATTR_NAMES), value: `c${this.n}`, flags: sys.XATTR.CREATE }];
      case 'setxattr-replace':
        return [{ k: 'setxattr', why, p: any(), name: this.pick(XATTR_NAMES), value: `r${this.n}`, flags: sys.XATTR.REPLACE }];
      case 'removexattr':
        return [{ k: 'removexattr', why, p: any(), name: this.pick(XATTR_NAMES) }];
      case 'recreate-file': {
        const p = existing(nondirs);
        return [{ k: 'unlink', why, p }, { k: 'create', why, p, mode: mode(), data: this.data() }];
      }
      case 'recreate-dir': {
        const p = existing(dirs);
        return [{ k: 'rmdir', why, p }, { k: 'mkdir', why, p, mode: dirMode() }];
      }
      case 'file-to-dir': {
        const p = existing(nondirs);
        return [{ k: 'unlink', why, p }, { k: 'mkdir', why, p, mode: dirMode() }, { k: 'create', why, p: p + '/' + this.pick(NEW_NAMES), mode: 0o644, data: this.data() }];
      }
      case 'dir-to-file': {
        const empty = dirs.filter((d) => !all.some((p) => p.startsWith(d + '/')));
        const p = existing(empty);
        return [{ k: 'rmdir', why, p }, { k: 'create', why, p, mode: mode(), data: this.data() }];
      }
      case 'under-removed': {
        const gone = [...this.history].filter((p) => !state.has(p));
        const base = gone.length > 0 ? this.pick(gone) : existing(nondirs);
        const p = base + '/' + this.pick(NEW_NAMES);
        return [this.pick<Op>([
          { k: 'create', why, p, mode: 0o644, data: 'x' }, { k: 'mkdir', why, p, mode: 0o755 }, { k: 'stat', why, p },
          { k: 'unlink', why, p }, { k: 'rename', why, from: p, to: fresh(), flags: 0 }, { k: 'rename', why, from: any(), to: p, flags: 0 },
          { k: 'chmod', why, p, mode: 0o600 }, { k: 'symlink', why, target: 'x', p },
        ])];
      }
      case 'read':
        return [{ k: 'read', why, p: this.chance(0.8) ? existing(files) : any() }];
      case 'readdir':
        return [{ k: 'readdir', why, p: this.chance(0.8) ? (this.chance(0.1) ? '' : existing(dirs)) : any() }];
      case 'stat':
        return [{ k: 'stat', why, p: any() }];
      case 'getxattr':
        return [{ k: 'getxattr', why, p: any(), name: this.pick(XATTR_NAMES) }];
      case 'listxattr':
        return [{ k: 'listxattr', why, p: any() }];
      case 'readlink':
        return [{ k: 'readlink', why, p: this.chance(0.7) ? existing(of('symlink')) : any() }];
      case 'fallocate-extend': {
        const p = this.chance(0.85) ? existing(files) : any();
        const size = state.get(p)?.size ?? 0;
        const off = this.pick([0, Math.floor(size / 2), size, size + 100]);
        return [{ k: 'fallocate', why, p, off, len: Math.max(0, size - off) + this.pick([1, 100, 4096, 70000]) }];
      }
      case 'punch-hole': {
        const p = this.chance(0.85) ? existing(files) : any();
        const size = state.get(p)?.size ?? 0;
        const [off, len] = this.pick<[number, number]>([
          [Math.floor(size / 4), Math.max(1, Math.floor(size / 2))], [0, Math.max(1, size)], [4096, 4096], [1, 10],
        ]);
        return [{ k: 'punchHole', why, p, off, len }];
      }
      case 'write-fsync':
        return [{ k: 'fsync', why, p: this.chance(0.85) ? existing(files) : any(), off: this.pick([0, 7, 100]), data: this.data() || 'z' }];
      case 'mknod-chr':
        return [{ k: 'mknod', why, p: this.chance(0.8) ? fresh() : any(), mode: sys.S.IFCHR | this.pick([0o644, 0o600, 0o666]), major: 1, minor: 3 }];
      case 'ftruncate': {
        const p = this.chance(0.85) ? existing(files) : any();
        const size = state.get(p)?.size ?? 0;
        return [{ k: 'ftruncate', why, p, size: this.pick([0, Math.floor(size / 2), size, size + 10, size + 5000]) }];
      }
      case 'utimes-now':
        return [{ k: 'utimesNow', why, p: any(), atime: time() }];
    }
    throw new Error(`unknown scenario ${why}`);
  }

  /** A path that does not exist yet (most likely): a new name under an existing directory or the root. */
  private freshPath(dirs: string[]): string {
    const parent = dirs.length > 0 && this.chance(0.6) ? this.pick(dirs) + '/' : '';
    return parent + this.pick(NEW_NAMES);
  }

  private staleOrAny(all: string[], dirs: string[]): string {
    const gone = [...this.history].filter((p) => !all.includes(p));
    return gone.length > 0 ? this.pick(gone) : this.freshPath(dirs);
  }
}

/** One line per op, for failure reports. */
export function describeOp(op: Op): string {
  const { why, k, ...rest } = op;
  return `${k} ${JSON.stringify(rest)}  (${why})`;
}
