/**
 * mount() and unmount() as a program lives with them: ready means answering, unmount leaves
 * nothing, bad options fail precisely and leave nothing, a dead mount left by a killed process is
 * cleared, the mounting process may use the mount with sync and async fs calls, stats and events.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mount } from '../../lib/mount';
import { LayerSet, makeLayerSet, removeTree, tempDir } from '../helpers/layers';
import { assertNoMountsUnder, mountsUnder, withLayerfs } from '../helpers/layerfs-mount';
import { abortFuseConnectionsSince, fuseConnections } from '../helpers/mounts';

const LABEL = 'layerfs-mlife-';
const PREFIX = path.join(os.tmpdir(), LABEL);

function stack(): LayerSet {
  return makeLayerSet(
    [
      { 'etc/hosts': { type: 'file', content: 'hosts\n' }, 'dir/a': { type: 'file', content: 'a' } },
      { 'etc/passwd': { type: 'file', content: 'root\n' }, 'big': { type: 'file', content: Buffer.alloc(1 << 20, 7) } },
    ],
    undefined,
    tempDir(LABEL),
  );
}

const threads = () => Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('mount() resolves only once the mount answers; unmount leaves no mount', async () => {
  const set = stack();
  const mp = path.join(set.base, 'mnt');
  fs.mkdirSync(mp);
  try {
    const before = fs.statSync(mp);
    const m = await mount({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: mp });
    try {
      // No wait, no retry: the very first calls must be answered by the mount.
      const st = fs.statSync(mp);
      assert.is.not(st.dev, before.dev, 'the mountpoint is the mount root');
      assert.equal(fs.readdirSync(mp).sort(), ['big', 'dir', 'etc']);
      assert.is(fs.readFileSync(path.join(mp, 'etc/hosts'), 'utf8'), 'hosts\n');
      assert.ok(fs.readFileSync('/proc/mounts', 'utf8').includes(`${mp} fuse.layerfs`));
    } finally {
      await m.unmount();
    }
    assert.equal(mountsUnder(mp), []);
    assert.is(fs.statSync(mp).dev, before.dev);
    await m.unmount(); // idempotent
    // The same mountpoint mounts again.
    await withLayerfs({ lower: set.lower, mountpoint: mp }, () => assert.is(fs.readFileSync(path.join(mp, 'etc/passwd'), 'utf8'), 'root\n'));
  } finally {
    set.remove();
  }
});

test('bad options and missing dirs reject with a ConfigError naming them, leaving no mount and no thread', async () => {
  const set = stack();
  const mp = path.join(set.base, 'mnt');
  fs.mkdirSync(mp);
  const missing = path.join(set.base, 'missing');
  const cases: { opts: Record<string, unknown>; option: string; code: string; mentions?: string }[] = [
    { opts: { lower: [missing], mountpoint: mp }, option: 'lower[0]', code: 'ENOENT', mentions: missing },
    { opts: { lower: set.lower, mountpoint: missing }, option: 'mountpoint', code: 'ENOENT', mentions: missing },
    { opts: { lower: set.lower, mountpoint: path.join(set.lower[0], 'etc/hosts') }, option: 'mountpoint', code: 'ENOTDIR' },
    { opts: { lower: set.lower, upper: set.upper, mountpoint: mp }, option: 'work', code: 'EINVAL' },
    { opts: { lower: set.lower, upper: set.upper, work: missing, mountpoint: mp }, option: 'work', code: 'ENOENT', mentions: missing },
    { opts: { lower: set.lower, mountpoint: mp, bogus: 1 }, option: 'bogus', code: 'EINVAL' },
    { opts: { lower: [], mountpoint: mp }, option: 'lower', code: 'EINVAL' },
    { opts: { lower: set.lower, mountpoint: mp, log: 'no' }, option: 'log', code: 'EINVAL' },
    { opts: { lower: set.lower, upper: set.upper, work: path.join(set.upper, 'w'), mountpoint: mp }, option: 'work', code: 'ENOENT' },
  ];
  try {
    const t0 = threads();
    for (const c of cases) {
      let err: (Error & { code?: string; option?: string }) | undefined;
      try {
        const m = await mount(c.opts as never);
        await m.unmount();
      } catch (e) {
        err = e as typeof err;
      }
      const label = JSON.stringify(c.opts);
      assert.ok(err, `${label} must fail`);
      assert.is(err!.name, 'ConfigError', `${label}: ${err!.name}: ${err!.message}`);
      assert.is(err!.option, c.option, `${label}: ${err!.message}`);
      assert.is(err!.code, c.code, `${label}: ${err!.message}`);
      if (c.mentions) assert.ok(err!.message.includes(c.mentions), err!.message);
      assert.equal(mountsUnder(set.base), [], `${label} left a mount`);
    }
    await sleep(100);
    assert.ok(threads() <= t0, `threads before ${t0}, after ${threads()}`);
  } finally {
    set.remove();
  }
});

test('a dead mount left by a SIGKILLed process is detected and cleared by the next mount()', async () => {
  const set = stack();
  const mp = path.join(set.base, 'mnt');
  fs.mkdirSync(mp);
  try {
    const lib = path.resolve(__dirname, '../../lib');
    const program = `require(${JSON.stringify(lib)}).mount(${JSON.stringify({ lower: set.lower, mountpoint: mp })})
      .then(() => { console.log('ready'); setInterval(() => {}, 1000); }, (e) => { console.error(e); process.exit(1); });`;
    const child = spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (d) => String(d).includes('ready') && res());
      child.once('exit', (code) => rej(new Error(`child exited ${code} before mounting`)));
    });
    assert.is(fs.readFileSync(path.join(mp, 'etc/hosts'), 'utf8'), 'hosts\n');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    let code: string | undefined;
    try {
      fs.statfsSync(mp); // always a request (a stat may come from the kernel's cache)
    } catch (e) {
      code = (e as NodeJS.ErrnoException).code;
    }
    assert.is(code, 'ENOTCONN', 'the killed server left a dead mount');
    assert.is(mountsUnder(mp).length, 1);
    await withLayerfs({ lower: set.lower, mountpoint: mp }, () => {
      assert.is(fs.readFileSync(path.join(mp, 'etc/hosts'), 'utf8'), 'hosts\n');
      assert.is(mountsUnder(mp).length, 1, 'the dead mount was cleared, ours is the only one');
    });
    assert.equal(mountsUnder(mp), []);
  } finally {
    for (const left of mountsUnder(mp)) spawnSync('umount', ['-l', left]);
    set.remove();
  }
});

test('the mounting process uses the mount with fs.promises (8 at once) and with sync calls', async () => {
  const set = stack();
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt') }, async (m) => {
      const p = (rel: string) => path.join(m.mountpoint, rel);
      const names = ['etc/hosts', 'etc/passwd', 'dir/a', 'big', 'etc', 'dir', '.', 'etc/hosts'];
      const sts = await Promise.all(names.map((n) => fs.promises.stat(p(n))));
      assert.equal(sts.map((s) => s.isDirectory()), [false, false, false, false, true, true, true, false]);
      const datas = await Promise.all(Array.from({ length: 8 }, () => fs.promises.readFile(p('big'))));
      for (const d of datas) assert.ok(d.equals(Buffer.alloc(1 << 20, 7)));
      await Promise.all(Array.from({ length: 8 }, (_, i) => fs.promises.writeFile(p(`new-${i}`), `n${i}`)));
      await Promise.all([fs.promises.appendFile(p('etc/hosts'), 'x\n'), fs.promises.readdir(p('dir')), fs.promises.mkdir(p('d2'))]);
      // sync calls, mixed with async ones in flight
      const pending = Promise.all(Array.from({ length: 8 }, (_, i) => fs.promises.readFile(p(`new-${i}`), 'utf8')));
      assert.is(fs.readFileSync(p('etc/hosts'), 'utf8'), 'hosts\nx\n');
      fs.writeFileSync(p('d2/s'), 'sync');
      assert.equal(fs.readdirSync(p('d2')), ['s']);
      assert.equal(await pending, Array.from({ length: 8 }, (_, i) => `n${i}`));
    });
  } finally {
    set.remove();
  }
});

for (const opens of ['server', 'kernel'] as const) test(`the mounting process copies up 8 lower files at once through fs.promises, opens=${opens} (copy-up does not wait for libuv's threads)`, async () => {
  // fs.promises calls on the mount take libuv's 4 threads and wait there for FUSE; the copy-ups
  // they wait for must run elsewhere, or the process hangs for good. Hence a child with a deadline.
  const files = Object.fromEntries(
    Array.from({ length: 8 }, (_, i) => [`lower-${i}`, { type: 'file' as const, content: Buffer.alloc(2 << 20, 65 + i) }]),
  );
  const set = makeLayerSet([files], undefined, tempDir(LABEL));
  const mp = path.join(set.base, 'mnt');
  fs.mkdirSync(mp);
  try {
    const lib = path.resolve(__dirname, '../../lib');
    const opts = { lower: set.lower, upper: set.upper, work: set.work, mountpoint: mp, opens };
    const program = `const fs = require('fs'); const path = require('path');
      require(${JSON.stringify(lib)}).mount(${JSON.stringify(opts)}).then(async (m) => {
        const names = Array.from({ length: 8 }, (_, i) => path.join(m.mountpoint, 'lower-' + i));
        await Promise.all(names.map((n) => fs.promises.appendFile(n, 'tail')));
        const sizes = await Promise.all(names.map((n) => fs.promises.stat(n).then((s) => s.size)));
        await m.unmount();
        console.log(JSON.stringify(sizes));
      }, (e) => { console.error(e); process.exit(1); });`;
    const connections = fuseConnections();
    const child = spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let hung = false;
    const deadline = setTimeout(() => {
      hung = true;
      abortFuseConnectionsSince(connections); // a hung server cannot be killed otherwise
      child.kill('SIGKILL');
    }, 60_000);
    const status = await new Promise<number | null>((r) => child.once('close', r));
    clearTimeout(deadline);
    assert.not.ok(hung, 'the child finished before its deadline (no deadlock)');
    assert.is(status, 0, stderr);
    assert.equal(JSON.parse(stdout), Array(8).fill((2 << 20) + 4));
    for (let i = 0; i < 8; i++) {
      const up = fs.readFileSync(path.join(set.upper, `lower-${i}`));
      assert.is(up.length, (2 << 20) + 4);
      assert.ok(up.subarray(0, 2 << 20).equals(Buffer.alloc(2 << 20, 65 + i)), `upper lower-${i} holds the lower data`);
      assert.is(up.subarray(2 << 20).toString(), 'tail');
    }
  } finally {
    for (const left of mountsUnder(mp)) spawnSync('umount', ['-l', left]);
    set.remove();
  }
});

test('stats() counts requests; copy-up events arrive', async () => {
  const set = stack();
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt') }, async (m) => {
      const events: { path: string; bytes: number; metadataOnly: boolean }[] = [];
      m.events.on('copy-up', (e) => events.push(e));
      const s0 = await m.stats();
      for (let i = 0; i < 5; i++) fs.statSync(path.join(m.mountpoint, `etc/nope-${i}`), { throwIfNoEntry: false });
      fs.readFileSync(path.join(m.mountpoint, 'etc/passwd'));
      const s1 = await m.stats();
      const total = (s: typeof s0) => Object.values(s.requests).reduce((a, b) => a + b, 0);
      assert.ok(total(s1) >= total(s0) + 6, `${JSON.stringify(s0.requests)} -> ${JSON.stringify(s1.requests)}`);
      assert.ok((s1.requests.LOOKUP ?? 0) >= (s0.requests.LOOKUP ?? 0) + 5, JSON.stringify(s1.requests));
      assert.ok((s1.requests.OPEN ?? 0) > (s0.requests.OPEN ?? 0));
      assert.is(s1.passthrough, m.passthrough);
      assert.ok(s1.nodes >= 1);
      fs.appendFileSync(path.join(m.mountpoint, 'big'), 'tail');
      fs.chmodSync(path.join(m.mountpoint, 'etc/passwd'), 0o600);
      for (let i = 0; i < 50 && events.length < 2; i++) await sleep(10);
      const byPath = Object.fromEntries(events.map((e) => [e.path, e]));
      assert.ok(byPath['/big'], JSON.stringify(events));
      assert.is(byPath['/big'].bytes, 1 << 20);
      assert.is(byPath['/big'].metadataOnly, false);
      assert.ok(byPath['/etc/passwd'], JSON.stringify(events));
      assert.is(byPath['/etc/passwd'].metadataOnly, true, 'chmod copies up metadata only');
    });
  } finally {
    set.remove();
  }
});

test('close() costs no round trip: FLUSH is refused once, then never sent', async () => {
  const set = stack();
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt') }, async (m) => {
      for (let i = 0; i < 20; i++) {
        fs.writeFileSync(path.join(m.mountpoint, `f${i}`), 'data');
        assert.is(fs.readFileSync(path.join(m.mountpoint, 'etc/passwd'), 'utf8').length > 0, true);
      }
      const s = await m.stats();
      assert.ok((s.requests.CREATE ?? 0) >= 20, JSON.stringify(s.requests));
      assert.ok((s.requests.FLUSH ?? 0) <= 1, `FLUSH sent ${s.requests.FLUSH} times`);
      assert.is(fs.readFileSync(path.join(set.upper, 'f19'), 'utf8'), 'data');
    });
  } finally {
    set.remove();
  }
});

test('fsync and fsync of a directory reach the upper; volatile omits them with no round trip', async () => {
  for (const volatile of [false, true]) {
    const set = stack();
    try {
      await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt'), volatile }, async (m) => {
        for (let i = 0; i < 10; i++) {
          const fd = fs.openSync(path.join(m.mountpoint, `etc/f${i}`), 'w');
          fs.writeSync(fd, 'data');
          fs.fsyncSync(fd);
          fs.fdatasyncSync(fd);
          fs.closeSync(fd);
          const dfd = fs.openSync(path.join(m.mountpoint, 'etc'), 'r');
          fs.fsyncSync(dfd);
          fs.closeSync(dfd);
        }
        const s = await m.stats();
        if (volatile) {
          assert.ok((s.requests.FSYNC ?? 0) <= 1, `volatile: FSYNC sent ${s.requests.FSYNC} times`);
          assert.ok((s.requests.FSYNCDIR ?? 0) <= 1, `volatile: FSYNCDIR sent ${s.requests.FSYNCDIR} times`);
        } else {
          assert.is(s.requests.FSYNC, 20, JSON.stringify(s.requests));
          assert.is(s.requests.FSYNCDIR, 10, JSON.stringify(s.requests));
        }
      });
      assert.is(fs.readFileSync(path.join(set.upper, 'etc/f9'), 'utf8'), 'data');
    } finally {
      set.remove();
    }
  }
});

test('the plain libuv-driven reader (LAYERFS_READER_SPIN=0) serves as the default one does', async () => {
  const set = stack();
  const before = process.env.LAYERFS_READER_SPIN;
  process.env.LAYERFS_READER_SPIN = '0'; // read by the addon when the reader starts
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt') }, async (m) => {
      for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(m.mountpoint, `n${i}`), `v${i}`);
      assert.is(fs.readFileSync(path.join(m.mountpoint, 'n7'), 'utf8'), 'v7');
      assert.ok(fs.readdirSync(m.mountpoint).includes('n19'));
      fs.appendFileSync(path.join(m.mountpoint, 'big'), 'tail'); // a copy-up: thread-pool work
      assert.is(fs.statSync(path.join(m.mountpoint, 'big')).size, (1 << 20) + 4);
    });
  } finally {
    if (before === undefined) delete process.env.LAYERFS_READER_SPIN;
    else process.env.LAYERFS_READER_SPIN = before;
    set.remove();
  }
});

test('no mount left behind', () => {
  assertNoMountsUnder(PREFIX);
  for (const d of fs.readdirSync(os.tmpdir())) if (d.startsWith(LABEL)) removeTree(path.join(os.tmpdir(), d));
});

test.run();
