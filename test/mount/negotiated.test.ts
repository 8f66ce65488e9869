/** What INIT settled, as the adapter takes it (lib/mount/negotiated.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FuseSession } from '../../lib/fuse';
import { INIT } from '../../lib/fuse';
import { negotiatedOf, NOTHING_NEGOTIATED } from '../../lib/mount/negotiated';

function session(negotiated: object | undefined) {
  const s = {
    negotiated, calls: [] as unknown[][],
    backingOpen: (fd: number) => (s.calls.push(['open', fd]), 9),
    backingClose: (id: number) => void s.calls.push(['close', id]),
    notifyInvalInode: (...args: number[]) => (s.calls.push(['inval', ...args]), 0),
  };
  return s;
}

test('flags, kernel opens and passthrough as the session negotiated them', () => {
  const s = session({ flags: INIT.DONT_MASK | INIT.WRITEBACK_CACHE, noOpen: false, passthrough: true });
  const n = negotiatedOf(s as unknown as FuseSession);
  assert.equal([n.unmaskedModes, n.writebackCache, n.kernelOpens], [true, true, false]);
  assert.is(n.passthrough!.open(5), 9);
  n.passthrough!.close(9);
  n.attrsChanged(12);
  assert.equal(s.calls, [['open', 5], ['close', 9], ['inval', 12, -1, 0]], 'attributes only: offset -1');
});

test('kernel opens, no passthrough; before INIT nothing', () => {
  const n = negotiatedOf(session({ flags: 0n, noOpen: true, passthrough: false }) as unknown as FuseSession);
  assert.equal([n.unmaskedModes, n.writebackCache, n.kernelOpens, n.passthrough], [false, false, true, null]);
  const none = negotiatedOf(session(undefined) as unknown as FuseSession);
  assert.equal([none.unmaskedModes, none.writebackCache, none.kernelOpens, none.passthrough], [false, false, false, null]);
  assert.equal({ ...NOTHING_NEGOTIATED, attrsChanged: null }, { ...none, attrsChanged: null });
});

test.run();
