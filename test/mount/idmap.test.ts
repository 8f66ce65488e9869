import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IdMap, OVERFLOW_ID } from '../../lib/mount/idmap';
import { makeLayerSet } from '../helpers/layers';
import { withLayerfs } from '../helpers/layerfs-mount';

test('IdMap: ranges both ways, overflow for unmapped ids, squash', () => {
  const m = new IdMap([{ container: 0, host: 100000, length: 65536 }, { container: 70000, host: 1000, length: 1 }]);
  assert.is(m.toContainer(100000), 0);
  assert.is(m.toContainer(100033), 33);
  assert.is(m.toContainer(1000), 70000);
  assert.is(m.toContainer(5), OVERFLOW_ID);
  assert.is(m.toHost(0), 100000);
  assert.is(m.toHost(70000), 1000);
  assert.is(m.toHost(66000), OVERFLOW_ID);
  assert.ok(new IdMap().identity);
  const squash = new IdMap([], 0);
  assert.is(squash.toContainer(1234), 0);
  assert.is(squash.toHost(1234), 1234, 'squashing changes what is shown, not what is stored');
});

test('uidmapping/gidmapping through a mount: stored host ids show as container ids, and back', async () => {
  const set = makeLayerSet([{ 'etc/owned': { type: 'file', content: 'x', uid: 100000, gid: 100100 }, 'home/user/f': { type: 'file', uid: 101000, gid: 101000 } }]);
  const mnt = path.join(set.base, 'mnt');
  try {
    await withLayerfs(
      {
        lower: set.lower, upper: set.upper, work: set.work, mountpoint: mnt,
        uidmap: [{ container: 0, host: 100000, length: 65536 }],
        gidmap: [{ container: 0, host: 100000, length: 65536 }],
      },
      async () => {
        const st = fs.statSync(path.join(mnt, 'etc/owned'));
        assert.is(st.uid, 0);
        assert.is(st.gid, 100);
        assert.is(fs.statSync(path.join(mnt, 'home/user/f')).uid, 1000);
        // Root in the mount creates a file: stored as host 100000.
        fs.writeFileSync(path.join(mnt, 'new'), 'n');
        assert.is(fs.statSync(path.join(mnt, 'new')).uid, 0);
        assert.is(fs.statSync(path.join(set.upper, 'new')).uid, 100000);
        // chown to container 1000 stores host 101000.
        fs.chownSync(path.join(mnt, 'new'), 1000, 1000);
        assert.is(fs.statSync(path.join(set.upper, 'new')).uid, 101000);
        assert.is(fs.statSync(path.join(mnt, 'new')).uid, 1000);
      },
    );
  } finally {
    set.remove();
  }
});

test('squash_to_root: every object shows as root-owned, storage unchanged', async () => {
  const set = makeLayerSet([{ 'f': { type: 'file', uid: 1234, gid: 5678 } }]);
  const mnt = path.join(set.base, 'mnt');
  try {
    await withLayerfs({ lower: set.lower, mountpoint: mnt, squashUid: 0, squashGid: 0 }, () => {
      const st = fs.statSync(path.join(mnt, 'f'));
      assert.is(st.uid, 0);
      assert.is(st.gid, 0);
      assert.is(fs.statSync(path.join(set.lower[0], 'f')).uid, 1234);
    });
  } finally {
    set.remove();
  }
});

test.run();
