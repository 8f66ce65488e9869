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
 * Defects in its C (utimens' mtime, create's flags, no caller uid/gid) are beyond a subclass: when
 * scripts/build-fuse-native.js built the package's C with layerfs' patch, its index.js is loaded
 * over that build (the `patched` flag says so) and the subclass passes what the patch adds; else
 * the stock prebuild serves, with the defects docs/transports.md lists.
 */
import * as fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
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

/** Who made the request being handled (the patched build only). */
export interface NativeCaller {
  uid: number;
  gid: number;
  pid: number;
}

export interface LoadedFuseNative {
  Fuse: NativeFuseClass;
  version: string;
  /** Built from the package's C with layerfs' patch (scripts/build-fuse-native.js). */
  patched: boolean;
  /** The caller of the request being handled, read synchronously in a handler (null: stock build). */
  caller(): NativeCaller | null;
}

/** A time as the patched utimens passes it: seconds and raw nanoseconds. */
export type NativeTime = { sec: number; nsec: number } | 'now' | undefined;
const UTIME_NOW = (1 << 30) - 1, UTIME_OMIT = (1 << 30) - 2;

function nativeTime(low: number, high: number, nsec: number): NativeTime {
  if (nsec === UTIME_OMIT) return undefined;
  if (nsec === UTIME_NOW) return 'now';
  return { sec: low + high * TWO32, nsec };
}

/** The patched build, if scripts/build-fuse-native.js made one (repo root: three levels above dist/lib/fuse-native). */
function patchedBinding(): Record<string, unknown> | null {
  if (process.env.LAYERFS_FUSE_NATIVE_STOCK === '1') return null;
  for (const up of [['..', '..', '..'], ['..', '..']]) {
    const file = path.join(__dirname, ...up, 'native-bindings', 'fuse-native', 'build', 'Release', 'fuse_native_patched.node');
    if (!fs.existsSync(file)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const b = require(file) as Record<string, unknown>;
      if (typeof b.fuse_native_caller === 'function') return b;
    } catch {
      /* unusable (libfuse.so.2 gone?): the stock prebuild says why, or serves */
    }
  }
  return null;
}

/** fuse-native's index.js run with `binding` in place of its own prebuild (what node-gyp-build returns). */
function indexOver(binding: Record<string, unknown>): unknown {
  const file = require.resolve('fuse-native');
  const base = createRequire(file);
  const req = Object.assign((id: string) => (id === 'node-gyp-build' ? () => binding : base(id)), base);
  const m = { exports: {} as unknown };
  const fn = vm.runInThisContext(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file }) as (...a: unknown[]) => void;
  fn.call(m.exports, m.exports, req, m, file, path.dirname(file));
  return m.exports;
}

/**
 * A stat as fuse-native takes it: times in whole milliseconds, plus what the patched build also
 * carries (the nanoseconds below the millisecond, the inode number's high half).
 */
export interface NativeStat {
  mode: number; uid: number; gid: number; size: number; dev: number; nlink: number; ino: number;
  rdev: number; blksize: number; blocks: number; atime: number; mtime: number; ctime: number;
  atimeSubNs?: number; mtimeSubNs?: number; ctimeSubNs?: number;
}

const TWO32 = 4294967296;

/**
 * fuse-native's wire form of a stat (18 uint32: its getStatArray, which it does not export); the
 * patched build takes 22 (scripts/build-fuse-native.js).
 */
export function statArray(s: Partial<NativeStat>, patched: boolean): Uint32Array {
  const a = new Uint32Array(patched ? 22 : 18);
  const wide = (i: number, n: number) => {
    a[i] = n % TWO32;
    a[i + 1] = Math.floor(n / TWO32);
  };
  const ino = s.ino ?? 0;
  a[0] = s.mode ?? 0; a[1] = s.uid ?? 0; a[2] = s.gid ?? 0; wide(3, s.size ?? 0); a[5] = s.dev ?? 0;
  a[6] = s.nlink ?? 1; a[7] = ino % TWO32; a[8] = s.rdev ?? 0; a[9] = s.blksize ?? 0; wide(10, s.blocks ?? 0);
  wide(12, s.atime ?? 0); wide(14, s.mtime ?? 0); wide(16, s.ctime ?? 0);
  if (patched) {
    a[18] = s.atimeSubNs ?? 0; a[19] = s.mtimeSubNs ?? 0; a[20] = s.ctimeSubNs ?? 0;
    a[21] = Math.floor(ino / TWO32);
  }
  return a;
}

let loaded: LoadedFuseNative | null = null;
let setUnmount: (fn: (mnt: string) => void) => void = () => undefined;

