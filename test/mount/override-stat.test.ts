import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { formatOverride, OVERRIDE_XATTR, parseOverride, PRIVILEGED_OVERRIDE_XATTR } from '../../lib/mount/override-stat';
import { makeLayerSet } from '../helpers/layers';
import { withLayerfs } from '../helpers/layerfs-mount';

test('override_stat values: parse and format as containers/storage writes them', () => {
  assert.equal(parseOverride(Buffer.from('0:0:0555')), { uid: 0, gid: 0, mode: 0o555 });
  assert.equal(parseOverride(Buffer.from('1000:100:0100755')), { uid: 1000, gid: 100, mode: 0o755 });
  assert.is(parseOverride(Buffer.from('malformed')), null);
  assert.is(formatOverride({ uid: 5, gid: 6, mode: 0o4750 }).toString(), '5:6:04750');
});

for (const [level, XATTR] of [[2, OVERRIDE_XATTR], [1, PRIVILEGED_OVERRIDE_XATTR]] as const) test(`xattr_permissions=${level}: ownership and mode shown from, and recorded in, ${XATTR}`, async () => {
  const set = makeLayerSet([{
    'etc/shadow': { type: 'file', content: 's', mode: 0o644, xattrs: { [XATTR]: '0:42:0640' } },
    'plain': { type: 'file', content: 'p', mode: 0o644, uid: 7, gid: 7 },
  }]);
  const mnt = path.join(set.base, 'mnt');
  const stored = (rel: string) => sys.getxattrat(sys.AT.FDCWD, path.join(set.upper, rel), XATTR)?.toString();
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: mnt, xattrPermissions: level }, () => {
      const st = fs.statSync(path.join(mnt, 'etc/shadow'));
      assert.is(st.gid, 42);
      assert.is(st.mode & 0o7777, 0o640);
      assert.is(fs.statSync(path.join(mnt, 'plain')).uid, 7, 'no record: the inode speaks');
      fs.chownSync(path.join(mnt, 'plain'), 1000, 1001);
      fs.chmodSync(path.join(mnt, 'plain'), 0o600);
      const after = fs.statSync(path.join(mnt, 'plain'));
      assert.equal([after.uid, after.gid, after.mode & 0o7777], [1000, 1001, 0o600]);
      assert.is(stored('plain'), '1000:1001:0600');
      assert.is(fs.statSync(path.join(set.upper, 'plain')).uid, 7, 'the inode itself is not chowned');
      fs.writeFileSync(path.join(mnt, 'new'), 'n', { mode: 0o640 });
      assert.match(stored('new') ?? '', /^0:0:0640$/);
      assert.not.ok(sys.listxattrat(sys.AT.FDCWD, path.join(mnt, 'plain')).includes(XATTR), 'the record is never shown');
    });
  } finally {
    set.remove();
  }
});

test.run();
