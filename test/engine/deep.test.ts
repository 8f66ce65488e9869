/**
 * No engine operation depends on the length of a merged path (issue 18): a chain of 10,000
 * directories through the Overlay API (walk by node, create and copy-up at the bottom, rename in
 * the middle, removal of it all after a reopen), and mkdir/stat/rmdir/create/unlink of paths around
 * PATH_MAX from the upper root. Expected answers and upper trees are the kernel overlayfs' ones
 * (test/mount/deep checks them on the kernel); the kernel also reads the upper the engine wrote.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay, OverlayNode } from '../../lib/engine';
import * as sys from '../../lib/sys';
import { withKernelOverlay } from '../helpers/kernel-overlay';
import {
  buildChain, chain, copiedUpChain, deepScratch, DeepResult, differences, firstDifference, runOps, Steps, treeLines,
} from '../helpers/deep-tree';

const LABEL = 'layerfs-edeep-';
const DEPTH = 10_000;
/**
 * Room for the whole chain: path-addressed calls walk from the root, and a chain deeper than the
 * node cache would be looked up again at every call (the mount holds the directories the kernel
 * knows, so it needs no such room: test/mount/deep.test.ts).
 */
const CACHE = { nodes: 2 * DEPTH + 100 };
const MID = 5_000;
const BOTTOM = 'bottom\n';
const NEW = 'created at the bottom\n';
const MORE = 'appended\n';

/** 'd/d/.../d' (n times) and then `rest`, as a merged path. */
const chainPath = (n: number, ...rest: string[]) => [...Array<string>(n).fill('d'), ...rest].join('/');
const RENAMED = (...rest: string[]) => [chainPath(MID - 1), 'r', chainPath(DEPTH - MID), ...rest].join('/');
const RENAMED_STEPS: Steps = [['d', MID - 1], ['r', 1], ['d', DEPTH - MID]];

/** An engine call's answer, as the mount test records a program's: its value or its errno's name. */
async function answer(fn: () => unknown): Promise<DeepResult> {
  try {
    const v = await fn();
    return { ok: v === undefined ? null : (v as string | string[] | null) };
  } catch (err) {
    return { err: (err as { code?: string }).code ?? String(err) };
  }
}

const ok = (v: string | string[] | null = null): DeepResult => ({ ok: v });
const ENOENT: DeepResult = { err: 'ENOENT' };

function kind(ov: Overlay, p: string): string {
  const a = ov.getattr(p);
  const t = a.mode & sys.S.IFMT;
  return t === sys.S.IFDIR ? 'd' : t === sys.S.IFREG ? `f ${a.size}` : 'o';
}

const names = (ov: Overlay, p: string | OverlayNode) => ov.readdir(p).map((e) => e.name).sort();

/** Lookup by node from the root, one name at a time: the bottom node, or the errno and the depth reached. */
function walkNodes(ov: Overlay, depth: number): { node: OverlayNode } | { err: string; depth: number } {
  let node = ov.root;
  for (let i = 0; i < depth; i++) {
    try {
      node = ov.lookup(node, 'd');
    } catch (err) {
      return { err: (err as { code?: string }).code ?? String(err), depth: i };
    }
  }
  return { node };
}

/** A merged walk like find's, by node: objects per type. */
function countTypes(ov: Overlay): Record<string, number> | { err: string } {
  const counts: Record<string, number> = { d: 1 };
  const stack = [ov.root];
  try {
    while (stack.length > 0) {
      const dir = stack.pop()!;
      for (const e of ov.readdir(dir)) {
        const child = ov.lookup(dir, e.name);
        const k = child.isDir ? 'd' : 'f';
        counts[k] = (counts[k] ?? 0) + 1;
        if (child.isDir) stack.push(child);
      }
    }
  } catch (err) {
    return { err: (err as { code?: string }).code ?? String(err) };
  }
  return counts;
}

