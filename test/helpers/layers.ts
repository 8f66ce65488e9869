import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as sys from '../../lib/sys';

/** One object of a test layer, described abstractly so it can be written in any on-disk form. */
export type Item =
  | { type: 'file'; content?: string | Buffer; mode?: number; uid?: number; gid?: number; mtime?: number; xattrs?: Record<string, string> }
  | { type: 'dir'; mode?: number; uid?: number; gid?: number; opaque?: boolean; xattrs?: Record<string, string> }
  | { type: 'symlink'; target: string }
  | { type: 'fifo'; mode?: number }
  | { type: 'whiteout' };

/** Layer-relative path -> item; parents are created as plain directories when not listed. */
export type LayerSpec = Record<string, Item>;

/**
 * How whiteouts and opaque directories are written. The kernel reads 'device' and 'xattr' whiteouts
 * and 'xattr' opaque; OCI images carry 'oci' (`.wh.NAME`, `.wh..wh..opq`), which only layerfs reads.
 */
export interface MarkerForm {
  whiteout: 'device' | 'xattr' | 'oci';
  opaque: 'xattr' | 'oci';
  /** xattr prefix for the overlay markers. */
  prefix?: 'trusted.overlay.' | 'user.overlay.';
}

export const KERNEL_FORM: MarkerForm = { whiteout: 'device', opaque: 'xattr' };

export function tempDir(label = 'layerfs-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), label));
}

export function removeTree(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

const FIXED_TIME = 1_600_000_000;

/** Writes `spec` under `root` (which must exist) in the given marker form. */
export function writeLayer(root: string, spec: LayerSpec, form: MarkerForm = KERNEL_FORM): void {
  const prefix = form.prefix ?? 'trusted.overlay.';
  const setX = (p: string, name: string, value: string) =>
    sys.setxattrat(sys.AT.FDCWD, p, name, Buffer.from(value));
  // Parents first; directories' times are fixed at the end (writing into them changes mtime).
  const paths = Object.keys(spec).sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  for (const rel of paths) {
    const item = spec[rel];
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    switch (item.type) {
      case 'file':
        fs.writeFileSync(p, item.content ?? '');
        if (item.mode !== undefined) fs.chmodSync(p, item.mode);
        if (item.uid !== undefined || item.gid !== undefined) fs.lchownSync(p, item.uid ?? 0, item.gid ?? 0);
        for (const [k, v] of Object.entries(item.xattrs ?? {})) setX(p, k, v);
        fs.utimesSync(p, item.mtime ?? FIXED_TIME, item.mtime ?? FIXED_TIME);
        break;
      case 'dir':
        fs.mkdirSync(p, { recursive: true });
        if (item.mode !== undefined) fs.chmodSync(p, item.mode);
        if (item.uid !== undefined || item.gid !== undefined) fs.lchownSync(p, item.uid ?? 0, item.gid ?? 0);
        for (const [k, v] of Object.entries(item.xattrs ?? {})) setX(p, k, v);
        if (item.opaque) {
          if (form.opaque === 'xattr') setX(p, prefix + 'opaque', 'y');
          else fs.writeFileSync(path.join(p, '.wh..wh..opq'), '');
        }
        break;
      case 'symlink':
        fs.symlinkSync(item.target, p);
        fs.lutimesSync(p, FIXED_TIME, FIXED_TIME);
        break;
      case 'fifo':
        sys.mknodat(sys.AT.FDCWD, p, sys.S.IFIFO | (item.mode ?? 0o644), 0);
        fs.utimesSync(p, FIXED_TIME, FIXED_TIME);
        break;
      case 'whiteout':
        if (form.whiteout === 'device') {
          sys.mknodat(sys.AT.FDCWD, p, sys.S.IFCHR | 0o000, sys.makedev(0, 0));
        } else if (form.whiteout === 'oci') {
          fs.writeFileSync(path.join(path.dirname(p), '.wh.' + path.basename(p)), '');
        } else {
          fs.writeFileSync(p, '');
          setX(p, prefix + 'whiteout', '');
          // The kernel only looks for xattr whiteouts in a directory marked opaque=x.
          const parent = path.dirname(p);
          const current = sys.getxattrat(sys.AT.FDCWD, parent, prefix + 'opaque');
          if (current === null) setX(parent, prefix + 'opaque', 'x');
        }
        break;
    }
  }
  // Every directory, listed or implied, gets the same fixed times in every marker form.
  const fixTimes = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) fixTimes(path.join(dir, e.name));
    fs.utimesSync(dir, FIXED_TIME, FIXED_TIME);
  };
  fixTimes(root);
}

/** A set of layers on disk, top first, with optional upper and work dirs; `remove()` deletes it all. */
export interface LayerSet {
  base: string;
  lower: string[];
  upper: string;
  work: string;
  remove(): void;
}

/** Writes each layer spec (top first) into base/l<i>, plus empty base/upper and base/work. */
export function makeLayerSet(specs: LayerSpec[], form: MarkerForm = KERNEL_FORM, base = tempDir()): LayerSet {
  const lower = specs.map((_, i) => path.join(base, `l${i}`));
  specs.forEach((spec, i) => {
    fs.mkdirSync(lower[i], { recursive: true });
    writeLayer(lower[i], spec, form);
  });
  const upper = path.join(base, 'upper');
  const work = path.join(base, 'work');
  fs.mkdirSync(upper, { recursive: true });
  fs.mkdirSync(work, { recursive: true });
  return { base, lower, upper, work, remove: () => removeTree(base) };
}
