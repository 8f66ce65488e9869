/**
 * What the mount shows and stores differently from the engine, in one place: ownership through the
 * id maps (lib/mount/idmap.ts), ownership and permissions recorded in an xattr (xattr_permissions,
 * lib/mount/override-stat.ts), set-ID bits cleared by a change to a file's data (lib/mount/setid.ts)
 * and the ACL rule that drops set-group-ID. The adapter asks; this answers and applies.
 */
import type { Attr, Caller, Overlay, OverlayNode } from '../engine';
import { ACL_ACCESS } from '../engine';
import * as fuse from '../fuse';
import type { FuseContext } from '../fuse';
import { toFuseAttr } from './attr';
import { IdMap } from './idmap';
import type { Override, StatOverride } from './override-stat';
import * as setid from './setid';

/** A SETATTR's changes, ids as the mount shows them. */
export interface AttrChange {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: fuse.SetattrIn['atime'];
  mtime?: fuse.SetattrIn['mtime'];
}

const privateXattr = () => Object.assign(new Error('private xattr'), { code: 'EPERM' });

export class EdgePolicy {
  constructor(
    private readonly ov: Overlay,
    private readonly uids = new IdMap(),
    private readonly gids = new IdMap(),
    /** xattr_permissions=1 or 2: ownership and permissions recorded in an xattr (null: in the inode). */
    private readonly override: StatOverride | null = null,
  ) {}

  /** Attributes as the mount shows them (the xattr's record, owners through the id maps). */
  shown(a: Attr, node?: OverlayNode): fuse.FuseAttr {
    const recorded = this.override !== null && node !== undefined ? this.override.read(this.ov, node) : null;
    if (recorded !== null) a = { ...a, uid: recorded.uid, gid: recorded.gid, mode: (a.mode & ~0o7777) | recorded.mode };
    const out = toFuseAttr(a, a.ino);
    out.uid = this.uids.toContainer(a.uid);
    out.gid = this.gids.toContainer(a.gid);
    return out;
  }

  /** The caller as the upper layer stores it. */
  owner(ctx: FuseContext): { uid: number; gid: number } {
    return { uid: this.uids.toHost(ctx.uid), gid: this.gids.toHost(ctx.gid) };
  }

  /** Who creates an object, with `umask` to apply when the kernel did not (FUSE_DONT_MASK), else undefined. */
  creator(ctx: FuseContext, umask: number | undefined): Caller {
    const owner = this.owner(ctx);
    return umask === undefined ? owner : { ...owner, umask };
  }

  /** xattr_permissions: a new object records its creator and requested mode. */
  async recordNew(path: string, ctx: FuseContext, mode: number): Promise<void> {
    if (this.override === null) return;
    const owner = this.owner(ctx);
    await this.override.write(this.ov, path, {}, { uid: owner.uid, gid: owner.gid, mode: mode & 0o7777 });
  }

  /** Applies a SETATTR by path (ownership and mode recorded, not applied, under xattr_permissions). */
  async setattr(path: string, c: AttrChange): Promise<void> {
    const uid = c.uid === undefined ? undefined : this.uids.toHost(c.uid);
    const gid = c.gid === undefined ? undefined : this.gids.toHost(c.gid);
    if (this.override !== null && (c.mode !== undefined || uid !== undefined || gid !== undefined)) {
      // Recorded, not applied: the inode keeps what the (unprivileged) server can give it.
      await this.record(path, { uid, gid, mode: c.mode === undefined ? undefined : c.mode & 0o7777 });
      if (c.size !== undefined || c.atime !== undefined || c.mtime !== undefined) {
        await this.ov.setattr(path, { size: c.size, atime: c.atime, mtime: c.mtime });
      }
    } else {
      await this.ov.setattr(path, { mode: c.mode, uid, gid, size: c.size, atime: c.atime, mtime: c.mtime });
    }
  }

  /**
   * The permission bits the caller's change to the file's data (or chown: `killRequested`) leaves
   * at `path` (lib/mount/setid.ts), or undefined when they stay as they are.
   */
  modeAfterChange(ctx: FuseContext, path: string, killRequested: boolean): number | undefined {
    const { mode, gid } = this.shownModeOf(path);
    if (!setid.hasSetId(mode)) return undefined;
    const after = setid.modeAfterChange(mode, gid, setid.writerOf(ctx), killRequested);
    return after === (mode & 0o7777) ? undefined : after;
  }

  /** Clears what the caller's change to the data at `path` clears of its set-ID bits; whether it did. */
  async clearSetId(ctx: FuseContext, path: string, killRequested: boolean): Promise<boolean> {
    const mode = this.modeAfterChange(ctx, path, killRequested);
    if (mode === undefined) return false;
    if (this.override !== null) await this.record(path, { mode });
    else await this.ov.setattr(path, { mode });
    return true;
  }

  /** Whether an open of `path` (for writing: `write`) may go through passthrough (setid.mayPassThrough). */
  mayPassThrough(path: string, write: boolean): boolean {
    return setid.mayPassThrough(this.shownModeOf(path).mode, write);
  }

  /** Whether the attribute is the xattr_permissions record, which the mount never shows. */
  hidesXattr(name: string): boolean {
    return this.override !== null && name === this.override.xattr;
  }

  visibleXattrs(names: string[]): string[] {
    return this.override === null ? names : names.filter((n) => n !== this.override!.xattr);
  }

  /** Refuses a change to the xattr_permissions record (EPERM). */
  checkXattrChange(name: string): void {
    if (this.hidesXattr(name)) throw privateXattr();
  }

  /**
   * After a SETXATTR: setting an access ACL by a caller outside the file's group (and without
   * CAP_FSETID) drops set-group-ID, as chmod would; the kernel says so, the server does it (we
   * have CAP_FSETID).
   */
  async xattrSet(path: string, name: string, setxattrFlags: number): Promise<void> {
    if ((setxattrFlags & fuse.SETXATTR_ACL_KILL_SGID) === 0 || name !== ACL_ACCESS) return;
    const mode = this.ov.getattr(path).mode;
    if ((mode & setid.S_ISGID) !== 0) await this.ov.setattr(path, { mode: mode & 0o7777 & ~setid.S_ISGID });
  }

  /** The mode as the mount shows it (through xattr_permissions' record) and the group it compares with. */
  private shownModeOf(path: string): { mode: number; gid: number } {
    const node = this.ov.resolve(path);
    const a = this.shown(this.ov.getattr(node), node);
    return { mode: a.mode, gid: a.gid };
  }

  /** Records `change` (host ids) over what `path` shows now (xattr_permissions). */
  private async record(path: string, change: Partial<Override>): Promise<void> {
    const shown = this.shown(this.ov.getattr(path), this.ov.resolve(path));
    await this.override!.write(this.ov, path, change, {
      uid: this.uids.toHost(shown.uid), gid: this.gids.toHost(shown.gid), mode: shown.mode & 0o7777,
    });
  }
}
