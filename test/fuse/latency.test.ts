/** lib/fuse/latency.ts, and the session timing each request with it. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FuseSession, LatencyStats, Op } from '../../lib/fuse';
import type { FuseOperations } from '../../lib/fuse';
import { body, request } from '../../lib/fuse/requests';

/** Records a request that took exactly `us` microseconds (both ends given: no clock in the result). */
function recordUs(stats: LatencyStats, op: Op, us: number): void {
  const end = LatencyStats.now();
  stats.record(op, end - us / 1000, end);
}

test('percentiles within a bucket (19%) of the truth, mean and max exact, commonest first', () => {
  const s = new LatencyStats();
  for (let i = 1; i <= 1000; i++) recordUs(s, Op.GETATTR, i); // 1..1000 µs
  for (let i = 0; i < 10; i++) recordUs(s, Op.LOOKUP, 5000);
  const snap = s.snapshot();
  assert.equal(Object.keys(snap), ['GETATTR', 'LOOKUP']);
  const g = snap.GETATTR;
  assert.is(g.count, 1000);
  assert.ok(Math.abs(g.meanUs - 500.5) < 0.01, `mean ${g.meanUs}`);
  assert.ok(Math.abs(g.maxUs - 1000) < 0.01, `max ${g.maxUs}`);
  for (const [p, want] of [[g.p50Us, 500], [g.p90Us, 900], [g.p99Us, 990]]) {
    assert.ok(p >= want && p <= want * 1.19 + 1, `percentile ${p} for ${want}`);
  }
  assert.ok(snap.LOOKUP.p50Us >= 5000 && snap.LOOKUP.p50Us <= snap.LOOKUP.maxUs, 'a percentile never exceeds the max');
});

test('the session times every request it answers, sync or async, failed or not, from read to reply', async () => {
  const replies: Buffer[] = [];
  const ops: FuseOperations = {
    getattr: () => ({ attr: { ino: 1, mode: 0o40755, nlink: 2, uid: 0, gid: 0, rdev: 0, size: 0, blocks: 0, blksize: 4096, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0, ctimeSec: 0, ctimeNsec: 0 } }),
    lookup: () => new Promise((_res, rej) => setTimeout(() => rej(Object.assign(new Error('no'), { code: 'ENOENT' })), 30)),
  };
  const session = new FuseSession(-1, ops, { writeReply: (out) => { replies.push(Array.isArray(out) ? Buffer.concat(out) : out); return 0; }, log: () => undefined });
  session.deliver(request(Op.GETATTR, 2, 1, body.getattr()));
  session.deliver(request(Op.LOOKUP, 4, 1, body.name('missing')));
  assert.equal(Object.keys(session.latency.snapshot()), ['GETATTR'], 'the lookup is not answered yet');
  await new Promise((res) => setTimeout(res, 50));
  assert.is(replies.length, 2);
  assert.is(replies[1].readInt32LE(4), -2, 'ENOENT');
  const snap = session.latency.snapshot();
  assert.is(snap.GETATTR.count, 1);
  assert.ok(snap.GETATTR.maxUs < 20000, `getattr ${snap.GETATTR.maxUs} µs`);
  assert.is(snap.LOOKUP.count, 1);
  assert.ok(snap.LOOKUP.maxUs >= 25000, `the lookup's time includes its wait (${snap.LOOKUP.maxUs} µs)`);
});

test.run();
