import * as sys from '../sys';
import type { OverlayContext } from './context';
import { OverlayError } from './errors';
import { OverlayNode, splitPath } from './node';

/** Reads one user-visible xattr of a merged object (from its top object); private ones never show. */
export function getXattr(ctx: OverlayContext, node: OverlayNode, name: string): Buffer {
  const value = findXattr(ctx, node, name);
  if (value === null) throw new OverlayError('ENODATA', 'getxattr', '/' + node.path);
  return value;
}

/** getXattr, with null for a missing xattr (ENODATA is the common answer: ls -l asks every file). */
export function findXattr(ctx: OverlayContext, node: OverlayNode, name: string): Buffer | null {
  const stored = ctx.xattrs.toStored(name);
  const { layer, path } = node.top;
  const { dir, name: base } = splitPath(path);
  const fd = layer.dirFd(dir);
  if (!layer.mutable) {
    // One listxattr per lower object answers every later ask for a name it lacks without a system
    // call (the kernel asks security.capability at every exec of a program and every write).
    node.lowerXattrNames ??= sys.listxattrat(fd, base);
    if (!node.lowerXattrNames.includes(stored)) return null;
  }
  return sys.getxattrat(fd, base, stored);
}

/** Lists the user-visible xattrs of a merged object: private ones dropped, escaped ones unescaped. */
export function listXattrs(ctx: OverlayContext, node: OverlayNode): string[] {
  const { layer, path } = node.top;
  const { dir, name } = splitPath(path);
  const out: string[] = [];
  for (const stored of sys.listxattrat(layer.dirFd(dir), name)) {
    const visible = ctx.xattrs.toVisible(stored);
    if (visible !== null) out.push(visible);
  }
  return out;
}
