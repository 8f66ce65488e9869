import * as fs from 'node:fs';
import * as path from 'node:path';
import { librarySpecs, optionProblem, specOf } from '../options';

/** Options accepted by `openOverlay()`; validated once by `resolveConfig()`. */
export interface OverlayOptions {
  /** Read-only layers, top first (as in `lowerdir=top:...:bottom`). At least one. */
  lower: string[];
  /** Writable layer. Without it the overlay is read-only. */
  upper?: string;
  /** Scratch directory on the upper's filesystem; required with `upper`. */
  work?: string;
  /** Use `user.overlay.*` instead of `trusted.overlay.*` for the overlay's own xattrs (as the kernel's userxattr). */
  userxattr?: boolean;
  /** Follow `overlay.redirect` xattrs on directories (default true, as redirect_dir=on/follow). */
  redirectFollow?: boolean;
  /** Skip fsync of copied-up data and never sync (as the kernel's `volatile`): faster, not crash-safe. */
  volatile?: boolean;
  /** Metadata-only copy-up for chmod/chown/utimes/xattr changes of lower files (default true). */
  metacopy?: boolean;
  /** Cache bounds. */
  cache?: CacheOptions;
  /**
   * Where this overlay is mounted, if it is (lib/mount sets it): recorded with the lock on the upper
   * and work directories, so a second user refused is told which mount holds them.
   */
  mountpoint?: string;
}

export interface CacheOptions {
  /** Overlay nodes kept by path (default 8192; a quarter as many negative entries). */
  nodes?: number;
  /** Names held by merged-directory indexes, summed (default 250,000). */
  dirIndexNames?: number;
  /** Open directory descriptors per layer directory (default 1024). */
  dirFds?: number;
}

export interface OverlayConfig {
  lower: string[];
  upper: string | null;
  work: string | null;
  userxattr: boolean;
  redirectFollow: boolean;
  volatile: boolean;
  metacopy: boolean;
  cache: Required<CacheOptions>;
  mountpoint: string | null;
}

/** Most lower layers: the inode number encoding reserves 10 bits for the layer (upper = 0). */
export const MAX_LOWER_LAYERS = 1000;

/** A configuration problem, named precisely: `code` is an errno name, `option` and `path` say where. */
export class ConfigError extends Error {
  readonly code: string;
  readonly option: string;
  readonly path: string | undefined;
  readonly syscall = 'open';
  constructor(code: string, option: string, message: string, dirPath?: string) {
    super(message);
    this.name = 'ConfigError';
    this.code = code;
    this.option = option;
    this.path = dirPath;
  }
}

/** The options an Overlay takes (lib/options.ts, the engine's part of the spine). */
const ENGINE_OPTIONS = librarySpecs('engine');

/** `value` of the engine option `key` (e.g. 'cache.nodes') checked against the spine, or its default. */
function checked<T>(key: string, value: unknown): T {
  const spec = specOf(key);
  if (value === undefined) return spec.value as T;
  const problem = optionProblem(key, spec.type, value);
  if (problem !== null) throw new ConfigError('EINVAL', key, problem);
  return value as T;
}

/** Checks that `dir` names an existing directory and returns its real path and device. */
function checkDirectory(dir: unknown, option: string): { real: string; dev: number } {
  if (typeof dir !== 'string' || dir === '') {
    throw new ConfigError('EINVAL', option, `${option} must be a non-empty path string, got ${JSON.stringify(dir)}`);
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'permission denied' : `cannot be read (${code})`;
    throw new ConfigError(code, option, `${option} ${dir}: ${why}`, dir);
  }
  if (!st.isDirectory()) throw new ConfigError('ENOTDIR', option, `${option} ${dir}: not a directory`, dir);
  return { real: fs.realpathSync(dir), dev: st.dev };
}

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent === '/' ? '/' : parent + path.sep);
}

/** Validates user options once, with a message that names the bad option or directory. */
export function resolveConfig(options: OverlayOptions): OverlayConfig {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('EINVAL', 'options', 'options must be an object with at least { lower: [...] }');
  }
  for (const key of Object.keys(options)) {
    if (key.includes('.') || !ENGINE_OPTIONS.has(key)) throw new ConfigError('EINVAL', key, `unknown option "${key}"`);
  }
  if (!Array.isArray(options.lower) || options.lower.length === 0) {
    throw new ConfigError('EINVAL', 'lower', 'lower must be a non-empty array of directories (top layer first)');
  }
  if (options.lower.length > MAX_LOWER_LAYERS) {
    throw new ConfigError('EINVAL', 'lower', `too many lower layers: ${options.lower.length} (at most ${MAX_LOWER_LAYERS})`);
  }
  const named: { option: string; real: string; given: string }[] = [];
  const lower = options.lower.map((dir, i) => {
    const { real } = checkDirectory(dir, `lower[${i}]`);
    named.push({ option: `lower[${i}]`, real, given: dir });
    return real;
  });
  let upper: string | null = null;
  let work: string | null = null;
  if (options.upper !== undefined) {
    const u = checkDirectory(options.upper, 'upper');
    if (options.work === undefined) throw new ConfigError('EINVAL', 'work', 'upper needs a work directory (option work) on the same filesystem');
    const w = checkDirectory(options.work, 'work');
    if (u.dev !== w.dev) {
      throw new ConfigError('EXDEV', 'work', `work ${options.work}: not on the same filesystem as upper ${options.upper}`, options.work);
    }
    upper = u.real;
    work = w.real;
    named.unshift({ option: 'upper', real: upper, given: options.upper }, { option: 'work', real: work, given: options.work });
  } else if (options.work !== undefined) {
    throw new ConfigError('EINVAL', 'work', 'work given without upper');
  }
  // Overlapping layers would let one layer's changes show up inside another (the kernel refuses them too).
  for (let i = 0; i < named.length; i++) {
    for (let j = 0; j < named.length; j++) {
      if (i === j) continue;
      const a = named[i], b = named[j];
      if (inside(a.real, b.real) && (a.real !== b.real || i > j)) {
        const how = a.real === b.real ? 'is the same directory as' : 'is inside';
        throw new ConfigError('EINVAL', a.option, `${a.option} ${a.given} ${how} ${b.option} ${b.given}: layers must not overlap`, a.given);
      }
    }
  }
  const cache = options.cache ?? {};
  if (cache === null || typeof cache !== 'object') throw new ConfigError('EINVAL', 'cache', `cache must be an object, got ${JSON.stringify(cache)}`);
  for (const key of Object.keys(cache)) {
    if (!ENGINE_OPTIONS.has(`cache.${key}`)) throw new ConfigError('EINVAL', `cache.${key}`, `unknown option "cache.${key}"`);
  }
  if (options.mountpoint !== undefined) checked('mountpoint', options.mountpoint);
  return {
    lower,
    upper,
    work,
    userxattr: checked('userxattr', options.userxattr),
    redirectFollow: checked('redirectFollow', options.redirectFollow),
    volatile: checked('volatile', options.volatile),
    metacopy: checked('metacopy', options.metacopy),
    cache: {
      nodes: checked('cache.nodes', cache.nodes),
      dirIndexNames: checked('cache.dirIndexNames', cache.dirIndexNames),
      dirFds: checked('cache.dirFds', cache.dirFds),
    },
    mountpoint: options.mountpoint ?? null,
  };
}
