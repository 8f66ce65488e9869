/**
 * Kernel opens' node files (lib/mount/node-files.ts): a read opens the layer file in place, a write
 * copies up and reopens read-write, a file about to lose its name stays reachable, a nameless lower
 * file written to goes into a copy of its own.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../../lib/engine';
import { NodeFiles } from '../../lib/mount/node-files';
import { OpenFiles, type OpenFile } from '../../lib/mount/open-files';
import { makeLayerSet, tempDir } from '../helpers/layers';

const LABEL = 'layerfs-mnodefiles-';

/** A fresh stack with lower files f and g, node 2 = f, node 3 = g; `names` is the node table's part. */
async function withNodeFiles(fn: (t: { ov: Overlay; files: OpenFiles; nf: NodeFiles; names: Map<number, string | null>; upper: string }) => Promise<void>) {
  const set = makeLayerSet([{ f: { type: 'file', content: 'lower f\n' }, g: { type: 'file', content: 'lower g\n' } }], undefined, tempDir(LABEL));
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  const files = new OpenFiles();
  const names = new Map<number, string | null>([[2, 'f'], [3, 'g']]);
  const nf = new NodeFiles(ov, files, (nodeid) => {
    const name = names.get(nodeid);
    if (name === undefined) throw Object.assign(new Error(`unknown node id ${nodeid}`), { code: 'ESTALE' });
    return name;
  });
  try {
    await fn({ ov, files, nf, names, upper: set.upper });
  } finally {
    nf.clear();
    files.closeAll();
    ov.close();
    set.remove();
  }
}

const text = (files: OpenFiles, f: OpenFile) => Buffer.from(files.read(f, 0, 64)).toString();

test('a read opens the lower file in place, synchronously, and keeps it for the next', () => withNodeFiles(async ({ files, nf, upper }) => {
  const f = nf.forRequest(2, false);
  assert.not.instance(f, Promise);
  const file = f as OpenFile;
  assert.is(file.handle.onUpper, false);
  assert.is(text(files, file), 'lower f\n');
  assert.is(nf.forRequest(2, false), file);
  assert.not.ok(fs.existsSync(path.join(upper, 'f')), 'nothing copied up');
}));

test('a write copies up and reopens read-write; reads then come from that file', () => withNodeFiles(async ({ files, nf, upper }) => {
  const reading = nf.forRequest(2, false) as OpenFile;
  const w = await nf.forRequest(2, true);
  assert.is.not(w, reading);
  assert.ok(w.handle.onUpper);
  files.write(w, Buffer.from('UPPER'), 0);
  assert.is(nf.forRequest(2, false), w);
  assert.is(text(files, w), 'UPPER f\n');
  assert.is(fs.readFileSync(path.join(upper, 'f'), 'utf8'), 'UPPER f\n');
}));

test('a file about to lose its name stays reachable; written nameless, into a copy of its own', () => withNodeFiles(async ({ ov, files, nf, names }) => {
  nf.keepReachable(3, 'g');
  await ov.unlink('g');
  names.set(3, null);
  const r = nf.forRequest(3, false) as OpenFile;
  assert.is(text(files, r), 'lower g\n');
  const w = await nf.forRequest(3, true);
  files.write(w, Buffer.from('G'), 0);
  assert.is(text(files, nf.forRequest(3, false) as OpenFile), 'Gower g\n');
  assert.is(ov.tryResolve('g'), null, 'the copy has no name');
}));

test('a nameless node never opened cannot be; a forgotten node\'s files are closed', () => withNodeFiles(async ({ files, nf, names }) => {
  names.set(3, null);
  await Promise.resolve(nf.forRequest(3, false)).then(() => assert.unreachable(), (e: { code: string }) => assert.is(e.code, 'ENOENT'));
  const f = nf.forRequest(2, false) as OpenFile;
  assert.ok(nf.of(2) === f);
  nf.forgotten(2);
  assert.is(nf.of(2), undefined);
  assert.is(files.anyOf(2, undefined), undefined, 'released');
  assert.throws(() => nf.forRequest(9, false), (e: { code?: string }) => e.code === 'ESTALE');
}));

test.run();
