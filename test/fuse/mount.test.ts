/**
 * End to end: mount a MemFs for real and drive it from CHILD processes (async execFile: a sync call
 * from this thread would deadlock, since this thread serves the mount). Always unmounted in finally;
 * mount.ts also lazily unmounts leftovers on process exit.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { mountFuse, FuseMount, MountOptions } from '../../lib/fuse';
import { MemFs } from '../helpers/memfs';
import { missing, testIf } from '../helpers/skip';

function sh(cmd: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile('sh', ['-c', cmd], { timeout: 20000 }, (e, out, err) =>
      res({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out: String(out), err: String(err) }));
  });
}

async function ok(cmd: string): Promise<string> {
  const r = await sh(cmd);
  assert.is(r.code, 0, `${cmd}: ${r.err}`);
  return r.out;
}

async function withMount(fn: (mp: string, m: MemFs, mnt: FuseMount) => Promise<void>,
  opts: Partial<MountOptions> = {}, setup?: (m: MemFs) => void): Promise<void> {
  const mp = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-fuse-'));
  const m = new MemFs();
  setup?.(m);
  const logs: string[] = [];
  let mnt: FuseMount | undefined;
  try {
    mnt = await mountFuse({ mountpoint: mp, log: (s) => logs.push(s), ...opts }, m);
    m.session = mnt.session;
    await fn(mp, m, mnt);
  } finally {
    await mnt?.unmount();
    assert.not.ok(fs.readFileSync('/proc/mounts', 'utf8').includes(mp), 'stale mount left');
    fs.rmSync(mp, { recursive: true, force: true });
  }
}

/** These mount as root (passthrough and the stale-mount clearing need it) through /dev/fuse. */
const t = testIf(test, missing('root', '/dev/fuse'));

t('lookup/getattr/readdir/read on a mounted memfs', async () => {
  await withMount(async (mp, _m, mnt) => {
    assert.ok(mnt.session.negotiated);
    assert.is(mnt.session.negotiated!.minor, Math.min(45, mnt.session.negotiated!.minor));
    assert.ok(fs.readFileSync('/proc/mounts', 'utf8').includes(`${mp} fuse.layerfs`));
    assert.is(await ok(`cat ${mp}/hello.txt`), 'hello world\n');
    assert.is(await ok(`stat -c '%s %a %F' ${mp}/hello.txt`), '12 644 regular file\n');
    assert.is((await ok(`ls -a ${mp}`)).split('\n').filter(Boolean).join(' '), '. .. dir hello.txt link');
    assert.is(await ok(`readlink ${mp}/link`), 'hello.txt\n');
    assert.is(await ok(`cat ${mp}/link`), 'hello world\n');
    const r = await sh(`stat ${mp}/nope`);
    assert.is(r.code, 1); assert.match(r.err, /No such file/);
  }, {}, (m) => {
    m.add(1, 'hello.txt', 0o100644, { data: Buffer.from('hello world\n') });
    m.add(1, 'dir', 0o040755);
    m.add(1, 'link', 0o120777, { target: 'hello.txt' });
  });
});

