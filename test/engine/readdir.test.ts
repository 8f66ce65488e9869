import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as sys from '../../lib/sys';
import { Overlay } from '../../lib/engine';
import { LayerSpec, makeLayerSet } from '../helpers/layers';

const SPECS: LayerSpec[] = [
  { 'd/a': { type: 'file' }, 'd/gone': { type: 'whiteout' }, 'd/sub': { type: 'file' } },
  { 'd/b': { type: 'dir' }, 'd/a': { type: 'dir' }, 'd/gone': { type: 'file' }, 'd/link': { type: 'symlink', target: 'a' } },
  { 'd/c': { type: 'file' }, 'd/fifo': { type: 'fifo' }, 'd/sub/x': { type: 'file' } },
];

test('merged listing: each name once, top layer decides its type, whiteouts hidden, . and .. first', () => {
  const set = makeLayerSet(SPECS);
  const ov = Overlay.open({ lower: set.lower });
  try {
    const h = ov.opendir('/d');
    assert.equal(h.entries.slice(0, 2).map((e) => e.name), ['.', '..']);
    assert.is(h.entries[0].ino, ov.getattr('/d').ino);
    assert.is(h.entries[1].ino, ov.getattr('/').ino);
    const byName = new Map(h.entries.slice(2).map((e) => [e.name, e.type]));
    assert.equal([...byName.keys()].sort(), ['a', 'b', 'c', 'fifo', 'link', 'sub']);
    assert.is(byName.get('a'), sys.DT.REG, 'upper file over a lower dir');
    assert.is(byName.get('b'), sys.DT.DIR);
    assert.is(byName.get('link'), sys.DT.LNK);
    assert.is(byName.get('fifo'), sys.DT.FIFO);
    assert.is(byName.get('sub'), sys.DT.REG);
    // Every listed name can be looked up, with the listed type.
    for (const e of h.entries.slice(2)) {
      const mode = ov.getattr(`/d/${e.name}`).mode;
      assert.ok(mode !== undefined);
    }
  } finally {
    ov.close();
    set.remove();
  }
});

test('reading in pieces at any offset never skips or repeats an entry', () => {
  const spec: LayerSpec[] = [0, 1, 2].map((l) => {
    const s: LayerSpec = {};
    for (let i = 0; i < 400; i++) if (i % 3 === l || i % 7 === 0) s[`big/n${i}`] = { type: 'file', content: `${l}` };
    return s;
  });
  const set = makeLayerSet(spec);
  const ov = Overlay.open({ lower: set.lower });
  try {
    const h = ov.opendir('/big');
    const seen: string[] = [];
    let offset = 0;
    for (;;) {
      const batch = h.read(offset, 37);
      if (batch.length === 0) break;
      for (const { entry, nextOffset } of batch) {
        seen.push(entry.name);
        offset = nextOffset;
      }
    }
    assert.is(seen.length, 402);
    assert.is(new Set(seen).size, 402);
    // seekdir to a remembered offset resumes at the same entry, also on a new open (stable order).
    const again = ov.opendir('/big');
    assert.equal(again.read(100, 5).map((x) => x.entry.name), h.read(100, 5).map((x) => x.entry.name));
    // Upper layer's names first, in its own order.
    assert.ok(seen.indexOf('n0') < seen.indexOf('n1'));
  } finally {
    ov.close();
    set.remove();
  }
});

test('a directory in one layer only is listed straight from that layer', () => {
  const set = makeLayerSet([{ 'solo/x': { type: 'file' }, 'solo/.wh.ghost': { type: 'file' } }, { 'other': { type: 'dir' } }]);
  const ov = Overlay.open({ lower: set.lower });
  try {
    assert.is(ov.resolve('/solo').entries.length, 1);
    assert.equal(ov.readdir('/solo').map((e) => e.name), ['x']);
    assert.is(ov.getattr('/solo').nlink, 2);
    assert.is(ov.getattr('/').nlink, 1, 'merged directories report nlink 1 like the kernel');
  } finally {
    ov.close();
    set.remove();
  }
});

test.run();
