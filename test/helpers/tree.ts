import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import type { Attr, Overlay, OverlayNode } from '../../lib/engine';

/** What one merged path looks like, in a form that compares equal between implementations. */
export interface PathRecord {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size?: number;
  rdev?: string;
  mtime: string;
  target?: string;
  sha?: string;
  xattrs: Record<string, string>;
  children?: string[];
}

export type TreeSnapshot = Record<string, PathRecord>;

/** Type names used in snapshots and fuzzer states. */
export const TYPE_NAMES: Record<number, string> = {
  [sys.S.IFREG]: 'file', [sys.S.IFDIR]: 'dir', [sys.S.IFLNK]: 'symlink', [sys.S.IFIFO]: 'fifo',
  [sys.S.IFCHR]: 'chr', [sys.S.IFBLK]: 'blk', [sys.S.IFSOCK]: 'sock',
};

/** major:minor of a device number. */
export const rdevOf = (rdev: number | bigint) => `${sys.major(Number(rdev))}:${sys.minor(Number(rdev))}`;

export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);

/** xattr name -> hex value, sorted, host LSM labels (security.*) left out. */
export function xattrsOf(names: string[], get: (n: string) => Buffer | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of [...names].sort()) {
    if (n.startsWith('security.')) continue; // set by LSMs on the host side, not by layers
    out[n] = get(n)?.toString('hex') ?? '<missing>';
  }
  return out;
}

/** Snapshot of a mounted tree (kernel overlay, FUSE mount...) read with the ordinary system calls. */
export function snapshotMount(root: string): TreeSnapshot {
  const out: TreeSnapshot = {};
  const visit = (rel: string) => {
    const p = rel === '' ? root : path.join(root, rel);
    const st = fs.lstatSync(p, { bigint: true });
    const type = TYPE_NAMES[Number(st.mode) & sys.S.IFMT];
    const rec: PathRecord = {
      type,
      mode: Number(st.mode),
      uid: Number(st.uid),
      gid: Number(st.gid),
      nlink: Number(st.nlink),
      mtime: `${st.mtimeNs}`,
      xattrs: xattrsOf(sys.listxattrat(sys.AT.FDCWD, p), (n) => sys.getxattrat(sys.AT.FDCWD, p, n)),
    };
    Object.assign(rec, mountedContent(p, type, st.size, st.rdev));
    out['/' + rel] = rec;
    if (type === 'dir') {
      rec.children = listedChildren(p);
      for (const c of rec.children) visit(rel === '' ? c : `${rel}/${c}`);
    }
  };
  visit('');
  return out;
}

export function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** What a mounted object holds, by type: size and content hash, link target, device numbers. */
export function mountedContent(p: string, type: string, size: number | bigint, rdev: number | bigint): { size?: number; sha?: string; target?: string; rdev?: string } {
  if (type === 'file') return { size: Number(size), sha: sha(fs.readFileSync(p)) };
  if (type === 'symlink') return { target: fs.readlinkSync(p) };
  if (type === 'chr' || type === 'blk') return { rdev: rdevOf(rdev) };
  return {};
}

/**
 * A mounted directory's names, sorted. The kernel lists a whiteout in a directory that is not merged,
 * yet lookup of it fails: layerfs hides it, so such unreachable names are left out.
 */
export function listedChildren(p: string): string[] {
  return fs.readdirSync(p).filter((c) => fs.existsSync(path.join(p, c)) || isSymlink(path.join(p, c))).sort();
}

/** An engine object's xattrs, as xattrsOf gives a mounted one's. */
export function engineXattrs(ov: Overlay, node: OverlayNode): Record<string, string> {
  return xattrsOf(ov.listxattr(node), (n) => {
    try {
      return ov.getxattr(node, n);
    } catch {
      return null;
    }
  });
}

/** What an engine object holds, by type: the twin of mountedContent. */
export function engineContent(ov: Overlay, node: OverlayNode, type: string, a: Attr): { size?: number; sha?: string; target?: string; rdev?: string } {
  if (type === 'file') return { size: a.size, sha: sha(ov.readFile(node)) };
  if (type === 'symlink') return { target: ov.readlink(node) };
  if (type === 'chr' || type === 'blk') return { rdev: rdevOf(a.rdev) };
  return {};
}

/** The same snapshot taken through the engine's API. */
export function snapshotEngine(ov: Overlay): TreeSnapshot {
  const out: TreeSnapshot = {};
  const visit = (rel: string) => {
    const node = ov.resolve(rel);
    const a = ov.getattr(node);
    const type = TYPE_NAMES[a.mode & sys.S.IFMT];
    const rec: PathRecord = {
      type,
      mode: a.mode,
      uid: a.uid,
      gid: a.gid,
      nlink: a.nlink,
      mtime: `${BigInt(a.mtimeSec) * 1_000_000_000n + BigInt(a.mtimeNsec)}`,
      xattrs: engineXattrs(ov, node),
    };
    Object.assign(rec, engineContent(ov, node, type, a));
    out['/' + rel] = rec;
    if (type === 'dir') {
      rec.children = ov.readdir(node).map((e) => e.name).sort();
      for (const c of rec.children) visit(rel === '' ? c : `${rel}/${c}`);
    }
  };
  visit('');
  return out;
}

/** Human-readable differences between two snapshots (empty when equal). */
export function diffSnapshots(expected: TreeSnapshot, actual: TreeSnapshot, limit = 20): string[] {
  const diffs: string[] = [];
  const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  for (const k of [...keys].sort()) {
    const e = expected[k], a = actual[k];
    if (!e) diffs.push(`${k}: only in actual ${JSON.stringify(a)}`);
    else if (!a) diffs.push(`${k}: missing, expected ${JSON.stringify(e)}`);
    else {
      for (const f of Object.keys({ ...e, ...a }) as (keyof PathRecord)[]) {
        const ev = JSON.stringify(e[f]), av = JSON.stringify(a[f]);
        if (ev !== av) diffs.push(`${k}: ${f} expected ${ev} got ${av}`);
      }
    }
    if (diffs.length >= limit) break;
  }
  return diffs;
}
