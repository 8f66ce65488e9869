import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { errnoErrorStackLimit } from '../sys';

/**
 * An error the engine returns to its caller. It always carries an errno `code` (ENOENT, EROFS...),
 * the positive `errno`, the engine operation as `syscall`, and the merged `path` it concerns, so the
 * FUSE edge can answer with `errno` and a library user can match on `code`.
 */
export class OverlayError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;

  constructor(code: string, syscall: string, path: string, detail?: string) {
    const errno = (osConstants.errno as Record<string, number>)[code] ?? osConstants.errno.EIO;
    const text = detail ?? describe(errno);
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = errnoErrorStackLimit(); // none in a FUSE server (lib/sys setErrorStacks)
    super(`${code}: ${text}, ${syscall} '${path}'`);
    Error.stackTraceLimit = limit;
    this.name = 'OverlayError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }
}

const systemErrors = getSystemErrorMap();

function describe(errno: number): string {
  return systemErrors.get(-errno)?.[1] ?? 'unknown error';
}

/** Turns anything thrown below the engine into the errno value the FUSE edge must answer with. */
export function toErrno(err: unknown): number {
  const e = err as { errno?: unknown; code?: unknown };
  if (typeof e?.errno === 'number') return Math.abs(e.errno);
  if (typeof e?.code === 'string') {
    const n = (osConstants.errno as Record<string, number>)[e.code];
    if (typeof n === 'number') return n;
  }
  return osConstants.errno.EIO;
}

/** True when `err` is an errno-style error with the given code. */
export function hasCode(err: unknown, ...codes: string[]): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && codes.includes(code);
}
