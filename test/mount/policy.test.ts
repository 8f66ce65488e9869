/**
 * The mount's edge policy (lib/mount/policy.ts): ids through the maps, ownership and mode through
 * the xattr_permissions record, set-ID bits cleared by a change to the data, the ACL rule for
 * set-group-ID. On an engine over real layers, no mount.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ACL_ACCESS, Overlay } from '../../lib/engine';
import { SETXATTR_ACL_KILL_SGID, type FuseContext } from '../../lib/fuse';
import { IdMap, OVERFLOW_ID } from '../../lib/mount/idmap';
import { OVERRIDE_XATTR, StatOverride } from '../../lib/mount/override-stat';
import { EdgePolicy } from '../../lib/mount/policy';
import { makeLayerSet, tempDir, type LayerSpec } from '../helpers/layers';

const LABEL = 'layerfs-mpolicy-';
const LOWER: LayerSpec = {
  plain: { type: 'file', content: 'p', mode: 0o644, uid: 1005, gid: 1005 },
  suid: { type: 'file', content: 's', mode: 0o6755, uid: 0, gid: 0 },
  sgid: { type: 'file', content: 'g', mode: 0o2775, uid: 0, gid: 0 },
  recorded: { type: 'file', content: 'r', mode: 0o644, xattrs: { [OVERRIDE_XATTR]: '0:42:04750' } },
};
/** A caller the set-ID rule counts as unprivileged (no pid to read: no CAP_FSETID, in its gid only). */
const user = { uid: 1000, gid: 1000, pid: 0 } as FuseContext;

async function withPolicy(make: (ov: Overlay) => EdgePolicy, fn: (p: EdgePolicy, ov: Overlay, upper: string) => Promise<void>) {
  const set = makeLayerSet([LOWER], undefined, tempDir(LABEL));
  // set-ID bits after the spec's chown (which clears them)
  fs.chmodSync(path.join(set.lower[0], 'suid'), 0o6755);
  fs.chmodSync(path.join(set.lower[0], 'sgid'), 0o2775);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  try {
    await fn(make(ov), ov, set.upper);
  } finally {
    ov.close();
    set.remove();
  }
}

const mode = (ov: Overlay, p: string) => ov.getattr(p).mode & 0o7777;

test('ids through the maps: shown as the container sees them, stored as host ids', () => withPolicy(
  (ov) => new EdgePolicy(ov, new IdMap([{ container: 0, host: 1000, length: 100 }]), new IdMap([], 7)),
  async (p, ov) => {
    const shown = p.shown(ov.getattr('plain'), ov.resolve('plain'));
    assert.equal([shown.uid, shown.gid], [5, 7]);
    assert.is(p.shown(ov.getattr('suid')).uid, OVERFLOW_ID, 'host root is not in the range');
    assert.equal(p.owner(user), { uid: OVERFLOW_ID, gid: 1000 }, 'container uid 1000 is past the range');
    assert.equal(p.owner({ ...user, uid: 3 }), { uid: 1003, gid: 1000 });
    assert.equal(p.creator({ ...user, uid: 3 }, 0o22), { uid: 1003, gid: 1000, umask: 0o22 });
    assert.equal(p.creator({ ...user, uid: 3 }, undefined), { uid: 1003, gid: 1000 }, 'the kernel applied the umask');
    await p.setattr('plain', { uid: 4 });
    assert.is(ov.getattr('plain').uid, 1004);
  }));

test('xattr_permissions: shown from the record, changes recorded and not applied, the record hidden', () => withPolicy(
  (ov) => new EdgePolicy(ov, undefined, undefined, new StatOverride(OVERRIDE_XATTR)),
  async (p, ov, upper) => {
    const shown = p.shown(ov.getattr('recorded'), ov.resolve('recorded'));
    assert.equal([shown.uid, shown.gid, shown.mode & 0o7777], [0, 42, 0o4750]);
    await p.setattr('plain', { mode: 0o600, gid: 9, size: 0 });
    assert.is(ov.getxattr('plain', OVERRIDE_XATTR).toString(), '1005:9:0600');
    assert.is(mode(ov, 'plain'), 0o644, 'the inode keeps its mode');
    assert.is(fs.statSync(path.join(upper, 'plain')).size, 0, 'the size is applied');
    assert.ok(p.hidesXattr(OVERRIDE_XATTR));
    assert.not.ok(p.hidesXattr('user.other'));
    assert.equal(p.visibleXattrs([OVERRIDE_XATTR, 'user.other']), ['user.other']);
    assert.throws(() => p.checkXattrChange(OVERRIDE_XATTR), (e: { code?: string }) => e.code === 'EPERM');
    p.checkXattrChange('user.other');
    // set-ID bits as recorded: cleared in the record
    assert.ok(await p.clearSetId(user, 'recorded', false));
    assert.is(ov.getxattr('recorded', OVERRIDE_XATTR).toString(), '0:42:0750');
  }));

test('set-ID bits: a change by a caller without CAP_FSETID clears them once; passthrough refused for writing', () => withPolicy(
  (ov) => new EdgePolicy(ov),
  async (p, ov) => {
    assert.not.ok(p.mayPassThrough('suid', true));
    assert.ok(p.mayPassThrough('suid', false));
    assert.ok(p.mayPassThrough('plain', true));
    assert.is(p.modeAfterChange(user, 'suid', false), 0o755, 'group-executable: set-group-ID goes too');
    assert.is(p.modeAfterChange(user, 'plain', true), undefined);
    assert.ok(await p.clearSetId(user, 'suid', false));
    assert.is(mode(ov, 'suid'), 0o755);
    assert.not.ok(await p.clearSetId(user, 'suid', false), 'nothing left to clear');
  }));

test('an access ACL set by a caller outside the group drops set-group-ID (the kernel says when)', () => withPolicy(
  (ov) => new EdgePolicy(ov),
  async (p, ov) => {
    await p.xattrSet('sgid', ACL_ACCESS, 0);
    await p.xattrSet('sgid', 'user.x', SETXATTR_ACL_KILL_SGID);
    assert.is(mode(ov, 'sgid'), 0o2775, 'not asked, or not an access ACL: kept');
    await p.xattrSet('sgid', ACL_ACCESS, SETXATTR_ACL_KILL_SGID);
    assert.is(mode(ov, 'sgid'), 0o775);
  }));

test.run();
