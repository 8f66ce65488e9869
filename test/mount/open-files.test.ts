/**
 * How open files do their I/O (lib/mount/open-files.ts): a small file opened again is served
 * through the page cache, which must never show stale data, whatever passthrough writers, copy-ups,
 * truncates and replacements happen around it; a released read-only handle is reused only while
 * its file still holds the data. Each scenario runs in a child process on a layerfs mount and on a
 * kernel overlay mount of the same layers, and both must read the same bytes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withKernelOverlay } from '../helpers/kernel-overlay';
import { LayerSpec, makeLayerSet, tempDir } from '../helpers/layers';
import { assertNoMountsUnder, py, withLayerfs } from '../helpers/layerfs-mount';
import type { MountOptions } from '../../lib/mount';
import { OpenFiles } from '../../lib/mount/open-files';
import { Overlay } from '../../lib/engine';
import * as sys from '../../lib/sys';

const LABEL = 'layerfs-mopen-';
const PREFIX = path.join(os.tmpdir(), LABEL);

const STACK: LayerSpec[] = [
  {
    'etc/passwd': { type: 'file', content: 'root:x:0:0\n' },
    'etc/group': { type: 'file', content: 'root:x:0:\n' },
    'lib/libc.so': { type: 'file', content: 'E'.repeat(20_000) },
    'data/big': { type: 'file', content: Buffer.alloc(2 << 20, 0x61) },
  },
];

/** Python helpers every scenario uses: `rd(p)` reads a file with a fresh open, `again(p)` opens it twice more. */
const PRELUDE = `
import os, sys, json, mmap
M = sys.argv[1]
out = []
def P(p): return os.path.join(M, p)
def rd(p):
    with open(P(p), 'rb') as f: return f.read().decode()
def again(p):
    for _ in range(2): rd(p)
def pread(fd, n=64, off=0): return os.pread(fd, n, off).decode()
def rdcold(p):
    # the kernel drops the inode's clean page cache, so the read reaches the server
    fd = os.open(P(p), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    s = os.pread(fd, 1 << 16, 0).decode(); os.close(fd); return s
`;

/** The I/O modes a scenario runs in on layerfs: kernel opens, the default (passthrough, as root), served server opens. */
const IO_MODES: Partial<MountOptions>[] = [{ opens: 'kernel' }, {}, { opens: 'server', passthrough: false }];

