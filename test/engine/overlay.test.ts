import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Overlay, OverlayNode } from '../../lib/engine';
import type { CacheOptions } from '../../lib/engine';
import * as sys from '../../lib/sys';
import { LayerSpec, makeLayerSet } from '../helpers/layers';

/**
 * lib/engine/overlay.ts: the node model as the public API shows it. A node is the object its name
 * leads to: a change to the object (copy-up, metadata) updates it in place, a rename moves it
 * (what lies below stays reachable through it), a removal or replacement leaves it stale.
 */

async function withOverlay(specs: LayerSpec[], fn: (ov: Overlay, upper: string) => Promise<void>, cache?: CacheOptions): Promise<void> {
  const set = makeLayerSet(specs);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work, metacopy: true, cache });
  try {
    await fn(ov, set.upper);
  } finally {
    ov.close();
    set.remove();
  }
}

const text = (ov: Overlay, target: string | OverlayNode) => ov.readFile(target).toString();

test('a lower file copied up keeps its node: metacopy at chmod, data at the first write', async () => {
  await withOverlay([{ 'd/f': { type: 'file', content: 'lower', mode: 0o644 } }], async (ov) => {
    const d = ov.resolve('d');
    const f = ov.resolve('d/f');
    assert.not.ok(f.isUpper);
    await ov.chmod('d/f', 0o600);
    assert.ok(ov.resolve('d/f') === f, 'the same node after the metadata copy-up');
    assert.ok(ov.resolve('d') === d, 'the parent copied up on the way keeps its node too');
    assert.ok(d.isUpper, 'the parent node shows the upper directory');
    assert.ok(f.isUpper, 'the node shows the upper object');
    assert.not.ok(f.dataEntry.layer.isUpper, 'its data is still read from below (metacopy)');
    assert.is(ov.getattr(f).mode & 0o7777, 0o600);
    assert.is(text(ov, f), 'lower');
    const h = await ov.open('d/f', sys.O.WRONLY);
    try {
      h.writeSync(Buffer.from('UP'), 0, 2, 0);
    } finally {
      h.close();
    }
    assert.ok(ov.resolve('d/f') === f, 'the same node after the data copy-up');
    assert.not.ok(f.stale);
    assert.ok(f.dataEntry.layer.isUpper, 'its data now lies in the upper layer');
    assert.is(f.dataIndex, 0);
    assert.is(text(ov, f), 'UPwer');
  });
});

test('a directory rename moves its node; nodes below it are the same objects, at their new paths', async () => {
  await withOverlay([{ 'a/b/c/f': { type: 'file', content: 'deep' }, 'a/b/g': { type: 'file', content: 'g' }, 'x': { type: 'dir' } }], async (ov) => {
    const b = ov.resolve('a/b');
    const c = ov.resolve('a/b/c');
    const f = ov.resolve('a/b/c/f');
    const g = ov.resolve('a/b/g');
    const x = ov.resolve('x');
    await ov.rename('a/b', 'x/y');
    assert.ok(ov.resolve('x/y') === b, 'the renamed directory keeps its node');
    assert.is(b.path, 'x/y');
    assert.is(b.name, 'y');
    assert.ok(b.parent === x);
    assert.not.ok(b.stale);
    assert.ok(ov.resolve('x/y/c') === c);
    assert.ok(ov.resolve('x/y/c/f') === f);
    assert.ok(ov.resolve('x/y/g') === g);
    assert.equal([c.path, f.path, g.path], ['x/y/c', 'x/y/c/f', 'x/y/g']);
    assert.ok([c, f, g].every((n) => !n.stale));
    assert.is(ov.tryResolve('a/b'), null);
    assert.is(text(ov, f), 'deep', 'a node below reaches its lower object through the moved directory');
    // Changes below the moved directory reach the old nodes in place, at their new upper paths.
    await ov.writeFile('x/y/c/f', 'changed');
    assert.ok(ov.resolve('x/y/c/f') === f);
    assert.ok(f.isUpper);
    assert.is(f.top.path, 'x/y/c/f');
    assert.is(text(ov, f), 'changed');
    // Moved again (now an upper directory with a redirect): still the same nodes.
    await ov.rename('x/y', 'top');
    assert.ok(ov.resolve('top/c/f') === f);
    assert.equal([b.path, f.path, f.top.path], ['top', 'top/c/f', 'top/c/f']);
    assert.is(text(ov, 'top/c/f'), 'changed');
    assert.is(text(ov, 'top/g'), 'g');
  });
});

