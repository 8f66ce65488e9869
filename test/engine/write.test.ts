import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../../lib/engine';
import * as sys from '../../lib/sys';
import { LayerSpec, makeLayerSet } from '../helpers/layers';

/**
 * Write-side regressions found by the differential fuzzer (fuzz.test.ts), each checked against what
 * kernel overlayfs does with the same layers.
 */

const OLD = 1_600_000_000; // the fixed time layers.ts gives every object

async function withOverlay(specs: LayerSpec[], fn: (ov: Overlay, upper: string) => Promise<void>): Promise<void> {
  const set = makeLayerSet(specs);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work, metacopy: true });
  try {
    await fn(ov, set.upper);
  } finally {
    ov.close();
    set.remove();
  }
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as { code: string }).code;
  }
}

const names = (ov: Overlay, p: string) => ov.readdir(p).map((e) => e.name).sort();

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

test.run();
