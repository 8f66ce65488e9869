import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, removeTree } from './layers';
import { trackMount, unmount } from './mounts';

/** A small filesystem mounted for one test (tmpfs of a given size, or an xfs image with reflink). */
export interface ScratchFs {
  dir: string;
  remove(): void;
}

export function mountTmpfs(size: string): ScratchFs {
  const dir = tempDir('layerfs-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'layerfs-test', dir]);
  trackMount(dir);
  return { dir, remove: () => (unmount(dir), removeTree(dir)) };
}

/** An xfs filesystem with reflink in a sparse image file; null when mkfs.xfs is missing. */
export function mountXfs(sizeMiB: number): ScratchFs | null {
  const mkfs = ['/usr/sbin/mkfs.xfs', '/sbin/mkfs.xfs'].find((p) => fs.existsSync(p));
  if (!mkfs) return null;
  const base = tempDir('layerfs-xfs-');
  const image = path.join(base, 'image');
  const dir = path.join(base, 'mnt');
  fs.mkdirSync(dir);
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, sizeMiB * 1024 * 1024);
  execFileSync(mkfs, ['-q', '-m', 'reflink=1', image]);
  execFileSync('mount', ['-o', 'loop', image, dir]);
  trackMount(dir);
  return { dir, remove: () => (unmount(dir), removeTree(base)) };
}
