import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../../lib/engine';
import * as sys from '../../lib/sys';
import { mountKernelOverlay } from '../helpers/kernel-overlay';
import { code, names, withOverlay } from '../helpers/engine';
import { LayerSpec, makeLayerSet } from '../helpers/layers';

/**
 * Write-side regressions found by the differential fuzzer (fuzz.test.ts), each checked against what
 * kernel overlayfs does with the same layers.
 */

const OLD = 1_600_000_000; // the fixed time layers.ts gives every object


test('a copy-up leaves the times of the directory it lands in alone', async () => {
  await withOverlay([{ 'd/f': { type: 'file', content: 'x' }, 'd/sub/g': { type: 'file' } }], async (ov) => {
    await ov.chmod('d/f', 0o600);
    await ov.chmod('d/sub', 0o700);
    assert.is(ov.getattr('d').mtimeSec, OLD);
    assert.is(ov.getattr('d/sub').mtimeSec, OLD);
    await ov.writeFile('d/sub/g', 'data');
    assert.is(ov.getattr('d/sub').mtimeSec, OLD);
  });
});

test('mkdir drops a set-group-ID bit in the mode; only the parent passes it on', async () => {
  await withOverlay([{ 'p': { type: 'dir', mode: 0o2775 }, 'q': { type: 'dir', mode: 0o755 } }], async (ov) => {
    await ov.mkdir('q/d', 0o2775);
    assert.is(ov.getattr('q/d').mode & 0o7777, 0o775);
    await ov.mkdir('q/s', 0o1777);
    assert.is(ov.getattr('q/s').mode & 0o7777, 0o1777);
    await ov.mkdir('p/d', 0o755);
    assert.is(ov.getattr('p/d').mode & 0o7777, 0o2755);
  });
});

test('a lower file linked or renamed into another directory keeps its data', async () => {
  await withOverlay([{ 'a/f': { type: 'file', content: 'lower data' }, 'a/g': { type: 'file', content: 'other' }, 'b/f': { type: 'file', content: 'decoy' }, 'b/g': { type: 'file', content: 'decoy2' } }], async (ov) => {
    await ov.link('a/f', 'c');
    assert.is(ov.readFile('c').toString(), 'lower data');
    assert.is(ov.readFile('a/f').toString(), 'lower data');
    assert.is(ov.getattr('c').nlink, 2);
    // Over a name a lower layer holds with other data: still the moved file's data.
    await ov.rename('a/g', 'b/g');
    assert.is(ov.readFile('b/g').toString(), 'other');
    await ov.rename('b/f', 'a/f', { exchange: true });
    assert.is(ov.readFile('a/f').toString(), 'decoy');
    assert.is(ov.readFile('b/f').toString(), 'lower data');
  });
});

test('chmod, chown and utimes of an upper file keep its cached node; every stat is current', async () => {
  await withOverlay([{ 'd/f': { type: 'file', content: 'lower', mode: 0o644 } }], async (ov) => {
    await ov.setattr('/d/f', { mode: 0o600 }); // the copy-up (metadata only) looks it up again
    const node = ov.resolve('/d/f');
    await ov.setattr('/d/f', { mode: 0o640, uid: 7, gid: 8 });
    await ov.setattr('/d/f', { atime: { sec: 5, nsec: 6 }, mtime: { sec: 9, nsec: 10 } });
    assert.ok(ov.resolve('/d/f') === node, 'the same node: no lookup after a change of mode, owner or times');
    const a = ov.getattr('/d/f');
    assert.equal([a.mode & 0o7777, a.uid, a.gid, a.mtimeSec, a.mtimeNsec, a.atimeSec], [0o640, 7, 8, 9, 10, 5]);
    assert.is(ov.readFile('/d/f').toString(), 'lower', 'the data still comes from below (metacopy)');
    await ov.setattr('/d/f', { size: 2 });
    // A size change ends the metacopy: the same node, changed in place, now reads its data above.
    assert.ok(ov.resolve('/d/f') === node, 'the node is changed in place, not replaced');
    assert.ok(node.dataEntry.layer.isUpper, 'its data now lies in the upper layer');
    assert.is(ov.readFile('/d/f').toString(), 'lo');
  });
});

