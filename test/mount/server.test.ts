/**
 * lib/mount/server.ts: startServer serving a real mount from this thread (so the mount is used only
 * from child processes: a synchronous call here would wait on this very thread), what INIT
 * negotiated reaching the adapter (kernel opens, passthrough, writeback), its stats, and a clean
 * unmount. The option helpers it exports are checked without a mount.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../lib/engine';
import { checkMountpoint, opensMode, overlayOptionsOf, startServer, type MountOptions, type Server } from '../../lib/mount/server';
import { makeLayerSet } from '../helpers/layers';
import { mountsUnder, ok, sh } from '../helpers/layerfs-mount';
import { trackMount, untrackMount } from '../helpers/mounts';
import { scratchDir } from '../helpers/scratch';
import { missing, testIf } from '../helpers/skip';

const mounting = testIf(test, missing('/dev/fuse', 'root'));

interface Served {
  server: Server;
  mp: string;
  upper: string;
}

/**
 * A two-layer stack under a scratch dir served by startServer with `extra`; `fn` runs with it and
 * the mount is always unmounted and the scratch removed (the scratch detaches what is left on exit).
 */
async function withServer(extra: Partial<MountOptions>, fn: (s: Served) => Promise<void>): Promise<void> {
  const scratch = scratchDir('layerfs-server-');
  try {
    const set = makeLayerSet([
      { 'etc/hosts': { type: 'file', content: 'hosts\n' } },
      { 'data': { type: 'file', content: 'abcdefgh' }, 'etc/passwd': { type: 'file', content: 'root\n' } },
    ], undefined, path.join(scratch.dir, 'layers'));
    const mp = path.join(scratch.dir, 'mnt');
    fs.mkdirSync(mp);
    const logs: string[] = [];
    const server = await startServer({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: mp, log: (l) => logs.push(l), ...extra });
    trackMount(mp);
    try {
      await fn({ server, mp, upper: set.upper });
    } catch (err) {
      if (logs.length > 0) (err as Error).message += `\nserver log:\n${logs.slice(-20).join('\n')}`;
      throw err;
    } finally {
      await server.unmount();
      untrackMount(mp);
    }
  } finally {
    scratch.remove();
  }
}

const count = (s: Server, op: string) => s.stats().requests[op] ?? 0;

test('option helpers: who opens files, the engine\'s share of the options, the mountpoint check', () => {
  assert.is(opensMode({}), 'unless-passthrough');
  assert.is(opensMode({ passthrough: true }), 'server');
  assert.is(opensMode({ passthrough: false }), 'kernel');
  assert.is(opensMode({ opens: 'server', passthrough: false }), 'server');
  assert.throws(() => opensMode({ opens: 'kernel', passthrough: true }), (e: ConfigError) => e instanceof ConfigError && e.option === 'opens');
  const o = overlayOptionsOf({ lower: ['/l'], upper: '/u', work: '/w', mountpoint: '/m', volatile: true, opens: 'kernel', fsname: 'x' });
  assert.equal(o, { lower: ['/l'], upper: '/u', work: '/w', volatile: true } as unknown as typeof o);
  const scratch = scratchDir('layerfs-server-');
  try {
    assert.is(checkMountpoint(scratch.dir), scratch.dir);
    fs.writeFileSync(path.join(scratch.dir, 'f'), '');
    assert.throws(() => checkMountpoint(path.join(scratch.dir, 'f')), (e: ConfigError) => e.code === 'ENOTDIR' && e.option === 'mountpoint');
    assert.throws(() => checkMountpoint(path.join(scratch.dir, 'none')), (e: ConfigError) => e.code === 'ENOENT');
    assert.throws(() => checkMountpoint(''), (e: ConfigError) => e.code === 'EINVAL');
  } finally {
    scratch.remove();
  }
});

