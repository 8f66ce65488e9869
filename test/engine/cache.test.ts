import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Overlay } from '../../lib/engine';
import { LayerSpec, makeLayerSet } from '../helpers/layers';

test('caches stay within their bounds however large the tree', () => {
  const specs: LayerSpec[] = [0, 1, 2].map((l) => {
    const s: LayerSpec = {};
    for (let d = 0; d < 30; d++) for (let f = 0; f < 40; f++) if ((d + f + l) % 3 !== 0) s[`d${d}/f${f}`] = { type: 'file', content: `${l}` };
    return s;
  });
  const set = makeLayerSet(specs);
  const ov = Overlay.open({ lower: set.lower, cache: { nodes: 50, dirIndexNames: 100, dirFds: 8 } });
  try {
    let files = 0;
    for (const d of ov.readdir('/')) {
      for (const f of ov.readdir(`/${d.name}`)) {
        assert.is(ov.readFile(`/${d.name}/${f.name}`).length, 1);
        assert.is(ov.tryResolve(`/${d.name}/missing-${f.name}`), null);
        files++;
      }
      const sizes = ov.cacheSizes();
      assert.ok(sizes.nodes <= 50, `nodes ${sizes.nodes}`);
      assert.ok(sizes.negative <= 50, `negative ${sizes.negative}`);
      assert.ok(sizes.dirIndexNames <= 100, `index names ${sizes.dirIndexNames}`);
      assert.ok(sizes.dirFds <= 8, `dir fds ${sizes.dirFds}`);
    }
    assert.is(files, 30 * 40);
    // Evicted entries come back correctly.
    assert.is(ov.readFile('/d0/f1').toString(), '0');
  } finally {
    ov.close();
    set.remove();
  }
});

test('warm lookups are answered from the node cache', () => {
  const set = makeLayerSet([{ 'a/b': { type: 'file' } }, { 'a/c': { type: 'file' } }]);
  const ov = Overlay.open({ lower: set.lower });
  try {
    ov.resolve('/a/b');
    const probes = ov.stats.layerProbes;
    const hits = ov.stats.nodeCacheHits;
    for (let i = 0; i < 10; i++) ov.resolve('/a/b');
    assert.is(ov.stats.layerProbes, probes);
    assert.is(ov.stats.nodeCacheHits - hits, 20);
  } finally {
    ov.close();
    set.remove();
  }
});

test.run();
