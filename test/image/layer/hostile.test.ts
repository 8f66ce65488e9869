/** Hostile and odd tars: each refused with one line naming the entry, nothing written outside dest; duplicate names as OCI says. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { extractLayer } from '../../../lib/image/layer/extract';
import { LayerError } from '../../../lib/image/layer/errors';
import { buildTar, type TarWriteEntry } from '../../../lib/image/layer/tar-writer';
import { sh, withTmp } from './helpers';

const T = { sec: 1_600_000_000, nsec: 0 };
type E = { entry: TarWriteEntry; body?: Buffer };
const file = (name: string, body = 'x', mode = 0o644): E => ({ entry: { name, type: 'file', mode, mtime: T }, body: Buffer.from(body) });
const dirE = (name: string, mode = 0o755): E => ({ entry: { name, type: 'dir', mode, mtime: T } });
const sym = (name: string, linkname: string): E => ({ entry: { name, type: 'symlink', mode: 0o777, linkname, mtime: T } });
const hard = (name: string, linkname: string): E => ({ entry: { name, type: 'link', mode: 0o644, linkname, mtime: T } });

/** Lists every name under dir (to prove nothing was written outside dest). */
function listAll(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of fs.readdirSync(path.join(dir, rel))) {
      const r = path.join(rel, n);
      out.push(r);
      if (fs.lstatSync(path.join(dir, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  return out.sort();
}

async function refused(raw: Buffer | E[], pattern: RegExp, code = 'EBADTAR'): Promise<void> {
  await withTmp(async (dir) => {
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    const dest = path.join(dir, 'dest');
    fs.mkdirSync(dest);
    const tar = Buffer.isBuffer(raw) ? raw : await buildTar(raw.map((e) => ({ ...e, entry: { ...e.entry, name: e.entry.name.replace(/^\//, '') } })));
    const before = listAll(dir).filter((n) => !n.startsWith('dest'));
    try {
      await extractLayer(Readable.from([tar]), { dest });
      assert.unreachable(`accepted; wanted ${pattern}`);
    } catch (err) {
      assert.instance(err, LayerError, String((err as Error).stack));
      assert.is((err as LayerError).code, code);
      assert.match((err as Error).message, pattern);
      assert.not.match((err as Error).message, /\n/);
    }
    assert.equal(listAll(dir).filter((n) => !n.startsWith('dest')), before, 'nothing written outside dest');
  });
}

/** A tar whose first entry has exactly this raw name (the writer refuses absolute names). */
async function rawName(name: string, e: E = file('placeholder')): Promise<Buffer> {
  const tar = await buildTar([e]);
  tar.fill(0, 0, 100);
  tar.write(name, 0, 'utf8');
  tar.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[i];
  tar.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return tar;
}

test('".." components are refused', async () => {
  await refused(await rawName('../outside/x'), /"\.\.\/outside\/x": the name has a "\.\." component/);
  await refused(await rawName('a/../../outside/x'), /has a "\.\." component/);
});

test('absolute names are refused', async () => {
  await refused(await rawName('/abs'), /"\/abs": the name is an absolute name/);
});

test('an entry written through a symlink the tar made is refused (absolute and relative targets)', async () => {
  await withTmp(async (dir) => {
    await refused([sym('a', dir), file('a/file')], /"a\/file": written through a symlink/);
  });
  await refused([sym('a', '..'), file('a/outside/x')], /written through a symlink/);
  await refused([dirE('d'), sym('d/s', '/tmp'), dirE('d/s/x')], /"d\/s\/x": written through a symlink/);
});

test('hard links to names outside the layer are refused', async () => {
  const passwd = fs.statSync('/etc/passwd').nlink;
  await refused([hard('h', '../../etc/passwd')], /"h": the hard link target has a "\.\." component/);
  await refused([hard('h', '/etc/passwd')], /the hard link target is an absolute name/);
  await refused([sym('e', '/etc'), hard('h', 'e/passwd')], /"h": written through a symlink/);
  await refused([hard('h', 'missing')], /hard link to "missing", which is not in the layer/);
  await refused([file('x'), hard('x', 'x')], /a hard link to itself/);
  assert.is(fs.statSync('/etc/passwd').nlink, passwd);
});

test('sizes beyond the stream, truncated gzip and zstd, garbage: refused', async () => {
  const tar = await buildTar([file('big', 'y'.repeat(10_000))]);
  await refused(tar.subarray(0, 4096), /"big": the stream ends .* before the end of the entry's data/);
  const gz = zlib.gzipSync(tar);
  await refused(gz.subarray(0, gz.length - 10), /gzip layer: /, 'ECOMPRESSION');
  const zs = sh('zstd', ['-c', '-q'], { input: tar });
  await refused(zs.subarray(0, zs.length - 10), /zstd layer: /, 'ECOMPRESSION');
  await refused(Buffer.from('this is not a tar at all'.repeat(40)), /not a tar/);
  await refused([file('.wh..')], /a whiteout of no name/);
});

test('duplicate names: the later entry wins; a directory over a directory merges', () => withTmp(async (dest) => {
  const tar = await buildTar([
    file('f', 'one'), file('f', 'two', 0o600),
    dirE('d', 0o700), file('d/a'), dirE('d', 0o755),
    dirE('e'), file('e/a'), file('e', 'now a file'),
    file('g'), dirE('g'), file('g/in'),
    sym('s', 'x'), dirE('s'), file('s/y'),
    file('h1', 'linked'), hard('h2', 'h1'), file('h1', 'replaced'),
  ]);
  await extractLayer(Readable.from([tar]), { dest });
  const rd = (n: string): string => fs.readFileSync(path.join(dest, n), 'utf8');
  assert.is(rd('f'), 'two');
  assert.is(fs.statSync(path.join(dest, 'f')).mode & 0o7777, 0o600);
  assert.is(fs.statSync(path.join(dest, 'd')).mode & 0o7777, 0o755);
  assert.is(rd('d/a'), 'x');
  assert.is(rd('e'), 'now a file');
  assert.ok(fs.statSync(path.join(dest, 'g')).isDirectory());
  assert.is(rd('s/y'), 'x');
  assert.is(rd('h2'), 'linked');
  assert.is(rd('h1'), 'replaced');
}));

test('whiteouts: .wh.NAME -> 0/0 char device, .wh..wh..opq -> opaque xattr; an object of the same layer stays (made opaque when a directory)', () => withTmp(async (dest) => {
  const tar = await buildTar([
    file('.wh.gone'),
    dirE('o'), file('o/.wh..wh..opq', ''), file('o/kept'),
    file('.wh.w'), file('w', 'after'),
    file('.wh.v'), dirE('v'),
    dirE('k'), file('k/a'), file('.wh.k'),
    file('implicit/deep/.wh.x'),
    file('.wh..wh.aufs'), dirE('.wh..wh.plnk'),
  ]);
  await extractLayer(Readable.from([tar]), { dest, userxattr: false });
  const st = fs.lstatSync(path.join(dest, 'gone'));
  assert.ok(st.isCharacterDevice() && st.rdev === 0);
  const opaque = (n: string): string | null => {
    try { return sh('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', path.join(dest, n)]).toString(); } catch { return null; }
  };
  assert.is(opaque('o'), 'y');
  assert.is(opaque('v'), 'y');
  assert.is(opaque('k'), 'y');
  assert.is(opaque('implicit'), null);
  assert.is(fs.readFileSync(path.join(dest, 'w'), 'utf8'), 'after');
  assert.ok(fs.existsSync(path.join(dest, 'k/a')));
  assert.ok(fs.lstatSync(path.join(dest, 'implicit/deep/x')).isCharacterDevice());
  assert.is(fs.statSync(path.join(dest, 'implicit/deep')).mtimeMs, T.sec * 1000, 'implicit parents take the entry time');
  assert.equal(fs.readdirSync(dest).filter((n) => n.startsWith('.wh.')), []);
  assert.equal(fs.readdirSync(path.join(dest, 'o')), ['kept']);

  const dest2 = path.join(dest, '..', path.basename(dest) + '-user');
  fs.mkdirSync(dest2);
  try {
    await extractLayer(Readable.from([tar]), { dest: dest2, userxattr: true });
    assert.is(sh('getfattr', ['--absolute-names', '--only-values', '-n', 'user.overlay.opaque', path.join(dest2, 'o')]).toString(), 'y');
  } finally {
    fs.rmSync(dest2, { recursive: true, force: true });
  }
}));

test('a parent the tar leaves out takes the metadata of the same directory in the layers below', () => withTmp(async (dir) => {
  const low = path.join(dir, 'low'), top = path.join(dir, 'top');
  fs.mkdirSync(low);
  fs.mkdirSync(top);
  await extractLayer(Readable.from([await buildTar([
    { entry: { name: 'a', type: 'dir', mode: 0o751, uid: 7, gid: 8, mtime: { sec: 1234, nsec: 5678 }, xattrs: new Map([['user.k', Buffer.from('v')]]) } },
    file('a/x'),
  ])]), { dest: low });
  await extractLayer(Readable.from([await buildTar([file('a/.wh.x'), file('a/b/new')])]), { dest: top, lower: [low] });
  const a = fs.statSync(path.join(top, 'a'), { bigint: true });
  assert.equal([Number(a.mode & 0o7777n), Number(a.uid), Number(a.gid), a.mtimeNs], [0o751, 7, 8, 1234_000005678n]);
  assert.is(sh('getfattr', ['--absolute-names', '--only-values', '-n', 'user.k', path.join(top, 'a')]).toString(), 'v');
  const b = fs.statSync(path.join(top, 'a/b'), { bigint: true });
  assert.equal([Number(b.mode & 0o7777n), b.mtimeNs], [0o755, BigInt(T.sec) * 1_000_000_000n], 'not below: 0755 and the entry time');
}));

test('hard links across more directories than the fd cache holds land where they should', () => withTmp(async (dest) => {
  const n = 300;
  const entries: E[] = [];
  for (let i = 0; i < n; i++) entries.push(dirE(`d${i}`), file(`d${i}/f`, `f${i}`));
  for (let i = 0; i < n; i++) entries.push(hard(`d${i}/l`, `d${(i + 150) % n}/f`));
  await extractLayer(Readable.from([await buildTar(entries)]), { dest });
  for (let i = 0; i < n; i++) {
    const l = fs.statSync(path.join(dest, `d${i}/l`));
    assert.is(l.ino, fs.statSync(path.join(dest, `d${(i + 150) % n}/f`)).ino, `d${i}/l`);
    assert.equal(fs.readdirSync(path.join(dest, `d${i}`)).sort(), ['f', 'l']);
  }
}));

test('private overlay xattrs in a tar are dropped', () => withTmp(async (dest) => {
  const tar = await buildTar([{ entry: { name: 'd', type: 'dir', mode: 0o755, mtime: T, xattrs: new Map([['trusted.overlay.redirect', Buffer.from('/etc')], ['user.overlay.opaque', Buffer.from('y')], ['user.keep', Buffer.from('k')]]) } }]);
  await extractLayer(Readable.from([tar]), { dest });
  const names = sh('getfattr', ['--absolute-names', '-m', '-', '-d', path.join(dest, 'd')]).toString();
  assert.match(names, /user\.keep/);
  assert.not.match(names, /overlay/);
}));

test('abort: rejects with ABORT_ERR', () => withTmp(async (dest) => {
  const ac = new AbortController();
  const tar = await buildTar(Array.from({ length: 50 }, (_, i) => file(`f${i}`)));
  const chunks = (async function* () {
    for (let i = 0; i < tar.length; i += 512) {
      if (i === 2048) ac.abort();
      yield tar.subarray(i, i + 512);
    }
  })();
  try {
    await extractLayer(chunks, { dest, signal: ac.signal });
    assert.unreachable('not aborted');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'ABORT_ERR');
  }
}));

test('a refusal early in a big compressed layer ends the decompressor child and the input', () => withTmp(async (dir) => {
  const big = Array.from({ length: 40 }, (_, i) => file(`pad${i}`, 'z'.repeat(1 << 20)));
  const tar = await rawName('../evil', file('placeholder', 'y'.repeat(1 << 20)));
  const all = Buffer.concat([tar.subarray(0, tar.length - 1024), await buildTar(big)]);
  const blob = path.join(dir, 'blob.zst');
  fs.writeFileSync(blob, sh('zstd', ['-c', '-q', '-1'], { input: all }));
  const dest = path.join(dir, 'dest');
  fs.mkdirSync(dest);
  const input = fs.createReadStream(blob, { highWaterMark: 16 * 1024 });
  await extractLayer(input, { dest }).then(() => assert.unreachable('accepted'), (err) => assert.is((err as LayerError).code, 'EBADTAR'));
  await new Promise((r) => setTimeout(r, 200));
  const children = (() => { try { return sh('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)]).toString().trim(); } catch { return ''; } })();
  assert.not.match(children, /zstd|pigz/, children);
  assert.ok(input.destroyed);
}));

test.run();