t('write/create/mkdir/unlink/rename/setattr/xattr', async () => {
  await withMount(async (mp, m) => {
    await ok(`printf abc > ${mp}/f && printf XY | dd of=${mp}/f bs=1 seek=1 conv=notrunc 2>/dev/null`);
    assert.is(await ok(`cat ${mp}/f`), 'aXY');
    await ok(`mkdir -m 700 ${mp}/d && mv ${mp}/f ${mp}/d/g`);
    assert.is(await ok(`ls ${mp}/d`), 'g\n');
    assert.is(await ok(`stat -c %a ${mp}/d`), '700\n');
    await ok(`chmod 640 ${mp}/d/g && truncate -s 10 ${mp}/d/g && touch -m -d @1000000000.5 ${mp}/d/g`);
    assert.is(await ok(`stat -c '%a %s %Y' ${mp}/d/g`), '640 10 1000000000\n');
    const g = m.node(m.node(m.node(1).children!.get('d')!).children!.get('g')!);
    assert.equal(g.mtime, [1000000000, 500000000]);
    await ok(`setfattr -n user.k -v hello ${mp}/d/g`);
    assert.match(await ok(`getfattr --only-values -n user.k ${mp}/d/g`), /^hello/);
    assert.match(await ok(`getfattr -d ${mp}/d/g`), /user\.k="hello"/);
    await ok(`setfattr -x user.k ${mp}/d/g`);
    assert.is((await sh(`getfattr -n user.k ${mp}/d/g`)).code, 1);
    await ok(`ln ${mp}/d/g ${mp}/hard && ln -s d/g ${mp}/sym`);
    assert.is(await ok(`stat -c %h ${mp}/hard`), '2\n');
    await ok(`rm -f ${mp}/hard ${mp}/sym ${mp}/d/g && rmdir ${mp}/d`);
    assert.is(await ok(`ls -A ${mp}`), '');
    assert.match(await ok(`df -k ${mp}`), /layerfs\s+4000\s+2000\s+2000/);
  });
});

t('a throwing handler gives EIO and the mount keeps working', async () => {
  await withMount(async (mp, m, mnt) => {
    const r = await sh(`stat ${mp}/boom`);
    assert.is(r.code, 1);
    assert.match(r.err, /Input\/output error/);
    assert.is(await ok(`cat ${mp}/ok`), 'fine');
    assert.ok((mnt.session.stats.get('LOOKUP') ?? 0) >= 2);
    void m;
  }, {}, (m) => m.add(1, 'ok', 0o100644, { data: Buffer.from('fine') }));
});

t('large write and read (1 MiB requests)', async () => {
  await withMount(async (mp, m) => {
    await ok(`head -c 3000000 /dev/urandom > ${mp}/big && cmp ${mp}/big ${mp}/big`);
    const n = m.node(m.node(1).children!.get('big')!);
    assert.is(n.data.length, 3000000);
    assert.is(await ok(`md5sum < ${mp}/big | cut -c1-32`), `${require('node:crypto').createHash('md5').update(n.data).digest('hex')}\n`);
  });
});

t('passthrough: data correct and zero READ requests reach the session', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-pt-'));
  const backing = path.join(dir, 'data');
  const content = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i, i);
  fs.writeFileSync(backing, content);
  let ino = 0;
  try {
    await withMount(async (mp, m, mnt) => {
      assert.ok(mnt.session.negotiated!.passthrough, 'kernel did not negotiate FUSE_PASSTHROUGH');
      const sum = await ok(`md5sum < ${mp}/pt | cut -c1-32`);
      assert.is(sum, `${require('node:crypto').createHash('md5').update(content).digest('hex')}\n`);
      assert.is(m.reads.get(ino) ?? 0, 0);
      assert.is(mnt.session.stats.get('READ') ?? 0, 0);
      assert.ok((mnt.session.stats.get('OPEN') ?? 0) >= 1);
    }, { passthrough: true }, (m) => { ino = m.addPassthrough(1, 'pt', backing).ino; });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t('stale mount is cleared before mounting', async () => {
  const mp = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-stale-'));
  try {
    const first = await mountFuse({ mountpoint: mp, log: () => {} }, new MemFs());
    first.session.close(); // abort the connection: the mount stays, dead
    assert.match((await sh(`stat ${mp}`)).err, /Transport endpoint is not connected/);
    const second = await mountFuse({ mountpoint: mp, log: () => {} }, new MemFs());
    try {
      assert.is((await ok(`stat -c %F ${mp}`)).trim(), 'directory');
    } finally {
      await second.unmount(); // (first.unmount() would umount whatever is on mp now: not called)
    }
  } finally {
    for (let i = 0; i < 3 && fs.readFileSync('/proc/mounts', 'utf8').includes(mp); i++) await sh(`umount -l ${mp}`);
    assert.not.ok(fs.readFileSync('/proc/mounts', 'utf8').includes(mp), 'stale mount left');
    fs.rmSync(mp, { recursive: true, force: true });
  }
});

test.run();
