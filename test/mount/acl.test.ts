/**
 * POSIX ACLs through the mount (FUSE_POSIX_ACL), against kernel overlayfs on the same lower layer:
 * enforcement by the kernel, inheritance of default ACLs by new objects (also when made in work/
 * over a whiteout), the umask where there is no default ACL, and what ends up in each upper.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inheritAcl } from '../../lib/engine/acl';
import { makeLayerSet } from '../helpers/layers';
import { withKernelOverlay } from '../helpers/kernel-overlay';
import { assertNoMountsUnder, ok, sh, withLayerfs } from '../helpers/layerfs-mount';

const PREFIX = '/tmp/lfs-acl-';

/** An ACL xattr: version 2, then (tag, perm, id) entries. */
function aclXattr(entries: [number, number, number][]): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + 8 * i);
    b.writeUInt16LE(perm, 6 + 8 * i);
    b.writeUInt32LE(id, 8 + 8 * i);
  });
  return b;
}

test('inheritAcl: posix_acl_create_masq rules', () => {
  const UNDEF = 0xffffffff;
  // default: user::rwx user:65534:rwx group::r-x mask::rwx other::---
  const def = aclXattr([[1, 7, UNDEF], [2, 7, 65534], [4, 5, UNDEF], [0x10, 7, UNDEF], [0x20, 0, UNDEF]]);
  const f = inheritAcl(def, 0o100666, false);
  assert.is(f.mode, 0o100660, 'group bits from the mask, other from the ACL, no umask');
  assert.ok(f.access !== null, 'named entries: an access ACL is kept');
  assert.is(f.access!.readUInt16LE(4 + 8 * 3 + 2), 6, 'mask masked by the mode');
  assert.is(f.default, null);
  const d = inheritAcl(def, 0o40777, true);
  assert.is(d.mode, 0o40770);
  assert.equal(d.default, def, 'a directory inherits the default ACL itself');
  // Only the three base entries: equivalent to a mode, so no access ACL.
  const base = aclXattr([[1, 6, UNDEF], [4, 4, UNDEF], [0x20, 0, UNDEF]]);
  const g = inheritAcl(base, 0o4777, false);
  assert.is(g.mode, 0o4640, 'set-ID bits kept, permissions masked');
  assert.is(g.access, null);
  assert.throws(() => inheritAcl(Buffer.from('junk'), 0o644, false));
});

const SCRIPT = [
  'umask 022',
  'echo x > d/new', 'mkdir d/nd', 'mknod d/fifo p', 'mkdir d/nd/sub', 'echo y > d/nd/sub/g',
  // Over whiteouts: the object is made in work/ and renamed into place.
  'rm d/gone && echo z > d/gone', 'rm -r d/olddir && mkdir d/olddir',
  // No default ACL here: the umask applies.
  'echo p > plain/new', 'mkdir plain/nd',
  // ACLs changed through the mount, and chmod's effect on the mask.
  'setfacl -m u:65534:rw plain/new', 'chmod 640 d/new', 'setfacl -b d/fifo',
].join(' && ');

const LISTED = ['d', 'd/f', 'd/new', 'd/nd', 'd/fifo', 'd/nd/sub', 'd/nd/sub/g', 'd/gone', 'd/olddir', 'plain/new', 'plain/nd'];

async function describe(root: string): Promise<string> {
  const out: string[] = [];
  for (const rel of LISTED) {
    out.push(`${rel}: ${(await ok(`stat -c %A '${root}/${rel}'`)).trim()} ${(await ok(`getfacl -p --omit-header '${root}/${rel}'`)).trim().replace(/\s+/g, ' ')}`);
  }
  return out.join('\n');
}

test('ACLs: enforced and inherited as on kernel overlayfs, and the same in both uppers', async () => {
  const set = makeLayerSet([{
    'd/f': { type: 'file', content: 'secret\n', mode: 0o600 },
    'd/gone': { type: 'file', content: 'old' },
    'd/olddir/x': { type: 'file', content: 'x' },
    'plain/keep': { type: 'file', content: 'k' },
  }], undefined, fs.mkdtempSync(PREFIX));
  fs.chmodSync(set.base, 0o755); // nobody walks to the mounts
  const kupper = path.join(set.base, 'kupper');
  const kwork = path.join(set.base, 'kwork');
  fs.mkdirSync(kupper);
  fs.mkdirSync(kwork);
  const l0 = set.lower[0];
  await ok(`setfacl -m u:nobody:r '${l0}/d/f' && setfacl -d -m u:nobody:rwx,g::rx,o::- '${l0}/d'`);
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt') }, async (m) => {
      await withKernelOverlay({ lower: set.lower, upper: kupper, work: kwork, mountpoint: path.join(set.base, 'kmnt') }, async (k) => {
        // Enforcement: nobody reads d/f through its ACL entry alone (mode 0600, owner root).
        for (const root of [m.mountpoint, k.mountpoint]) {
          const r = await sh(`su nobody -s /bin/sh -c "cat '${root}/d/f'"`);
          assert.is(r.code, 0, `${root}: ${r.err}`);
          assert.is(r.out, 'secret\n');
        }
        await ok(`cd '${m.mountpoint}' && ${SCRIPT}`);
        await ok(`cd '${k.mountpoint}' && ${SCRIPT}`);
        assert.fixture(await describe(m.mountpoint), await describe(k.mountpoint));
        // Granted by the inherited ACL: nobody writes into a new directory of root's.
        for (const root of [m.mountpoint, k.mountpoint]) {
          const r = await sh(`su nobody -s /bin/sh -c "echo w > '${root}/d/nd/by-nobody'"`);
          assert.is(r.code, 0, `${root}: ${r.err}`);
        }
        const denied = await sh(`su nobody -s /bin/sh -c "echo w > '${m.mountpoint}/plain/nd/no'"`);
        assert.ok(denied.code !== 0, 'no ACL, mode 0755 of root: denied');
      });
    });
    // What the next mount (or the kernel) reads from our upper is what the kernel wrote in its own.
    const uppers = await Promise.all([set.upper, kupper].map(async (u) => {
      const names = ['d/new', 'd/nd', 'd/nd/sub/g', 'd/gone', 'd/olddir', 'plain/new'];
      return (await Promise.all(names.map(async (n) => `${n}: ${(await ok(`getfacl -p --omit-header '${u}/${n}'`)).trim().replace(/\s+/g, ' ')}`))).join('\n');
    }));
    assert.fixture(uppers[0], uppers[1]);
  } finally {
    set.remove();
  }
});

test('posixAcl: false: modes arrive with the umask applied, ACLs are plain xattrs', async () => {
  const set = makeLayerSet([{ 'd/f': { type: 'file', content: 'f', mode: 0o600 } }], undefined, fs.mkdtempSync(PREFIX));
  await ok(`setfacl -d -m u:nobody:rwx '${set.lower[0]}/d'`);
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt'), posixAcl: false }, async (m) => {
      await ok(`cd '${m.mountpoint}' && umask 027 && echo n > d/n`);
      assert.is(fs.statSync(path.join(m.mountpoint, 'd/n')).mode & 0o777, 0o640);
    });
  } finally {
    set.remove();
  }
});

test('no mount left behind', () => {
  assertNoMountsUnder(PREFIX);
});

test.run();
