import * as fs from 'node:fs';
import * as sys from '../sys';
import { O, S } from '../sys';
import type { OverlayContext } from './context';
import { OverlayError } from './errors';
import { OverlayNode, RealEntry, splitPath } from './node';

/** An open regular file of the merged view: a descriptor of the real object that holds its data. */
export class FileHandle {
  private closed = false;
  /** The layer object it opened (its node changes in place at a copy-up; this does not). */
  readonly opened: RealEntry;

  constructor(
    readonly node: OverlayNode, readonly fd: number, readonly flags: number,
    /** The descriptor is of the upper layer's file (not of a lower file that a copy-up may replace). */
    readonly onUpper: boolean,
    /** The descriptor's stat when the opener already took one (a file just created). */
    private readonly knownIdentity?: { dev: number; ino: number },
  ) {
    this.opened = onUpper ? node.top : node.dataEntry;
  }

  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    return fs.readSync(this.fd, buffer, offset, length, position);
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.read(this.fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
    });
  }

  writeSync(buffer: Uint8Array, offset: number, length: number, position: number | null): number {
    return fs.writeSync(this.fd, buffer, offset, length, position);
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.write(this.fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
    });
  }

  /** fsync, or fdatasync when `dataOnly`. */
  sync(dataOnly = false): Promise<void> {
    return dataOnly ? sys.fdatasyncAsync(this.fd) : sys.fsyncAsync(this.fd);
  }

  fallocate(mode: number, offset: number, length: number): Promise<void> {
    return sys.fallocateAsync(this.fd, mode, offset, length);
  }

  truncate(size: number): void {
    sys.ftruncate(this.fd, size);
  }

  stat(): sys.Stat {
    return sys.fstat(this.fd);
  }

  /** Device and inode of the open file (they never change while it is open). */
  identity(): { dev: number; ino: number } {
    return this.knownIdentity ?? this.stat();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    sys.close(this.fd);
  }
}

/** Open flags that would change the file (the write side copies up before honouring them). */
export function wantsWrite(flags: number): boolean {
  return (flags & O.ACCMODE) !== O.RDONLY || (flags & O.TRUNC) !== 0;
}

/** Opens the upper object of a copied-up regular file with the caller's flags (less create/excl). */
export function openUpper(ctx: OverlayContext, node: OverlayNode, flags: number): FileHandle {
  const { layer, path } = node.top;
  const { dir, name } = splitPath(path);
  const keep = flags & ~(O.CREAT | O.EXCL);
  const fd = sys.openBeneath(layer.dirFd(dir), name, keep | O.CLOEXEC | O.NOFOLLOW);
  return new FileHandle(node, fd, flags, true);
}

/** Opens a regular file for reading, from the layer object that holds its data. */
export function openForRead(ctx: OverlayContext, node: OverlayNode, flags: number): FileHandle {
  const where = '/' + node.path;
  if (node.type === S.IFDIR) throw new OverlayError('EISDIR', 'open', where);
  if (node.type === S.IFLNK) throw new OverlayError('ELOOP', 'open', where);
  if (node.type !== S.IFREG) throw new OverlayError('ENXIO', 'open', where, 'only regular files are opened by the engine');
  const { layer, path } = node.dataEntry;
  const { dir, name } = splitPath(path);
  const passOn = flags & (O.NONBLOCK | O.NOATIME | O.DIRECT);
  const base = O.RDONLY | O.CLOEXEC | O.NOFOLLOW;
  let fd: number;
  try {
    fd = sys.openBeneath(layer.dirFd(dir), name, base | passOn);
  } catch (err) {
    // O_NOATIME needs the file's owner (or CAP_FOWNER): the kernel overlay drops the flag for a
    // real file its mounter does not own (ovl_open_realfile), rather than failing the open.
    if ((passOn & O.NOATIME) === 0 || (err as { code?: string }).code !== 'EPERM') throw err;
    fd = sys.openBeneath(layer.dirFd(dir), name, base | (passOn & ~O.NOATIME));
  }
  return new FileHandle(node, fd, flags, layer.isUpper);
}
