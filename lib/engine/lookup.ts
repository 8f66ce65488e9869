import * as sys from '../sys';
import { S } from '../sys';
import type { OverlayContext } from './context';
import { dirIndexOf, hitPosition, isOciWhiteoutHit } from './dir-index';
import { OverlayError, hasCode } from './errors';
import { findIndexed, isLowerHardLink } from './hardlink';
import type { Layer } from './layers';
import { OverlayNode, RealEntry, childKey, joinPath, splitPath } from './node';
import { OCI_WHITEOUT_PREFIX, isDeviceWhiteout, isMetacopy, isOciMarkerName, isXattrWhiteout, readDirMarkers } from './whiteout';

/** Longest name in bytes (NAME_MAX). */
export const NAME_MAX = 255;

const WHITEOUT = 'whiteout' as const;
type Probe = RealEntry | typeof WHITEOUT | null;

/** `layer`'s directory `dirRel`, or null when this layer has none there. */
function layerDirFd(layer: Layer, dirRel: string): number | null {
  try {
    return layer.dirFd(dirRel);
  } catch (err) {
    // A path component that is missing, not a directory, or a symlink: nothing here in this layer.
    if (hasCode(err, 'ENOENT', 'ENOTDIR', 'ELOOP', 'EXDEV')) return null;
    throw err;
  }
}

/** What one layer holds at `dirRel/name`: an object, a whiteout, or nothing. Never follows a symlink. */
function probe(ctx: OverlayContext, layer: Layer, dirRel: string, name: string, xwhiteouts: boolean): Probe {
  ctx.stats.layerProbes++;
  const fd = layerDirFd(layer, dirRel);
  if (fd === null) return null;
  const stat = sys.tryStatx(fd, name);
  if (stat === null) return null;
  if (isDeviceWhiteout(stat)) return WHITEOUT;
  if (xwhiteouts && isXattrWhiteout(ctx, layer, dirRel, name, stat)) return WHITEOUT;
  return { layer, path: joinPath(dirRel, name), stat };
}

const isDirStat = (st: sys.Stat) => (st.mode & S.IFMT) === S.IFDIR;
const isRegStat = (st: sys.Stat) => (st.mode & S.IFMT) === S.IFREG;

/** Validates one path component the way the kernel's VFS does before asking a filesystem. */
export function checkName(name: string, syscall: string, path: string): void {
  if (name.length === 0 || name.includes('/') || name.includes('\0')) throw new OverlayError('EINVAL', syscall, path);
  if (name.length > NAME_MAX / 4 && Buffer.byteLength(name) > NAME_MAX) throw new OverlayError('ENAMETOOLONG', syscall, path);
}

/**
 * Collects the layer objects behind one merged name, top down, following overlayfs rules:
 * a whiteout ends the search; the first non-directory is the answer (a metacopy upper also takes the
 * regular file below for its data, at the path its redirect names if it has one); directories merge
 * until an opaque one; a directory with a redirect continues at the path it names.
 */
class EntryCollector {
  readonly entries: RealEntry[] = [];
  readonly xwhiteouts: boolean[] = [];
  dataIndex = 0;
  opaque = false;
  /** Set when the top directory (or a later one) redirects the lower part of the search. */
  redirect: { fromLayer: Layer; target: string } | null = null;
  private wantsData = false;
  done = false;

  constructor(private readonly ctx: OverlayContext) {}

  /** Feeds what the next layer down holds; returns false once the search is over. */
  take(found: Probe): boolean {
    if (this.done || found === null) return !this.done;
    if (found === WHITEOUT) return this.finish();
    if (this.wantsData) {
      if (isRegStat(found.stat)) {
        this.entries.push(found);
        this.dataIndex = this.entries.length - 1;
        // A chain of metacopies (an upper one over a lower one): the data is further down still.
        if (this.metacopyData(found)) return this.redirect === null;
      }
      return this.finish();
    }
    const first = this.entries.length === 0;
    if (!isDirStat(found.stat)) {
      if (!first) return this.finish(); // a non-directory below a directory is hidden by it
      this.entries.push(found);
      if (this.metacopyData(found)) return this.redirect === null;
      return this.finish();
    }
    if (!first && !isDirStat(this.entries[0].stat)) return this.finish();
    this.entries.push(found);
    const { dir, name } = splitPath(found.path);
    const markers = readDirMarkers(this.ctx, found.layer, dir, name, found.path);
    this.xwhiteouts.push(markers.xwhiteouts);
    if (markers.opaque) {
      this.opaque = true;
      return this.finish();
    }
    if (markers.redirect !== null) {
      this.redirect = { fromLayer: found.layer, target: markers.redirect };
      return false;
    }
    return true;
  }

