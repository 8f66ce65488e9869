/**
 * OverlayFuseOps (lib/mount/adapter.ts) driven directly, without a mount or a kernel: its methods
 * are called with decoded requests as FuseSession would, over temp layers. What is checked is the
 * node id bookkeeping the kernel relies on: one id per object, ids that follow renames, names that
 * go away with unlink and rename-over, and replies whose ids are usable by the next request.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../../lib/engine';
import type { FuseContext } from '../../lib/fuse';
import { OverlayFuseOps } from '../../lib/mount/adapter';
import { ROOT_ID } from '../../lib/mount/node-table';
import { O, S } from '../../lib/sys';
import { LayerSet, makeLayerSet } from '../helpers/layers';

const ctx: FuseContext = { uid: 0, gid: 0, pid: process.pid, unique: 1, opcode: 0, interrupted: false };

interface Fixture {
  set: LayerSet;
  ov: Overlay;
  ops: OverlayFuseOps;
  /** LOOKUP of `name` in directory node `dir`: the reply's node id (0: no such name). */
  lookup(dir: number, name: string): number;
  /** LOOKUP of a slash-separated path from the root, one component at a time. */
  walk(p: string): number;
  getattr(nodeid: number): { ino: number; mode: number; size: number; nlink: number };
  names(dir: number): string[];
  forget(nodeid: number, nlookup?: number): void;
}

function fixture(): Fixture {
  const set = makeLayerSet([
    // top
    { 'dir/b': { type: 'file', content: 'bb' }, 'dir/c': { type: 'whiteout' }, 'top': { type: 'file', content: 'top' } },
    // bottom
    {
      'dir/a': { type: 'file', content: 'a' },
      'dir/c': { type: 'file', content: 'c' },
      'dir/sub/deep': { type: 'file', content: 'deep' },
      'keep': { type: 'file', content: 'keep', mode: 0o644 },
      'victim': { type: 'file', content: 'victim' },
    },
  ]);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  const ops = new OverlayFuseOps(ov);
  const lookup = (dir: number, name: string) => ops.lookup(ctx, { nodeid: dir, name }).nodeid;
  return {
    set, ov, ops, lookup,
    walk: (p) => p.split('/').reduce((dir, name) => lookup(dir, name), ROOT_ID),
    getattr: (nodeid) => ops.getattr(ctx, { nodeid }).attr,
    names: (dir) => ops.readdir(ctx, { nodeid: dir, fh: 0, offset: 0, size: 1 << 16, readFlags: 0, lockOwner: 0n, flags: 0 })
      .map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort(),
    forget: (nodeid, nlookup = 1) => ops.forget(ctx, { nodeid, nlookup }),
  };
}

/** Runs `fn` on a fresh fixture and always closes and removes it. */
async function withFixture(fn: (f: Fixture) => void | Promise<void>): Promise<void> {
  const f = fixture();
  try {
    await fn(f);
  } finally {
    f.ops.closeAll();
    f.ov.close();
    f.set.remove();
  }
}

/** Asserts `fn` throws (or rejects) with errno code `code`. */
async function fails(code: string, fn: () => unknown, what: string): Promise<void> {
  try {
    await fn();
  } catch (err) {
    assert.is((err as { code?: string }).code, code, `${what}: ${(err as Error).message}`);
    return;
  }
  assert.unreachable(`${what}: no error (wanted ${code})`);
}

const mkdirIn = (dir: number, name: string) => ({ nodeid: dir, name, mode: S.IFDIR | 0o755, umask: 0 });
const createIn = (dir: number, name: string) => ({ nodeid: dir, name, flags: O.RDWR | O.CREAT, mode: S.IFREG | 0o644, umask: 0, openFlags: 0 });
const releaseIn = (nodeid: number, fh: number) => ({ nodeid, fh, flags: 0, releaseFlags: 0, lockOwner: 0n });

test('LOOKUP gives one node id per object, counted; FORGET of all its lookups drops it (ESTALE after)', () => withFixture((f) => {
  const dir = f.lookup(ROOT_ID, 'dir');
  assert.ok(dir > ROOT_ID);
  assert.is(f.lookup(ROOT_ID, 'dir'), dir, 'the same directory, the same id');
  const a = f.lookup(dir, 'a');
  assert.is(f.walk('dir/a'), a, 'the same file by another walk');
  assert.is.not(f.lookup(dir, 'b'), a);
  assert.is(f.lookup(dir, 'c'), 0, 'a whited-out name is a negative entry');
  assert.is(f.lookup(dir, 'nothing'), 0);
  assert.is(f.getattr(a).size, 1);
  // a: looked up twice; one FORGET of one leaves it usable, the second drops it
  f.forget(a, 1);
  assert.is(f.getattr(a).size, 1);
  f.forget(a, 1);
  return fails('ESTALE', () => f.getattr(a), 'GETATTR of a forgotten node');
}));