test('a file rename moves its node; a file renamed over is left stale', async () => {
  await withOverlay([{ 'a': { type: 'file', content: 'A' }, 'b': { type: 'file', content: 'B' }, 'd': { type: 'dir' } }], async (ov) => {
    const a = ov.resolve('a');
    const b = ov.resolve('b');
    await ov.rename('a', 'b');
    assert.ok(b.stale, 'the replaced target is stale');
    assert.ok(ov.resolve('b') === a);
    assert.not.ok(a.stale);
    assert.is(a.path, 'b');
    assert.is(ov.tryResolve('a'), null);
    assert.is(text(ov, 'b'), 'A');
    // Into another directory, over nothing.
    await ov.rename('b', 'd/e');
    assert.ok(ov.resolve('d/e') === a);
    assert.equal([a.path, a.top.path], ['d/e', 'd/e']);
    assert.is(text(ov, a), 'A');
  });
});

test('an exchange swaps two nodes, each with what lies below it', async () => {
  await withOverlay([{ 'p/in-p': { type: 'file', content: 'P' }, 'q/in-q': { type: 'file', content: 'Q' }, 'f': { type: 'file', content: 'F' } }], async (ov) => {
    const p = ov.resolve('p');
    const q = ov.resolve('q');
    const inP = ov.resolve('p/in-p');
    await ov.rename('p', 'q', { exchange: true });
    assert.ok(ov.resolve('p') === q);
    assert.ok(ov.resolve('q') === p);
    assert.equal([p.path, q.path, inP.path], ['q', 'p', 'q/in-p']);
    assert.not.ok(p.stale || q.stale);
    assert.ok(ov.resolve('q/in-p') === inP);
    assert.is(text(ov, 'q/in-p'), 'P');
    assert.is(text(ov, 'p/in-q'), 'Q');
    // A file and a directory.
    const f = ov.resolve('f');
    await ov.rename('f', 'p', { exchange: true });
    assert.ok(ov.resolve('p') === f);
    assert.ok(ov.resolve('f') === q);
    assert.equal([f.path, q.path], ['p', 'f']);
    assert.is(text(ov, 'p'), 'F');
    assert.is(text(ov, 'f/in-q'), 'Q');
  });
});

test('unlink and rmdir leave the node stale; a new object at the name gets a new node', async () => {
  await withOverlay([{ 'd/f': { type: 'file', content: 'x' }, 'e': { type: 'dir' } }], async (ov) => {
    const f = ov.resolve('d/f');
    const e = ov.resolve('e');
    await ov.unlink('d/f');
    assert.ok(f.stale);
    assert.is(ov.tryResolve('d/f'), null);
    await ov.rmdir('e');
    assert.ok(e.stale);
    assert.is(ov.tryResolve('e'), null);
    await ov.writeFile('d/f', 'new');
    const f2 = ov.resolve('d/f');
    assert.ok(f2 !== f);
    assert.not.ok(f2.stale);
    const e2 = await ov.mkdir('e');
    assert.ok(ov.resolve('e') === e2);
    assert.ok(e2 !== e);
    assert.not.ok(e2.stale);
  });
});

test('a held directory stays the node its name leads to when the node cache lets it go', async () => {
  const spec: LayerSpec = { 'held/in': { type: 'file', content: 'h' }, 'free/in': { type: 'file' } };
  for (let i = 0; i < 40; i++) spec[`f${i}`] = { type: 'file', content: String(i) };
  await withOverlay([spec], async (ov) => {
    const held = ov.resolve('held');
    ov.hold(held);
    const free = ov.resolve('free');
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 40; i++) assert.is(text(ov, `f${i}`), String(i));
      assert.ok(ov.resolve('held') === held, `round ${round}: the held node`);
      assert.ok(ov.cacheSizes().nodes <= 2);
    }
    // The LRU holds 2 nodes: an unheld one was let go and a lookup builds another (else the check
    // above proves nothing).
    const free2 = ov.resolve('free');
    assert.ok(free2 !== free, 'the unheld node was evicted and replaced');
    assert.is(free2.path, 'free');
    assert.not.ok(free2.stale);
    // Changes reach the held node in place while it is outside the LRU.
    for (let i = 0; i < 10; i++) ov.resolve(`f${i}`);
    await ov.chmod('held', 0o700);
    assert.ok(held.isUpper, 'copied up in place');
    assert.is(ov.getattr(held).mode & 0o7777, 0o700);
    for (let i = 0; i < 10; i++) ov.resolve(`f${i}`);
    await ov.rename('held', 'moved');
    assert.ok(ov.resolve('moved') === held);
    assert.is(held.path, 'moved');
    for (let i = 0; i < 10; i++) ov.resolve(`f${i}`);
    assert.ok(ov.resolve('moved') === held, 'still held under its new name');
    assert.is(text(ov, 'moved/in'), 'h');
    // Released: the cache may let it go for good.
    ov.release(held);
    for (let i = 0; i < 10; i++) ov.resolve(`f${i}`);
    const after = ov.resolve('moved');
    assert.is(after.path, 'moved');
    assert.not.ok(after.stale);
  }, { nodes: 2 });
});