  /**
   * For a metacopy regular file (its data lives below): starts the search for the data, at the path
   * its redirect names if it has one, and returns true. An upper layer, or a lower one (the upper
   * of an earlier mount, as the kernel reads it with metacopy=on), may hold metacopies. An empty
   * lower file is not asked (no data to find). (st_blocks cannot spare the xattr read: ext4 counts
   * an external xattr block, which a kernel metacopy with origin and redirect often has.)
   */
  private metacopyData(found: RealEntry): boolean {
    if (!isRegStat(found.stat) || (!found.layer.isUpper && found.stat.size === 0)) return false;
    const { dir, name } = splitPath(found.path);
    if (!isMetacopy(this.ctx, found.layer, dir, name)) return false;
    this.wantsData = true;
    // The kernel writes a redirect on a metacopy it renames or links (its data stays at the old
    // name below): the data is looked for where the redirect points, as ovl_lookup does.
    const target = this.ctx.config.redirectFollow ? readRedirect(this.ctx, found.layer, dir, name) : null;
    if (target !== null) this.redirect = { fromLayer: found.layer, target };
    return true;
  }

  private finish(): false {
    this.done = true;
    return false;
  }
}

/** The `overlay.redirect` of a non-directory (metacopy) object, or null. */
function readRedirect(ctx: OverlayContext, layer: Layer, dirRel: string, name: string): string | null {
  const fd = layer.dirFd(dirRel);
  for (const x of ctx.xattrs.markerNames('redirect')) {
    const v = sys.getxattrat(fd, name, x);
    if (v !== null && v.length > 0) return v.toString('utf8');
  }
  return null;
}

/** Normalizes an absolute redirect into a layer-relative path, refusing anything that climbs out. */
function redirectTarget(target: string): string | null {
  const parts = target.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return null;
  return parts.join('/');
}

/**
 * What `layer` holds at absolute redirect path `rel`, walked component by component as the kernel's
 * ovl_lookup_layer does: a whiteout or a non-directory on the way ends the whole search (reported as
 * a whiteout); an opaque directory on the way ends it after this layer (`last`); a missing component
 * means nothing in this layer.
 */
function probeRedirect(ctx: OverlayContext, layer: Layer, rel: string): { found: Probe; last: boolean } {
  const parts = rel.split('/');
  let dir = '';
  let last = false;
  let xwhiteouts = readDirMarkers(ctx, layer, '', '', '').xwhiteouts;
  for (const part of parts.slice(0, -1)) {
    const found = probe(ctx, layer, dir, part, xwhiteouts);
    if (found === null) return { found: null, last };
    if (found === WHITEOUT || !isDirStat(found.stat)) return { found: WHITEOUT, last: true };
    const markers = readDirMarkers(ctx, layer, dir, part, found.path);
    if (markers.opaque) last = true;
    xwhiteouts = markers.xwhiteouts;
    dir = found.path;
  }
  return { found: probe(ctx, layer, dir, parts[parts.length - 1], xwhiteouts), last };
}

/** Continues a search below a redirecting directory, at the path the redirect names. */
function followRedirects(ctx: OverlayContext, parent: OverlayNode, startPos: number, c: EntryCollector): void {
  let pos = startPos;
  let hops = 0;
  while (c.redirect !== null && hops++ < 64) {
    const { fromLayer, target } = c.redirect;
    c.redirect = null;
    if (target.startsWith('/')) {
      // Absolute: from the root of every layer below the one holding the redirect.
      const rel = redirectTarget(target);
      if (rel === null || rel === '') return;
      for (const layer of ctx.stack.layers) {
        if (layer.index <= fromLayer.index) continue;
        const { found, last } = probeRedirect(ctx, layer, rel);
        if (!c.take(found) || last) break;
      }
      if (c.redirect !== null) pos = -1; // a redirect found while following an absolute one
    } else {
      // Relative: a sibling name, in the parent's own lower directories.
      if (target.includes('/') || pos < 0) return;
      for (let p = pos + 1; p < parent.entries.length; p++) {
        const pe = parent.entries[p];
        if (pe.layer.index <= fromLayer.index) continue;
        const found = probe(ctx, pe.layer, pe.path, target, parent.xwhiteouts[p] ?? false);
        if (!c.take(found)) {
          pos = p;
          break;
        }
      }
    }
  }
}