test('LOOKUP of a hard link\'s second name gives the first name\'s node id (LINK of a lower file too)', () => withFixture(async (f) => {
  const keep = f.lookup(ROOT_ID, 'keep');
  const dir = f.lookup(ROOT_ID, 'dir');
  // a lower file: LINK copies it up; the reply names the node the kernel linked
  const linked = await f.ops.link(ctx, { nodeid: dir, oldNodeid: keep, newName: 'keep2' });
  assert.is(linked.nodeid, keep);
  assert.is(linked.attr.nlink, 2);
  assert.is(f.lookup(dir, 'keep2'), keep);
  assert.is(f.lookup(ROOT_ID, 'keep'), keep);
  assert.is(f.getattr(keep).nlink, 2);
  // a link made outside the adapter in the upper layer: found by its inode, not its name
  const created = await f.ops.create(ctx, createIn(ROOT_ID, 'new'));
  f.ops.release(ctx, releaseIn(created.nodeid, created.fh));
  fs.linkSync(path.join(f.set.upper, 'new'), path.join(f.set.upper, 'new-too'));
  assert.is(f.lookup(ROOT_ID, 'new-too'), created.nodeid);
}));

test('GETATTR after a chmod (SETATTR) shows the new mode; for a lower file too (copied up)', () => withFixture(async (f) => {
  const keep = f.lookup(ROOT_ID, 'keep');
  assert.is(f.getattr(keep).mode & 0o7777, 0o644);
  const out = await f.ops.setattr(ctx, { nodeid: keep, valid: 0, mode: 0o600, killSuidgid: false });
  assert.is(out.attr.mode & 0o7777, 0o600);
  assert.is(f.getattr(keep).mode & 0o7777, 0o600);
  assert.is(f.getattr(keep).mode & S.IFMT, S.IFREG);
  assert.is(fs.statSync(path.join(f.set.upper, 'keep')).mode & 0o7777, 0o600, 'copied up with the mode');
}));

test('a directory RENAME keeps the node ids of the directory and all below it; their paths follow', () => withFixture(async (f) => {
  const dir = f.walk('dir');
  const sub = f.lookup(dir, 'sub');
  const deep = f.lookup(sub, 'deep');
  const a = f.lookup(dir, 'a');
  const other = (await f.ops.mkdir(ctx, mkdirIn(ROOT_ID, 'other'))).nodeid;
  await f.ops.rename(ctx, { nodeid: ROOT_ID, name: 'dir', newParent: other, newName: 'moved', flags: 0 });
  assert.is(f.lookup(ROOT_ID, 'dir'), 0, 'the old name is gone');
  assert.is(f.walk('other/moved'), dir);
  assert.is(f.walk('other/moved/sub/deep'), deep);
  assert.is(f.lookup(sub, 'deep'), deep, 'LOOKUP through the moved subdirectory\'s id');
  assert.is(f.getattr(deep).size, 4);
  assert.is(f.getattr(a).size, 1);
  assert.equal(f.names(dir), ['a', 'b', 'sub']);
  // a request by the moved directory's id acts on its new path
  const made = await f.ops.mkdir(ctx, mkdirIn(sub, 'later'));
  assert.ok(fs.statSync(path.join(f.set.upper, 'other/moved/sub/later')).isDirectory());
  assert.is(f.walk('other/moved/sub/later'), made.nodeid);
  // and a file renamed in it keeps its id too
  await f.ops.rename(ctx, { nodeid: sub, name: 'deep', newParent: ROOT_ID, newName: 'shallow', flags: 0 });
  assert.is(f.lookup(ROOT_ID, 'shallow'), deep);
  assert.is(f.ops.read(ctx, { nodeid: deep, fh: (await f.ops.open(ctx, { nodeid: deep, flags: O.RDONLY, openFlags: 0 })).fh, offset: 0, size: 100, readFlags: 0, lockOwner: 0n, flags: 0 }).toString(), 'deep');
}));

