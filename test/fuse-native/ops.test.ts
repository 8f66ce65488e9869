/**
 * lib/fuse-native/ops.ts without a mount: every handler answers its callback exactly once with an
 * integer, whatever the engine does (fuse-native kills the process on a throw or a non-number).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Overlay } from '../../lib/engine';
import { OverlayError } from '../../lib/engine';
import { NativeOps } from '../../lib/fuse-native/ops';

function opsOver(fake: Partial<Record<keyof Overlay, unknown>>, logs: string[] = []) {
  return new NativeOps(fake as unknown as Overlay, { log: (l) => logs.push(l) }).handlers();
}

/** Calls a handler and resolves with every callback it got (after a turn for async ones). */
async function call(h: (...a: unknown[]) => void, ...args: unknown[]): Promise<unknown[][]> {
  const got: unknown[][] = [];
  h(...args, (...r: unknown[]) => got.push(r));
  await new Promise((r) => setTimeout(r, 10));
  return got;
}

test('an engine error answers its negative errno', async () => {
  const h = opsOver({ getattr: () => { throw new OverlayError('ENOENT', 'lookup', '/x'); } });
  assert.equal(await call(h.getattr, '/x'), [[-2]]);
});

test('a bug (a TypeError) answers EIO, once, and is logged', async () => {
  const logs: string[] = [];
  const h = opsOver({ readlink: () => { throw new TypeError('oops'); } }, logs);
  assert.equal(await call(h.readlink, '/x'), [[-5]]);
  assert.match(logs.join('\n'), /readlink \/x: TypeError: oops/);
});

test('a rejected promise answers its errno; a rejection without one EIO', async () => {
  const h = opsOver({
    mkdir: async () => { throw Object.assign(new Error('exists'), { code: 'EEXIST' }); },
    unlink: async () => { throw 'not even an Error'; },
  });
  assert.equal(await call(h.mkdir, '/d', 0o755), [[-17]]);
  assert.equal(await call(h.unlink, '/f'), [[-5]]);
});

test('a handle fuse-native never gave answers EBADF; a callback that throws is logged, not rethrown', async () => {
  const logs: string[] = [];
  const h = opsOver({}, logs);
  assert.equal(await call(h.read, '/f', 99, Buffer.alloc(4), 4, 0), [[-9]]);
  h.init(() => { throw new Error('native side failed'); });
  assert.match(logs.join('\n'), /fuse-native init: native side failed/);
});

test('paths reach the engine as merged paths (no leading slash, the root as "")', async () => {
  const seen: string[] = [];
  const attr = { ino: 5, mode: 0o40755, nlink: 1, uid: 0, gid: 0, rdev: 0, size: 0, blocks: 0, blksize: 4096, atimeSec: 1, atimeNsec: 2_500_000, mtimeSec: 3, mtimeNsec: 0, ctimeSec: 0, ctimeNsec: 0 };
  const h = opsOver({ getattr: (p: string) => { seen.push(p); return attr; } });
  const [[res, st]] = await call(h.getattr, '/');
  await call(h.getattr, '/a/b');
  assert.is(res, 0);
  assert.equal(seen, ['', 'a/b']);
  assert.is((st as { atime: number }).atime, 1002, 'times in ms');
  assert.is((st as { atimeSubNs: number }).atimeSubNs, 500_000, 'and what is below the ms');
});

test.run();