test('rename errors come in the VFS order', async () => {
  await withOverlay([{ 'd/c/x': { type: 'file' }, 'd/c/c/a': { type: 'file' }, 'e': { type: 'dir' } }], async (ov) => {
    // NOREPLACE onto an existing name is EEXIST even when it is inside the source.
    assert.is(await code(ov.rename('d/c', 'd/c/c/a', { noReplace: true })), 'EEXIST');
    assert.is(await code(ov.rename('d/c', 'd/c/c/new')), 'EINVAL');
    // The target an ancestor of the source: ENOTEMPTY, EINVAL for an exchange.
    assert.is(await code(ov.rename('d/c/x', 'd')), 'ENOTEMPTY');
    assert.is(await code(ov.rename('d/c/x', 'd', { exchange: true })), 'EINVAL');
    assert.is(await code(ov.rename('d/c/x', 'd/c/x', { noReplace: true })), 'EEXIST');
    assert.is(await code(ov.rename('d/c/x', 'd/c/x')), 'ok');
    assert.equal(names(ov, 'd/c'), ['c', 'x']);
    // The old parent is walked first: a file there is ENOTDIR, even when the new parent is missing
    // (fuzz seed 279: the engine said ENOENT).
    assert.is(await code(ov.rename('d/c/x/y', 'missing/z', { exchange: true })), 'ENOTDIR');
    assert.is(await code(ov.rename('d/c/x/y', 'missing/z')), 'ENOTDIR');
    assert.is(await code(ov.rename('d/c/x/y', 'e/z')), 'ENOTDIR');
    assert.is(await code(ov.rename('missing/y', 'd/c/x/z')), 'ENOENT');
  });
});

test('link of a directory onto an existing name is EEXIST, onto a new one EPERM', async () => {
  await withOverlay([{ 'c/b': { type: 'file' } }], async (ov) => {
    assert.is(await code(ov.link('c', 'c/b')), 'EEXIST');
    assert.is(await code(ov.link('c', 'n')), 'EPERM');
  });
});

test('user.* xattrs on a symlink or fifo: EPERM, and nothing is copied up', async () => {
  await withOverlay([{ 's': { type: 'symlink', target: 'x' }, 'p': { type: 'fifo' } }], async (ov, upper) => {
    assert.is(await code(ov.removexattr('s', 'user.a')), 'EPERM');
    assert.is(await code(ov.setxattr('s', 'user.a', Buffer.from('v'))), 'EPERM');
    assert.is(await code(ov.setxattr('p', 'user.a', Buffer.from('v'))), 'EPERM');
    assert.equal(fs.readdirSync(upper), []);
  });
});

test('an upper directory exchanged into the place of a lower one hides its contents', async () => {
  await withOverlay([{ 'b/b': { type: 'file', content: 'lower' }, 'a': { type: 'dir' } }], async (ov) => {
    await ov.mkdir('a/d', 0o755);
    await ov.rename('a/d', 'b', { exchange: true });
    assert.equal(names(ov, 'b'), []);
    assert.equal(names(ov, 'a/d'), ['b']);
    assert.is(ov.readFile('a/d/b').toString(), 'lower');
  });
});

test('an absolute redirect stops at a non-directory on the way in a lower layer', async () => {
  // Top lower: a/c (empty); below it a is a file, and below that a/c holds a name that must not show.
  await withOverlay([{ 'a/c': { type: 'dir' } }, { 'a': { type: 'file', content: 'f' } }, { 'a/c/hidden': { type: 'file' } }], async (ov, upper) => {
    assert.equal(names(ov, 'a/c'), []);
    await ov.mkdir('b', 0o755);
    await ov.rename('a/c', 'b/n3');
    assert.is(sys.getxattrat(sys.AT.FDCWD, path.join(upper, 'b/n3'), 'trusted.overlay.redirect')?.toString(), '/a/c');
    assert.equal(names(ov, 'b/n3'), []);
  });
});