/**
 * fuse-native's class, adapted (see above). `unmount(mnt)` replaces its `fusermount -uz`. Throws a
 * ConfigError (code 'ENOPKG') with the one-line MISSING message when the package or libfuse.so.2
 * is not there.
 */
export function loadFuseNative(unmount?: (mnt: string) => void): LoadedFuseNative {
  if (loaded !== null) {
    if (unmount !== undefined) setUnmount(unmount);
    return loaded;
  }
  let Base: (NativeFuseClass & { unmount(mnt: string, cb: (err: Error | null) => void): void }) | undefined;
  let version = 'unknown';
  let patched: Record<string, unknown> | null = null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    version = (require('fuse-native/package.json') as { version: string }).version;
    patched = version === '2.2.6' ? patchedBinding() : null;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Base = (patched !== null ? indexOver(patched) : require('fuse-native')) as typeof Base;
  } catch (err) {
    const e = new ConfigError('ENOPKG', 'transport', MISSING);
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
  const B = Base!;
  const isPatched = patched !== null;
  // Its _close calls the module's own class' static unmount: replaced for this process.
  setUnmount = (fn) => {
    B.unmount = (mnt, cb) => {
      try {
        fn(mnt);
        cb(null);
      } catch (err) {
        cb(err as Error);
      }
    };
  };
  if (unmount !== undefined) setUnmount(unmount);
  class AdaptedFuse extends (B as unknown as new (mnt: string, ops: object, opts: object) => Record<string, unknown>) {
    _fuseOptions(): string {
      const base = (B.prototype as unknown as { _fuseOptions(this: unknown): string })._fuseOptions.call(this);
      const extra = ((this.opts as { extraOptions?: string[] }).extraOptions ?? []).join(',');
      if (extra === '') return base;
      return base === '' ? `-o${extra}` : `${base},${extra}`;
    }

    _op_getattr(signal: Signal, path: string): void {
      const ops = this.ops as { getattr: (p: string, cb: (err: number, st?: NativeStat) => void) => void };
      ops.getattr(path, (err, stat) => (err || stat === undefined ? signal(err || -5, statArray({}, isPatched)) : signal(0, statArray(stat, isPatched))));
    }

    _op_fgetattr(signal: Signal, path: string, fd: number): void {
      const ops = this.ops as { fgetattr: (p: string, fd: number, cb: (err: number, st?: NativeStat) => void) => void };
      ops.fgetattr(path, fd, (err, stat) => (err || stat === undefined ? signal(err || -5) : signal(0, statArray(stat, isPatched))));
    }

    _op_readdir(signal: Signal, path: string): void {
      const ops = this.ops as { readdir: (p: string, cb: (err: number, names?: string[], stats?: Partial<NativeStat>[]) => void) => void };
      ops.readdir(path, (err, names, stats) => {
        if (err || names === undefined) return signal(err || -5);
        return signal(0, names, (stats ?? []).map((st) => statArray(st, isPatched)));
      });
    }

    /** Patched build: both times, ns precision, "now" and "unchanged" told apart. */
    _op_utimens(signal: Signal, path: string, aLow: number, aHigh: number, aNsec: number, mLow: number, mHigh: number, mNsec: number): void {
      const ops = this.ops as { utimens: (p: string, a: NativeTime, m: NativeTime, cb: (err: number) => void) => void };
      if (patched === null) {
        // stock: (atime ms, atime ms) in two uint32 pairs; mtime never given
        const ms = aLow + aHigh * TWO32;
        return ops.utimens(path, { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 }, undefined, (err) => signal(err));
      }
      ops.utimens(path, nativeTime(aLow, aHigh, aNsec), nativeTime(mLow, mHigh, mNsec), (err) => signal(err));
    }

    /** Patched build: create's open flags (stock: none, taken as O_RDWR). */
    _op_create(signal: Signal, path: string, mode: number, flags?: number): void {
      const ops = this.ops as { create: (p: string, mode: number, flags: number | undefined, cb: (err: number, fd?: number) => void) => void };
      ops.create(path, mode, patched === null ? undefined : flags, (err, fd) => signal(err, fd));
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
  const callerOf = patched === null ? null : (patched.fuse_native_caller as () => number[]);
  loaded = {
    Fuse: AdaptedFuse as unknown as NativeFuseClass,
    version,
    patched: patched !== null,
    caller: () => {
      if (callerOf === null) return null;
      const [uid, gid, pid] = callerOf();
      return { uid, gid, pid };
    },
  };
  return loaded;
}