/** The root: every layer's root directory, merged (the kernel ignores opaque on the root). */
export function lookupRoot(ctx: OverlayContext): OverlayNode {
  if (ctx.root === null) ctx.root = buildRoot(ctx);
  return ctx.root;
}

function buildRoot(ctx: OverlayContext): OverlayNode {
  const entries: RealEntry[] = [];
  const xwhiteouts: boolean[] = [];
  for (const layer of ctx.stack.layers) {
    entries.push({ layer, path: '', stat: sys.fstat(layer.rootFd) });
    xwhiteouts.push(readDirMarkers(ctx, layer, '', '', '').xwhiteouts);
  }
  return new OverlayNode(null, '', inodeNumber(ctx, entries[0]), entries, 0, false, xwhiteouts);
}

/** Looks `name` up in merged directory `parent`; null when the merged view has no such name. */
export function lookupChild(ctx: OverlayContext, parent: OverlayNode, name: string): OverlayNode | null {
  ctx.stats.lookups++;
  const key = childKey(parent, name);
  const cached = ctx.nodes.get(key) ?? ctx.held.get(key);
  if (cached !== undefined && !twinCopiedUp(ctx, cached)) {
    ctx.stats.nodeCacheHits++;
    return cached;
  }
  if (cached === undefined && ctx.negative.has(key)) {
    ctx.stats.negativeCacheHits++;
    return null;
  }
  if (name.length === 0 || name.length > NAME_MAX / 4 || name.includes('/') || name.includes('\0')) checkName(name, 'lookup', joinPath(parent.path, name));
  if (!parent.isDir) throw new OverlayError('ENOTDIR', 'lookup', '/' + joinPath(parent.path, name));
  return settle(ctx, parent, name, cached, isOciMarkerName(name) ? null : collect(ctx, parent, name));
}

/** A cached lower hard link whose twin has been copied up since (through another of its names). */
function twinCopiedUp(ctx: OverlayContext, node: OverlayNode): boolean {
  return isLowerHardLink(ctx, node.top) && findIndexed(ctx, node.top) !== null;
}

/**
 * Records what a lookup of `name` in `parent` found, given the node cached for it before (if any):
 * the same object updates that node in place (its holders see the change); another object, or
 * none, leaves it stale.
 */
function settle(ctx: OverlayContext, parent: OverlayNode, name: string, cached: OverlayNode | undefined, found: OverlayNode | null): OverlayNode | null {
  if (found === null) {
    if (cached !== undefined) {
      ctx.takeChild(parent, name);
      cached.stale = true;
    }
    ctx.negative.set(childKey(parent, name), true);
    return null;
  }
  if (cached !== undefined && !cached.stale && cached.ino === found.ino && cached.type === found.type) {
    cached.update(found);
    ctx.forgetIndex(cached);
    return cached;
  }
  ctx.remember(parent, name, found);
  return found;
}

/**
 * After the object of `node` changed in the layers: its node is brought up to date in place (or
 * left stale when its name leads elsewhere now). Returns what its name leads to.
 */
export function refreshNode(ctx: OverlayContext, node: OverlayNode): OverlayNode | null {
  ctx.generation++;
  const parent = node.parent;
  if (parent === null) {
    node.update(buildRoot(ctx));
    ctx.forgetIndex(node);
    return node;
  }
  return settle(ctx, parent, node.name, node, isOciMarkerName(node.name) ? null : collect(ctx, parent, node.name));
}

/**
 * The node a recent walk found at merged path `path`, while it is still the one there (and not a
 * lower hard link whose twin has been copied up since: that one is looked up again).
 */
export function knownAt(ctx: OverlayContext, path: string): OverlayNode | undefined {
  const n = ctx.nodeAtPath(path);
  return n === undefined || twinCopiedUp(ctx, n) ? undefined : n;
}

