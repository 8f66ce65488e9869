#!/usr/bin/env node
/**
 * Layer extraction: extractLayer against `umoci unpack` on the same blob, interleaved rounds.
 *
 *   node dist/bench/layer-extract.js TAR [--rounds N] [--zstd] [--codec inprocess]
 *
 * TAR is an uncompressed layer tar; it is compressed once (gzip -6, or zstd -3 with --zstd) into an
 * OCI layout in a temp dir. Each round unpacks it with both (umoci's time includes its mtree
 * manifest, which is part of `umoci unpack`), in alternating order, from a warm page cache, and
 * removes the result. Prints one line per round and the medians.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extractLayer } from '../lib/image/layer/extract';
import { MediaType } from '../lib/image/types';

function sha(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
  }
  fs.closeSync(fd);
  return h.digest('hex');
}

function writeBlob(layout: string, data: Buffer | string): { digest: string; size: number } {
  const tmp = path.join(layout, 'blob.tmp');
  if (typeof data === 'string') fs.renameSync(data, tmp);
  else fs.writeFileSync(tmp, data);
  const hex = sha(tmp);
  fs.renameSync(tmp, path.join(layout, 'blobs/sha256', hex));
  return { digest: 'sha256:' + hex, size: fs.statSync(path.join(layout, 'blobs/sha256', hex)).size };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const tar = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a) && a !== 'inprocess');
  if (!tar) throw new Error('usage: layer-extract TAR [--rounds N] [--zstd] [--codec inprocess]');
  const rounds = Number(args[args.indexOf('--rounds') + 1] ?? 3) || 3;
  const zstd = args.includes('--zstd');
  const codec = args.includes('inprocess') ? 'inprocess' as const : 'auto' as const;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-bench-layer-'));
  try {
    const layout = path.join(work, 'L');
    fs.mkdirSync(path.join(layout, 'blobs/sha256'), { recursive: true });
    fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const compressed = path.join(work, 'layer');
    execFileSync('sh', ['-c', zstd ? `zstd -3 -q -c "${tar}" > "${compressed}"` : `gzip -6 -c "${tar}" > "${compressed}"`]);
    const layer = writeBlob(layout, compressed);
    const mediaType = zstd ? MediaType.OciLayerZstd : MediaType.OciLayerGzip;
    const diffID = 'sha256:' + sha(tar);
    const config = writeBlob(layout, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffID] } })));
    const manifest = writeBlob(layout, Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...config },
      layers: [{ mediaType, ...layer }],
    })));
    fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 't' } }] }));
    const blobFile = path.join(layout, 'blobs/sha256', layer.digest.slice(7));
    console.log(`layer: ${(fs.statSync(tar).size / 1e6).toFixed(0)} MB tar, ${(layer.size / 1e6).toFixed(0)} MB ${zstd ? 'zstd' : 'gzip'}; ${rounds} rounds; codec ${codec}`);

    const ours: number[] = [];
    const theirs: number[] = [];
    const runOurs = async (): Promise<number> => {
      const dest = path.join(work, 'ours');
      fs.mkdirSync(dest);
      const t0 = process.hrtime.bigint();
      await extractLayer(fs.createReadStream(blobFile, { highWaterMark: 1 << 20 }), { dest, mediaType, expectedDigest: layer.digest, expectedDiffID: diffID, codec });
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      fs.rmSync(dest, { recursive: true, force: true });
      return s;
    };
    const runUmoci = (): number => {
      const bundle = path.join(work, 'umoci');
      const t0 = process.hrtime.bigint();
      execFileSync('umoci', ['unpack', '--image', `${layout}:t`, bundle], { stdio: 'ignore' });
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      fs.rmSync(bundle, { recursive: true, force: true });
      return s;
    };
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        ours.push(await runOurs());
        theirs.push(runUmoci());
      } else {
        theirs.push(runUmoci());
        ours.push(await runOurs());
      }
      console.log(`round ${i + 1}: extractLayer ${ours[i].toFixed(2)} s, umoci unpack ${theirs[i].toFixed(2)} s, ratio ${(theirs[i] / ours[i]).toFixed(2)}x`);
    }
    const ratios = ours.map((o, i) => theirs[i] / o);
    console.log(`median: extractLayer ${median(ours).toFixed(2)} s, umoci unpack ${median(theirs).toFixed(2)} s; median ratio ${median(ratios).toFixed(2)}x`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`layer-extract: ${(err as Error).message}`);
  process.exit(1);
});