/** Runs `program` on a mount of fresh layers (kernel overlayfs when `options` is null) and returns its output. */
async function runOn(program: string, options: Partial<MountOptions> | null): Promise<unknown> {
  const set = makeLayerSet(STACK, undefined, tempDir(LABEL));
  try {
    const where = { lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt') };
    const run = async (m: { mountpoint: string }) => JSON.parse(await py(program, [m.mountpoint]));
    return options === null ? await withKernelOverlay(where, run) : await withLayerfs({ ...where, ...options }, run);
  } finally {
    set.remove();
  }
}

/** The scenario reads the same on kernel overlayfs and on layerfs in each I/O mode (or in `only` that one). */
async function sameAsKernel(body: string, expected: unknown[], only?: Partial<MountOptions>): Promise<void> {
  const program = PRELUDE + body + '\nprint(json.dumps(out))\n';
  const kernel = await runOn(program, null);
  assert.equal(kernel, expected, 'kernel overlayfs reads (the scenario itself is wrong)');
  for (const options of only === undefined ? IO_MODES : [only]) {
    assert.equal(await runOn(program, options), kernel, `layerfs reads differ from kernel overlayfs (${JSON.stringify(options)})`);
  }
}

test('opens: auto is server opens with passthrough where the kernel grants it, else kernel opens', async () => {
  const set = makeLayerSet(STACK, undefined, tempDir(LABEL));
  try {
    const where = { lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt') };
    const cases: [Partial<MountOptions>, 'kernel' | 'server', boolean][] = [
      [{}, 'server', true], // root on Linux >= 6.9
      [{ passthrough: false }, 'kernel', false],
      [{ writeback: true }, 'kernel', false], // the kernel takes writeback or passthrough, not both
      [{ opens: 'server', passthrough: false }, 'server', false],
      [{ opens: 'kernel' }, 'kernel', false],
    ];
    for (const [options, opens, passthrough] of cases) {
      await withLayerfs({ ...where, ...options }, async (m) => {
        const label = JSON.stringify(options);
        assert.is((await m.stats()).opens, opens, label);
        assert.is(m.passthrough, passthrough, label);
        for (let i = 0; i < 3; i++) fs.readFileSync(path.join(m.mountpoint, 'etc/passwd'));
        // kernel opens: the first OPEN is answered ENOSYS, and the kernel sends no more
        assert.is((await m.stats()).requests.OPEN ?? 0, opens === 'kernel' ? 1 : 3, `${label}: OPEN requests`);
      });
    }
    let refused: unknown;
    await withLayerfs({ ...where, opens: 'kernel', passthrough: true }, () => undefined).catch((e) => (refused = e));
    assert.match(String((refused as Error)?.message), 'passthrough needs opens=server');
  } finally {
    set.remove();
  }
});

test('a reader opened before a copy-up reads what the writer wrote, as on overlayfs', async () => {
  await sameAsKernel(`
again('etc/passwd')
r = os.open(P('etc/passwd'), os.O_RDONLY)
out.append(pread(r))
with open(P('etc/passwd'), 'ab') as w: w.write(b'more\\n')
out.append(pread(r))
out.append(rd('etc/passwd'))
os.close(r)
out.append(rd('etc/passwd'))
`, ['root:x:0:0\n', 'root:x:0:0\nmore\n', 'root:x:0:0\nmore\n', 'root:x:0:0\nmore\n']);
});

test('a truncate by path under an open reader: it reads the cut and the zeros', async () => {
  await sameAsKernel(`
again('etc/group')
r = os.open(P('etc/group'), os.O_RDONLY)
out.append(pread(r))
os.truncate(P('etc/group'), 4)
out.append(pread(r))
os.truncate(P('etc/group'), 6)
out.append(pread(r))
os.close(r)
out.append(rd('etc/group'))
again('etc/passwd')
os.truncate(P('etc/passwd'), 14)
out.append(rdcold('etc/passwd'))
`, ['root:x:0:\n', 'root', 'root\0\0', 'root\0\0', 'root:x:0:0\n\0\0\0']);
});

test('a file rewritten through a passthrough open is not read from a stale page cache', async () => {
  await sameAsKernel(`
again('lib/libc.so')
out.append(len(rd('lib/libc.so')))
with open(P('lib/libc.so'), 'r+b') as w:
    w.seek(100); w.write(b'XYZ')
s = rd('lib/libc.so'); out.append(s[98:105])
with open(P('lib/libc.so'), 'rb') as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ); out.append(m[98:105].decode()); m.close()
with open(P('lib/libc.so'), 'wb') as w: w.write(b'short')
out.append(rd('lib/libc.so'))
again('lib/libc.so')
with open(P('lib/libc.so'), 'ab') as w: w.write(b'+tail')
out.append(rd('lib/libc.so'))
`, [20000, 'EEXYZEE', 'EEXYZEE', 'short', 'short+tail']);
});

test('a file replaced by rename, or unlinked and made again, is read anew (no reused handle)', async () => {
  await sameAsKernel(`
again('etc/passwd')
with open(P('etc/passwd.new'), 'wb') as w: w.write(b'new passwd\\n')
os.rename(P('etc/passwd.new'), P('etc/passwd'))
out.append(rd('etc/passwd'))
again('etc/group')
os.unlink(P('etc/group'))
with open(P('etc/group'), 'wb') as w: w.write(b'new group\\n')
out.append(rd('etc/group'))
again('etc/group')
os.chmod(P('etc/group'), 0o600)
out.append(rd('etc/group'))
`, ['new passwd\n', 'new group\n', 'new group\n']);
});

test('readers and a writer open together: every one sees each write', async () => {
  await sameAsKernel(`
again('etc/passwd')
r1 = os.open(P('etc/passwd'), os.O_RDONLY)
w = os.open(P('etc/passwd'), os.O_WRONLY)
r2 = os.open(P('etc/passwd'), os.O_RDONLY)
os.pwrite(w, b'ROOT', 0)
out += [pread(r1), pread(r2)]
os.ftruncate(w, 2)
out += [pread(r1), pread(r2)]
for fd in (r1, w, r2): os.close(fd)
out.append(rd('etc/passwd'))
`, ['ROOT:x:0:0\n', 'ROOT:x:0:0\n', 'RO', 'RO', 'RO']);
});

test('the same scenarios without passthrough (served I/O with the writeback cache)', async () => {
  await sameAsKernel(`
again('etc/passwd')
r = os.open(P('etc/passwd'), os.O_RDONLY)
with open(P('etc/passwd'), 'ab') as w: w.write(b'more\\n')
out.append(pread(r))
os.truncate(P('etc/passwd'), 4)
out.append(pread(r))
os.close(r)
with open(P('etc/passwd.new'), 'wb') as w: w.write(b'new\\n')
os.rename(P('etc/passwd.new'), P('etc/passwd'))
out.append(rd('etc/passwd'))
`, ['root:x:0:0\nmore\n', 'root', 'new\n'], { opens: 'server', passthrough: false });
});

const O_DIRECT_SCENARIO = `
def dread(p):
    fd = os.open(P(p), os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 8192)  # page-aligned, as O_DIRECT wants
    n = os.preadv(fd, [buf], 0); os.close(fd); return bytes(buf[:n]).decode()
for _ in range(3): out.append(dread('etc/passwd'))
fd = os.open(P('etc/group'), os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096); buf.write(b'G' * 4096)
out.append(os.pwritev(fd, [buf], 0)); os.close(fd)
out.append(dread('etc/group')[:3])
`;

test('O_DIRECT opens read and write, also once a file is served from the page cache', async () => {
  await sameAsKernel(O_DIRECT_SCENARIO, ['root:x:0:0\n', 'root:x:0:0\n', 'root:x:0:0\n', 4096, 'GGG']);
});

test('a small file opened again is read once through READ, then from the page cache; a large one never', async () => {
  const set = makeLayerSet(STACK, undefined, tempDir(LABEL));
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt'), passthrough: true }, async (m) => {
      assert.ok((await m.stats()).passthrough, 'the policy is passthrough\'s');
      const reads = async () => (await m.stats()).requests.READ ?? 0;
      const mp = m.mountpoint;
      // The first open goes through passthrough (a file read once is read fastest there).
      await py(`import sys\nopen(sys.argv[1], 'rb').read()`, [path.join(mp, 'lib/libc.so')]);
      assert.is(await reads(), 0, 'first open: passthrough, no READ');
      await py(`import sys\nfor _ in range(5): open(sys.argv[1], 'rb').read()`, [path.join(mp, 'lib/libc.so')]);
      const served = await reads();
      assert.ok(served >= 1 && served <= 2, `opened again: read once through READ (${served} READs)`);
      await py(`import sys, os\nfor _ in range(5):\n  f = open(sys.argv[1], 'rb'); f.read(); os.fstat(f.fileno()); f.close()`, [path.join(mp, 'lib/libc.so')]);
      assert.is(await reads(), served, 'later opens read the page cache');
      await py(`import sys\nfor _ in range(3): open(sys.argv[1], 'rb').read()`, [path.join(mp, 'data/big')]);
      assert.is(await reads(), served, 'a file over 1 MiB always goes through passthrough');
      assert.is(fs.readFileSync(path.join(mp, 'lib/libc.so'), 'utf8'), 'E'.repeat(20_000));
    });
  } finally {
    set.remove();
  }
});

