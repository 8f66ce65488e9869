import * as sys from '../sys';
import { S } from '../sys';
import type { OverlayContext } from './context';
import type { Layer } from './layers';

/** OCI image whiteouts: `.wh.NAME` hides NAME below; `.wh..wh..opq` makes its directory opaque. */
export const OCI_WHITEOUT_PREFIX = '.wh.';
export const OCI_OPAQUE_MARKER = '.wh..wh..opq';

/** A name the merged view never shows (OCI markers are layer metadata, not files). */
export function isOciMarkerName(name: string): boolean {
  return name.startsWith(OCI_WHITEOUT_PREFIX);
}

/** The kernel's whiteout: a character device 0/0. */
export function isDeviceWhiteout(st: sys.Stat): boolean {
  return (st.mode & S.IFMT) === S.IFCHR && st.rdev === 0;
}

/**
 * The kernel's xattr whiteout: a zero-size regular file with `overlay.whiteout`, only looked for in
 * directories marked `overlay.opaque=x` (the kernel skips the check elsewhere to keep readdir cheap).
 */
export function isXattrWhiteout(ctx: OverlayContext, layer: Layer, dirRel: string, name: string, st: sys.Stat): boolean {
  if ((st.mode & S.IFMT) !== S.IFREG || st.size !== 0) return false;
  const fd = layer.dirFd(dirRel);
  return ctx.xattrs.markerNames('whiteout').some((x) => sys.getxattrat(fd, name, x) !== null);
}

/** Markers of one layer directory that steer merging. */
export interface DirMarkers {
  /** No layer below shows through (`overlay.opaque=y` or the OCI `.wh..wh..opq`). */
  opaque: boolean;
  /** Holds xattr whiteouts (`overlay.opaque=x`). */
  xwhiteouts: boolean;
  /** `overlay.redirect`: where this directory came from (absolute from the layer root, or a sibling name). */
  redirect: string | null;
}

const NO_MARKERS: DirMarkers = { opaque: false, xwhiteouts: false, redirect: null };

/**
 * Reads the markers of directory `name` in `dirRel` of `layer`: one listxattr, then getxattr only for
 * overlay names present, plus one probe for the OCI opaque marker.
 */
export function readDirMarkers(ctx: OverlayContext, layer: Layer, dirRel: string, name: string, rel: string): DirMarkers {
  const fd = layer.dirFd(dirRel);
  const names = sys.listxattrat(fd, name);
  let markers = NO_MARKERS;
  for (const opaqueName of ctx.xattrs.markerNames('opaque')) {
    if (!names.includes(opaqueName)) continue;
    const v = sys.getxattrat(fd, name, opaqueName)?.toString('latin1');
    if (v === 'y') markers = { ...markers, opaque: true };
    else if (v === 'x') markers = { ...markers, xwhiteouts: true };
  }
  if (ctx.config.redirectFollow) {
    for (const redirectName of ctx.xattrs.markerNames('redirect')) {
      if (!names.includes(redirectName)) continue;
      const v = sys.getxattrat(fd, name, redirectName);
      if (v !== null && v.length > 0) markers = { ...markers, redirect: v.toString('utf8') };
      break;
    }
  }
  if (!markers.opaque && sys.tryStatx(layer.dirFd(rel), OCI_OPAQUE_MARKER) !== null) markers = { ...markers, opaque: true };
  return markers;
}

/** True for a regular file whose data still lives in a layer below (`overlay.metacopy`). */
export function isMetacopy(ctx: OverlayContext, layer: Layer, dirRel: string, name: string): boolean {
  // One listxattr, not a getxattr per marker name: this runs for every regular file looked up.
  const names = sys.listxattrat(layer.dirFd(dirRel), name);
  if (names.length === 0) return false;
  return ctx.xattrs.markerNames('metacopy').some((x) => names.includes(x));
}
