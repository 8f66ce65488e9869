/** Directory listings being read (lib/mount/listings.ts): one listing per directory while nothing changes, dropped at its end. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Overlay } from '../../lib/engine';
import { Listings } from '../../lib/mount/listings';
import { makeLayerSet, tempDir } from '../helpers/layers';

test('a listing is kept across READDIRs, dropped at its end or when anything changes', async () => {
  const set = makeLayerSet([{ 'd/a': { type: 'file', content: 'a' }, 'd/b': { type: 'file', content: 'b' } }], undefined, tempDir('layerfs-mlistings-'));
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  try {
    const l = new Listings(ov);
    assert.is(l.current(5), undefined);
    const dir = l.start(5, ov.resolve('d'));
    assert.is(l.current(5), dir);
    const first = l.read(5, dir, 0, 4096);
    assert.equal(first.map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort(), ['a', 'b']);
    assert.equal(first.map((e) => e.off), first.map((_, i) => i + 1), 'each entry names the offset after it');
    assert.is(l.current(5), dir, 'not read to its end yet');
    assert.equal(l.read(5, dir, first[first.length - 1].off, 4096), []);
    assert.is(l.current(5), undefined, 'read to its end: dropped');
    l.start(5, ov.resolve('d'));
    (await ov.create('d/c', 0o644)).close();
    assert.is(l.current(5), undefined, 'the engine changed: taken again');
    l.start(6, ov.resolve('d'));
    l.clear();
    assert.is(l.current(6), undefined);
  } finally {
    ov.close();
    set.remove();
  }
});

test.run();
