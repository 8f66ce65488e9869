import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as sys from '../../lib/sys';
import { code, names, withOverlay } from '../helpers/engine';
import type { LayerSpec } from '../helpers/layers';

/**
 * lib/engine/dir-ops.ts: each namespace change fails with the error the VFS gives, checked in its
 * order and before anything is copied up; what succeeds leaves the nodes as the kernel's dentries
 * (the one returned is the one looked up, a replaced one is stale). The rename checks around a
 * directory's own subtree are in write.test.ts.
 */


// top first: `hidden` is whited out over a directory with contents; `emptied` merges to nothing.
const SPECS: LayerSpec[] = [
  { 'hidden': { type: 'whiteout' }, 'emptied/gone': { type: 'whiteout' }, 'file': { type: 'file', content: 'F' } },
  {
    'hidden/old': { type: 'file' }, 'emptied/gone': { type: 'file' }, 'full/x': { type: 'file' },
    'empty': { type: 'dir' }, 'other': { type: 'file', content: 'O' }, 'dirlink': { type: 'symlink', target: 'full' },
  },
];

test('create, mkdir, symlink, mknod, link: ENOENT, ENOTDIR, then EEXIST; nothing copied up on failure', async () => {
  await withOverlay(SPECS, async (ov, upper) => {
    const makers: [string, (p: string) => Promise<unknown>][] = [
      ['create', (p) => ov.create(p, 0o644).then((h) => h.close())],
      ['mkdir', (p) => ov.mkdir(p)],
      ['symlink', (p) => ov.symlink('t', p)],
      ['mknod', (p) => ov.mknod(p, sys.S.IFIFO | 0o644)],
      ['link', (p) => ov.link('other', p)],
    ];
    for (const [op, make] of makers) {
      assert.is(await code(make('missing/n')), 'ENOENT', `${op} in a missing directory`);
      assert.is(await code(make('hidden/n')), 'ENOENT', `${op} in a whited-out directory`);
      assert.is(await code(make('file/n')), 'ENOTDIR', `${op} under a file`);
      assert.is(await code(make('file/missing/n')), 'ENOTDIR', `${op} through a file`);
      assert.is(await code(make('dirlink/n')), 'ENOTDIR', `${op} through a symlink (never followed)`);
      for (const existing of ['file', 'other', 'full', 'empty', 'dirlink', 'full/x']) {
        assert.is(await code(make(existing)), 'EEXIST', `${op} onto ${existing}`);
      }
    }
    assert.is(await code(ov.link('missing', 'n')), 'ENOENT', 'link of a missing source');
    assert.is(await code(ov.mkdir('/')), 'EBUSY');
    assert.equal(fs.readdirSync(upper), [], 'no failed call copied anything up');
  });
});

test('a name a whiteout hides can be created; a new directory there hides what lies below', async () => {
  await withOverlay(SPECS, async (ov) => {
    const d = await ov.mkdir('hidden');
    assert.ok(ov.resolve('hidden') === d, 'mkdir returns the node a lookup finds');
    assert.equal(names(ov, 'hidden'), []);
    assert.is(ov.tryResolve('hidden/old'), null);
    const h = await ov.create('emptied/gone', 0o644);
    h.close();
    assert.ok(ov.resolve('emptied/gone') === h.node, 'create returns the node a lookup finds');
    assert.is(ov.readFile('emptied/gone').length, 0);
  });
});