test('an absolute redirect walks on through an opaque directory of the same layer, then stops', async () => {
  await withOverlay([{ 'a': { type: 'dir', opaque: true }, 'a/e/d': { type: 'dir' } }, { 'a/e/below': { type: 'file' } }], async (ov) => {
    await ov.rename('a', 'n3');
    await ov.mkdir('b', 0o755);
    await ov.rename('b', 'n3/e/n1');
    assert.equal(names(ov, 'n3/e'), ['d', 'n1']);
  });
});

/** Writes a metacopy upper file at `rel` (the size of its data, no data) with an optional redirect. */
function metacopyUpper(upper: string, rel: string, size: number, redirect?: string): void {
  const p = path.join(upper, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '');
  fs.truncateSync(p, size);
  sys.setxattrat(sys.AT.FDCWD, p, 'trusted.overlay.metacopy', Buffer.alloc(0));
  if (redirect !== undefined) sys.setxattrat(sys.AT.FDCWD, p, 'trusted.overlay.redirect', Buffer.from(redirect));
}

test('a metacopy upper with a redirect takes its data from where the redirect points', async () => {
  // As the kernel leaves it after renaming a chmod'ed lower file to another directory (absolute
  // redirect), within its directory (relative redirect), or linking it (absolute, on both names).
  const specs: LayerSpec[] = [
    { 'a/f': { type: 'file', content: 'data of a/f' }, 'b/g': { type: 'file', content: 'decoy' } },
    { 'a/r': { type: 'file', content: 'data of a/r' }, 'a/s': { type: 'file', content: 'decoy s' } },
  ];
  const set = makeLayerSet(specs);
  try {
    metacopyUpper(set.upper, 'b/g', 11, '/a/f');
    metacopyUpper(set.upper, 'a/s', 11, 'r');
    metacopyUpper(set.upper, 'c/l', 11, '/a/r');
    const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work, metacopy: true });
    try {
      assert.is(ov.readFile('b/g').toString(), 'data of a/f');
      assert.is(ov.readFile('a/s').toString(), 'data of a/r');
      assert.is(ov.readFile('c/l').toString(), 'data of a/r');
      // Completing the data copy-up (an open for write) copies the redirected data.
      await ov.truncate('b/g', 4);
      assert.is(ov.readFile('b/g').toString(), 'data');
    } finally {
      ov.close();
    }
  } finally {
    set.remove();
  }
});

test('the engine reads a kernel-written upper where metacopy files were renamed and linked', async () => {
  const specs: LayerSpec[] = [{ 'a/f': { type: 'file', content: 'data of a/f' }, 'a/g': { type: 'file', content: 'data of a/g' }, 'b/f': { type: 'file', content: 'decoy' } }];
  const set = makeLayerSet(specs);
  const mnt = path.join(set.base, 'mnt');
  try {
    const k = mountKernelOverlay({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: mnt, extra: ['redirect_dir=on', 'metacopy=on'] });
    try {
      for (const f of ['a/f', 'a/g']) fs.chmodSync(path.join(mnt, f), 0o600); // metacopy copy-ups
      fs.renameSync(path.join(mnt, 'a/f'), path.join(mnt, 'b/f'));
      fs.renameSync(path.join(mnt, 'a/g'), path.join(mnt, 'a/h'));
      fs.linkSync(path.join(mnt, 'a/h'), path.join(mnt, 'l'));
    } finally {
      k.unmount();
    }
    const work2 = path.join(set.base, 'work2');
    fs.mkdirSync(work2);
    const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: work2, metacopy: true });
    try {
      assert.is(ov.readFile('b/f').toString(), 'data of a/f');
      assert.is(ov.readFile('a/h').toString(), 'data of a/g');
      assert.is(ov.readFile('l').toString(), 'data of a/g');
      assert.equal(names(ov, 'a'), ['h']);
    } finally {
      ov.close();
    }
    // The same upper as the top lower layer of a read-only stack (as the kernel reads it with metacopy=on).
    const ro = Overlay.open({ lower: [set.upper, ...set.lower], metacopy: true });
    try {
      assert.is(ro.readFile('b/f').toString(), 'data of a/f');
      assert.is(ro.readFile('a/h').toString(), 'data of a/g');
      assert.is(ro.readFile('l').toString(), 'data of a/g');
    } finally {
      ro.close();
    }
  } finally {
    set.remove();
  }
});

test.run();
