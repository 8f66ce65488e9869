import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMountArgs, splitLowerdir, UsageError } from '../../lib/cli/options';

// Command lines as container tools write them for fuse-overlayfs.
test('podman / containers-storage: -o lowerdir=L1:L2,upperdir=U,workdir=W,,volatile MERGED', () => {
  const m = parseMountArgs(['-o', 'lowerdir=/s/overlay/l/AB:/s/overlay/l/CD,upperdir=/s/overlay/x/diff,workdir=/s/overlay/x/work,,volatile', '/s/overlay/x/merged']);
  assert.equal(m.lower, ['/s/overlay/l/AB', '/s/overlay/l/CD']);
  assert.is(m.upper, '/s/overlay/x/diff');
  assert.is(m.work, '/s/overlay/x/work');
  assert.is(m.volatile, true);
  assert.is(m.mountpoint, '/s/overlay/x/merged');
  assert.is(m.source, null);
  assert.is(m.foreground, false);
  assert.equal(m.unknown, []);
});

test('mount.fuse3: SOURCE MOUNTPOINT -o rw,generic flags,...', () => {
  const m = parseMountArgs(['overlay', '/mnt', '-o', 'rw,nosuid,nodev,noatime,lazytime,dev,suid,exec,lowerdir=/a,upperdir=/u,workdir=/w']);
  assert.is(m.source, 'overlay');
  assert.is(m.mountpoint, '/mnt');
  assert.equal(m.lower, ['/a']);
  assert.equal(m.unknown, []);
  assert.ok(m.ignored.includes('lazytime'));
});

test('-f, -d, several -o, fsync=0, uid/gid mappings, squash, escapes', () => {
  const m = parseMountArgs(['-f', '-o', 'lowerdir=/a\\:b:/c', '-o', 'uidmapping=0:1000:1:1:100000:65536,gidmapping=0:1000:1', '-ofsync=0,squash_to_uid=5,squash_to_gid=6', '-d', '/m']);
  assert.equal(m.lower, ['/a:b', '/c']);
  assert.equal(m.uidmap, [{ container: 0, host: 1000, length: 1 }, { container: 1, host: 100000, length: 65536 }]);
  assert.equal(m.gidmap, [{ container: 0, host: 1000, length: 1 }]);
  assert.is(m.volatile, true);
  assert.is(m.squashUid, 5);
  assert.is(m.squashGid, 6);
  assert.is(m.debug, true);
  assert.is(m.foreground, true);
  const r = parseMountArgs(['-o', 'lowerdir=/a,squash_to_root', '/m']);
  assert.is(r.squashUid, 0);
  assert.is(r.squashGid, 0);
});

test('fuse-overlayfs and kernel overlay options are accepted; unknown ones reported, not fatal', () => {
  const m = parseMountArgs(['-o', 'lowerdir=/a,static_nlink,noacl,timeout=1,threaded=1,writeback=0,xattr_permissions=2,context="system_u:object_r:container_file_t:s0",redirect_dir=on,metacopy=on,index=off,xino=auto,userxattr,colour=blue', '/m']);
  assert.is(m.staticNlink, true);
  assert.is(m.userxattr, true);
  assert.is(m.metacopy, true);
  assert.is(m.acl, false, 'noacl: the kernel does not enforce ACLs');
  assert.equal(m.unknown, ['colour=blue']);
  assert.is(parseMountArgs(['-o', 'lowerdir=/a', '/m']).acl, 'auto');
  assert.is(parseMountArgs(['-o', 'lowerdir=/a,acl', '/m']).acl, true);
  assert.is(m.xattrPermissions, 2);
  assert.is(parseMountArgs(['-o', 'lowerdir=/a,xattr_permissions=1', '/m']).xattrPermissions, 1);
  assert.is(parseMountArgs(['-o', 'lowerdir=/a,xattr_permissions=0', '/m']).xattrPermissions, undefined);
});

test('bad values and missing pieces are errors naming the option', () => {
  const cases: [string[], string][] = [
    [['-o', 'lowerdir=/a,uidmapping=0:1000', '/m'], 'uidmapping=0:1000'],
    [['-o', 'lowerdir=/a,squash_to_uid=x', '/m'], 'squash_to_uid=x'],
    [['-o', 'lowerdir=/a,redirect_dir=maybe', '/m'], 'redirect_dir=maybe'],
    [['-o', 'lowerdir=/a,metacopy=yes', '/m'], 'metacopy=yes'],
    [['-o', 'lowerdir=/a,fsync=2', '/m'], 'fsync=2'],
    [['-o', 'lowerdir=/a,upperdir=/u', '/m'], 'workdir='],
    [['-o', 'upperdir=/u,workdir=/w', '/m'], 'lowerdir='],
    [['-o', 'lowerdir=', '/m'], 'lowerdir needs a value'],
    [['-o', 'lowerdir=/a'], 'missing mountpoint'],
    [['-o', 'lowerdir=/a', 'x', 'y', 'z'], 'too many arguments'],
    [['-x', '/m'], 'unknown flag -x'],
  ];
  for (const [argv, fragment] of cases) {
    try {
      parseMountArgs(argv);
      assert.unreachable(argv.join(' '));
    } catch (err) {
      assert.instance(err, UsageError, argv.join(' '));
      assert.ok((err as Error).message.includes(fragment), `${(err as Error).message} should mention ${fragment}`);
    }
  }
});

test('lowerdir splitting', () => {
  assert.equal(splitLowerdir('/a:/b::/c'), ['/a', '/b', '/c']);
  assert.equal(splitLowerdir('/x\\:y'), ['/x:y']);
});

test.run();