test('unlink and rmdir: ENOENT, EISDIR, ENOTDIR, ENOTEMPTY through lower layers; nothing copied up on failure', async () => {
  await withOverlay(SPECS, async (ov, upper) => {
    assert.is(await code(ov.unlink('missing')), 'ENOENT');
    assert.is(await code(ov.rmdir('missing')), 'ENOENT');
    assert.is(await code(ov.unlink('hidden')), 'ENOENT', 'a whited-out name');
    assert.is(await code(ov.unlink('missing/x')), 'ENOENT');
    assert.is(await code(ov.unlink('file/x')), 'ENOTDIR');
    assert.is(await code(ov.unlink('full')), 'EISDIR');
    assert.is(await code(ov.rmdir('file')), 'ENOTDIR');
    assert.is(await code(ov.rmdir('dirlink')), 'ENOTDIR', 'a symlink to a directory is not one');
    assert.is(await code(ov.rmdir('full')), 'ENOTEMPTY', 'its contents are in a lower layer only');
    assert.is(await code(ov.rmdir('/')), 'EBUSY');
    assert.equal(fs.readdirSync(upper), [], 'no failed call copied anything up');
    // Empty in the merged view, though its lower directory is not: removable.
    const emptied = ov.resolve('emptied');
    await ov.rmdir('emptied');
    assert.ok(emptied.stale);
    await ov.unlink('dirlink');
    assert.ok(ov.tryResolve('full/x') !== null, 'the symlink went, not what it points at');
    await ov.unlink('full/x');
    await ov.rmdir('full');
    assert.equal(names(ov, '/'), ['empty', 'file', 'other']);
  });
});

test('rename: EINVAL for bad flags first, then ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY; nothing copied up on failure', async () => {
  await withOverlay(SPECS, async (ov, upper) => {
    assert.is(await code(ov.rename('missing', 'n', { noReplace: true, exchange: true })), 'EINVAL', 'flags before the lookups');
    assert.is(await code(ov.rename('missing', 'n')), 'ENOENT');
    assert.is(await code(ov.rename('hidden', 'n')), 'ENOENT', 'a whited-out source');
    assert.is(await code(ov.rename('file', 'missing/n')), 'ENOENT', 'a missing new parent');
    assert.is(await code(ov.rename('file', 'other/n')), 'ENOTDIR', 'a file as the new parent');
    assert.is(await code(ov.rename('file', 'n', { exchange: true })), 'ENOENT', 'exchange with nothing');
    assert.is(await code(ov.rename('file', 'other', { noReplace: true })), 'EEXIST');
    assert.is(await code(ov.rename('full', 'other')), 'ENOTDIR', 'a directory over a file');
    assert.is(await code(ov.rename('full', 'dirlink')), 'ENOTDIR', 'a directory over a symlink to one');
    assert.is(await code(ov.rename('file', 'empty')), 'EISDIR', 'a file over a directory');
    assert.is(await code(ov.rename('empty', 'full')), 'ENOTEMPTY', 'its contents are in a lower layer only');
    // The source an ancestor of the target comes before the types (vfs_rename's trap check).
    assert.is(await code(ov.rename('full', 'full/x')), 'EINVAL');
    assert.equal(fs.readdirSync(upper), [], 'no failed call copied anything up');
  });
});

test('rename over an empty directory or a file: the target node is stale, the moved one keeps its node', async () => {
  await withOverlay(SPECS, async (ov) => {
    const full = ov.resolve('full');
    const emptied = ov.resolve('emptied');
    await ov.rename('full', 'emptied'); // merged-empty though its lower directory holds a whiteout
    assert.ok(emptied.stale);
    assert.ok(ov.resolve('emptied') === full && !full.stale);
    assert.equal(names(ov, 'emptied'), ['x']);
    const other = ov.resolve('other');
    const file = ov.resolve('file');
    await ov.rename('other', 'file');
    assert.ok(file.stale);
    assert.ok(ov.resolve('file') === other);
    assert.is(ov.readFile('file').toString(), 'O');
    assert.is(ov.tryResolve('other'), null);
    // Hard links of one file: a rename between them does nothing (both names stay).
    const l = await ov.link('file', 'l');
    await ov.rename('file', 'l');
    assert.ok(ov.resolve('file') === other && ov.resolve('l') === l);
    assert.ok(!other.stale && !l.stale);
  });
});

test.run();
