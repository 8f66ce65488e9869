/**
 * fuse-native's handlers over the engine: a thin translator (merged path in, engine call, errno
 * out). Every handler is wrapped: whatever it throws or rejects with becomes a negative errno, and
 * the callback is called exactly once with an integer, because fuse-native kills the process (and
 * leaves the mount dead) on a throw or a non-number answer.
 */
import type { Attr, FileHandle, Overlay } from '../engine';
import { toErrno } from '../engine';
import { LatencyStats } from '../fuse/latency';
import type { OpLatency } from '../fuse/latency';
import { IdMap } from '../mount/idmap';
import * as sys from '../sys';
import type { Caller } from '../engine';
import type { NativeCaller, NativeStat, NativeTime } from './load';

const EIO = 5, EBADF = 9, ENOSYS = 38;
const NO_ID = 0xffffffff; // chown's "unchanged" ((uid_t)-1)
const TWO32 = 4294967296;

/** The handler names this module implements, in a fixed order (their index names them in stats). */
export const OP_NAMES = [
  'init', 'getattr', 'fgetattr', 'readdir', 'readlink', 'open', 'create', 'read', 'write', 'release',
  'fsync', 'fsyncdir', 'truncate', 'ftruncate', 'utimens', 'chmod', 'chown', 'mknod', 'mkdir', 'unlink',
  'rmdir', 'rename', 'link', 'symlink', 'setxattr', 'getxattr', 'listxattr', 'removexattr', 'statfs',
] as const;
type OpName = (typeof OP_NAMES)[number];

/** What a handler resolves with: fuse-native's callback arguments (the first is 0, a count or -errno). */
type Answer = [number, ...unknown[]];
type Impl = (...args: never[]) => Answer | Promise<Answer>;

/** Merged path as the engine takes it ('' for the root) from fuse-native's '/a/b'. */
const rel = (p: string) => (p === '/' ? '' : p.startsWith('/') ? p.slice(1) : p);
const ms = (sec: number, nsec: number) => sec * 1000 + Math.floor(nsec / 1e6);

/** Open files by the handle number fuse-native carries (a positive int32; 0 means none to it). */
class Handles {
  private readonly open = new Map<number, FileHandle>();
  private next = 1;

  add(h: FileHandle): number {
    while (this.open.has(this.next)) this.next = this.next >= 0x7fffffff ? 1 : this.next + 1;
    const fd = this.next;
    this.next = fd >= 0x7fffffff ? 1 : fd + 1;
    this.open.set(fd, h);
    return fd;
  }

  get(fd: number): FileHandle {
    const h = this.open.get(fd);
    if (h === undefined) throw Object.assign(new Error(`no open file ${fd}`), { errno: EBADF });
    return h;
  }

  /** Puts `h` in place of the file open as `fd`, closing that one. */
  replace(fd: number, h: FileHandle): void {
    this.open.get(fd)?.close();
    this.open.set(fd, h);
  }

  release(fd: number): void {
    const h = this.open.get(fd);
    this.open.delete(fd);
    h?.close();
  }

  closeAll(): void {
    for (const h of this.open.values()) h.close();
    this.open.clear();
  }

  get size(): number {
    return this.open.size;
  }
}

export interface NativeOpsOptions {
  uids?: IdMap;
  gids?: IdMap;
  /** Server warnings (an unexpected error answered EIO). */
  log?: (line: string) => void;
  /** The caller of the request being handled (the patched fuse-native; null: unknown). */
  caller?: () => NativeCaller | null;
}

/** The engine behind fuse-native's path-based handlers. */
export class NativeOps {
  readonly files = new Handles();
  readonly latency = new LatencyStats();
  readonly requests = new Map<OpName, number>();
  private readonly uids: IdMap;
  private readonly gids: IdMap;
  private readonly log: (line: string) => void;
  private readonly callerNow: () => NativeCaller | null;

  constructor(private readonly ov: Overlay, options: NativeOpsOptions = {}) {
    this.uids = options.uids ?? new IdMap();
    this.gids = options.gids ?? new IdMap();
    this.log = options.log ?? ((l) => console.error(l));
    this.callerNow = options.caller ?? (() => null);
  }

  /**
   * Who creates an object: the request's caller (read before the handler's first await, while its
   * request is the one being dispatched); unknown with the stock fuse-native: the server's user.
   * (The kernel applied the umask: libfuse 2 does not ask for unmasked modes.)
   */
  private creator(): Caller | undefined {
    const c = this.callerNow();
    return c === null ? undefined : { uid: this.uids.toHost(c.uid), gid: this.gids.toHost(c.gid) };
  }

