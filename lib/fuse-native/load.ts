/**
 * Loads the optional `fuse-native` package (libfuse 2's high-level API) and adapts its class where
 * its JavaScript is wrong or too narrow, without touching the installed package: a subclass whose
 * overrides the class's own dispatcher calls (it looks handlers up as `this._op_<name>`).
 *
 * - mount options: its list lacks big_writes, max_write, use_ino, negative_timeout and more;
 *   libfuse 2 parses whatever comes after `-o`, so `extraOptions` are appended to its string.
 * - fgetattr: it calls getattr(path) and drops the handle; here the handle reaches `ops.fgetattr`.
 * - getxattr/listxattr: it copies a value into a buffer too small for it (no ERANGE) and adds 128
 *   bytes to every list size; here sizes are exact and a short buffer answers ERANGE.
 * - unmount: it runs `fusermount -uz` (libfuse 2's setuid helper, which may be missing); here the
 *   caller provides the unmount.
 * Defects in its C (utimens' mtime, create's flags, no caller uid/gid) are beyond this layer:
 * docs/transports.md lists them.
 */
import { ConfigError } from '../engine';

/** The one line shown when the transport is asked for and cannot be loaded. */
export const MISSING =
  'layerfs: transport fuse-native needs the optional package fuse-native and the system\'s libfuse.so.2 (apt-get install libfuse2; npm install fuse-native)';

const ERANGE = -34;
const ENODATA = -61;

type Signal = (res: number, ...args: unknown[]) => void;

/** The part of fuse-native's class this module relies on. */
export interface NativeFuse {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}

export interface NativeFuseClass {
  new (mnt: string, ops: object, opts: object): NativeFuse;
}

export interface LoadedFuseNative {
  Fuse: NativeFuseClass;
  version: string;
}

/** A stat as fuse-native takes it: times in whole milliseconds (its C keeps no more). */
export interface NativeStat {
  mode: number; uid: number; gid: number; size: number; dev: number; nlink: number; ino: number;
  rdev: number; blksize: number; blocks: number; atime: number; mtime: number; ctime: number;
}

const TWO32 = 4294967296;

/** fuse-native's wire form of a stat (18 uint32: its getStatArray, which it does not export). */
export function statArray(s: NativeStat): Uint32Array {
  const a = new Uint32Array(18);
  const wide = (i: number, n: number) => {
    a[i] = n % TWO32;
    a[i + 1] = Math.floor(n / TWO32);
  };
  a[0] = s.mode; a[1] = s.uid; a[2] = s.gid; wide(3, s.size); a[5] = s.dev; a[6] = s.nlink; a[7] = s.ino;
  a[8] = s.rdev; a[9] = s.blksize; wide(10, s.blocks); wide(12, s.atime); wide(14, s.mtime); wide(16, s.ctime);
  return a;
}

let loaded: LoadedFuseNative | null = null;

/**
 * fuse-native's class, adapted (see above). `unmount(mnt)` replaces its `fusermount -uz`. Throws a
 * ConfigError (code 'ENOPKG') with the one-line MISSING message when the package or libfuse.so.2
 * is not there.
 */
export function loadFuseNative(unmount?: (mnt: string) => void): LoadedFuseNative {
  if (loaded !== null) return loaded;
  let Base: (NativeFuseClass & { unmount(mnt: string, cb: (err: Error | null) => void): void }) | undefined;
  let version = 'unknown';
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Base = require('fuse-native');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    version = (require('fuse-native/package.json') as { version: string }).version;
  } catch (err) {
    const e = new ConfigError('ENOPKG', 'transport', MISSING);
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
  const B = Base!;
  if (unmount !== undefined) {
    // Its _close calls the module's own class' static unmount: replaced for this process.
    B.unmount = (mnt, cb) => {
      try {
        unmount(mnt);
        cb(null);
      } catch (err) {
        cb(err as Error);
      }
    };
  }
  class AdaptedFuse extends (B as unknown as new (mnt: string, ops: object, opts: object) => Record<string, unknown>) {
    _fuseOptions(): string {
      const base = (B.prototype as unknown as { _fuseOptions(this: unknown): string })._fuseOptions.call(this);
      const extra = ((this.opts as { extraOptions?: string[] }).extraOptions ?? []).join(',');
      if (extra === '') return base;
      return base === '' ? `-o${extra}` : `${base},${extra}`;
    }

    _op_fgetattr(signal: Signal, path: string, fd: number): void {
      const ops = this.ops as { fgetattr: (p: string, fd: number, cb: (err: number, st?: NativeStat) => void) => void };
      ops.fgetattr(path, fd, (err, stat) => (err || stat === undefined ? signal(err || -5) : signal(0, statArray(stat))));
    }

    _op_getxattr(signal: Signal, path: string, name: string, valueBuf: Buffer, position: number): void {
      const ops = this.ops as { getxattr: (p: string, n: string, pos: number, cb: (err: number, v?: Buffer | null) => void) => void };
      ops.getxattr(path, name, position, (err, value) => {
        if (err) return signal(err, valueBuf.buffer);
        if (!value) return signal(ENODATA, valueBuf.buffer);
        if (valueBuf.length === 0) return signal(value.length, valueBuf.buffer);
        if (valueBuf.length < value.length) return signal(ERANGE, valueBuf.buffer);
        value.copy(valueBuf);
        return signal(value.length, valueBuf.buffer);
      });
    }

    _op_listxattr(signal: Signal, path: string, listBuf: Buffer): void {
      const ops = this.ops as { listxattr: (p: string, cb: (err: number, list?: string[]) => void) => void };
      ops.listxattr(path, (err, list) => {
        if (err || !list) return signal(err || 0, listBuf.buffer);
        const packed = Buffer.from(list.map((n) => `${n}\0`).join(''));
        if (listBuf.length === 0) return signal(packed.length, listBuf.buffer);
        if (listBuf.length < packed.length) return signal(ERANGE, listBuf.buffer);
        packed.copy(listBuf);
        return signal(packed.length, listBuf.buffer);
      });
    }
  }
  loaded = { Fuse: AdaptedFuse as unknown as NativeFuseClass, version };
  return loaded;
}
