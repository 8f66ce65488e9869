import type { OverlayNode } from './node';

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
export function getAttr(node: OverlayNode): Attr {
  const st = node.top.stat;
  const data = node.dataEntry.stat;
  return {
    ino: node.ino,
    mode: st.mode,
    nlink: node.isMerged ? 1 : st.nlink,
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
