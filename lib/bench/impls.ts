/**
 * The implementations `layerfs bench` compares: layerfs (one column per line of LAYERFS_VARIANTS),
 * kernel overlayfs and its variants (root), fuse-overlayfs (when installed) and any
 * fuse-overlayfs-compatible command the user names (`--impl 'NAME=PROG ARGS'`).
 */
import { parseMountArgs } from '../cli/options';
import { defaultBaseline } from './samples';
import { hasCommand } from './system';
import type { ImplSpec } from './types';

export interface LayerfsVariant {
  name: string;
  /** Mount options (-o) beyond lowerdir/upperdir/workdir. */
  options: string[];
  description: string;
}

/**
 * layerfs columns: each data path, and each transport (how requests reach the server). A new
 * transport is one line here; a line whose options this build's mount program does not know is
 * left out with a message (so a transport can be listed before it lands).
 */
export const LAYERFS_VARIANTS: LayerfsVariant[] = [
  { name: 'layerfs', options: [], description: 'layerfs defaults: its own /dev/fuse session, server opens with kernel passthrough where the kernel grants it' },
  { name: 'layerfs-kernel-opens', options: ['opens=kernel'], description: 'layerfs -o opens=kernel: the kernel opens files, reads and writes are served' },
  { name: 'layerfs-fuse-native', options: ['transport=fuse-native'], description: 'layerfs -o transport=fuse-native: requests through libfuse (fuse-native)' },
];

/** Kernel overlayfs columns (root only). metacopy is explicit so the machine's default does not pick. */
export const KERNEL_VARIANTS: { name: string; options: string[]; description: string }[] = [
  { name: 'kernel', options: ['metacopy=off'], description: 'kernel overlayfs (metacopy=off): the baseline of every ratio' },
  { name: 'kernel-metacopy', options: ['metacopy=on'], description: 'kernel overlayfs, metacopy=on (metadata-only copy-up)' },
  { name: 'kernel-volatile', options: ['metacopy=off', 'volatile'], description: 'kernel overlayfs, volatile (no syncs to the upper)' },
];

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,39}$/;

export class BenchUsageError extends Error {
  readonly code = 'EINVAL';
}

/** Parses `--impl 'NAME=PROG ARGS'` (arguments split on white space, no shell). */
export function parseImplArg(text: string): ImplSpec {
  const eq = text.indexOf('=');
  const name = eq < 0 ? '' : text.slice(0, eq).trim();
  const argv = eq < 0 ? [] : text.slice(eq + 1).trim().split(/\s+/).filter((a) => a !== '');
  if (!NAME_RE.test(name) || argv.length === 0) {
    throw new BenchUsageError(`--impl ${JSON.stringify(text)}: expected NAME=PROG [ARGS] (NAME: letters, digits, . _ + -), called as PROG ARGS -o lowerdir=..,upperdir=..,workdir=.. MNT`);
  }
  return { name, kind: 'command', description: `${argv.join(' ')} (--impl)`, options: [], argv };
}

/** Whether this build's mount program knows every option of `v` (a transport may not have landed yet). */
function knowsOptions(v: LayerfsVariant): string | null {
  if (v.options.length === 0) return null;
  try {
    const m = parseMountArgs(['-o', `lowerdir=/,${v.options.join(',')}`, '/mnt']);
    return m.unknown.length > 0 ? `this build's mount program does not know -o ${m.unknown.join(',')}` : null;
  } catch (err) {
    return (err as Error).message;
  }
}

export interface ImplChoice {
  impls: ImplSpec[];
  /** One line per implementation that cannot run here, and why. */
  skipped: string[];
}

/**
 * Every implementation that can run here, in column order; `kernelProbe` says whether kernel
 * overlayfs mounts work (null) or why not.
 */
export async function chooseImpls(opts: {
  extra: string[];
  filter?: RegExp;
  kernelProbe: () => string | null;
  /** Mounts `impl` once on a tiny layer: null, or why it cannot mount here (a transport whose library is missing...). */
  mountProbe?: (impl: ImplSpec) => Promise<string | null>;
}): Promise<ImplChoice> {
  const impls: ImplSpec[] = [];
  const skipped: string[] = [];
  const wanted = (name: string) => opts.filter === undefined || opts.filter.test(name);
  for (const v of LAYERFS_VARIANTS) {
    if (!wanted(v.name)) continue;
    const spec: ImplSpec = { name: v.name, kind: 'layerfs', description: v.description, options: v.options };
    const why = knowsOptions(v) ?? (v.options.length > 0 && opts.mountProbe ? await opts.mountProbe(spec) : null);
    if (why !== null) skipped.push(`${v.name}: not measured: ${why}`);
    else impls.push(spec);
  }
  const kernelWanted = KERNEL_VARIANTS.filter((k) => wanted(k.name));
  if (kernelWanted.length > 0) {
    const why = process.getuid?.() !== 0 ? 'not root (kernel overlayfs needs CAP_SYS_ADMIN); ratios are taken against fuse-overlayfs, or the first column' : opts.kernelProbe();
    if (why !== null) skipped.push(`kernel overlayfs: not measured: ${why}`);
    else for (const k of kernelWanted) impls.push({ name: k.name, kind: 'kernel', description: k.description, options: k.options });
  }
  if (wanted('fuse-overlayfs')) {
    if (!hasCommand('fuse-overlayfs')) skipped.push('fuse-overlayfs: not measured: not installed (apt-get install fuse-overlayfs)');
    else impls.push({ name: 'fuse-overlayfs', kind: 'command', description: 'fuse-overlayfs (in the foreground: -f)', options: [], argv: ['fuse-overlayfs', '-f'] });
  }
  for (const text of opts.extra) {
    const spec = parseImplArg(text);
    if (impls.some((i) => i.name === spec.name)) throw new BenchUsageError(`--impl ${spec.name}: that name is taken`);
    if (!hasCommand(spec.argv![0], ['--help'])) skipped.push(`${spec.name}: not measured: ${spec.argv![0]} not found`);
    else impls.push(spec);
  }
  return { impls, skipped };
}

/** The implementation every ratio is taken against: the kernel when it ran, else fuse-overlayfs, else the first column. */
export const baselineOf = defaultBaseline;