/** rm -rf of a merged directory through the engine, deepest first, by merged paths. */
async function removeAll(ov: Overlay, top: string): Promise<void> {
  const stack = [top];
  while (stack.length > 0) {
    const dir = stack[stack.length - 1];
    let sub: string | null = null;
    for (const e of ov.readdir(dir)) {
      if (e.type === 4 /* DT_DIR */) sub ??= `${dir}/${e.name}`;
      else await ov.unlink(`${dir}/${e.name}`);
    }
    if (sub !== null) stack.push(sub);
    else {
      await ov.rmdir(dir);
      stack.pop();
    }
  }
}

function same<T>(actual: T, expected: T, what: string): void {
  const diff = differences(expected, actual);
  assert.ok(diff === '', `${what}: the engine answers otherwise than the kernel's overlayfs does:\n${diff}`);
}

/** Every step's answer next to the expected one, compared at the end: one run shows each step that differs. */
class Checks {
  readonly actual: string[] = [];
  readonly expected: string[] = [];

  /** `got` is an answer, or a function whose answer (value or errno) it is. */
  async check(what: string, got: unknown, want: unknown): Promise<void> {
    const value = typeof got === 'function' ? await answer(got as () => unknown) : got;
    const show = (v: unknown) => { const j = JSON.stringify(v); return j.length > 200 ? `${j.slice(0, 200)}... (${j.length} chars)` : j; };
    this.actual.push(`${what}: ${show(value)}`);
    this.expected.push(`${what}: ${show(want)}`);
  }

  /** A tree listing: its first difference, or 'same'. */
  async tree(what: string, got: string[], want: string[]): Promise<void> {
    const diff = firstDifference(want, got);
    await this.check(what, diff ?? 'as the kernel leaves it', 'as the kernel leaves it');
  }

  done(what: string): void {
    same(this.actual, this.expected, what);
  }
}

