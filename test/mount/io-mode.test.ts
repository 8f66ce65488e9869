/** How an open's I/O is chosen (lib/mount/io-mode.ts): passthrough, or served, per node. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileHandle } from '../../lib/engine';
import { IoModes, SERVED_READ_MAX, servedFlags } from '../../lib/mount/io-mode';
import { O } from '../../lib/sys';

/** A stand-in handle: IoModes looks at its size, descriptor and identity, and closes it on refusal. */
function handle(size = 100, ino = 7): FileHandle & { shut: boolean } {
  const h = { fd: 40 + ino, shut: false, node: { top: { stat: { size } } }, identity: () => ({ dev: 1, ino }), close() { h.shut = true; } };
  return h as unknown as FileHandle & { shut: boolean };
}

function kernel() {
  const k = { opened: [] as number[], closed: [] as number[], open: (fd: number) => (k.opened.push(fd), 100 + k.opened.length), close: (id: number) => void k.closed.push(id) };
  return k;
}

test('no passthrough: every open served', () => {
  const m = new IoModes();
  assert.is(m.choose(handle(), 1, true, false, null, true), 0);
  assert.is(m.choose(handle(), 1, false, false, null, true), 0);
});

test('first read-only open passed through; a small file opened again served; a big one passed through', () => {
  const m = new IoModes();
  const k = kernel();
  m.use(k);
  assert.is(m.choose(handle(), 1, true, false, null, true), 101, 'first open of node 1');
  assert.is(m.choose(handle(), 1, true, false, null, true), 0, 'opened before: served');
  assert.is(m.choose(handle(SERVED_READ_MAX + 1), 2, true, false, null, true), 102);
  assert.is(m.choose(handle(SERVED_READ_MAX + 1), 2, true, false, null, true), 103, 'too big to serve');
  assert.is(m.choose(handle(), 1, false, false, null, true), 104, 'for writing: passed through');
  assert.is(m.choose(handle(), 3, false, false, null, false), 0, 'refused passthrough (set-ID): served');
  m.forgotten(1);
  assert.is(m.choose(handle(), 1, true, false, null, true), 105, 'forgotten: a first open again');
});

test('an open joins its node\'s backing; another file under it is refused with ESTALE', () => {
  const m = new IoModes();
  m.use(kernel());
  const first = handle(100, 7);
  const backing = m.backingOf(first, m.choose(first, 1, true, false, null, true));
  assert.equal(backing, { id: 101, dev: 1, ino: 7, refs: 1 });
  assert.is(m.choose(handle(100, 7), 1, false, true, backing, false), 101, 'the inode is in passthrough: so is this open');
  assert.is(backing.refs, 2);
  assert.is(m.choose(handle(100, 7), 1, true, true, null, true), 0, 'open and served: served');
  const copied = handle(100, 8);
  assert.throws(() => m.choose(copied, 1, false, true, backing, true), (e: { code?: string }) => e.code === 'ESTALE');
  assert.ok(copied.shut);
});

test('a passthrough write makes the next served open drop the page cache, once', () => {
  const m = new IoModes();
  assert.ok(m.keepsCache(1));
  m.passedThrough(1, true);
  assert.ok(m.keepsCache(1), 'read-only: nothing written');
  m.passedThrough(1, false);
  assert.not.ok(m.keepsCache(1));
  assert.ok(m.keepsCache(1));
});

test('a backing the kernel dropped already closes quietly', () => {
  const m = new IoModes();
  m.use({ open: () => 1, close: () => { throw new Error('ENOTCONN'); } });
  m.closeBacking(1);
});

test('our descriptor\'s flags: never O_DIRECT; under the writeback cache read-write and without O_APPEND', () => {
  assert.is(servedFlags(O.WRONLY | O.DIRECT | O.APPEND, false), O.WRONLY | O.APPEND);
  assert.is(servedFlags(O.WRONLY | O.APPEND, true), O.RDWR);
  assert.is(servedFlags(O.RDONLY, true), O.RDONLY);
  assert.is(servedFlags(O.RDWR | O.TRUNC, true), O.RDWR | O.TRUNC);
});

test.run();
