import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LruMap } from '../../lib/engine/lru';

test('a hit makes an entry the most recent; an insert beyond max drops the least recent', () => {
  const gone: string[] = [];
  const m = new LruMap<string, number>(3, (v, k) => gone.push(`${k}=${v}`));
  m.set('a', 1).set('b', 2).set('c', 3);
  assert.is(m.get('a'), 1); // a is now the most recent: b goes first
  m.set('d', 4);
  assert.equal(gone, ['b=2']);
  assert.equal([...m.keys()], ['c', 'a', 'd']);
  assert.is(m.peek('c'), 3); // peek leaves c the least recent
  m.set('e', 5);
  assert.equal(gone, ['b=2', 'c=3']);
  assert.is(m.has('c'), false);
  assert.is(m.size, 3);
});

test('dispose runs for deleted, replaced and cleared values, not for a value set again', () => {
  const gone: number[] = [];
  const m = new LruMap<string, number>(10, (v) => gone.push(v));
  m.set('a', 1);
  m.set('a', 1); // the same value: nothing leaves
  assert.equal(gone, []);
  m.set('a', 2);
  assert.equal(gone, [1]);
  assert.is(m.delete('a'), true);
  assert.is(m.delete('a'), false);
  assert.equal(gone, [1, 2]);
  m.set('x', 7).set('y', 8);
  m.clear();
  assert.equal(gone.sort(), [1, 2, 7, 8]);
  assert.is(m.size, 0);
  assert.is(m.get('x'), undefined);
});

test('take removes an entry without disposing of it', () => {
  const gone: number[] = [];
  const m = new LruMap<string, number>(2, (v) => gone.push(v));
  m.set('a', 1).set('b', 2);
  assert.is(m.take('a'), 1);
  assert.is(m.take('a'), undefined);
  assert.equal(gone, []);
  assert.equal([...m.keys()], ['b']);
});

test('max must be at least 1', () => {
  assert.throws(() => new LruMap(0), /max must be >= 1/);
  const one = new LruMap<number, number>(1);
  one.set(1, 1).set(2, 2);
  assert.equal([...one.keys()], [2]);
});

test.run();