  /** The handler object fuse-native takes: every operation wrapped (see the module comment). */
  handlers(): Record<string, (...args: unknown[]) => void> {
    const out: Record<string, (...args: unknown[]) => void> = {};
    OP_NAMES.forEach((name, index) => {
      const impl = (this as unknown as Record<OpName, Impl>)[name].bind(this) as (...a: unknown[]) => Answer | Promise<Answer>;
      out[name] = (...args: unknown[]) => {
        const cb = args.pop() as (...a: unknown[]) => void;
        const start = LatencyStats.now();
        this.requests.set(name, (this.requests.get(name) ?? 0) + 1);
        let answered = false;
        const answer = (a: Answer) => {
          if (answered) return;
          answered = true;
          this.latency.record(index, start);
          const res = Number.isInteger(a[0]) ? a[0] : -EIO;
          try {
            cb(res, ...a.slice(1));
          } catch (err) {
            this.log(`layerfs: fuse-native ${name}: ${(err as Error).message}`);
          }
        };
        const fail = (err: unknown) => {
          const errno = toErrno(err);
          const e = err as { code?: unknown; errno?: unknown };
          if (typeof e?.code !== 'string' && typeof e?.errno !== 'number') this.log(`layerfs: ${name} ${String(args[0])}: ${(err as Error)?.stack ?? String(err)}`);
          answer([-errno]);
        };
        try {
          const r = impl(...args);
          if (r instanceof Promise) r.then(answer, fail);
          else answer(r);
        } catch (err) {
          fail(err);
        }
      };
    });
    return out;
  }

  latencySnapshot(): Record<string, OpLatency> {
    return this.latency.snapshot((i) => OP_NAMES[i] ?? String(i));
  }

  private stat(a: Attr | sys.Stat, ino: number): NativeStat {
    return {
      mode: a.mode, uid: this.uids.toContainer(a.uid), gid: this.gids.toContainer(a.gid), size: a.size, dev: 0,
      nlink: a.nlink, ino, rdev: a.rdev, blksize: a.blksize, blocks: a.blocks,
      atime: ms(a.atimeSec, a.atimeNsec), mtime: ms(a.mtimeSec, a.mtimeNsec), ctime: ms(a.ctimeSec, a.ctimeNsec),
      // (the stock build keeps milliseconds only, the patched one these too)
      atimeSubNs: a.atimeNsec % 1e6, mtimeSubNs: a.mtimeNsec % 1e6, ctimeSubNs: a.ctimeNsec % 1e6,
    };
  }

  // ---- the handlers (fuse-native's argument order, its callback taken off) -------------------------

  init(): Answer {
    return [0];
  }

  getattr(path: string): Answer {
    const a = this.ov.getattr(rel(path));
    return [0, this.stat(a, a.ino)];
  }

  /** An open file answers from its descriptor when its name is gone. */
  fgetattr(path: string, fd: number): Answer {
    const node = this.ov.tryResolve(rel(path));
    if (node !== null) {
      const a = this.ov.getattr(node);
      return [0, this.stat(a, a.ino)];
    }
    const st = this.files.get(fd).stat();
    return [0, this.stat(st, st.ino)];
  }

  readdir(path: string): Answer {
    // '.' and '..' included (libfuse 2 lists what it is given); a type and inode number per name
    const entries = this.ov.opendir(rel(path)).entries;
    return [0, entries.map((e) => e.name), entries.map((e) => ({ mode: e.type << 12, ino: e.ino }))];
  }

  readlink(path: string): Answer {
    return [0, this.ov.readlink(rel(path))];
  }

  open(path: string, flags: number): Answer | Promise<Answer> {
    const { O } = sys;
    // Writes come with offsets the kernel computed (appends too); our descriptor needs no O_DIRECT.
    const f = flags & ~(O.CREAT | O.EXCL | O.DIRECT | O.APPEND);
    const p = rel(path);
    if ((f & (O.WRONLY | O.RDWR)) === 0 && (f & O.TRUNC) === 0) return [0, this.files.add(this.ov.openRead(p, f))];
    return this.ov.open(p, f).then((h): Answer => [0, this.files.add(h)]);
  }

  /**
   * The stock fuse-native drops create's open flags: the file is then opened read-write (the kernel
   * checks the access mode; writes carry their offsets, appends too).
   */
  create(path: string, mode: number, flags: number | undefined): Promise<Answer> {
    const { O } = sys;
    const f = flags === undefined ? O.RDWR : flags & ~(O.DIRECT | O.APPEND);
    return this.ov.create(rel(path), mode & 0o7777, f, this.creator()).then((h): Answer => [0, this.files.add(h)]);
  }

  read(path: string, fd: number, buf: Buffer, len: number, pos: number): Answer {
    return [this.dataOf(path, fd).readSync(buf, 0, len, pos)];
  }

  /**
   * The file a read of `fd` reads: a lower file opened for reading is replaced by the upper one
   * once a copy-up (through another descriptor, or another name of a hard link) moved its data, as
   * readers on the kernel's overlay see the writes made after the copy-up.
   */
  private dataOf(path: string, fd: number): FileHandle {
    const h = this.files.get(fd);
    if (h.onUpper) return h;
    const p = rel(path);
    if (this.ov.holdsData(h, p) || this.ov.tryResolve(p)?.type !== sys.S.IFREG) return h;
    const now = this.ov.openRead(p, sys.O.RDONLY);
    this.files.replace(fd, now);
    return now;
  }

