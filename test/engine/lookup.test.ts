import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { Overlay, OverlayError } from '../../lib/engine';
import { LayerSpec, MarkerForm, makeLayerSet } from '../helpers/layers';

const FORMS: [string, MarkerForm][] = [
  ['device whiteouts, xattr opaque', { whiteout: 'device', opaque: 'xattr' }],
  ['xattr whiteouts', { whiteout: 'xattr', opaque: 'xattr' }],
  ['OCI .wh. whiteouts and opaque marker', { whiteout: 'oci', opaque: 'oci' }],
  ['user.overlay.* markers', { whiteout: 'xattr', opaque: 'xattr', prefix: 'user.overlay.' }],
];

// top first
const SPECS: LayerSpec[] = [
  {
    'gone.txt': { type: 'whiteout' },
    'dir/removed': { type: 'whiteout' },
    'opq': { type: 'dir', opaque: true },
    'opq/new': { type: 'file', content: 'top' },
    'shadow': { type: 'file', content: 'file over dir' },
    'dir/top-only': { type: 'file', content: 'T' },
  },
  {
    'gone.txt': { type: 'file', content: 'middle' },
    'dir/mid': { type: 'file', content: 'M' },
    'dir/kept': { type: 'file', content: 'middle wins' },
    'opq/hidden-mid': { type: 'file', content: 'x' },
  },
  {
    'dir/kept': { type: 'file', content: 'bottom' },
    'dir/removed': { type: 'file', content: 'bottom' },
    'dir/bottom': { type: 'dir' },
    'opq/hidden-bottom': { type: 'file' },
    'shadow/inner': { type: 'file', content: 'unreachable' },
    'bottom-only': { type: 'file', content: 'B' },
  },
];

function withOverlay(form: MarkerForm, fn: (ov: Overlay) => void): void {
  const set = makeLayerSet(SPECS, form);
  const ov = Overlay.open({ lower: set.lower, userxattr: form.prefix === 'user.overlay.' });
  try {
    fn(ov);
  } finally {
    ov.close();
    set.remove();
  }
}

const names = (ov: Overlay, p: string) => ov.readdir(p).map((e) => e.name).sort();

for (const [label, form] of FORMS) {
  test(`${label}: a whiteout hides the name from every layer below`, () => {
    withOverlay(form, (ov) => {
      assert.is(ov.tryResolve('/gone.txt'), null);
      assert.is(ov.tryResolve('/dir/removed'), null);
      assert.not.ok(names(ov, '/').includes('gone.txt'));
      assert.not.ok(names(ov, '/dir').includes('removed'));
    });
  });

  test(`${label}: directories merge, the upper object wins`, () => {
    withOverlay(form, (ov) => {
      assert.equal(names(ov, '/dir'), ['bottom', 'kept', 'mid', 'top-only']);
      assert.is(ov.readFile('/dir/kept').toString(), 'middle wins');
      assert.is(ov.readFile('/bottom-only').toString(), 'B');
      assert.is(ov.resolve('/dir').entries.length, 3);
    });
  });

  test(`${label}: an opaque directory stops the merge`, () => {
    withOverlay(form, (ov) => {
      assert.equal(names(ov, '/opq'), ['new']);
      assert.is(ov.tryResolve('/opq/hidden-mid'), null);
      assert.is(ov.tryResolve('/opq/hidden-bottom'), null);
      assert.ok(ov.resolve('/opq').opaque);
    });
  });

  test(`${label}: a non-directory stops the descent`, () => {
    withOverlay(form, (ov) => {
      assert.is(ov.readFile('/shadow').toString(), 'file over dir');
      assert.throws(() => ov.resolve('/shadow/inner'), (e: OverlayError) => e.code === 'ENOTDIR');
    });
  });

  test(`${label}: markers never show as names, and cannot be looked up`, () => {
    withOverlay(form, (ov) => {
      for (const dir of ['/', '/dir', '/opq']) {
        for (const n of names(ov, dir)) assert.not.ok(n.startsWith('.wh.'), `${dir} lists ${n}`);
      }
      assert.is(ov.tryResolve('/.wh.gone.txt'), null);
      assert.is(ov.tryResolve('/opq/.wh..wh..opq'), null);
      assert.not.ok(ov.listxattr('/opq').some((x) => x.startsWith('trusted.overlay.') || (form.prefix === 'user.overlay.' && x.startsWith('user.overlay.'))));
    });
  });
}