test('UNLINK detaches the name\'s node: GETATTR is ENOENT, unless the file is open', () => withFixture(async (f) => {
  const victim = f.lookup(ROOT_ID, 'victim');
  const keep = f.lookup(ROOT_ID, 'keep');
  const open = await f.ops.open(ctx, { nodeid: keep, flags: O.RDONLY, openFlags: 0 });
  await f.ops.unlink(ctx, { nodeid: ROOT_ID, name: 'victim' });
  await f.ops.unlink(ctx, { nodeid: ROOT_ID, name: 'keep' });
  assert.is(f.lookup(ROOT_ID, 'victim'), 0);
  await fails('ENOENT', () => f.getattr(victim), 'GETATTR of an unlinked node');
  await fails('ENOENT', () => f.ops.setattr(ctx, { nodeid: victim, valid: 0, mode: 0o600, killSuidgid: false }), 'SETATTR of an unlinked node');
  // open: answered from its descriptor, with the id's inode number
  const attr = f.ops.getattr(ctx, { nodeid: keep, fh: open.fh }).attr;
  assert.is(attr.size, 4);
  assert.is(f.ops.getattr(ctx, { nodeid: keep }).attr.size, 4, 'fstat sends no fh: any open file of the node');
  f.ops.release(ctx, releaseIn(keep, open.fh));
  await fails('ENOENT', () => f.getattr(keep), 'GETATTR once the last open file is released');
  // a new object under the old name is another node
  const again = (await f.ops.mkdir(ctx, mkdirIn(ROOT_ID, 'victim'))).nodeid;
  assert.is.not(again, victim);
  assert.is(f.lookup(ROOT_ID, 'victim'), again);
}));

test('RENAME over a file detaches the target; the source keeps its id under the new name', () => withFixture(async (f) => {
  const top = f.lookup(ROOT_ID, 'top');
  const victim = f.lookup(ROOT_ID, 'victim');
  await f.ops.rename(ctx, { nodeid: ROOT_ID, name: 'top', newParent: ROOT_ID, newName: 'victim', flags: 0 });
  await fails('ENOENT', () => f.getattr(victim), 'GETATTR of the file renamed over');
  assert.is(f.lookup(ROOT_ID, 'victim'), top);
  assert.is(f.getattr(top).size, 3);
  assert.is(f.lookup(ROOT_ID, 'top'), 0);
  f.forget(victim);
  await fails('ESTALE', () => f.getattr(victim), 'after its FORGET');
}));

test('MKDIR, CREATE, SYMLINK and LINK reply with entries whose node ids the next requests use', () => withFixture(async (f) => {
  const d = await f.ops.mkdir(ctx, mkdirIn(ROOT_ID, 'd'));
  assert.is(d.attr.mode & S.IFMT, S.IFDIR);
  assert.is(f.lookup(ROOT_ID, 'd'), d.nodeid);
  const c = await f.ops.create(ctx, createIn(d.nodeid, 'file'));
  assert.is(c.attr.mode & S.IFMT, S.IFREG);
  assert.is(await f.ops.write(ctx, { nodeid: c.nodeid, fh: c.fh, offset: 0, data: Buffer.from('hello'), writeFlags: 0, lockOwner: 0n, flags: 0 }), 5);
  f.ops.release(ctx, releaseIn(c.nodeid, c.fh));
  assert.is(f.getattr(c.nodeid).size, 5);
  assert.is(f.walk('d/file'), c.nodeid);
  const l = await f.ops.symlink(ctx, { nodeid: d.nodeid, name: 'link', target: 'file' });
  assert.is(l.attr.mode & S.IFMT, S.IFLNK);
  assert.is(f.ops.readlink(ctx, { nodeid: l.nodeid }), 'file');
  assert.is(f.lookup(d.nodeid, 'link'), l.nodeid);
  const h = await f.ops.link(ctx, { nodeid: ROOT_ID, oldNodeid: c.nodeid, newName: 'hard' });
  assert.is(h.nodeid, c.nodeid);
  assert.is(f.getattr(h.nodeid).nlink, 2);
  assert.equal(f.names(d.nodeid), ['file', 'link']);
  assert.is(fs.readFileSync(path.join(f.set.upper, 'hard'), 'utf8'), 'hello');
}));

test('READDIR lists the merged directory: both layers, whiteouts hidden, changes through the adapter', () => withFixture(async (f) => {
  const dir = f.lookup(ROOT_ID, 'dir');
  assert.equal(f.names(ROOT_ID), ['dir', 'keep', 'top', 'victim']);
  assert.equal(f.names(dir), ['a', 'b', 'sub']);
  const entries = f.ops.readdir(ctx, { nodeid: dir, fh: 0, offset: 0, size: 1 << 16, readFlags: 0, lockOwner: 0n, flags: 0 });
  const sub = entries.find((e) => e.name === 'sub')!;
  assert.is(sub.type, S.IFDIR >> 12);
  assert.is(sub.ino, f.getattr(f.lookup(dir, 'sub')).ino, 'a listed inode number is the one GETATTR shows');
  await f.ops.unlink(ctx, { nodeid: dir, name: 'a' });
  (await f.ops.mkdir(ctx, mkdirIn(dir, 'e')));
  assert.equal(f.names(dir), ['b', 'e', 'sub']);
}));

test.run();
