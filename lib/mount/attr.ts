import type { Attr } from '../engine';
import type { FuseAttr } from '../fuse';

/** Engine attributes in the FUSE wire form; `nodeid` stands in as st_ino so both always agree. */
export function toFuseAttr(a: Attr, ino: number): FuseAttr {
  return {
    ino,
    size: a.size,
    blocks: a.blocks,
    atimeSec: a.atimeSec,
    atimeNsec: a.atimeNsec,
    mtimeSec: a.mtimeSec,
    mtimeNsec: a.mtimeNsec,
    ctimeSec: a.ctimeSec,
    ctimeNsec: a.ctimeNsec,
    mode: a.mode,
    nlink: a.nlink,
    uid: a.uid,
    gid: a.gid,
    rdev: a.rdev,
    blksize: a.blksize,
  };
}
