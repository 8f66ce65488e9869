import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { extractLayer } from '../../../lib/image/layer/extract';
import { LayerError } from '../../../lib/image/layer/errors';
import { buildTar } from '../../../lib/image/layer/tar-writer';
import { MediaType } from '../../../lib/image/types';
import { CAP, blocksOf, makeSampleTree, sh, snapshot, withTmp } from './helpers';

const sha = (b: Buffer): string => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');
const stream = (b: Buffer, n = 64 * 1024): Readable => {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return Readable.from(out);
};

for (const [kind, squeeze] of [['none', (b: Buffer) => b], ['gzip', (b: Buffer) => sh('gzip', ['-c'], { input: b })], ['zstd', (b: Buffer) => sh('zstd', ['-c', '-q'], { input: b })]] as const) {
  test(`extracts a GNU tar (${kind}) into the same objects tar had: types, owners, modes, set-id, ns times, binary xattrs, sparse, hard links`, () => withTmp(async (dir) => {
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    makeSampleTree(src);
    const tar = sh('tar', ['-c', '--xattrs', '--xattrs-include=*', '--numeric-owner', '--format=pax', '--sparse', '-C', src, '.']);
    const blob = squeeze(tar);
    const dest = path.join(dir, 'dest');
    fs.mkdirSync(dest);
    let progress = 0;
    const r = await extractLayer(stream(blob), { dest, mediaType: kind === 'zstd' ? MediaType.OciLayerZstd : kind === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer, expectedDigest: sha(blob), onProgress: (n) => { progress = n; } });
    assert.equal(r, { digest: sha(blob), size: blob.length, diffID: sha(tar), uncompressedSize: tar.length });
    assert.is(progress, blob.length);
    assert.equal(snapshot(dest), snapshot(src));
    assert.is(fs.statSync(path.join(dest, 'sparse')).size, 8 << 20);
    assert.ok(blocksOf(path.join(dest, 'sparse')) <= blocksOf(path.join(src, 'sparse')) + 16, `sparse kept sparse (${blocksOf(path.join(dest, 'sparse'))} blocks)`);
    assert.ok(sh('getfattr', ['--absolute-names', '-e', 'hex', '-n', 'security.capability', path.join(dest, 'bin/ping')]).toString().includes('0x' + CAP.toString('hex')));
  }));
}

test('a tar extracted by GNU tar and by extractLayer give the same objects (our writer, then the sample tree)', () => withTmp(async (dir) => {
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  makeSampleTree(src);
  const tar = sh('tar', ['-c', '--xattrs', '--xattrs-include=*', '--numeric-owner', '--format=pax', '--sparse', '-C', src, '.']);
  const a = path.join(dir, 'a'), b = path.join(dir, 'b');
  fs.mkdirSync(a);
  fs.mkdirSync(b);
  sh('tar', ['-x', '--xattrs', '--xattrs-include=*', '--numeric-owner', '--same-permissions', '-C', a], { input: tar });
  await extractLayer(stream(tar), { dest: b });
  assert.equal(snapshot(b), snapshot(a));
}));

test('digest mismatch: EDIGEST with both digests in one line', () => withTmp(async (dir) => {
  const tar = await buildTar([{ entry: { name: 'f', type: 'file', mode: 0o644, mtime: { sec: 1, nsec: 0 } }, body: Buffer.from('x') }]);
  try {
    await extractLayer(stream(tar), { dest: dir, expectedDigest: 'sha256:' + '0'.repeat(64) });
    assert.unreachable('accepted');
  } catch (err) {
    assert.is((err as LayerError).code, 'EDIGEST');
    assert.match((err as Error).message, /^layer digest mismatch: expected sha256:0{64}, got sha256:[0-9a-f]{64}/);
  }
  try {
    await extractLayer(stream(tar), { dest: path.join(dir, 'nope') });
    assert.unreachable('accepted');
  } catch (err) {
    assert.is((err as LayerError).code, 'EINVAL');
  }
}));

test.run();
