/** Reports over a whole store: its consistency (check) and the space it uses (df). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { digestHex, sha256 } from '../digest';
import type { Digest } from '../types';
import { diskUsage, exists, readJson } from './fsutil';
import type { Store } from './store';

export interface DiskUsage {
  images: number;
  /** distinct layers the images use */
  layers: number;
  /** bytes of layers used by more than one image */
  shared: number;
  /** bytes of layers used by one image or none */
  unique: number;
  /** bytes of blobs (as distributed) */
  blobs: number;
  /** bytes of containers' writable layers */
  containers: number;
}

export function checkStore(store: Store, opts: { deep?: boolean } = {}): string[] {
  const problems: string[] = [];
  const f = store.readImages();
  const hashOk = (d: Digest) => {
    try {
      return sha256(fs.readFileSync(store.blobPath(d))) === d;
    } catch {
      return false;
    }
  };
  for (const img of Object.values(f.images)) {
    if (!hashOk(img.digest)) problems.push(`image ${img.digest}: manifest missing or damaged`);
    if (!hashOk(img.config.digest)) problems.push(`image ${img.digest}: config missing or damaged`);
    for (const l of img.layers) {
      if (!store.hasBlob(l.blob.digest)) problems.push(`image ${img.digest}: layer blob ${l.blob.digest} missing`);
      else if (opts.deep && !hashOk(l.blob.digest)) problems.push(`layer blob ${l.blob.digest} damaged`);
      if (store.layerOf(l.blob.digest) !== l.diffID) problems.push(`image ${img.digest}: layer ${l.diffID} not extracted`);
    }
  }
  for (const [t, d] of Object.entries(f.tags)) if (f.images[d] === undefined) problems.push(`tag ${t}: image ${d} missing`);
  for (const id of fs.readdirSync(store.layout.containersDir)) {
    const c = readJson<{ layers?: Digest[] }>(path.join(store.layout.container(id), 'container.json'));
    if (c === undefined) problems.push(`container ${id}: no container.json`);
    for (const d of c?.layers ?? []) if (!store.hasLayer(d)) problems.push(`container ${id}: layer ${d} missing`);
  }
  for (const hex of fs.readdirSync(store.layout.layersDir)) {
    if (!exists(path.join(store.layout.layer(hex), 'layer.json'))) problems.push(`layer ${hex}: incomplete`);
  }
  if (opts.deep) for (const hex of fs.readdirSync(store.layout.blobsDir)) if (!hashOk(`sha256:${hex}`)) problems.push(`blob ${hex} damaged`);
  return problems;
}

export function diskFree(store: Store): DiskUsage {
  const imgs = Object.values(store.readImages().images);
  const users = new Map<string, number>();
  for (const img of imgs) for (const hex of new Set(img.layers.map((l) => digestHex(l.diffID)))) users.set(hex, (users.get(hex) ?? 0) + 1);
  let shared = 0;
  let unique = 0;
  const seen = new Set<string>();
  for (const hex of fs.readdirSync(store.layout.layersDir)) {
    const n = diskUsage(store.layout.layer(hex), seen);
    if ((users.get(hex) ?? 0) > 1) shared += n;
    else unique += n;
  }
  let blobs = 0;
  for (const hex of fs.readdirSync(store.layout.blobsDir)) blobs += fs.lstatSync(store.layout.blob(hex)).blocks * 512;
  const containers = diskUsage(store.layout.containersDir, seen);
  return { images: imgs.length, layers: users.size, shared, unique, blobs, containers };
}
