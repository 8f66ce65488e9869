import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Overlay, OverlayError } from '../../lib/engine';
import { makeLayerSet } from '../helpers/layers';

test('private xattrs are hidden, escaped ones shown under their plain name, others pass through', () => {
  const set = makeLayerSet([
    {
      'd': { type: 'dir', opaque: true, xattrs: { 'user.mine': 'u' } },
      'f': { type: 'file', xattrs: { 'trusted.overlay.overlay.nested': 'n', 'trusted.other': 't', 'user.a': 'A' } },
    },
  ]);
  const ov = Overlay.open({ lower: set.lower });
  try {
    assert.equal(ov.listxattr('/d'), ['user.mine']);
    assert.equal(ov.listxattr('/f').sort(), ['trusted.other', 'trusted.overlay.nested', 'user.a']);
    assert.is(ov.getxattr('/f', 'trusted.overlay.nested').toString(), 'n');
    assert.is(ov.getxattr('/f', 'user.a').toString(), 'A');
    assert.throws(() => ov.getxattr('/d', 'trusted.overlay.opaque'), (e: OverlayError) => e.code === 'ENODATA');
    assert.throws(() => ov.getxattr('/f', 'user.none'), (e: OverlayError) => e.code === 'ENODATA' && e.path === '/f');
  } finally {
    ov.close();
    set.remove();
  }
});

test('a lower object lists its xattrs once; later asks for names it lacks need no layer read', async () => {
  const set = makeLayerSet([{ 'f': { type: 'file', xattrs: { 'user.a': 'A' } }, 'g': { type: 'file' } }]);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  try {
    assert.is(ov.findXattr('/f', 'security.capability'), null);
    assert.equal(ov.resolve('/f').lowerXattrNames, ['user.a'], 'the names, remembered on the node');
    assert.is(ov.findXattr('/f', 'user.a')!.toString(), 'A');
    assert.is(ov.findXattr('/g', 'user.a'), null);
    assert.equal(ov.resolve('/g').lowerXattrNames, []);
    // Copied up, the object is on the upper layer, which changes: asked there every time.
    await ov.setxattr('/g', 'user.b', Buffer.from('B'));
    assert.is(ov.resolve('/g').lowerXattrNames, undefined);
    assert.is(ov.findXattr('/g', 'user.b')!.toString(), 'B');
  } finally {
    ov.close();
    set.remove();
  }
});

test('with userxattr, user.overlay.* is private and trusted.overlay.* is an ordinary name', () => {
  const set = makeLayerSet([{ 'f': { type: 'file', xattrs: { 'user.overlay.overlay.x': '1', 'user.overlay.metacopy': '' } } }]);
  const ov = Overlay.open({ lower: set.lower, userxattr: true });
  try {
    assert.equal(ov.listxattr('/f'), ['user.overlay.x']);
  } finally {
    ov.close();
    set.remove();
  }
});

test.run();
