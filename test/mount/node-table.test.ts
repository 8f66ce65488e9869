import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeTable, ROOT_ID } from '../../lib/mount/node-table';

test('one node id per inode number, counted references, forget drops it', () => {
  const t = new NodeTable();
  const a = t.remember(100, 'a');
  assert.is.not(a, ROOT_ID);
  assert.is(t.remember(100, 'a'), a);
  assert.is(t.get(a).nlookup, 2);
  t.forget(a, 2);
  assert.throws(() => t.get(a), (e: { code: string }) => e.code === 'ESTALE');
  assert.is(t.idOf(100), undefined);
});

test('hard links: every name stays known; unlinking the one in use switches to another', () => {
  const t = new NodeTable();
  // fuzzer seed 1 through FUSE: a name looked up again must not lose the name used so far
  const id = t.remember(9, 'c/n1/c');
  t.remember(9, 'd/a/b');
  t.moved('e/e/a', 'c/n1', true); // exchange: c/n1/c is now e/e/a/c
  t.remember(9, 'e/e/a/c');
  t.detach(id, 'e/e/a/c');
  assert.is(t.get(id).path, 'd/a/b');
  assert.not.ok(t.get(id).detached);
  t.detach(id, 'd/a/b');
  assert.ok(t.get(id).detached);
});

test('renamed: only the node renamed changes, whichever of its names it was reached by', () => {
  const t = new NodeTable();
  const f = t.remember(1, 'd/f');
  const g = t.remember(2, 'd/f2'); // a sibling whose name starts the same
  const h = t.remember(3, 'x/h');
  t.remember(3, 'y/h'); // hard link: path y/h, x/h known as another name
  t.renamed(f, 'd/f', 'e/f');
  assert.is(t.get(f).path, 'e/f');
  assert.is(t.get(g).path, 'd/f2');
  t.renamed(h, 'x/h', 'x/h2');
  assert.is(t.get(h).path, 'y/h');
  assert.equal(t.get(h).others, ['x/h2']);
  t.detach(h, 'y/h');
  assert.is(t.get(h).path, 'x/h2');
  t.detach(f, 'e/f');
  t.renamed(f, 'e/f', 'z'); // a detached node follows no name
  assert.ok(t.get(f).detached);
});

test('renew: the next lookup gets a fresh node id, the old one lives until forgotten', () => {
  const t = new NodeTable();
  const old = t.remember(5, 'f');
  t.renew(old);
  const fresh = t.remember(5, 'f');
  assert.is.not(fresh, old);
  assert.is(t.get(old).path, 'f');
  t.forget(old, 1);
  assert.is(t.idOf(5), fresh);
});

test('a removed object gives up its inode number: a new object reusing it gets a new node id', () => {
  const t = new NodeTable();
  const old = t.remember(77, 'dir');
  t.detach(old, 'dir'); // rmdir; the kernel still holds the old inode
  const fresh = t.remember(77, 'dir'); // mkdir got the same inode number from the filesystem
  assert.is.not(fresh, old);
});

test.run();
