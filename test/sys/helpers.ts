/** Shared helpers for the lib/sys tests: temp dirs that are always removed, fd leak checks. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';
import * as sys from '../../lib/sys';

/** Run fn with a fresh temp dir (and an O_PATH|O_DIRECTORY fd on it); always cleans up. */
export async function withTmp<T>(fn: (dir: string, dirfd: number) => T | Promise<T>, base = os.tmpdir()): Promise<T> {
  const dir = fs.mkdtempSync(path.join(base, 'layerfs-sys-'));
  let dirfd = -1;
  try {
    dirfd = sys.openat(sys.AT.FDCWD, dir, sys.O.PATH | sys.O.DIRECTORY);
    return await fn(dir, dirfd);
  } finally {
    if (dirfd >= 0) sys.close(dirfd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Assert that fn throws a SysError whose code is one of `codes`; returns it. */
export function throwsSys(fn: () => unknown, codes: string | string[], syscall?: string): sys.SysError {
  const want = Array.isArray(codes) ? codes : [codes];
  try {
    const r = fn();
    if (typeof r === 'number' && r >= 0) { try { sys.close(r); } catch { /* ignore */ } }
  } catch (e) {
    assert.instance(e, sys.SysError, `expected SysError, got ${String(e)}`);
    const se = e as sys.SysError;
    assert.ok(want.includes(se.code), `expected ${want.join('|')}, got ${se.code} (${se.message})`);
    if (syscall !== undefined) assert.is(se.syscall, syscall);
    return se;
  }
  assert.unreachable(`expected ${want.join('|')} but the call succeeded`);
  throw new Error('unreachable');
}

export async function rejectsSys(p: Promise<unknown>, code: string): Promise<sys.SysError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, sys.SysError);
    assert.is((e as sys.SysError).code, code);
    return e as sys.SysError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Filesystem type name of a path, from /proc/self/mountinfo (best effort). */
export function fsTypeOf(p: string): string {
  const real = fs.realpathSync(p);
  let best = '';
  let type = '';
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const parts = line.split(' ');
    const sep = parts.indexOf('-');
    if (sep < 0) continue;
    const mnt = parts[4].replace(/\\040/g, ' ');
    if ((real === mnt || real.startsWith(mnt === '/' ? '/' : mnt + '/')) && mnt.length >= best.length) {
      best = mnt;
      type = parts[sep + 1];
    }
  }
  return type;
}

export function tmpfsBase(): string | null {
  for (const p of ['/dev/shm', '/run']) {
    try {
      if (fs.statSync(p).isDirectory() && fsTypeOf(p) === 'tmpfs') {
        fs.accessSync(p, fs.constants.W_OK);
        return p;
      }
    } catch { /* try next */ }
  }
  return null;
}