test(`a chain of ${DEPTH} directories through the engine: walk, create and copy-up at the bottom, rename at ${MID}, reopen, remove it all`, async () => {
  const s = deepScratch(LABEL);
  try {
    const lower = path.join(s.dir, 'lower'), upper = path.join(s.dir, 'upper'), work = path.join(s.dir, 'work');
    for (const d of [lower, upper, work]) fs.mkdirSync(d);
    await buildChain(lower, DEPTH, BOTTOM);
    const c = new Checks();
    let ov = Overlay.open({ lower: [lower], upper, work, cache: CACHE });
    try {
      // Walk, by node and by path.
      const walked = walkNodes(ov, DEPTH);
      await c.check('lookup by node', 'node' in walked ? 'reached' : walked, 'reached');
      await c.check('getattr at the bottom', () => kind(ov, chainPath(DEPTH, 'f')), ok(`f ${BOTTOM.length}`));
      await c.check('read at the bottom', () => ov.readFile(chainPath(DEPTH, 'f')).toString(), ok(BOTTOM));
      await c.check('readdir at the bottom', () => names(ov, chainPath(DEPTH)), ok(['f']));
      await c.check('merged walk', countTypes(ov), { d: DEPTH + 1, f: 1 });

      // Create at the bottom.
      await c.check('create at the bottom', async () => {
        const h = await ov.create(chainPath(DEPTH, 'new'), 0o644, sys.O.WRONLY);
        try {
          h.writeSync(Buffer.from(NEW), 0, NEW.length, 0);
        } finally {
          h.close();
        }
      }, ok());
      await c.check('read back', () => ov.readFile(chainPath(DEPTH, 'new')).toString(), ok(NEW));
      await c.check('readdir after the create', () => names(ov, chainPath(DEPTH)), ok(['f', 'new']));
      await c.check('the new file in the upper', await runOps(upper, [{ op: 'read', at: chain(DEPTH), name: 'new' }], s.dir), [ok(NEW)]);

      // Copy-up of the lower file at the bottom.
      await c.check('append to the lower file at the bottom', async () => {
        const h = await ov.open(chainPath(DEPTH, 'f'), sys.O.WRONLY | sys.O.APPEND);
        try {
          h.writeSync(Buffer.from(MORE), 0, MORE.length, null);
        } finally {
          h.close();
        }
      }, ok());
      await c.check('read back after the copy-up', () => ov.readFile(chainPath(DEPTH, 'f')).toString(), ok(BOTTOM + MORE));
      await c.check('the copied-up file in the upper', await runOps(upper, [{ op: 'read', at: chain(DEPTH), name: 'f' }], s.dir), [ok(BOTTOM + MORE)]);
      await c.check('the lower file (never written)', await runOps(lower, [{ op: 'read', at: chain(DEPTH), name: 'f' }], s.dir), [ok(BOTTOM)]);
      await c.tree('the upper after the copy-up', await treeLines(upper, s.dir), copiedUpChain(DEPTH, [`f f ${BOTTOM.length + MORE.length}`, `new f ${NEW.length}`]));

      // Rename of the directory at depth MID.
      await c.check('rename at the middle', () => ov.rename(chainPath(MID), chainPath(MID - 1, 'r')), ok());
      await c.check('readdir where it was renamed', () => names(ov, chainPath(MID - 1)), ok(['r']));
      await c.check('the old name', () => kind(ov, chainPath(MID)), ENOENT);
      await c.check('the bottom through the new name', () => ov.readFile(RENAMED('f')).toString(), ok(BOTTOM + MORE));
      await c.check('merged walk after the rename', countTypes(ov), { d: DEPTH + 1, f: 2 });
      await c.tree('the upper after the rename', await treeLines(upper, s.dir), copiedUpChain(DEPTH, [`f f ${BOTTOM.length + MORE.length}`, `new f ${NEW.length}`], MID));
    } finally {
      ov.close();
    }

    // The kernel reads the upper the engine wrote (a fresh work dir) the same way.
    const work2 = path.join(s.dir, 'work2');
    fs.mkdirSync(work2);
    const reread = await withKernelOverlay({ lower: [lower], upper, work: work2, mountpoint: path.join(s.dir, 'kmnt'), extra: ['redirect_dir=on'] },
      (m) => runOps(m.mountpoint, [
        { op: 'stat', at: chain(MID - 1), name: 'd' },
        { op: 'read', at: RENAMED_STEPS, name: 'f' },
        { op: 'read', at: RENAMED_STEPS, name: 'new' },
      ], s.dir));
    await c.check('the kernel over the engine\'s upper', reread, [ENOENT, ok(BOTTOM + MORE), ok(NEW)]);

    // Reopened: the renamed tree as left, then rm -rf of it all.
    ov = Overlay.open({ lower: [lower], upper, work, cache: CACHE });
    try {
      await c.check('the old name after a reopen', () => kind(ov, chainPath(MID)), ENOENT);
      await c.check('the bottom through the new name after a reopen', () => ov.readFile(RENAMED('f')).toString(), ok(BOTTOM + MORE));
      await c.check('rm -rf d', () => removeAll(ov, 'd'), ok());
      await c.check('the root after rm -rf', () => names(ov, ''), ok([]));
      await c.check('d after rm -rf', () => kind(ov, 'd'), ENOENT);
    } finally {
      ov.close();
    }
    await c.tree('the upper after rm -rf', await treeLines(upper, s.dir), ['1 d w']);
    c.done('a chain of 10,000');
  } finally {
    s.remove();
  }
});

/** Components of 200 bytes, then one that makes the path from the root exactly `length` bytes. */
function pathOf(length: number): string {
  const n = Math.ceil((length - 255) / 201);
  return [...Array<string>(n).fill('p'.repeat(200)), 'q'.repeat(length - 201 * n)].join('/');
}

const LENGTHS = [4000, 4094, 4095, 4096, 4097, 4100, 4200];