  write(_path: string, fd: number, buf: Buffer, len: number, pos: number): Answer {
    const h = this.files.get(fd);
    let done = 0;
    while (done < len) done += h.writeSync(buf, done, len - done, pos + done);
    return [done];
  }

  release(_path: string, fd: number): Answer {
    this.files.release(fd);
    return [0];
  }

  async fsync(_path: string, datasync: number, fd: number): Promise<Answer> {
    // volatile: ENOSYS, after which the kernel stops asking and fsync(2) succeeds at once
    if (this.ov.config.volatile) return [-ENOSYS];
    await this.files.get(fd).sync(datasync !== 0);
    return [0];
  }

  async fsyncdir(path: string): Promise<Answer> {
    if (this.ov.config.volatile) return [-ENOSYS];
    await this.ov.syncDir(rel(path));
    return [0];
  }

  async truncate(path: string, size: number): Promise<Answer> {
    await this.ov.setattr(rel(path), { size });
    return [0];
  }

  async ftruncate(path: string, fd: number, size: number): Promise<Answer> {
    if (this.ov.tryResolve(rel(path)) === null) this.files.get(fd).truncate(size); // nameless, open
    else await this.ov.setattr(rel(path), { size });
    return [0];
  }

  /**
   * Stock fuse-native 2.2.6: libfuse 2 calls utimens only when both times are set ("now" resolved,
   * a lone atime or mtime dropped), and fuse-native passes atime twice in whole milliseconds and
   * never mtime: atime is set, mtime left as it was. The patched build passes both, to the ns,
   * with "now" and "unchanged" (docs/transports.md).
   */
  async utimens(path: string, atime: NativeTime, mtime: NativeTime): Promise<Answer> {
    if (atime === undefined && mtime === undefined) return [0];
    await this.ov.setattr(rel(path), { atime, mtime });
    return [0];
  }

  async chmod(path: string, mode: number): Promise<Answer> {
    await this.ov.setattr(rel(path), { mode: mode & 0o7777 });
    return [0];
  }

  async chown(path: string, uid: number, gid: number): Promise<Answer> {
    await this.ov.setattr(rel(path), {
      uid: uid === NO_ID ? undefined : this.uids.toHost(uid),
      gid: gid === NO_ID ? undefined : this.gids.toHost(gid),
    });
    return [0];
  }

  mknod(path: string, mode: number, dev: number): Promise<Answer> {
    return this.ov.mknod(rel(path), mode, dev, this.creator()).then((): Answer => [0]);
  }

  mkdir(path: string, mode: number): Promise<Answer> {
    return this.ov.mkdir(rel(path), mode & 0o7777, this.creator()).then((): Answer => [0]);
  }

  async unlink(path: string): Promise<Answer> {
    await this.ov.unlink(rel(path));
    return [0];
  }

  async rmdir(path: string): Promise<Answer> {
    await this.ov.rmdir(rel(path));
    return [0];
  }

  /** libfuse 2 has no rename flags: RENAME_NOREPLACE and RENAME_EXCHANGE never get here (EINVAL). */
  async rename(from: string, to: string): Promise<Answer> {
    await this.ov.rename(rel(from), rel(to));
    return [0];
  }

  async link(existing: string, path: string): Promise<Answer> {
    await this.ov.link(rel(existing), rel(path));
    return [0];
  }

  /** The link's target is any string, not a path in the mount. */
  symlink(target: string, path: string): Promise<Answer> {
    return this.ov.symlink(target, rel(path), this.creator()).then((): Answer => [0]);
  }

  async setxattr(path: string, name: string, value: Buffer, _position: number, flags: number): Promise<Answer> {
    // a copy: the buffer is libfuse's, detached once this answers
    await this.ov.setxattr(rel(path), name, Buffer.from(value), flags);
    return [0];
  }

  getxattr(path: string, name: string): Answer {
    return [0, this.ov.findXattr(rel(path), name)];
  }

  listxattr(path: string): Answer {
    return [0, this.ov.listxattr(rel(path))];
  }

  async removexattr(path: string, name: string): Promise<Answer> {
    await this.ov.removexattr(rel(path), name);
    return [0];
  }

  /** fuse-native carries 32-bit counts: a bigger filesystem is shown in bigger fragments. */
  statfs(): Answer {
    const s = this.ov.statfs();
    let { frsize, blocks, bfree, bavail } = s;
    if (frsize === 0) frsize = s.bsize;
    while (blocks >= TWO32) {
      frsize *= 2;
      blocks = Math.floor(blocks / 2);
      bfree = Math.floor(bfree / 2);
      bavail = Math.floor(bavail / 2);
    }
    const cap = (n: number) => Math.min(n, TWO32 - 1);
    return [0, {
      bsize: s.bsize, frsize, blocks, bfree, bavail, files: cap(s.files), ffree: cap(s.ffree), favail: cap(s.ffree),
      fsid: 0, flag: 0, namemax: s.namelen,
    }];
  }

  closeAll(): void {
    this.files.closeAll();
  }
}
