/**
 * The warm-up (lib/mount/warm-up.ts) runs a scripted workload through a throwaway engine over a
 * mount's lower layers: it must do its work (reads, writes, copy-ups on its scratch upper), leave
 * the layers exactly as they were, and leave nothing behind.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { warmUp } from '../../lib/mount/warm-up';
import * as path from 'node:path';
import { mount } from '../../lib/mount';
import { makeLayerSet, tempDir } from '../helpers/layers';
import { assertNoMountsUnder, ok, withLayerfs } from '../helpers/layerfs-mount';
import { snapshotMount } from '../helpers/tree';

/** The warm-up scratch directories of process `pid` (another's may come and go meanwhile). */
const scratchDirs = (pid: number | string = process.pid) => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`layerfs-warm-up-${pid}-`));

test('a warm-up reads and writes through the whole request path, and changes nothing of the layers', async () => {
  const set = makeLayerSet([
    { 'etc/passwd': { type: 'file', content: 'root:x:0:0\n' }, 'usr/lib/libc.so': { type: 'file', content: 'ELF'.repeat(1000) }, 'usr/bin/sh': { type: 'symlink', target: 'dash' } },
    { 'usr/bin/dash': { type: 'file', content: '#!', mode: 0o755 }, 'var/lib/dpkg/status': { type: 'file', content: 'Package: x\n' }, 'etc/gone': { type: 'file', content: 'x' } },
  ], undefined, tempDir('layerfs-warm-'));
  try {
    const before = set.lower.map((l) => snapshotMount(l));
    const scratchBefore = scratchDirs();
    // served opens, then opens handed to the kernel (made-up backing ids on a made-up INIT)
    for (const passthrough of [false, true]) {
      const report = await warmUp({ lower: set.lower, passthrough });
      assert.ok(report.requests > 400, `requests: ${report.requests}`);
      // The only error answers are the ones real workloads get too: a missing security.selinux.
      assert.equal(Object.keys(report.errors), ['GETXATTR ENODATA'], `passthrough ${passthrough}`);
      if (passthrough) assert.ok(report.passthroughOpens > 10, `passthrough opens: ${report.passthroughOpens}`);
      else assert.is(report.passthroughOpens, 0);
      assert.equal(set.lower.map((l) => snapshotMount(l)), before, 'the lower layers are untouched');
      assert.equal(scratchDirs(), scratchBefore, 'no scratch directory left');
    }
  } finally {
    set.remove();
  }
});

test('a warm-up leaves no scratch behind when its process exits midway, and removes those of killed ones', async () => {
  const set = makeLayerSet([{ 'etc/passwd': { type: 'file', content: 'root\n' } }], undefined, tempDir('layerfs-warm-'));
  try {
    // a process that exits (as a server on SIGTERM does) while its warm-up runs
    const mod = path.join(__dirname, '..', '..', 'lib', 'mount', 'warm-up.js');
    const child = spawnSync(process.execPath, ['-e',
      `require(${JSON.stringify(mod)}).warmUp({ lower: ${JSON.stringify(set.lower)}, sliceMs: 0 }); setTimeout(() => process.exit(0), 5); process.stdout.write(String(process.pid))`,
    ], { encoding: 'utf8' });
    const pid = child.stdout.trim();
    assert.ok(/^\d+$/.test(pid), `stdout ${JSON.stringify(child.stdout)} stderr ${child.stderr}`);
    assert.equal(scratchDirs(pid), [], 'removed at exit');
    // the scratch of a process that is gone (SIGKILL) is removed by the next warm-up
    const stale = path.join(os.tmpdir(), `layerfs-warm-up-${pid}-stale`);
    fs.mkdirSync(path.join(stale, 'upper'), { recursive: true });
    await warmUp({ lower: set.lower, requests: 10 });
    assert.not.ok(fs.existsSync(stale), 'a dead process\'s scratch is removed');
  } finally {
    set.remove();
  }
});

test('a warm-up takes idle time only: it waits while the mount it warms is in use', async () => {
  const set = makeLayerSet([{ 'etc/passwd': { type: 'file', content: 'root\n' } }], undefined, tempDir('layerfs-warm-'));
  try {
    let received = 0;
    const busy = setInterval(() => received++, 2); // a mount serving requests
    try {
      const started = Date.now();
      const report = warmUp({ lower: set.lower, requests: 50, activity: () => received, quietMs: 10 });
      let done = false;
      void report.then(() => { done = true; });
      await new Promise((r) => setTimeout(r, 150));
      assert.not.ok(done, 'no warm-up while requests keep coming');
      clearInterval(busy);
      const r = await report;
      assert.ok(r.requests > 0 && Date.now() - started >= 150, `requests ${r.requests}`);
    } finally {
      clearInterval(busy); // a failed assertion must not keep the test process alive
    }
  } finally {
    set.remove();
  }
});

test('a warm-up over layers it cannot use is skipped, not thrown', async () => {
  const report = await warmUp({ lower: ['/nonexistent/layer'] });
  assert.is(report.requests, 0);
});

test('mount({ warmUp: true }): the mount serves right away while its server warms up', async () => {
  const set = makeLayerSet([{ 'etc/passwd': { type: 'file', content: 'root\n' }, 'usr/bin/x': { type: 'file', content: 'x' } }], undefined, tempDir('layerfs-warm-'));
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt'), warmUp: true }, async (m) => {
      assert.is(await ok(`cat ${m.mountpoint}/etc/passwd && echo new > ${m.mountpoint}/usr/bin/y && cat ${m.mountpoint}/usr/bin/y`), 'root\nnew\n');
      await new Promise((r) => setTimeout(r, 500)); // the warm-up is done by now
      assert.equal(fs.readdirSync(set.upper).sort(), ['usr'], 'the warm-up wrote nothing to the real upper');
    });
    // Unmounted while its warm-up waits or runs: the warm-up stops and takes its scratch with it.
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt'), warmUp: true }, async (m) => {
      assert.is(await ok(`cat ${m.mountpoint}/etc/passwd`), 'root\n');
    });
    assert.equal(scratchDirs(), [], 'no warm-up scratch left after unmount');
    const bad = await mount({ lower: set.lower, mountpoint: path.join(set.base, 'mnt'), warmUp: 'yes' as unknown as boolean }).then(
      () => null, (e: { code: string; option: string }) => e);
    assert.ok(bad !== null && bad.code === 'EINVAL' && bad.option === 'warmUp', 'a bad warmUp value is refused, naming the option');
  } finally {
    set.remove();
  }
});

test('no mounts left', () => assertNoMountsUnder(path.join(os.tmpdir(), 'layerfs-warm-')));

test.run();