test(`mkdir, stat, rmdir, create, unlink at ${LENGTHS.join(', ')} bytes from the upper root; copy-up of a lower file at 4,100`, async () => {
  const s = deepScratch(LABEL);
  try {
    const lower = path.join(s.dir, 'lower'), upper = path.join(s.dir, 'upper'), work = path.join(s.dir, 'work');
    for (const d of [lower, upper, work]) fs.mkdirSync(d);
    const low = pathOf(4100);
    const lowDir = path.posix.dirname(low);
    const lowSteps: Steps = [['p'.repeat(200), lowDir.split('/').length]];
    const lowName = 'lower-' + path.posix.basename(low).slice(6);
    assert.equal(await runOps(lower, [{ op: 'mkdirs', at: lowSteps }, { op: 'create', at: lowSteps, name: lowName, data: BOTTOM }], s.dir), [ok(), ok()]);
    const ov = Overlay.open({ lower: [lower], upper, work });
    const actual: string[] = [], expected: string[] = [];
    const check = async (what: string, fn: () => unknown, want: DeepResult) => {
      actual.push(`${what}: ${JSON.stringify(await answer(fn))}`);
      expected.push(`${what}: ${JSON.stringify(want)}`);
    };
    try {
      for (const length of LENGTHS) {
        const p = pathOf(length);
        assert.is(p.length, length);
        const dir = path.posix.dirname(p);
        // mkdir -p of the parent, as the mount test's program does.
        const parts = dir.split('/');
        for (let i = 1; i <= parts.length; i++) {
          const sub = parts.slice(0, i).join('/');
          if (ov.tryResolve(sub) === null) await ov.mkdir(sub);
        }
        await check(`mkdir ${length}`, () => ov.mkdir(p).then(() => null), ok());
        await check(`stat ${length}`, () => kind(ov, p), ok('d'));
        await check(`mkdir ${length}`, () => ov.mkdir(p).then(() => null), { err: 'EEXIST' });
        await check(`readdir ${length}`, () => names(ov, p), ok([]));
        await check(`rmdir ${length}`, () => ov.rmdir(p), ok());
        await check(`stat ${length}`, () => kind(ov, p), ENOENT);
        await check(`create ${length}`, () => ov.writeFile(p, 'z'), ok());
        await check(`stat ${length}`, () => kind(ov, p), ok('f 1'));
        await check(`read ${length}`, () => ov.readFile(p).toString(), ok('z'));
        await check(`unlink ${length}`, () => ov.unlink(p), ok());
        await check(`stat ${length}`, () => kind(ov, p), ENOENT);
        await check(`rmdir ${length}`, () => ov.rmdir(p), ENOENT);
      }
      const lowPath = `${lowDir}/${lowName}`;
      await check('append 4100', async () => {
        const h = await ov.open(lowPath, sys.O.WRONLY | sys.O.APPEND);
        try {
          h.writeSync(Buffer.from('more'), 0, 4, null);
        } finally {
          h.close();
        }
      }, ok());
      await check('read 4100', () => ov.readFile(lowPath).toString(), ok(BOTTOM + 'more'));
    } finally {
      ov.close();
    }
    same(actual, expected, 'long paths');
    same(await runOps(upper, [{ op: 'read', at: lowSteps, name: lowName }], s.dir), [ok(BOTTOM + 'more')], 'the copied-up lower file in the upper');
    // Nothing else is left in the upper: the parents made, the copied-up file in the deepest one.
    const parents = pathOf(LENGTHS[LENGTHS.length - 1]).split('/').length - 1;
    assert.is(lowSteps[0][1], parents); // the lower file is in the deepest parent
    same(await treeLines(upper, s.dir), [
      ...Array.from({ length: parents }, (_, i) => `${i + 1} ${'p'.repeat(200)} d`),
      `${parents + 1} ${lowName} f ${BOTTOM.length + 4}`,
    ], 'the upper after the long paths');
  } finally {
    s.remove();
  }
});

test.run();