/** The node cached at merged path `path`, walking cached nodes only (no layer is asked). */
export function cachedAt(ctx: OverlayContext, path: string): OverlayNode | undefined {
  let node: OverlayNode | undefined = ctx.root ?? undefined;
  if (path === '' || node === undefined) return node;
  const known = knownAt(ctx, path);
  if (known !== undefined) return known;
  let start = 0;
  while (node !== undefined && start <= path.length) {
    let end = path.indexOf('/', start);
    if (end < 0) end = path.length;
    node = ctx.cachedChild(node, path.slice(start, end));
    start = end + 1;
  }
  return node;
}

/** What is at merged path `path` changed (created, removed, copied up, new markers or metadata). */
export function invalidate(ctx: OverlayContext, path: string): void {
  ctx.generation++;
  if (path === '') {
    if (ctx.root !== null) refreshNode(ctx, ctx.root);
    return;
  }
  const { dir, name } = splitPath(path);
  const parent = cachedAt(ctx, dir);
  if (parent === undefined) return; // nothing below an uncached directory is reachable
  const node = ctx.cachedChild(parent, name);
  if (node === undefined) ctx.negative.delete(childKey(parent, name));
  else refreshNode(ctx, node);
}

/** A name came or went in merged directory `path`: its listing and index are stale. */
export function invalidateListing(ctx: OverlayContext, path: string): void {
  const node = cachedAt(ctx, path);
  if (node !== undefined) ctx.listingChanged(node);
  else ctx.generation++;
}

/** The directory at `path` went away: its node is stale (what was below it is unreachable). */
export function forgetTree(ctx: OverlayContext, path: string): void {
  ctx.generation++;
  const { dir, name } = splitPath(path);
  const parent = cachedAt(ctx, dir);
  const node = parent === undefined ? undefined : ctx.takeChild(parent, name);
  if (node !== undefined) node.stale = true;
  ctx.stack.upperDirsMoved();
}

/**
 * After rename(oldParent/oldName -> newParent/newName): the moved node (and, for an exchange, the
 * other one) keeps its identity, with a new parent and name; a node it replaced is stale. Nothing
 * below a moved directory is touched: its nodes reach their objects through it.
 */
export function renamed(ctx: OverlayContext, oldParent: OverlayNode, oldName: string, newParent: OverlayNode, newName: string, exchange: boolean): void {
  ctx.generation++;
  ctx.listingChanged(oldParent);
  ctx.listingChanged(newParent);
  const moving = ctx.takeChild(oldParent, oldName);
  const other = ctx.takeChild(newParent, newName);
  ctx.stack.upperDirsMoved();
  ctx.moveHolds([
    ...(moving !== undefined ? [{ node: moving, to: newParent }] : []),
    ...(other !== undefined && exchange ? [{ node: other, to: oldParent }] : []),
  ]);
  if (other !== undefined) {
    if (exchange) {
      other.moveTo(oldParent, oldName);
      ctx.remember(oldParent, oldName, other);
    } else other.stale = true;
  }
  if (moving !== undefined) {
    moving.moveTo(newParent, newName);
    ctx.remember(newParent, newName, moving);
  }
  // Their markers changed (redirect, opaque) and upper objects may be new: read again, in place.
  if (moving !== undefined) refreshNode(ctx, moving);
  if (other !== undefined && exchange) refreshNode(ctx, other);
  if (!exchange) ctx.negative.set(childKey(oldParent, oldName), true);
}

/** Lookups in a merged directory before its index is built (readdir builds it at once). */
const INDEX_AFTER_LOOKUPS = 8;

function useIndex(ctx: OverlayContext, dir: OverlayNode): boolean {
  if (ctx.dirIndexes.has(dir.serial)) return true;
  const n = (ctx.dirLookups.get(dir.serial) ?? 0) + 1;
  ctx.dirLookups.set(dir.serial, n);
  return n > INDEX_AFTER_LOOKUPS;
}

/**
 * Before a merged directory is indexed: each layer in turn is asked for NAME, then `.wh.NAME`, in
 * the order an index's hit codes give, and the asking stops as soon as the collector has its
 * answer (a non-directory, a whiteout, an opaque directory): a file found in the upper layer costs
 * one statx, not two per layer. Returns the position the search stopped at (-1: it ran through).
 */
