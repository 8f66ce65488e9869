import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { readTar, type TarEntry } from '../../../lib/image/layer/tar-reader';
import { TarWriter, buildTar, type TarWriteEntry } from '../../../lib/image/layer/tar-writer';
import { LayerError } from '../../../lib/image/layer/errors';
import { BIN, CAP, Obj, makeSampleTree, sh, snapshot, withTmp } from './helpers';

interface Read { entry: TarEntry; data: Buffer }

async function readAll(tar: Buffer, chunk = 7000): Promise<Read[]> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) chunks.push(tar.subarray(i, i + chunk));
  const out: Read[] = [];
  for await (const entry of readTar(Readable.from(chunks))) {
    const parts: Buffer[] = [];
    for await (const c of entry.body()) parts.push(Buffer.from(c));
    let data = Buffer.concat(parts);
    if (entry.sparse) {
      const full = Buffer.alloc(entry.size);
      let at = 0;
      for (const s of entry.sparse) { data.copy(full, s.offset, at, at + s.length); at += s.length; }
      data = full;
    }
    out.push({ entry, data });
  }
  return out;
}

const norm = (n: string): string => n.replace(/^\.\//, '').replace(/^\.$/, '.') || '.';

/** What the entries say, in the shape of snapshot(); hard links resolved to their target's record. */
function objectsOf(entries: Read[]): Record<string, Obj> {
  const out: Record<string, Obj> = {};
  for (const { entry: e, data } of entries) {
    const name = norm(e.name);
    if (e.type === 'link') {
      const target = out[norm(e.linkname)];
      assert.ok(target, `hard link ${name} -> ${e.linkname} before its target`);
      target.inode = norm(e.linkname);
      out[name] = { ...target };
      continue;
    }
    const xattrs: Record<string, string> = {};
    for (const k of [...e.xattrs.keys()].sort()) xattrs[k] = e.xattrs.get(k)!.toString('hex');
    const o: Obj = {
      type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.type === 'symlink' ? Buffer.byteLength(e.linkname) : e.size,
      mtimeNs: String(BigInt(e.mtime.sec) * 1_000_000_000n + BigInt(e.mtime.nsec)), xattrs,
    };
    if (e.type === 'char' || e.type === 'block') o.rdev = String((BigInt(e.devMajor & 0xfff) << 8n) | BigInt(e.devMinor & 0xff) | (BigInt(e.devMinor & ~0xff) << 12n) | (BigInt(e.devMajor & ~0xfff) << 32n));
    if (e.type === 'symlink') o.link = e.linkname;
    if (e.type === 'file') o.sha = crypto.createHash('sha256').update(data).digest('hex');
    out[name] = o;
  }
  return out;
}

function sameObjects(got: Record<string, Obj>, want: Record<string, Obj>, what: string): void {
  const strip = (r: Record<string, Obj>): Record<string, Obj> =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => { const { inode: _i, ...rest } = v; return [k, rest as Obj]; }));
  assert.equal(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: names`);
  for (const k of Object.keys(want)) assert.equal(strip(got)[k], strip(want)[k], `${what}: ${k}`);
}

const GNU_FORMATS: [string, string[]][] = [
  ['pax sparse 1.0', ['--format=pax', '--sparse', '--sparse-version=1.0']],
  ['pax sparse 0.1', ['--format=pax', '--sparse', '--sparse-version=0.1']],
  ['pax sparse 0.0', ['--format=pax', '--sparse', '--sparse-version=0.0']],
];

for (const [label, args] of GNU_FORMATS) {
  test(`reads GNU tar ${label}: every object type, binary xattrs, sparse, hard links, ns times`, () => withTmp(async (dir) => {
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    makeSampleTree(src);
    const tar = sh('tar', ['-c', '--xattrs', '--xattrs-include=*', '--numeric-owner', ...args, '-C', src, '.']);
    const entries = await readAll(tar);
    const want = snapshot(src);
    sameObjects(objectsOf(entries), want, label);
    const ping = entries.find((e) => norm(e.entry.name) === 'bin/ping')!.entry;
    assert.ok(ping.xattrs.get('security.capability')!.equals(CAP), 'security.capability byte for byte');
    assert.ok(ping.xattrs.get('user.bin')!.equals(BIN), 'non-UTF-8 xattr byte for byte');
    const sparse = entries.find((e) => norm(e.entry.name) === 'sparse')!.entry;
    assert.ok(sparse.sparse !== null && sparse.dataSize < 64 * 1024, `${label}: sparse map kept (${sparse.dataSize} data bytes)`);
  }));
}

test('reads GNU tar --format=gnu: long names (L/K), old sparse S, base-256 ids', () => withTmp(async (dir) => {
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  makeSampleTree(src);
  const tar = sh('tar', ['-c', '--format=gnu', '--sparse', '--numeric-owner', '-C', src, '.']);
  const entries = await readAll(tar, 512 * 3 + 1);
  const want = snapshot(src, { times: false });
  const got = objectsOf(entries);
  for (const o of [...Object.values(want), ...Object.values(got)]) { o.mtimeNs = ''; o.xattrs = {}; }
  sameObjects(got, want, 'gnu');
  const sparse = entries.find((e) => norm(e.entry.name) === 'sparse')!.entry;
  assert.ok(sparse.sparse !== null, 'old GNU sparse map');
}));

const sample: { entry: TarWriteEntry; body?: Buffer }[] = [
  { entry: { name: 'dir', type: 'dir', mode: 0o755, mtime: { sec: 1, nsec: 0 } } },
  { entry: { name: 'dir/' + 'n'.repeat(200), type: 'dir', mode: 0o755, mtime: { sec: 1, nsec: 0 } } },
  { entry: { name: 'dir/file', type: 'file', mode: 0o4755, uid: 5, gid: 6, mtime: { sec: 1_700_000_000, nsec: 123 }, xattrs: new Map([['security.capability', CAP], ['user.b', BIN]]) }, body: Buffer.from('hello') },
  { entry: { name: 'dir/' + 'n'.repeat(200) + '/' + 'm'.repeat(120), type: 'file', mode: 0o600, uid: 1 << 30, gid: 0o7777777 + 1, mtime: { sec: -5, nsec: 250_000_000 } }, body: Buffer.alloc(1000, 1) },
  { entry: { name: 'dir/hard', type: 'link', mode: 0o644, linkname: 'dir/file', mtime: { sec: 1, nsec: 0 } } },
  { entry: { name: 'sym', type: 'symlink', mode: 0o777, linkname: 'l'.repeat(150), mtime: { sec: 2, nsec: 999_999_999 } } },
  { entry: { name: 'chr', type: 'char', mode: 0o600, devMajor: 4095, devMinor: (1 << 20) - 1, mtime: { sec: 3, nsec: 0 } } },
  { entry: { name: 'fifo', type: 'fifo', mode: 0o644, mtime: { sec: 3, nsec: 0 } } },
  { entry: { name: 'holes', type: 'file', mode: 0o644, size: 1 << 30, sparse: [{ offset: 4096, length: 1024 }, { offset: 1 << 29, length: 2 }], mtime: { sec: 3, nsec: 0 } }, body: Buffer.concat([Buffer.from('abc'), Buffer.alloc(1021), Buffer.from('de')]) },
];

test('writer -> reader round trip keeps every field; the same entries give the same bytes', async () => {
  const tar = await buildTar(sample);
  assert.ok(tar.equals(await buildTar(sample)), 'deterministic');
  const back = await readAll(tar, 100);
  assert.is(back.length, sample.length);
  for (let i = 0; i < sample.length; i++) {
    const w = sample[i].entry, { entry: r, data } = back[i];
    assert.is(r.name, w.name);
    assert.is(r.type, w.type);
    assert.is(r.mode, w.mode);
    assert.is(r.uid, w.uid ?? 0);
    assert.is(r.gid, w.gid ?? 0);
    assert.equal(r.mtime, w.mtime);
    assert.is(r.linkname, w.linkname ?? '');
    if (w.type === 'char') assert.equal([r.devMajor, r.devMinor], [w.devMajor, w.devMinor]);
    assert.equal([...r.xattrs.entries()].map(([k, v]) => [k, v.toString('hex')]), [...(w.xattrs ?? new Map()).entries()].map(([k, v]) => [k, v.toString('hex')]));
    if (w.sparse) {
      assert.equal(r.sparse, w.sparse);
      assert.is(r.size, w.size);
      assert.is(data.length, w.size);
      assert.is(data.subarray(4096, 4099).toString(), 'abc');
    } else if (w.type === 'file') assert.ok(data.equals(sample[i].body!));
  }
});

test('GNU tar extracts what the writer writes (xattrs, sparse 1.0, devices, long names)', () => withTmp(async (dir) => {
  const tar = await buildTar(sample.filter((s) => s.entry.name !== 'holes').concat([
    { entry: { name: 'holes', type: 'file', mode: 0o644, size: 8 << 20, sparse: [{ offset: 4096, length: 512 }, { offset: 6 << 20, length: 2 }], mtime: { sec: 3, nsec: 0 } }, body: Buffer.concat([Buffer.from('abc'), Buffer.alloc(509), Buffer.from('de')]) },
  ]));
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  sh('tar', ['-x', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', out], { input: tar });
  const snap = snapshot(out);
  assert.is(snap['dir/file'].xattrs['security.capability'], CAP.toString('hex'));
  assert.is(snap['dir/file'].xattrs['user.b'], BIN.toString('hex'));
  assert.is(snap['dir/file'].mode, 0o4755);
  assert.is(snap['dir/file'].mtimeNs, '1700000000000000123');
  assert.is(snap['dir/hard'].inode, 'dir/file');
  assert.is(snap['sym'].link, 'l'.repeat(150));
  assert.is(snap['dir/' + 'n'.repeat(200) + '/' + 'm'.repeat(120)].uid, 1 << 30);
  assert.is(snap['holes'].size, 8 << 20);
  const content = fs.readFileSync(path.join(out, 'holes'));
  assert.is(content.subarray(4096, 4099).toString(), 'abc');
  assert.is(content.subarray(6 << 20, (6 << 20) + 2).toString(), 'de');
  assert.ok(fs.statSync(path.join(out, 'holes')).blocks < 100, 'GNU tar kept it sparse');
  assert.is(snap['chr'].type, 'char');
}));

async function rejects(tar: Buffer, pattern: RegExp): Promise<void> {
  try {
    await readAll(tar);
  } catch (err) {
    assert.instance(err, LayerError);
    assert.is((err as LayerError).code, 'EBADTAR');
    assert.match((err as Error).message, pattern);
    assert.not.match((err as Error).message, /\n/);
    return;
  }
  assert.unreachable(`accepted; wanted ${pattern}`);
}

test('malformed tars are refused with one line: size beyond the stream, bad checksum, partial header, bad PAX', async () => {
  const tar = await buildTar([{ entry: { name: 'f', type: 'file', mode: 0o644, mtime: { sec: 0, nsec: 0 } }, body: Buffer.alloc(5000, 7) }]);
  await rejects(tar.subarray(0, 512 + 4000), /"f": the stream ends .* before the end/);
  await rejects(tar.subarray(0, 512 + 5000), /"f": the stream ends inside the entry/);
  await rejects(tar.subarray(0, 300), /ends inside a header/);
  const bad = Buffer.from(tar);
  bad[10] ^= 1;
  await rejects(bad, /checksum mismatch/);
  await rejects(Buffer.alloc(1024, 0x41), /checksum mismatch/);
  const w: Buffer[] = [];
  const tw = new TarWriter((b) => { w.push(Buffer.from(b)); });
  await tw.add({ name: 'x', type: 'file', mode: 0o644, mtime: { sec: 0, nsec: 1 } }, Buffer.alloc(0));
  await tw.finish();
  const pax = Buffer.concat(w);
  pax.write('99', 512, 'latin1'); // the record length now runs past the header
  await rejects(pax, /malformed PAX record/);
});

test.run();