test('lookup errors: ENOENT with the merged path, ENAMETOOLONG, EINVAL', () => {
  withOverlay({ whiteout: 'device', opaque: 'xattr' }, (ov) => {
    try {
      ov.resolve('/dir/nothing-here');
      assert.unreachable();
    } catch (err) {
      const e = err as OverlayError;
      assert.is(e.code, 'ENOENT');
      assert.is(e.errno, 2);
      assert.is(e.syscall, 'lookup');
      assert.is(e.path, '/dir/nothing-here');
    }
    assert.throws(() => ov.lookup(ov.root, 'n'.repeat(256)), (e: OverlayError) => e.code === 'ENAMETOOLONG');
    assert.throws(() => ov.lookup(ov.root, 'é'.repeat(128)), (e: OverlayError) => e.code === 'ENAMETOOLONG');
    assert.ok(ov.tryLookup(ov.root, 'n'.repeat(255)) === null);
    assert.throws(() => ov.lookup(ov.root, 'a/b'), (e: OverlayError) => e.code === 'EINVAL');
  });
});

test('redirected directory: lower contents found at the path the redirect names', () => {
  const set = makeLayerSet([
    { 'new-name': { type: 'dir', xattrs: { 'trusted.overlay.redirect': '/old/name' } }, 'new-name/added': { type: 'file', content: 'up' }, 'old': { type: 'dir' }, 'old/name': { type: 'whiteout' } },
    { 'old/name/child': { type: 'file', content: 'from below' } },
  ]);
  const ov = Overlay.open({ lower: set.lower });
  try {
    assert.equal(names(ov, '/new-name'), ['added', 'child']);
    assert.is(ov.readFile('/new-name/child').toString(), 'from below');
    assert.is(ov.tryResolve('/old/name'), null);
    assert.not.ok(ov.listxattr('/new-name').includes('trusted.overlay.redirect'));
  } finally {
    ov.close();
    set.remove();
  }
  const off = makeLayerSet([
    { 'renamed': { type: 'dir', xattrs: { 'trusted.overlay.redirect': 'orig' } } },
    { 'orig/child': { type: 'file' } },
  ]);
  const nofollow = Overlay.open({ lower: off.lower, redirectFollow: false });
  const follow = Overlay.open({ lower: off.lower });
  try {
    assert.equal(names(nofollow, '/renamed'), []);
    assert.equal(names(follow, '/renamed'), ['child']);
  } finally {
    nofollow.close();
    follow.close();
    off.remove();
  }
});

test('inode numbers: unique across layers, stable across lookups and reopen', () => {
  const set = makeLayerSet([{ 'a': { type: 'file' } }, { 'b': { type: 'file' } }]);
  try {
    const ov = Overlay.open({ lower: set.lower });
    const a = ov.getattr('/a').ino, b = ov.getattr('/b').ino;
    // Same real inode numbers would be likely on fresh dirs of one fs; the layer keeps them apart.
    assert.is.not(a, b);
    assert.is(ov.getattr('/a').ino, a);
    ov.close();
    const again = Overlay.open({ lower: set.lower });
    assert.is(again.getattr('/a').ino, a);
    const listed = again.readdir('/').find((e) => e.name === 'a')!;
    assert.is(listed.ino, a, 'readdir d_ino agrees with st_ino');
    again.close();
  } finally {
    set.remove();
  }
});