test('a held directory keeps its ancestors, also after it moves (the name is reached through them)', async () => {
  const spec: LayerSpec = { 'a/b/held/in': { type: 'file', content: 'h' }, 'c/d': { type: 'dir' } };
  for (let i = 0; i < 20; i++) spec[`f${i}`] = { type: 'file' };
  await withOverlay([spec], async (ov) => {
    const others = () => {
      for (let i = 0; i < 20; i++) ov.resolve(`f${i}`);
    };
    const held = ov.resolve('a/b/held');
    ov.hold(held);
    others();
    assert.ok(ov.resolve('a/b/held') === held, 'reached through the same ancestors');
    await ov.chmod('a/b/held', 0o700);
    assert.ok(held.isUpper, 'the held node sees the change');
    // Moved under another directory: that one is kept now.
    await ov.rename('a/b/held', 'c/d/moved');
    others();
    assert.ok(ov.resolve('c/d/moved') === held);
    // An ancestor moved: the held node comes along.
    await ov.rename('c', 'e');
    others();
    assert.ok(ov.resolve('e/d/moved') === held);
    assert.is(held.path, 'e/d/moved');
    assert.is(text(ov, 'e/d/moved/in'), 'h');
    // Exchanged with an unheld directory.
    await ov.rename('e/d', 'a/b', { exchange: true });
    others();
    assert.ok(ov.resolve('a/b/moved') === held);
    ov.release(held);
    assert.is(ov.resolve('a').holds, 0, 'released: no ancestor is held any more');
    assert.is(ov.root.holds, 0);
  }, { nodes: 2 });
});

test('a node held after the cache let it go is brought up to date and is the one its name leads to', async () => {
  const spec: LayerSpec = { 'a/d/in': { type: 'file', content: 'in' } };
  for (let i = 0; i < 20; i++) spec[`f${i}`] = { type: 'file' };
  await withOverlay([spec], async (ov) => {
    const others = () => {
      for (let i = 0; i < 20; i++) ov.resolve(`f${i}`);
    };
    const d = ov.resolve('a/d');
    others();
    await ov.chmod('a/d', 0o700); // copied up through another node: `d` was let go
    others();
    assert.not.ok(d.isUpper);
    ov.hold(d);
    assert.ok(d.isUpper, 'looked up again at the hold');
    assert.not.ok(d.stale);
    others();
    assert.ok(ov.resolve('a/d') === d);
    assert.is(text(ov, 'a/d/in'), 'in');
    ov.release(d);
  }, { nodes: 2 });
});

test('negative lookups are forgotten when the name is created', async () => {
  await withOverlay([{ 'd/x': { type: 'file', content: 'x' } }], async (ov) => {
    const made: [string, () => Promise<unknown>][] = [
      ['d/file', () => ov.writeFile('d/file', 'f')],
      ['d/dir', () => ov.mkdir('d/dir')],
      ['d/sym', () => ov.symlink('x', 'd/sym')],
      ['d/link', () => ov.link('d/x', 'd/link')],
      ['d/moved', () => ov.rename('d/x', 'd/moved')],
      ['d/x', () => ov.rename('d/moved', 'd/x')],
    ];
    for (const [name, make] of made) {
      assert.is(ov.tryResolve(name), null, name);
      const hits = ov.stats.negativeCacheHits;
      assert.is(ov.tryResolve(name), null, name);
      assert.ok(ov.stats.negativeCacheHits > hits, `${name}: answered from the negative cache`);
      await make();
      assert.ok(ov.tryResolve(name) !== null, `${name} is found once created`);
    }
    assert.is(text(ov, 'd/x'), 'x');
  });
});

