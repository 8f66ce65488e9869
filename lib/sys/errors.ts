/** SysError: the error thrown by every lib/sys wrapper when a system call fails. */
import * as os from 'os';
import * as util from 'util';
import { native } from './native';

const errnoToCode = new Map<number, string>();
const errnoToMessage = new Map<number, string>();
const codeToErrno = new Map<string, number>();

(() => {
  // libuv's names and messages, as Node uses them (keys are negative errnos)
  try {
    for (const [neg, [name, message]] of util.getSystemErrorMap()) {
      errnoToCode.set(-neg, name);
      errnoToMessage.set(-neg, message);
    }
  } catch { /* older runtimes: fall back below */ }
  // everything else from os.constants.errno (first name wins for aliases such as EWOULDBLOCK)
  for (const [name, value] of Object.entries(os.constants.errno)) {
    if (!errnoToCode.has(value)) errnoToCode.set(value, name);
    if (!codeToErrno.has(name)) codeToErrno.set(name, value);
  }
  // libuv calls 95 'ENOTSUP'; on Linux the kernel/glibc name is EOPNOTSUPP (ENOTSUP is its alias).
  // Use the kernel's name so engine code can mirror overlayfs; codeErrno('ENOTSUP') still works.
  const eopnotsupp = os.constants.errno.EOPNOTSUPP;
  if (eopnotsupp !== undefined) errnoToCode.set(eopnotsupp, 'EOPNOTSUPP');
})();

/** 'ENOENT' for 2 etc.; 'Unknown system error N' style fallback. */
export function errnoCode(errno: number): string {
  const e = Math.abs(errno);
  return errnoToCode.get(e) ?? `E${e}`;
}

/** positive errno for a code such as 'ENOENT' (undefined if unknown) */
export function codeErrno(code: string): number | undefined {
  return codeToErrno.get(code);
}

export function errnoMessage(errno: number): string {
  const e = Math.abs(errno);
  const m = errnoToMessage.get(e);
  if (m) return m;
  const s = native.strerror(e);
  return s.length > 0 ? s[0].toLowerCase() + s.slice(1) : `unknown error ${e}`;
}

let stacks = true;

/**
 * Whether SysError and OverlayError capture a stack trace (default: yes). A FUSE server turns it off:
 * errno errors are its answers (ENOENT, ENODATA, EEXIST...), not bugs, and capturing a stack costs
 * a sizable share of a request (docs/benchmarks.md, Design figures). Bugs (TypeError and the like) keep theirs.
 */
export function setErrorStacks(on: boolean): void {
  stacks = on;
}

/** Error.stackTraceLimit for an errno error about to be made (0 when stacks are off). */
export function errnoErrorStackLimit(): number {
  return stacks ? Error.stackTraceLimit : 0;
}

export class SysError extends Error {
  /** 'ENOENT' etc. */
  readonly code: string;
  /** positive errno */
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
  readonly dest?: string;

  constructor(errno: number, syscall: string, path?: string, dest?: string) {
    const e = Math.abs(errno);
    const code = errnoCode(e);
    let msg = `${code}: ${errnoMessage(e)}, ${syscall}`;
    if (path !== undefined) msg += ` '${path}'`;
    if (dest !== undefined) msg += ` -> '${dest}'`;
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = errnoErrorStackLimit();
    super(msg);
    Error.stackTraceLimit = limit;
    this.name = 'SysError';
    this.code = code;
    this.errno = e;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
    if (dest !== undefined) this.dest = dest;
  }
}

/** Throw a SysError if ret is negative (-errno); otherwise return it. */
export function check(ret: number, syscall: string, path?: string, dest?: string): number {
  if (ret < 0) throw new SysError(-ret, syscall, path, dest);
  return ret;
}

export function isSysError(e: unknown, code?: string): e is SysError {
  return e instanceof SysError && (code === undefined || e.code === code);
}

/** Convert an error thrown by Node's fs into a SysError (used where lib/sys delegates to Node). */
export function fromNodeError(e: unknown, syscall: string, path?: string): unknown {
  const ne = e as NodeJS.ErrnoException;
  if (ne && typeof ne.errno === 'number' && typeof ne.code === 'string') {
    return new SysError(Math.abs(ne.errno), ne.syscall ?? syscall, ne.path ?? path);
  }
  return e;
}