test('the index answers lookups under many layers without probing each layer', () => {
  const specs: LayerSpec[] = Array.from({ length: 100 }, (_, i) => ({ [`f${i}`]: { type: 'file', content: String(i) } }));
  const set = makeLayerSet(specs);
  const ov = Overlay.open({ lower: set.lower });
  try {
    // Before the directory is indexed, a lookup asks each layer once.
    let before = ov.stats.layerProbes;
    assert.is(ov.readFile('/f50').toString(), '50');
    assert.ok(ov.stats.layerProbes - before <= 101, `probes: ${ov.stats.layerProbes - before}`);
    // readdir indexes it; from then on only the layer holding the name is asked.
    assert.is(ov.readdir('/').length, 100);
    before = ov.stats.layerProbes;
    assert.is(ov.readFile('/f99').toString(), '99'); // bottom layer only
    assert.ok(ov.stats.layerProbes - before <= 2, `probes: ${ov.stats.layerProbes - before}`);
  } finally {
    ov.close();
    set.remove();
  }
});

test('before a directory is indexed, a lookup stops at the first layer that answers it', () => {
  const specs: LayerSpec[] = [
    { 'd/top': { type: 'file', content: 'T' }, 'd/.wh.gone': { type: 'file' } },
    ...Array.from({ length: 20 }, (_, i): LayerSpec => ({ [`d/f${i}`]: { type: 'file', content: String(i) }, 'd/gone': { type: 'file' } })),
  ];
  const set = makeLayerSet(specs, { whiteout: 'oci', opaque: 'oci' });
  const ov = Overlay.open({ lower: set.lower });
  try {
    ov.resolve('/d');
    let before = ov.stats.layerProbes;
    assert.is(ov.readFile('/d/top').toString(), 'T');
    assert.is(ov.stats.layerProbes - before, 1, 'a file in the top layer: one probe, none below');
    before = ov.stats.layerProbes;
    assert.is(ov.tryResolve('/d/gone'), null, 'an OCI whiteout hides the name in every layer below');
    assert.is(ov.stats.layerProbes - before, 2, 'the name, then its whiteout, in the top layer only');
    assert.is(ov.readFile('/d/f19').toString(), '19', 'a name in the bottom layer is still found');
  } finally {
    ov.close();
    set.remove();
  }
});

test('a symlink in the middle of a path is not followed', () => {
  const set = makeLayerSet([{ 'link': { type: 'symlink', target: 'real' }, 'real/f': { type: 'file', content: 'x' } }]);
  const ov = Overlay.open({ lower: set.lower });
  try {
    assert.is(ov.readlink('/link'), 'real');
    assert.throws(() => ov.resolve('/link/f'), (e: OverlayError) => e.code === 'ENOTDIR');
    assert.is(ov.getattr('/link').mode & sys.S.IFMT, sys.S.IFLNK);
    assert.ok(fs.existsSync(path.join(set.lower[0], 'real/f')));
  } finally {
    ov.close();
    set.remove();
  }
});

test('a path is answered from the node cache only while every component still leads there', async () => {
  const set = makeLayerSet([{ 'a/b/c': { type: 'file', content: 'lower c' }, 'x/y': { type: 'file', content: 'y' } }]);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  try {
    const c = ov.resolve('a/b/c');
    assert.is(ov.resolve('a/b/c'), c, 'cached: the same node');
    // Other spellings of the path walk and find the same node.
    for (const p of ['/a/b/c', 'a//b/c', './a/b/c', 'a/b/../b/c', 'a/b/c/']) assert.is(ov.resolve(p), c, p);
    assert.is(ov.tryResolve('a/b/nope'), null);
    assert.throws(() => ov.resolve('a/b/c/d'), (e: OverlayError) => e.code === 'ENOTDIR');
    assert.throws(() => ov.resolve('a/nope/c'), (e: OverlayError) => e.code === 'ENOENT' && e.path === '/a/nope');
    // An ancestor renamed away, replaced by a file, or removed: the cached path must not answer.
    await ov.rename('a/b', 'a/moved');
    assert.is(ov.tryResolve('a/b/c'), null);
    assert.is(ov.readFile('a/moved/c').toString(), 'lower c');
    await ov.writeFile('a/b', 'now a file');
    assert.throws(() => ov.resolve('a/b/c'), (e: OverlayError) => e.code === 'ENOTDIR');
    ov.resolve('x/y');
    await ov.unlink('x/y');
    await ov.rmdir('x');
    assert.is(ov.tryResolve('x/y'), null);
    assert.is(ov.tryResolve('x'), null);
  } finally {
    ov.close();
    set.remove();
  }
});

test.run();
