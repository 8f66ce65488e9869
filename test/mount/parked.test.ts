/** Parked read-only handles (lib/mount/parked.ts): one per node, taken only with the flags it was opened with, a cache that never fails an open. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileHandle } from '../../lib/engine';
import { ParkedHandles, PARKED_UPPER_MAX } from '../../lib/mount/parked';
import * as sys from '../../lib/sys';

/** A stand-in handle: ParkedHandles looks at onUpper and flags only, and closes. */
function handle(onUpper = false, flags = sys.O.RDONLY): FileHandle & { shut: boolean } {
  const h = { onUpper, flags, shut: false, close() { h.shut = true; } };
  return h as unknown as FileHandle & { shut: boolean };
}

const emfile = () => Object.assign(new Error('too many'), { code: 'EMFILE' });

test('a parked handle serves the next open with the same flags; other flags close it', () => {
  const p = new ParkedHandles();
  const a = handle();
  p.park(1, a);
  assert.is(p.unpark(1, sys.O.RDONLY), a);
  assert.is(a.shut, false, 'taken out, not closed');
  assert.is(p.unpark(1, sys.O.RDONLY), undefined, 'taken once');
  const b = handle();
  p.park(2, b);
  assert.is(p.unpark(2, sys.O.RDONLY | sys.O.NOATIME), undefined);
  assert.ok(b.shut, 'a handle with other flags is closed');
});

test('parking again closes the node\'s earlier handle, on either layer', () => {
  const p = new ParkedHandles();
  const lower = handle(false), upper = handle(true);
  p.park(1, lower);
  p.park(1, upper);
  assert.ok(lower.shut);
  assert.is(p.size, 1);
  assert.is(p.take(1), upper);
});

test('upper handles are few: the least recently parked are closed', () => {
  const p = new ParkedHandles();
  const hs = Array.from({ length: PARKED_UPPER_MAX + 3 }, () => handle(true));
  hs.forEach((h, i) => p.park(100 + i, h));
  assert.is(p.size, PARKED_UPPER_MAX);
  assert.equal(hs.slice(0, 3).map((h) => h.shut), [true, true, true]);
  assert.is(hs[3].shut, false);
  p.clear();
  assert.ok(hs.every((h) => h.shut), 'clear closes every parked handle');
});

test('out of descriptors: the parked handles are closed and the open is tried once more', async () => {
  const p = new ParkedHandles();
  const h = handle();
  p.park(1, h);
  let tries = 0;
  assert.is(p.withRoomSync(() => (++tries === 1 ? (() => { throw emfile(); })() : 'opened')), 'opened');
  assert.is(tries, 2);
  assert.ok(h.shut);
  // nothing parked: the failure stands
  assert.throws(() => p.withRoomSync(() => { throw emfile(); }), /too many/);
  tries = 0;
  p.park(2, handle());
  assert.is(await p.withRoom(async () => { if (++tries === 1) throw emfile(); return 'opened'; }), 'opened');
  // another error is not retried
  p.park(3, handle());
  await p.withRoom(async () => { throw Object.assign(new Error('gone'), { code: 'ENOENT' }); }).then(() => assert.unreachable(), (e: { code: string }) => assert.is(e.code, 'ENOENT'));
  assert.is(p.size, 1, 'kept');
});

test.run();
