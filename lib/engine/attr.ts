import * as sys from '../sys';
import type { OverlayContext } from './context';
import { savedLinkCount } from './hardlink';
import { OverlayNode, splitPath } from './node';

/** Attributes of a merged object as the kernel overlay reports them. */
export interface Attr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blocks: number;
  blksize: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
}

/**
 * Metadata comes from the top object; a metacopy file's block count comes from the object holding
 * its data. A merged directory reports nlink 1, as the kernel does: counting subdirectories over
 * every layer is not worth it, and 1 tells find(1) not to rely on the count.
 */
export function getAttr(ctx: OverlayContext, node: OverlayNode): Attr {
  const st = currentStat(node);
  // A metacopy upper holds no data blocks: the lower's count is the truth.
  const data = node.dataIndex === 0 ? st : node.dataEntry.stat;
  return {
    ino: node.ino,
    mode: st.mode,
    nlink: node.isMerged ? 1 : savedLinkCount(ctx, node.top, st) ?? st.nlink,
    uid: st.uid,
    gid: st.gid,
    rdev: st.rdev,
    size: st.size,
    blocks: data.blocks,
    blksize: st.blksize,
    atimeSec: st.atimeSec,
    atimeNsec: st.atimeNsec,
    mtimeSec: st.mtimeSec,
    mtimeNsec: st.mtimeNsec,
    ctimeSec: st.ctimeSec,
    ctimeNsec: st.ctimeNsec,
  };
}

/**
 * The top object's stat: lower layers never change under us, so their lookup-time stat stands; an
 * upper object changes with every write, so it is read again.
 */
export function currentStat(node: OverlayNode): sys.Stat {
  const top = node.top;
  if (!top.layer.mutable) return top.stat;
  if (top.path === '') return sys.fstat(top.layer.rootFd);
  const { dir, name } = splitPath(top.path);
  return sys.statx(top.layer.dirFd(dir), name);
}
