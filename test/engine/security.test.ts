import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay, OverlayError } from '../../lib/engine';
import { makeLayerSet } from '../helpers/layers';

const HOST_SECRET = fs.readFileSync('/etc/passwd');

/** A layer built to escape: links to the host root, to its parent, to host files, redirects that climb. */
function hostileSet() {
  return makeLayerSet([
    {
      'etc': { type: 'symlink', target: '/etc' },
      'root': { type: 'symlink', target: '/' },
      'up': { type: 'symlink', target: '..' },
      'passwd': { type: 'symlink', target: '/etc/passwd' },
      'climb': { type: 'dir', xattrs: { 'trusted.overlay.redirect': '/../../../../etc' } },
      'sib': { type: 'dir', xattrs: { 'trusted.overlay.redirect': '../../etc' } },
    },
    { 'usr/share/x': { type: 'file', content: 'ok' } },
  ]);
}

test('symlinks in a layer are objects of the merged view, never paths to follow', () => {
  const set = hostileSet();
  const ov = Overlay.open({ lower: set.lower });
  try {
    for (const p of ['/etc/passwd', '/root/etc/passwd', '/up/l1/usr/share/x', '/root/etc']) {
      assert.throws(() => ov.resolve(p), (e: OverlayError) => e.code === 'ENOTDIR', p);
    }
    assert.throws(() => ov.readFile('/passwd'), (e: OverlayError) => e.code === 'ELOOP');
    assert.throws(() => ov.readFile('/etc'), (e: OverlayError) => e.code === 'ELOOP');
    assert.is(ov.readlink('/passwd'), '/etc/passwd');
  } finally {
    ov.close();
    set.remove();
  }
});

test('redirects that climb out of the layer are ignored', () => {
  const set = hostileSet();
  const ov = Overlay.open({ lower: set.lower });
  try {
    assert.equal(ov.readdir('/climb').map((e) => e.name), []);
    assert.equal(ov.readdir('/sib').map((e) => e.name), []);
    assert.is(ov.tryResolve('/climb/passwd'), null);
  } finally {
    ov.close();
    set.remove();
  }
});

test('a directory swapped for a symlink after lookup cannot lead outside the layer', () => {
  const set = makeLayerSet([{ 'd/inner': { type: 'file', content: 'mine' } }, { 'd/below': { type: 'file' } }]);
  const ov = Overlay.open({ lower: set.lower, cache: { dirFds: 1 } });
  try {
    assert.ok(ov.resolve('/d').isDir);
    const real = path.join(set.lower[0], 'd');
    fs.renameSync(real, real + '.moved');
    fs.symlinkSync('/etc', real);
    // The cached node still says directory; every real access must refuse the symlink.
    let leaked: Buffer | null = null;
    try {
      leaked = ov.readFile('/d/passwd');
    } catch (err) {
      assert.ok(['ELOOP', 'ENOENT', 'ENOTDIR', 'EXDEV'].includes((err as OverlayError).code), String(err));
    }
    assert.ok(leaked === null || !leaked.equals(HOST_SECRET), 'read the host /etc/passwd through a layer symlink');
    try {
      const listed = ov.readdir('/d').map((e) => e.name);
      assert.not.ok(listed.includes('passwd'), 'listed the host /etc');
    } catch (err) {
      assert.ok(['ELOOP', 'ENOENT', 'ENOTDIR', 'EXDEV'].includes((err as OverlayError).code), String(err));
    }
  } finally {
    ov.close();
    set.remove();
  }
});

test.run();
