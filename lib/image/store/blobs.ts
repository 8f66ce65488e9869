/** Content-addressed blobs (manifests, configs, layers as distributed): read, and kept once verified. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestStream } from '../digest';
import { ImageError } from '../errors';
import type { Descriptor, Digest } from '../types';
import { exists } from './fsutil';
import type { Store } from './store';

export function readBlob(store: Store, digest: Digest): Buffer {
  try {
    return fs.readFileSync(store.blobPath(digest));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ImageError('ENOTFOUND', `blob ${digest} not in the store`);
    throw err;
  }
}

/** Keeps a blob once its bytes match `desc` (digest and size): written in a work area, published by rename. */
export async function putBlob(store: Store, desc: Descriptor, data: Readable | Buffer): Promise<void> {
  const target = store.blobPath(desc.digest);
  if (exists(target)) {
    if (data instanceof Readable) data.destroy();
    return;
  }
  const t = store.tempDir();
  try {
    const f = path.join(t.path, 'blob');
    const input = data instanceof Readable ? data : Readable.from([data]);
    await pipeline(input, new DigestStream({ digest: desc.digest, size: desc.size, what: `blob ${desc.digest}` }), fs.createWriteStream(f));
    fs.renameSync(f, target);
  } finally {
    t.remove();
  }
}
