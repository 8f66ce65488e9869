import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'node:crypto';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { compress, compressionOfMagic, compressionOfMediaType, decompress, peek } from '../../../lib/image/layer/compression';
import { LayerError } from '../../../lib/image/layer/errors';
import { MediaType } from '../../../lib/image/types';
import { sh } from './helpers';

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}
const chunks = (b: Buffer, n = 10_000): Readable => {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return Readable.from(out);
};

const data = Buffer.concat([crypto.randomBytes(200_000), Buffer.alloc(500_000, 0x61)]);

test('media types and magic bytes', () => {
  assert.is(compressionOfMediaType(MediaType.OciLayerGzip), 'gzip');
  assert.is(compressionOfMediaType(MediaType.DockerLayerGzip), 'gzip');
  assert.is(compressionOfMediaType(MediaType.OciLayerZstd), 'zstd');
  assert.is(compressionOfMediaType(MediaType.OciLayer), 'none');
  assert.is(compressionOfMediaType(MediaType.DockerLayer), 'none');
  assert.is(compressionOfMediaType('application/json'), null);
  assert.is(compressionOfMagic(zlib.gzipSync(data)), 'gzip');
  assert.is(compressionOfMagic(sh('zstd', ['-c', '-q'], { input: data })), 'zstd');
  assert.is(compressionOfMagic(Buffer.from('ustar')), null);
});

for (const engine of ['auto', 'inprocess'] as const) {
  test(`[${engine}] gzip from gzip(1) and zstd from zstd(1) decompress to the same bytes`, async () => {
    const gz = sh('gzip', ['-c'], { input: data });
    assert.ok((await collect(decompress(chunks(gz), 'gzip', { engine }))).equals(data));
    const zs = sh('zstd', ['-c', '-q'], { input: data });
    assert.ok((await collect(decompress(chunks(zs), 'zstd', { engine }))).equals(data));
  });

  test(`[${engine}] a truncated gzip or zstd stream fails with ECOMPRESSION, one line`, async () => {
    for (const [kind, bytes] of [['gzip', zlib.gzipSync(data)], ['zstd', sh('zstd', ['-c', '-q'], { input: data })]] as const) {
      try {
        await collect(decompress(chunks(bytes.subarray(0, bytes.length - 100)), kind, { engine }));
        assert.unreachable(`${kind}: truncated accepted`);
      } catch (err) {
        assert.instance(err, LayerError, String(err));
        assert.is((err as LayerError).code, 'ECOMPRESSION');
        assert.not.match((err as Error).message, /\n/);
      }
    }
  });
}

test('compress: gzip and zstd round trip, deterministic; an input error passes through', async () => {
  for (const kind of ['gzip', 'zstd'] as const) {
    const a = await collect(compress(chunks(data), kind));
    const b = await collect(compress(chunks(data, 3333), kind));
    assert.ok(a.equals(b), `${kind} deterministic`);
    assert.is(compressionOfMagic(a), kind);
    assert.ok((await collect(decompress(chunks(a), kind))).equals(data));
    const failing = (async function* () { yield data.subarray(0, 1000); throw new Error('input broke'); })();
    try {
      await collect(compress(failing, kind));
      assert.unreachable('no error');
    } catch (err) {
      assert.is((err as Error).message, 'input broke');
    }
  }
  const { head, all } = await peek(chunks(data, 3), 8);
  assert.ok(head.equals(data.subarray(0, 8)));
  assert.ok((await collect(all)).equals(data));
});

test.run();
