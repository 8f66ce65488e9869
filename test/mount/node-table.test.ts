import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeTable, ROOT_ID, type TableNode } from '../../lib/mount/node-table';

/** Directory nodes by path, made as the kernel would look them up (each component once). */
function dirs(t: NodeTable, ...paths: string[]): Map<string, TableNode> {
  const out = new Map<string, TableNode>([['', t.root]]);
  let ino = 1000;
  for (const p of paths) {
    let at = t.root;
    let sofar = '';
    for (const part of p.split('/')) {
      sofar = sofar === '' ? part : `${sofar}/${part}`;
      let n = out.get(sofar);
      if (n === undefined) {
        n = t.get(t.remember(ino++, at, part));
        out.set(sofar, n);
      }
      at = n;
    }
  }
  return out;
}

const pathOf = (t: NodeTable, id: number) => t.pathOf(t.get(id));

test('one node id per inode number, counted references, forget drops it', () => {
  const dropped: number[] = [];
  const t = new NodeTable((n) => dropped.push(n.nodeid));
  const a = t.remember(100, t.root, 'a');
  assert.is.not(a, ROOT_ID);
  assert.is(t.remember(100, t.root, 'a'), a);
  assert.is(t.get(a).nlookup, 2);
  t.forget(a, 2);
  assert.throws(() => t.get(a), (e: { code: string }) => e.code === 'ESTALE');
  assert.is(t.idOf(100), undefined);
  assert.equal(dropped, [a]);
  assert.is(t.pathOf(t.root), '');
});

test('hard links: every name stays known; unlinking the one in use switches to another', () => {
  const t = new NodeTable();
  const d = dirs(t, 'c/n1', 'd/a', 'e/e/a');
  // fuzzer seed 1 through FUSE: a name looked up again must not lose the name used so far
  const id = t.remember(9, d.get('c/n1')!, 'c');
  t.remember(9, d.get('d/a')!, 'b');
  assert.is(pathOf(t, id), 'd/a/b');
  // exchange of e/e/a and c/n1: the two directory nodes trade places
  const n1 = d.get('c/n1')!, ea = d.get('e/e/a')!;
  t.renamed(n1.nodeid, d.get('c')!, 'n1', d.get('e/e')!, 'a');
  t.renamed(ea.nodeid, d.get('e/e')!, 'a', d.get('c')!, 'n1');
  t.remember(9, n1, 'c'); // looked up again as e/e/a/c
  assert.is(pathOf(t, id), 'e/e/a/c');
  t.detach(id, n1, 'c');
  assert.is(pathOf(t, id), 'd/a/b');
  assert.not.ok(t.get(id).detached);
  t.detach(id, d.get('d/a')!, 'b');
  assert.ok(t.get(id).detached);
});

test('renamed: only the node renamed changes, whichever of its names it was reached by', () => {
  const t = new NodeTable();
  const d = dirs(t, 'd', 'e', 'x', 'y');
  const f = t.remember(1, d.get('d')!, 'f');
  const g = t.remember(2, d.get('d')!, 'f2'); // a sibling whose name starts the same
  const h = t.remember(3, d.get('x')!, 'h');
  t.remember(3, d.get('y')!, 'h'); // hard link: reached as y/h, x/h known as another name
  t.renamed(f, d.get('d')!, 'f', d.get('e')!, 'f');
  assert.is(pathOf(t, f), 'e/f');
  assert.is(pathOf(t, g), 'd/f2');
  t.renamed(h, d.get('x')!, 'h', d.get('x')!, 'h2');
  assert.is(pathOf(t, h), 'y/h');
  assert.equal(t.get(h).others?.map((o) => `${t.pathOf(o.parent)}/${o.name}`), ['x/h2']);
  t.detach(h, d.get('y')!, 'h');
  assert.is(pathOf(t, h), 'x/h2');
  t.detach(f, d.get('e')!, 'f');
  t.renamed(f, d.get('e')!, 'f', t.root, 'z'); // a detached node follows no name
  assert.ok(t.get(f).detached);
});

test('a directory rename moves one node: what is below follows it, whatever the table holds', () => {
  const t = new NodeTable();
  const d = dirs(t, 'a/b/c', 'a/bb');
  const files: number[] = [];
  // 200,000 nodes held under a/b/c and beside it
  for (let i = 0; i < 100_000; i++) files.push(t.remember(10_000 + i, d.get(i % 2 === 0 ? 'a/b/c' : 'a/bb')!, `f${i}`));
  assert.is(pathOf(t, files[0]), 'a/b/c/f0');
  const b = d.get('a/b')!;
  // the rename changes the moved node alone: its parent and name
  t.renamed(b.nodeid, d.get('a')!, 'b', t.root, 'moved');
  assert.is(b.parent, t.root);
  assert.is(b.name, 'moved');
  assert.is(pathOf(t, files[0]), 'moved/c/f0');
  assert.is(pathOf(t, files[1]), 'a/bb/f1');
  assert.is(t.pathOf(d.get('a/b/c')!), 'moved/c');
});

test('paths of a tree 10,000 directories deep are derived without recursion', () => {
  const t = new NodeTable();
  let at = t.root;
  for (let i = 0; i < 10_000; i++) at = t.get(t.remember(50_000 + i, at, 'd'));
  const path = t.pathOf(at);
  assert.is(path.length, 10_000 * 2 - 1);
  assert.ok(path.startsWith('d/d/') && path.endsWith('/d'));
});

test('renew: the next lookup gets a fresh node id, the old one lives until forgotten', () => {
  const t = new NodeTable();
  const old = t.remember(5, t.root, 'f');
  t.renew(old);
  const fresh = t.remember(5, t.root, 'f');
  assert.is.not(fresh, old);
  assert.is(pathOf(t, old), 'f');
  t.forget(old, 1);
  assert.is(t.idOf(5), fresh);
});

test('a removed object gives up its inode number: a new object reusing it gets a new node id', () => {
  const t = new NodeTable();
  const old = t.remember(77, t.root, 'dir');
  t.detach(old, t.root, 'dir'); // rmdir; the kernel still holds the old inode
  const fresh = t.remember(77, t.root, 'dir'); // mkdir got the same inode number from the filesystem
  assert.is.not(fresh, old);
});

test.run();