test('kernel opens: open and close send nothing; a file is read once, then from the page cache; node files stay few', async () => {
  const spec: LayerSpec = { ...STACK[0] };
  for (let i = 0; i < 700; i++) spec[`many/f${i}`] = { type: 'file', content: `file ${i}\n` };
  const set = makeLayerSet([spec], undefined, tempDir(LABEL));
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt'), opens: 'kernel' }, async (m) => {
      assert.is((await m.stats()).opens, 'kernel');
      const count = async (op: string) => (await m.stats()).requests[op] ?? 0;
      const mp = m.mountpoint;
      await py(`import sys\nfor _ in range(20): open(sys.argv[1], 'rb').read()`, [path.join(mp, 'lib/libc.so')]);
      assert.ok((await count('OPEN')) <= 1, 'one OPEN, answered ENOSYS, then none');
      assert.is(await count('RELEASE'), 0);
      const reads = await count('READ');
      assert.ok(reads >= 1 && reads <= 2, `read once through READ (${reads} READs)`);
      await py(`import sys\nfor _ in range(5): open(sys.argv[1], 'rb').read()`, [path.join(mp, 'lib/libc.so')]);
      assert.is(await count('READ'), reads, 'later opens read the page cache');
      // Writing copies up at the first WRITE; the lower layer is never written.
      await py(`import sys\nwith open(sys.argv[1], 'r+b') as f: f.write(b'XY')`, [path.join(mp, 'etc/passwd')]);
      assert.is(fs.readFileSync(path.join(set.upper, 'etc/passwd'), 'utf8'), 'XYot:x:0:0\n');
      assert.is(fs.readFileSync(path.join(set.lower[0], 'etc/passwd'), 'utf8'), 'root:x:0:0\n');
      assert.is(fs.readFileSync(path.join(mp, 'etc/passwd'), 'utf8'), 'XYot:x:0:0\n');
      // A file read once keeps a node file of ours; not all of them stay open (at most 512 here).
      const fds = () => fs.readdirSync('/proc/self/fd').length; // the server is a thread of this process
      const before = fds();
      await py(`import sys, os\nfor i in range(700): open(os.path.join(sys.argv[1], 'many/f%d' % i), 'rb').read()`, [mp]);
      const opened = fds() - before;
      assert.ok(opened <= 520, `${opened} descriptors kept for 700 files read`);
      assert.is(fs.readFileSync(path.join(mp, 'many/f7'), 'utf8'), 'file 7\n');
    });
  } finally {
    set.remove();
  }
});