function probeLayers(ctx: OverlayContext, dir: OverlayNode, name: string, c: EntryCollector): number {
  const whiteoutName = name.length <= NAME_MAX - OCI_WHITEOUT_PREFIX.length ? OCI_WHITEOUT_PREFIX + name : null;
  for (let pos = 0; pos < dir.entries.length; pos++) {
    const e = dir.entries[pos];
    if (!c.take(probe(ctx, e.layer, e.path, name, dir.xwhiteouts[pos]))) return pos;
    if (whiteoutName !== null && probeOciWhiteout(ctx, e.layer, e.path, whiteoutName)) {
      c.take(WHITEOUT); // nothing below an OCI whiteout shows
      return pos;
    }
  }
  return -1;
}

/** Whether layer directory `dirRel` holds the OCI whiteout `whiteoutName` (`.wh.NAME`). */
function probeOciWhiteout(ctx: OverlayContext, layer: Layer, dirRel: string, whiteoutName: string): boolean {
  ctx.stats.layerProbes++;
  const fd = layerDirFd(layer, dirRel);
  return fd !== null && sys.tryStatx(fd, whiteoutName) !== null;
}

function collect(ctx: OverlayContext, parent: OverlayNode, name: string): OverlayNode | null {
  const c = new EntryCollector(ctx);
  let stoppedAt = -1;
  if (parent.entries.length > 1) {
    // Merged directory: ask only the layers whose listing has the name (once the directory is
    // indexed), or each layer in turn for the first few lookups, which is cheaper than reading every
    // layer's listing to find one name.
    if (useIndex(ctx, parent)) {
      const codes = dirIndexOf(ctx, parent).hits.get(name);
      if (codes === undefined) return null;
      for (const code of codes) {
        const pos = hitPosition(code);
        const pe = parent.entries[pos];
        const found = isOciWhiteoutHit(code) ? WHITEOUT : probe(ctx, pe.layer, pe.path, name, parent.xwhiteouts[pos]);
        if (!c.take(found)) {
          stoppedAt = pos;
          break;
        }
      }
    } else {
      stoppedAt = probeLayers(ctx, parent, name, c);
    }
  } else {
    const pe = parent.entries[0];
    c.take(probe(ctx, pe.layer, pe.path, name, parent.xwhiteouts[0]));
    stoppedAt = 0;
  }
  if (c.redirect !== null && ctx.config.redirectFollow) followRedirects(ctx, parent, stoppedAt, c);
  if (c.entries.length === 0) return null;
  // A lower hard link whose twin was copied up is that copy now (work/index): one file, all names.
  const indexed = findIndexed(ctx, c.entries[0]);
  if (indexed !== null) return new OverlayNode(parent, name, inodeNumber(ctx, indexed), [indexed, ...c.entries], 0, false, []);
  return new OverlayNode(parent, name, inodeNumber(ctx, c.entries[0]), c.entries, c.dataIndex, c.opaque, c.xwhiteouts);
}

/**
 * The node of a non-directory just created in the upper layer as `name` in `parent` (stat `stat`):
 * nothing below shows through it and it has no overlay xattrs, so it needs no lookup. Cached as a lookup's.
 */
export function newUpperObject(ctx: OverlayContext, parent: OverlayNode, name: string, stat: sys.Stat): OverlayNode {
  const top: RealEntry = { layer: ctx.stack.upper!, path: joinPath(parent.path, name), stat };
  const node = new OverlayNode(parent, name, ctx.inodes.of(top), [top], 0, false, []);
  ctx.remember(parent, name, node);
  return node;
}

/**
 * The inode number of a merged object: from its top object, except that a copied-up object keeps
 * the number it had before copy-up (recorded in a private xattr at copy-up).
 */
function inodeNumber(ctx: OverlayContext, top: RealEntry): number {
  if (top.layer.mutable) {
    const { dir, name } = splitPath(top.path);
    const saved = sys.getxattrat(top.layer.dirFd(dir), name, ctx.xattrs.inoNumber);
    if (saved !== null) {
      const n = Number(saved.toString('latin1'));
      if (Number.isSafeInteger(n) && n > 0) return n;
    }
  }
  return ctx.inodes.of(top);
}

/** Splits a merged path into components, resolving '.' and '..' lexically (never above the root). */
export function pathComponents(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}
