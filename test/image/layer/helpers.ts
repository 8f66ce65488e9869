/** Shared helpers of the layer codec tests: temp dirs, a rich sample tree, tree snapshots to compare. */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as sys from '../../../lib/sys';

export async function withTmp<T>(fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-layer-'));
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function sh(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A binary security.capability (v2, 20 bytes, with bytes >= 0x80 that UTF-8 decoding would mangle). */
export const CAP = Buffer.from('0100000280040000000000000000000000000000', 'hex');
/** A user xattr that is not UTF-8 at all. */
export const BIN = Buffer.from([0x00, 0xff, 0x80, 0xc3, 0x28, 0x00, 0x0a, 0xfe]);

function setTimes(dir: string, rel: string, sec: number, nsec: number): void {
  const fd = sys.openat(sys.AT.FDCWD, dir, sys.O.PATH | sys.O.DIRECTORY);
  try { sys.utimensat(fd, rel, sec, nsec, sec, nsec); } finally { sys.close(fd); }
}

function setX(dir: string, rel: string, name: string, value: Buffer): void {
  const fd = sys.openat(sys.AT.FDCWD, dir, sys.O.PATH | sys.O.DIRECTORY);
  try { sys.setxattrat(fd, rel, name, value); } finally { sys.close(fd); }
}

/**
 * Writes a tree with every kind of object a layer holds: files, dirs, symlinks (long targets),
 * hard links, char/block devices, a fifo, set-id bits, owners, ns times, binary xattrs, a sparse
 * file, names longer than 100 and 255 bytes in total, non-ASCII names.
 */
export function makeSampleTree(root: string): void {
  const p = (rel: string): string => path.join(root, rel);
  fs.mkdirSync(p('etc/deep/' + 'd'.repeat(120) + '/more'), { recursive: true });
  fs.writeFileSync(p('etc/hosts'), '127.0.0.1 localhost\n');
  fs.writeFileSync(p('etc/deep/' + 'd'.repeat(120) + '/more/' + 'f'.repeat(150)), 'long name\n');
  fs.writeFileSync(p('empty'), '');
  fs.writeFileSync(p('big'), crypto.randomBytes(300_000));
  fs.writeFileSync(p('ünïcødé ☃'), 'snow\n');
  fs.mkdirSync(p('bin'));
  fs.writeFileSync(p('bin/ping'), '#!/bin/sh\necho ping\n', { mode: 0o755 });
  fs.chmodSync(p('bin/ping'), 0o4755);
  fs.writeFileSync(p('bin/sg'), 'sg', { mode: 0o755 });
  fs.chmodSync(p('bin/sg'), 0o2711);
  fs.mkdirSync(p('tmp'));
  fs.chmodSync(p('tmp'), 0o1777);
  fs.linkSync(p('bin/ping'), p('bin/ping-hard'));
  fs.symlinkSync('../etc/hosts', p('bin/hosts-link'));
  fs.symlinkSync('/' + 'x'.repeat(200) + '/target', p('longlink'));
  fs.mkdirSync(p('dev'));
  execFileSync('mknod', [p('dev/null'), 'c', '1', '3']);
  execFileSync('mknod', [p('dev/sda'), 'b', '8', '0']);
  execFileSync('mknod', [p('dev/big'), 'c', '300', '70000']);
  execFileSync('mkfifo', [p('dev/fifo')]);
  fs.writeFileSync(p('owned'), 'mine\n');
  fs.chownSync(p('owned'), 1234, 5678);
  fs.lchownSync(p('bin/hosts-link'), 42, 43);
  fs.chownSync(p('dev/fifo'), 3000000, 3000001);
  // sparse: 8 MiB with two small data runs
  const fd = fs.openSync(p('sparse'), 'w');
  fs.writeSync(fd, Buffer.alloc(5000, 0x61), 0, 5000, 1 << 20);
  fs.writeSync(fd, Buffer.alloc(100, 0x62), 0, 100, 5 << 20);
  fs.ftruncateSync(fd, 8 << 20);
  fs.closeSync(fd);
  setX(root, 'bin/ping', 'security.capability', CAP);
  setX(root, 'bin/ping', 'user.bin', BIN);
  setX(root, 'etc', 'user.dir', Buffer.from('d'));
  setX(root, 'empty', 'user.empty', Buffer.alloc(0));
  setX(root, 'sparse', 'user.sparse', Buffer.from('s'));
  setTimes(root, 'etc/hosts', 1_600_000_000, 123_456_789);
  setTimes(root, 'bin/hosts-link', 1_500_000_000, 1);
  setTimes(root, 'big', 1_700_000_000, 999_999_999);
  setTimes(root, 'dev/fifo', 1_000_000_000, 5);
  setTimes(root, 'bin', 1_650_000_000, 500_000_000);
  setTimes(root, 'etc', 1_650_000_001, 7);
}

export interface Obj {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: string;
  rdev?: string;
  link?: string;
  sha?: string;
  xattrs: Record<string, string>;
  /** the inode group: names sharing an inode share this (the first name) */
  inode?: string;
}

const typeOf = (st: fs.BigIntStats): string => st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink'
  : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'socket';

/** Every object under root (root itself as '.'), with what a layer must keep. */
export function snapshot(root: string, opts: { times?: boolean; skip?: (rel: string) => boolean } = {}): Record<string, Obj> {
  const out: Record<string, Obj> = {};
  const inodes = new Map<bigint, string>();
  const dfd = sys.openat(sys.AT.FDCWD, root, sys.O.PATH | sys.O.DIRECTORY);
  try {
    const walk = (rel: string): void => {
      const abs = rel === '.' ? root : path.join(root, rel);
      const st = fs.lstatSync(abs, { bigint: true });
      const type = typeOf(st);
      const xattrs: Record<string, string> = {};
      for (const n of sys.listxattrat(dfd, rel).sort()) {
        if (n.startsWith('trusted.overlay.') || n === 'security.selinux') continue;
        xattrs[n] = sys.getxattrat(dfd, rel, n)!.toString('hex');
      }
      const o: Obj = {
        type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid),
        size: type === 'file' || type === 'symlink' ? Number(st.size) : 0,
        mtimeNs: opts.times === false ? '' : String(st.mtimeNs), xattrs,
      };
      if (type === 'char' || type === 'block') o.rdev = String(st.rdev);
      if (type === 'symlink') o.link = fs.readlinkSync(abs);
      if (type === 'file') {
        o.sha = crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
        if (st.nlink > 1n) {
          const first = inodes.get(st.ino);
          if (first === undefined) inodes.set(st.ino, rel);
          o.inode = first ?? rel;
        }
      }
      if (opts.skip?.(rel)) return;
      out[rel] = o;
      if (type === 'dir') for (const name of fs.readdirSync(abs).sort()) walk(rel === '.' ? name : path.join(rel, name));
    };
    walk('.');
  } finally {
    sys.close(dfd);
  }
  return out;
}

/** Blocks (512 B) a file really takes. */
export function blocksOf(file: string): number {
  return fs.statSync(file).blocks;
}

/** snapshot() of an engine's merged view (what a layerfs mount shows). */
export function engineSnapshot(ov: import('../../../lib/engine').Overlay): Record<string, Obj> {
  const out: Record<string, Obj> = {};
  const inodes = new Map<number, string>();
  const S = sys.S;
  const walk = (rel: string): void => {
    const p = rel === '.' ? '/' : '/' + rel;
    const a = ov.getattr(p);
    const fmt = a.mode & S.IFMT;
    const type = fmt === S.IFREG ? 'file' : fmt === S.IFDIR ? 'dir' : fmt === S.IFLNK ? 'symlink' : fmt === S.IFCHR ? 'char' : fmt === S.IFBLK ? 'block' : fmt === S.IFIFO ? 'fifo' : 'socket';
    const xattrs: Record<string, string> = {};
    for (const n of ov.listxattr(p).sort()) if (n !== 'security.selinux') xattrs[n] = ov.getxattr(p, n).toString('hex');
    const o: Obj = { type, mode: a.mode & 0o7777, uid: a.uid, gid: a.gid, size: type === 'file' || type === 'symlink' ? a.size : 0, mtimeNs: String(BigInt(a.mtimeSec) * 1_000_000_000n + BigInt(a.mtimeNsec)), xattrs };
    if (type === 'char' || type === 'block') o.rdev = String(a.rdev);
    if (type === 'symlink') o.link = ov.readlink(p);
    if (type === 'file') {
      o.sha = crypto.createHash('sha256').update(ov.readFile(p)).digest('hex');
      if (a.nlink > 1) {
        const first = inodes.get(a.ino);
        if (first === undefined) inodes.set(a.ino, rel);
        o.inode = first ?? rel;
      }
    }
    out[rel] = o;
    if (type === 'dir') for (const e of ov.readdir(p).map((x) => x.name).sort()) walk(rel === '.' ? e : `${rel}/${e}`);
  };
  walk('.');
  return out;
}
