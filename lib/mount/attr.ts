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

/** The attributes sent with a negative entry (node id 0): the kernel reads none of them. */
export const NO_ATTR: Readonly<FuseAttr> = Object.freeze({
  ino: 0, size: 0, blocks: 0, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0, ctimeSec: 0, ctimeNsec: 0,
  mode: 0, nlink: 0, uid: 0, gid: 0, rdev: 0, blksize: 0,
});
