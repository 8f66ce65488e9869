/**
 * writeLayerDiff round trip: a base layer extracted, changed through kernel overlayfs (whiteouts,
 * an opaque directory, a renamed lower directory (redirect), metacopy chmods, hard links, sparse,
 * binary xattrs, devices), the upper written as a layer, extracted again and stacked: the same view.
 * umoci unpacks the same diff to the same view too.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { extractLayer } from '../../../lib/image/layer/extract';
import { writeLayerDiff } from '../../../lib/image/layer/diff';
import { readTar } from '../../../lib/image/layer/tar-reader';
import { withKernelOverlay } from '../../helpers/kernel-overlay';
import { Overlay } from '../../../lib/engine';
import { CAP, blocksOf, engineSnapshot, makeSampleTree, sh, snapshot, withTmp } from './helpers';

async function diffTo(file: string, lower: string[], upper: string, compression: 'gzip' | 'zstd' | 'none') {
  return writeLayerDiff({ lower, upper, out: fs.createWriteStream(file), compression });
}

async function names(tarFile: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(fs.createReadStream(tarFile))) out.push(`${e.type} ${e.name}${e.linkname ? ' -> ' + e.linkname : ''}`);
  return out;
}

test('commit round trip through kernel overlayfs: diff, extract, stack = the changed view; deterministic; umoci agrees', () => withTmp(async (dir) => {
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  makeSampleTree(src);
  fs.mkdirSync(path.join(src, 'moveme/sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'moveme/sub/f'), 'moved content');
  fs.writeFileSync(path.join(src, 'moveme/g'), 'g');
  fs.mkdirSync(path.join(src, 'wipe'));
  fs.writeFileSync(path.join(src, 'wipe/old'), 'old');
  fs.writeFileSync(path.join(src, 'chmodme'), Buffer.alloc(200_000, 0x33));
  const baseTar = path.join(dir, 'base.tar');
  execFileSync('sh', ['-c', `tar -c --xattrs --xattrs-include='*' --numeric-owner --format=pax --sparse -C ${src} . > ${baseTar}`]);
  const l1 = path.join(dir, 'l1');
  fs.mkdirSync(l1, { mode: 0o755 });
  await extractLayer(fs.createReadStream(baseTar), { dest: l1 });

  const upper = path.join(dir, 'upper'), work = path.join(dir, 'work'), mnt = path.join(dir, 'mnt');
  fs.mkdirSync(upper, { mode: 0o755 });
  fs.mkdirSync(work);
  let want: ReturnType<typeof snapshot> = {};
  await withKernelOverlay({ lower: [l1], upper, work, mountpoint: mnt, extra: ['redirect_dir=on', 'metacopy=on', 'index=off'] }, () => {
    const m = (p: string) => path.join(mnt, p);
    fs.writeFileSync(m('etc/hosts'), 'changed\n');
    fs.rmSync(m('empty'));
    fs.rmSync(m('etc/deep'), { recursive: true });
    fs.rmSync(m('wipe'), { recursive: true });
    fs.mkdirSync(m('wipe'));
    fs.writeFileSync(m('wipe/new'), 'new');
    fs.renameSync(m('moveme'), m('moved'));
    fs.chmodSync(m('chmodme'), 0o600);
    fs.writeFileSync(m('n1'), 'linked');
    fs.linkSync(m('n1'), m('n2'));
    const fd = fs.openSync(m('holes'), 'w');
    fs.writeSync(fd, Buffer.from('end'), 0, 3, 20 << 20);
    fs.closeSync(fd);
    fs.writeFileSync(m('capfile'), 'c');
    sh('setfattr', ['-n', 'security.capability', '-v', '0x' + CAP.toString('hex'), m('capfile')]);
    execFileSync('mknod', [m('dev/tty9'), 'c', '4', '9']);
    execFileSync('mkfifo', [m('fifo2')]);
    fs.symlinkSync('n1', m('sym'));
    fs.chmodSync(m('bin/sg'), 0o2755);
    want = snapshot(mnt);
  });
  // the upper holds the kernel's forms: a redirect and a metacopy file
  assert.ok(sh('getfattr', ['--absolute-names', '-d', '-m', '-', path.join(upper, 'moved')]).toString().includes('trusted.overlay.redirect'));
  assert.ok(sh('getfattr', ['--absolute-names', '-d', '-m', '-', path.join(upper, 'chmodme')]).toString().includes('trusted.overlay.metacopy'));

  const blob = path.join(dir, 'diff.tar.gz');
  const r1 = await diffTo(blob, [l1], upper, 'gzip');
  const r2 = await diffTo(path.join(dir, 'again.tar.gz'), [l1], upper, 'gzip');
  assert.equal(r2, r1, 'deterministic (gzip)');
  const bytes = fs.readFileSync(blob);
  assert.is(r1.digest, 'sha256:' + crypto.createHash('sha256').update(bytes).digest('hex'));
  assert.is(r1.size, bytes.length);
  const z1 = await diffTo(path.join(dir, 'd.zst'), [l1], upper, 'zstd');
  const z2 = await diffTo(path.join(dir, 'd2.zst'), [l1], upper, 'zstd');
  assert.equal(z1, z2, 'deterministic (zstd)');
  assert.is(z1.diffID, r1.diffID, 'same tar whatever the compression');
  const plain = path.join(dir, 'diff.tar');
  const p1 = await diffTo(plain, [l1], upper, 'none');
  assert.is(p1.diffID, r1.diffID);
  assert.is(p1.digest, p1.diffID);

  const listing = await names(plain);
  assert.ok(listing.includes('file .wh.empty'), listing.join('\n'));
  assert.ok(listing.includes('file etc/.wh.deep'));
  assert.ok(listing.includes('file wipe/.wh..wh..opq'));
  assert.ok(listing.includes('file .wh.moveme'));
  assert.ok(listing.includes('file moved/.wh..wh..opq'));
  assert.ok(listing.includes('file moved/sub/f'), 'a redirected directory is written whole');
  assert.ok(listing.includes('link n2 -> n1'));
  assert.not.ok(listing.some((l) => l.includes('overlay')));
  const sorted = [...listing];
  assert.equal(listing.length, new Set(listing).size);
  if (process.env.SHOW_LISTING) console.log(listing.join('\n'));
  void sorted;

  const l2 = path.join(dir, 'l2');
  fs.mkdirSync(l2, { mode: 0o755 });
  const x = await extractLayer(fs.createReadStream(blob), { dest: l2, expectedDigest: r1.digest });
  assert.is(x.diffID, r1.diffID);
  assert.ok(blocksOf(path.join(l2, 'holes')) < 64, 'sparse in the diff and after extraction');
  const fix = (s: ReturnType<typeof snapshot>) => { s['.'].mtimeNs = ''; return s; };
  await withKernelOverlay({ lower: [l2, l1], mountpoint: path.join(dir, 'mnt2') }, () => {
    const got = fix(snapshot(path.join(dir, 'mnt2')));
    const w = fix({ ...want });
    assert.equal(Object.keys(got).sort(), Object.keys(w).sort());
    for (const k of Object.keys(w)) assert.equal(got[k], w[k], k);
  });

  // umoci applies the same diff over the same base to the same tree
  const L = path.join(dir, 'L');
  sh('umoci', ['init', '--layout', L]);
  sh('umoci', ['new', '--image', `${L}:v0`]);
  sh('umoci', ['raw', 'add-layer', '--image', `${L}:v0`, '--tag', 'v1', baseTar]);
  sh('umoci', ['raw', 'add-layer', '--image', `${L}:v1`, '--tag', 'v2', plain]);
  const bundle = path.join(dir, 'bundle');
  sh('umoci', ['unpack', '--image', `${L}:v2`, bundle]);
  const ref = fix(snapshot(path.join(bundle, 'rootfs')));
  const w = fix({ ...want });
  assert.equal(Object.keys(ref).sort(), Object.keys(w).sort());
  for (const k of Object.keys(w)) assert.equal(ref[k], w[k], `umoci: ${k}`);
}));

test('commit of an upper written by the layerfs engine (its redirects, metacopy, hard-link index): the same view after diff + extract', () => withTmp(async (dir) => {
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  makeSampleTree(src);
  fs.mkdirSync(path.join(src, 'moveme/sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'moveme/sub/f'), 'moved content');
  const l1 = path.join(dir, 'l1');
  fs.mkdirSync(l1, { mode: 0o755 });
  const tar = sh('tar', ['-c', '--xattrs', '--xattrs-include=*', '--numeric-owner', '--format=pax', '--sparse', '-C', src, '.']);
  await extractLayer((async function* () { yield tar; })(), { dest: l1 });
  const upper = path.join(dir, 'upper'), work = path.join(dir, 'work');
  fs.mkdirSync(upper, { mode: 0o755 });
  fs.mkdirSync(work);
  const ov = Overlay.open({ lower: [l1], upper, work });
  let want: ReturnType<typeof snapshot>;
  try {
    await ov.writeFile('/etc/hosts', 'engine\n');
    await ov.unlink('/empty');
    await ov.rename('/moveme', '/moved');
    await ov.chmod('/big', 0o600);
    await ov.rmdir('/etc/deep/' + 'd'.repeat(120) + '/more').catch(() => undefined);
    await ov.link('/bin/ping', '/bin/ping-third');
    await ov.writeFile('/bin/ping', 'new data');
    await ov.mkdir('/newdir', 0o750);
    await ov.symlink('../etc/hosts', '/newdir/l');
    await ov.setxattr('/newdir', 'user.x', Buffer.from([0, 255, 1]));
    want = engineSnapshot(ov);
  } finally {
    ov.close();
  }
  // bin/ping-hard stays in the lower only, yet shows bin/ping's new data: the engine's hard-link index
  assert.is(want['bin/ping-hard'].inode, 'bin/ping');
  const blob = path.join(dir, 'diff.zst');
  const r = await diffTo(blob, [l1], upper, 'zstd');
  assert.equal(await diffTo(path.join(dir, 'again.zst'), [l1], upper, 'zstd'), r, 'deterministic');
  const l2 = path.join(dir, 'l2');
  fs.mkdirSync(l2, { mode: 0o755 });
  await extractLayer(fs.createReadStream(blob), { dest: l2, expectedDigest: r.digest });
  await withKernelOverlay({ lower: [l2, l1], mountpoint: path.join(dir, 'm2') }, () => {
    const got = snapshot(path.join(dir, 'm2'));
    got['.'].mtimeNs = want['.'].mtimeNs = '';
    assert.equal(Object.keys(got).sort(), Object.keys(want).sort());
    for (const k of Object.keys(want)) assert.equal(got[k], want[k], k);
    assert.is(got['bin/ping-third'].inode, got['bin/ping'].inode ?? 'bin/ping');
  });
}));

test('a copied-up lower hard link: its other lower names (not in the upper) are written as links of the upper file', () => withTmp(async (dir) => {
  const src = path.join(dir, 'src');
  for (const d of ['a', 'b', 'c', 'd']) fs.mkdirSync(path.join(src, d), { recursive: true });
  fs.writeFileSync(path.join(src, 'a/x'), 'shared');
  fs.linkSync(path.join(src, 'a/x'), path.join(src, 'b/y'));
  fs.linkSync(path.join(src, 'a/x'), path.join(src, 'c/z'));
  fs.linkSync(path.join(src, 'a/x'), path.join(src, 'd/w'));
  const l1 = path.join(dir, 'l1');
  fs.mkdirSync(l1, { mode: 0o755 });
  await extractLayer((async function* () { yield sh('tar', ['-c', '--numeric-owner', '--format=pax', '-C', src, '.']); })(), { dest: l1 });
  const upper = path.join(dir, 'upper'), work = path.join(dir, 'work');
  fs.mkdirSync(upper, { mode: 0o755 });
  fs.mkdirSync(work);
  const ov = Overlay.open({ lower: [l1], upper, work });
  let want: ReturnType<typeof snapshot>;
  try {
    await ov.chmod('/a/x', 0o700);
    await ov.unlink('/c/z');
    await ov.chmod('/d', 0o711);
    want = engineSnapshot(ov);
  } finally {
    ov.close();
  }
  assert.is(want['b/y'].mode, 0o700, 'the engine shows the chmod under the other name');
  const plain = path.join(dir, 'diff.tar');
  await diffTo(plain, [l1], upper, 'none');
  const listing = await names(plain);
  assert.ok(listing.includes('link b/y -> a/x'), listing.join('\n'));
  assert.ok(listing.includes('link d/w -> a/x'), listing.join('\n'));
  assert.ok(listing.includes('file c/.wh.z'));
  assert.not.ok(listing.some((l) => l.includes('c/z ')));
  const l2 = path.join(dir, 'l2');
  fs.mkdirSync(l2, { mode: 0o755 });
  await extractLayer(fs.createReadStream(plain), { dest: l2 });
  await withKernelOverlay({ lower: [l2, l1], mountpoint: path.join(dir, 'm') }, () => {
    const got = snapshot(path.join(dir, 'm'));
    got['.'].mtimeNs = want['.'].mtimeNs = '';
    assert.equal(got, want);
  });
}));

test.run();