test('a lower hard link found by path before its twin is copied up shows the copy afterwards', async () => {
  // fuse-native asks by path: a path found again without a walk must not skip the hard-link check
  await withOverlay([{ 'data/a': { type: 'file', content: 'linked\n' } }], async (ov) => {
    // the second name of the lower file, made in the lower layer itself
    const lowerDir = (ov.config.lower as string[])[0];
    fs.linkSync(`${lowerDir}/data/a`, `${lowerDir}/data/b`);
    assert.is(ov.getattr('data/a').ino, ov.getattr('data/b').ino, 'one inode before the copy-up');
    const h = await ov.open('data/a', sys.O.WRONLY | sys.O.APPEND);
    try {
      h.writeSync(Buffer.from('through a\n'), 0, 10, null);
    } finally {
      h.close();
    }
    assert.is(text(ov, 'data/b'), 'linked\nthrough a\n', 'the other name, asked by path, reads the copy');
    assert.is(ov.getattr('data/a').ino, ov.getattr('data/b').ino, 'still one inode');
  });
});

test('hard links: the data stays with the name left after the other is unlinked', async () => {
  await withOverlay([{ 'lower': { type: 'file', content: 'lower data' }, 'd': { type: 'dir' } }], async (ov) => {
    const l = await ov.link('lower', 'd/l2');
    assert.ok(ov.resolve('d/l2') === l);
    assert.is(ov.getattr('lower').nlink, 2);
    assert.is(ov.getattr('lower').ino, ov.getattr('d/l2').ino);
    const first = ov.resolve('lower');
    await ov.unlink('lower');
    assert.ok(first.stale);
    assert.not.ok(l.stale);
    assert.is(text(ov, 'd/l2'), 'lower data');
    assert.is(ov.getattr('d/l2').nlink, 1);

    await ov.writeFile('u', 'upper data');
    const u2 = await ov.link('u', 'u2');
    await ov.writeFile('u2', 'written via u2');
    assert.is(text(ov, 'u'), 'written via u2', 'one file, two names');
    await ov.unlink('u2');
    assert.ok(u2.stale);
    assert.is(text(ov, 'u'), 'written via u2');
    assert.is(ov.getattr('u').nlink, 1);
  });
});

/** Removes a tree too deep for one path (rm uses openat; fs.rmSync may not). */
function removeDeep(dir: string): void {
  execFileSync('rm', ['-rf', dir]);
}

test('a tree 3,000 deep (merged paths far beyond PATH_MAX) made, renamed and removed through the engine', async () => {
  const DEPTH = 3000;
  const set = makeLayerSet([{ 'lowerfile': { type: 'file' } }]);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work, cache: { dirFds: 64 } });
  try {
    const parts: string[] = [];
    for (let i = 0; i < DEPTH; i++) {
      parts.push(i === DEPTH / 2 ? 'mid' : 'd');
      await ov.mkdir(parts.join('/'));
    }
    const bottom = parts.join('/');
    assert.ok(Buffer.byteLength(bottom) > 4096, 'deeper than PATH_MAX');
    const leafNode = ov.resolve(bottom);
    await ov.writeFile(`${bottom}/leaf`, 'at the bottom');
    assert.is(text(ov, `${bottom}/leaf`), 'at the bottom');
    const leaf = ov.resolve(`${bottom}/leaf`);

    const at = parts.indexOf('mid');
    parts[at] = 'renamed';
    await ov.rename(parts.slice(0, at).concat('mid').join('/'), parts.slice(0, at + 1).join('/'));
    const moved = parts.join('/');
    assert.is(leafNode.path, moved);
    assert.ok(ov.resolve(moved) === leafNode);
    assert.ok(ov.resolve(`${moved}/leaf`) === leaf);
    assert.is(text(ov, `${moved}/leaf`), 'at the bottom');
    assert.is(ov.tryResolve(bottom), null);
    assert.equal(ov.readdir(moved).map((e) => e.name), ['leaf']);

    await ov.unlink(`${moved}/leaf`);
    for (let i = DEPTH; i > 0; i--) await ov.rmdir(parts.slice(0, i).join('/'));
    assert.equal(ov.readdir('/').map((e) => e.name), ['lowerfile']);
    assert.equal(fs.readdirSync(set.upper), []);
  } finally {
    ov.close();
    removeDeep(set.base);
  }
});

test.run();
