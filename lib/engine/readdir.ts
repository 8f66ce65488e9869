import * as sys from '../sys';
import { DT } from '../sys';
import type { OverlayContext } from './context';
import { dirIndexOf, hitPosition, isOciWhiteoutHit } from './dir-index';
import type { OverlayNode, RealEntry } from './node';
import { isDeviceWhiteout, isOciMarkerName, isXattrWhiteout } from './whiteout';

export interface DirEntry {
  name: string;
  /** d_type (DT_REG, DT_DIR...). */
  type: number;
  ino: number;
}

/** d_type of a mode: IFTODT, the file type bits shifted down (DT_UNKNOWN for none). */
export function modeToDtype(mode: number): number {
  return (mode & sys.S.IFMT) >>> 12;
}

/**
 * Decides whether the top object of a name shows, and with which d_type. Only the candidates a
 * whiteout could hide behind cost a stat: character devices (0/0 whiteouts), unknown types, and
 * regular files in directories that hold xattr whiteouts.
 */
function visibleType(ctx: OverlayContext, entry: RealEntry, name: string, dtype: number, xwhiteouts: boolean): number | null {
  if (dtype !== DT.CHR && dtype !== DT.UNKNOWN && !(xwhiteouts && dtype === DT.REG)) return dtype;
  const st = sys.tryStatx(entry.layer.dirFd(entry.path), name);
  if (st === null || isDeviceWhiteout(st)) return null;
  if (xwhiteouts && isXattrWhiteout(ctx, entry.layer, entry.path, name, st)) return null;
  return modeToDtype(st.mode);
}

/**
 * The merged listing of a directory, '.' and '..' first: the top layer's names in its own order,
 * then the names each lower adds. Taken once per open directory (as the kernel caches it per open
 * file), so reading it in pieces at any offsets never skips or repeats a name.
 */
export function listDirectory(ctx: OverlayContext, dir: OverlayNode, parentIno: number): DirEntry[] {
  const out: DirEntry[] = [
    { name: '.', type: DT.DIR, ino: dir.ino },
    { name: '..', type: DT.DIR, ino: parentIno },
  ];
  if (dir.entries.length === 1) {
    const entry = dir.entries[0];
    const listing = sys.readdir(entry.layer.dirFd(entry.path));
    for (let i = 0; i < listing.names.length; i++) {
      const name = listing.names[i];
      if (isOciMarkerName(name)) continue;
      const type = visibleType(ctx, entry, name, listing.types[i], dir.xwhiteouts[0]);
      if (type !== null) out.push({ name, type, ino: ctx.inodes.compose(entry.layer.index, listing.inos[i]) });
    }
    return out;
  }
  const index = dirIndexOf(ctx, dir);
  for (let i = 0; i < index.names.length; i++) {
    const name = index.names[i];
    const top = index.hits.get(name)![0];
    if (isOciWhiteoutHit(top)) continue;
    const pos = hitPosition(top);
    const entry = dir.entries[pos];
    const type = visibleType(ctx, entry, name, index.types[i], dir.xwhiteouts[pos]);
    if (type !== null) out.push({ name, type, ino: ctx.inodes.compose(entry.layer.index, index.inos[i]) });
  }
  return out;
}
