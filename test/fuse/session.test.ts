/** FuseSession fed with `deliver`: INTERRUPT reaches the request it names only while that one is pending. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FuseSession, Op } from '../../lib/fuse';
import type { FuseContext, FuseOperations } from '../../lib/fuse';
import { body, request } from '../../lib/fuse/requests';

const attr = { ino: 1, size: 0, blocks: 0, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0, ctimeSec: 0, ctimeNsec: 0,
  mode: 0o100644, nlink: 1, uid: 0, gid: 0, rdev: 0, blksize: 4096 };

function interrupt(unique: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(unique));
  return b;
}

test('an INTERRUPT marks the pending request it names, not one answered already', async () => {
  const replies: number[] = [];
  const seen: FuseContext[] = [];
  let finish = (): void => undefined;
  const ops: FuseOperations = {
    lookup: (ctx) => { seen.push(ctx); return { nodeid: 2, attr }; },
    getattr: (ctx) => {
      seen.push(ctx);
      return new Promise((res) => { finish = () => res({ attr }); });
    },
  };
  const s = new FuseSession(-1, ops, {
    log: (m) => { throw new Error(m); },
    writeReply: (out) => { const b = Array.isArray(out) ? out[0] : out; replies.push(Number(b.readBigUInt64LE(8))); return b.length; },
  });
  s.deliver(request(Op.LOOKUP, 11, 1, body.name('a')));
  assert.equal(replies, [11]);
  s.deliver(request(Op.INTERRUPT, 12, 0, interrupt(11))); // too late: answered
  s.deliver(request(Op.GETATTR, 13, 2, body.getattr()));
  assert.is(seen[1].interrupted, false);
  s.deliver(request(Op.INTERRUPT, 14, 0, interrupt(13)));
  assert.is(seen[1].interrupted, true);
  assert.is(seen[0].interrupted, false);
  finish();
  await new Promise((res) => setImmediate(res));
  assert.equal(replies, [11, 13]);
  assert.is(seen[1].interrupted, false); // answered: forgotten
  assert.is(seen[1].unique, 13);
  assert.is(seen[1].uid, 0);
});

test.run();