test('released read-only handles are parked: hundreds on lower files, few on upper ones, the rest closed', async () => {
  const lowerFiles: LayerSpec = {};
  for (let i = 0; i < 600; i++) lowerFiles[`l/f${i}`] = { type: 'file', content: `lower ${i}\n` };
  lowerFiles['l/warm'] = { type: 'file', content: 'warm\n' };
  const base = tempDir(LABEL);
  const set = makeLayerSet([lowerFiles], undefined, base);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  const files = new OpenFiles(); // no passthrough: every open served, every release parked
  // descriptors on this test's files only (other tests in this process may open and close their own meanwhile)
  const fds = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
    try { return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(base + '/'); } catch { return false; }
  }).length;
  try {
    for (let i = 0; i < 100; i++) (await ov.create(`u${i}`, 0o644)).close();
    const openAndRelease = async (p: string, nodeid: number) => {
      const { fh } = files.register(await ov.open(p, sys.O.RDONLY), nodeid);
      files.release(fh);
    };
    await openAndRelease('l/warm', 1); // the engine keeps a descriptor of l/ from here on
    files.unpark(1, sys.O.RDONLY)!.close();
    const before = fds();
    for (let i = 0; i < 600; i++) await openAndRelease(`l/f${i}`, 1000 + i);
    for (let i = 0; i < 100; i++) await openAndRelease(`u${i}`, 5000 + i);
    assert.is(fds() - before, 512 + 64, 'parked handles stay open, the ones pushed out are closed');
    const kept = (from: number, n: number) => {
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const h = files.unpark(from + i, sys.O.RDONLY);
        if (h !== undefined) { hits++; h.close(); }
      }
      return hits;
    };
    assert.is(kept(1000, 88), 0, 'the oldest lower handles were pushed out');
    assert.is(kept(1088, 512), 512, 'the last 512 lower handles wait for the next open');
    assert.is(kept(5000, 36), 0);
    assert.is(kept(5036, 64), 64, 'the last 64 upper handles');
    assert.is(fds(), before);
  } finally {
    files.closeAll();
    ov.close();
    set.remove();
  }
});

test('out of descriptors, an open closes the parked handles and succeeds', async () => {
  const lowerFiles: LayerSpec = {};
  for (let i = 0; i < 200; i++) lowerFiles[`l/f${i}`] = { type: 'file', content: `lower ${i}\n` };
  const set = makeLayerSet([lowerFiles], undefined, tempDir(LABEL));
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  const files = new OpenFiles();
  const limits = () => /^Max open files\s+(\d+)\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))!.slice(1).map(Number);
  const [soft, hard] = limits();
  const setSoft = (n: number) => execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${n}:${hard}`]);
  try {
    for (let i = 0; i < 199; i++) {
      const { fh } = files.register(await ov.open(`l/f${i}`, sys.O.RDONLY), 1000 + i);
      files.release(fh);
    }
    // The limit at the lowest free descriptor number: the next open fails with EMFILE...
    const lowestFree = fs.openSync('/dev/null', 'r');
    fs.closeSync(lowestFree);
    setSoft(lowestFree);
    const failed = await ov.open('l/f199', sys.O.RDONLY).then(() => 'opened', (e: { code: string }) => e.code);
    assert.is(failed, 'EMFILE', 'the limit bites');
    // ...unless the parked handles make room
    const h = await files.withRoom(() => ov.open('l/f199', sys.O.RDONLY));
    const b = Buffer.alloc(32);
    assert.is(b.subarray(0, h.readSync(b, 0, 32, 0)).toString(), 'lower 199\n');
    h.close();
    assert.is(files.unpark(1000, sys.O.RDONLY), undefined, 'the parked handles were closed');
  } finally {
    files.closeAll();
    setSoft(soft);
    ov.close();
    set.remove();
  }
  assert.is(limits()[0], soft);
});

test('no mounts left', () => assertNoMountsUnder(PREFIX));

test.run();