mounting('kernel opens reach the adapter: no OPEN, reads and writes by node; stats count them', () => withServer({ opens: 'kernel' }, async ({ server, mp, upper }) => {
  const st = server.stats();
  assert.is(st.opens, 'kernel');
  assert.is(st.passthrough, false);
  assert.is(await ok(`cat ${mp}/data ${mp}/etc/hosts`), 'abcdefgh' + 'hosts\n');
  // the first OPEN is answered ENOSYS, and the kernel opens files itself from then on
  assert.is(count(server, 'OPEN'), 1);
  // fh 0 on WRITE: answered only if the adapter knows the kernel opens files (else EBADF)
  await ok(`printf new > ${mp}/made && printf X | dd of=${mp}/data bs=1 seek=1 conv=notrunc status=none`);
  assert.is(await ok(`cat ${mp}/made`), 'new');
  assert.is(count(server, 'OPEN'), 1, 'the kernel never asked to open again');
  assert.ok(count(server, 'LOOKUP') > 0 && count(server, 'WRITE') > 0);
  assert.is(fs.readFileSync(path.join(upper, 'made'), 'utf8'), 'new');
  assert.is(fs.readFileSync(path.join(upper, 'data'), 'utf8'), 'aXcdefgh', 'copied up and written');
  const after = server.stats();
  assert.ok(after.nodes > 0, 'node ids held for the kernel');
  assert.ok(after.engine !== undefined);
  assert.ok(server.requestsReceived() >= Object.values(after.requests).reduce((a, b) => a + b, 0) - 1);
}));

mounting('passthrough reaches the adapter: OPENs are served, READs are the kernel\'s', () => withServer({ opens: 'server', passthrough: true }, async ({ server, mp }) => {
  const st = server.stats();
  assert.is(st.opens, 'server');
  assert.is(st.passthrough, true);
  assert.is(await ok(`cat ${mp}/data; cat ${mp}/etc/passwd`), 'abcdefgh' + 'root\n');
  assert.ok(count(server, 'OPEN') >= 2);
  assert.is(count(server, 'READ'), 0, 'reads went to the backing files');
  await ok(`printf more >> ${mp}/etc/passwd`);
  assert.is(await ok(`cat ${mp}/etc/passwd`), 'root\nmore');
  assert.is(count(server, 'WRITE'), 0);
}));

mounting('the writeback cache reaches the adapter: a write-only open can serve the kernel\'s page READs', () =>
  withServer({ opens: 'server', passthrough: false, writeback: true }, async ({ server, mp, upper }) => {
    const st = server.stats();
    assert.is(st.opens, 'server');
    assert.is(st.passthrough, false);
    // A partial page written through an O_WRONLY file: the kernel reads the page first through
    // that file's handle, which works only if the adapter opened it read-write (servedFlags).
    await ok(`printf Y | dd of=${mp}/data bs=1 seek=2 conv=notrunc status=none`);
    assert.ok(count(server, 'OPEN') >= 1);
    assert.ok(count(server, 'READ') >= 1, 'the kernel read the page of a write-only file');
    assert.is(await ok(`cat ${mp}/data`), 'abYdefgh');
    await ok(`sync ${mp}/data`);
    assert.is(fs.readFileSync(path.join(upper, 'data'), 'utf8'), 'abYdefgh');
  }));

mounting('unmount: the mount goes, ended resolves, a second unmount is a no-op, the mountpoint mounts again', async () => {
  const scratch = scratchDir('layerfs-server-');
  try {
    const set = makeLayerSet([{ f: { type: 'file', content: 'f' } }], undefined, path.join(scratch.dir, 'layers'));
    const mp = path.join(scratch.dir, 'mnt');
    fs.mkdirSync(mp);
    const before = fs.statSync(mp).dev;
    for (let i = 0; i < 2; i++) {
      const server = await startServer({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: mp });
      trackMount(mp);
      let ended = false;
      void server.ended.then(() => (ended = true));
      assert.is(server.mountpoint, mp);
      assert.ok(server.dev !== null && server.dev !== before, 'the mount\'s own device');
      assert.is(await ok(`stat -c %d ${mp}/f`), `${server.dev}\n`);
      await server.unmount();
      untrackMount(mp);
      await server.ended;
      assert.ok(ended);
      assert.equal(mountsUnder(mp), []);
      assert.is(fs.statSync(mp).dev, before);
      await server.unmount();
      const r = await sh(`cat ${mp}/f`);
      assert.is.not(r.code, 0, 'nothing served there any more');
    }
  } finally {
    scratch.remove();
  }
});

test.run();
