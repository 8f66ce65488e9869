/**
 * The mount program's command line, fuse-overlayfs compatible, so container tools can call
 * `layerfs` wherever they call fuse-overlayfs:
 *   layerfs [-f] [-d] [-o OPTS]... [SOURCE] MOUNTPOINT
 * Empty options are ignored, unknown ones are reported and ignored (as fuse-overlayfs does), a bad
 * value is an error naming it.
 */
import * as path from 'node:path';
import { ACCEPTED_FLAGS, ACCEPTED_WITH_VALUE, CliForm, cliForms, oneOf } from '../options';

/** A container:host:length triple of uidmapping=/gidmapping=. */
export interface IdRange {
  container: number;
  host: number;
  length: number;
}

export interface CliMount {
  source: string | null;
  mountpoint: string;
  foreground: boolean;
  debug: boolean;
  lower: string[];
  upper?: string;
  work?: string;
  readOnly: boolean;
  volatile: boolean;
  userxattr: boolean;
  redirectFollow: boolean;
  /** undefined: not given (the server's default: on, off when unprivileged) */
  metacopy?: boolean;
  allowOther?: boolean;
  passthrough: boolean | 'auto';
  /** opens=kernel|server (MountOptions.opens); undefined: not given */
  opens?: 'kernel' | 'server';
  /** writeback=0|1: the kernel's writeback cache for served files; undefined: the server's default */
  writeback?: boolean;
  /** POSIX ACLs enforced by the kernel (`acl`, `noacl`); 'auto': when the upper layer has them. */
  acl: boolean | 'auto';
  uidmap: IdRange[];
  gidmap: IdRange[];
  squashUid?: number;
  squashGid?: number;
  staticNlink: boolean;
  noxattrs: boolean;
  /** Ownership and permissions kept in an xattr: 2 user.containers.override_stat, 1 security.fuseoverlayfs.override_stat. */
  xattrPermissions?: 1 | 2;
  /** Options accepted for compatibility that change nothing here. */
  ignored: string[];
  /** Unknown options (reported on stderr, then ignored). */
  unknown: string[];
  logFile?: string;
  /** transport=fuse|fuse-native (MountOptions.transport); undefined: not given (fuse) */
  transport?: 'fuse' | 'fuse-native';
}

export class UsageError extends Error {
  readonly code = 'EINVAL';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Splits `-o` option text on commas (a backslash escapes a comma or colon). */
export function splitOptions(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) cur += c + text[++i];
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** lowerdir=TOP:...:BOTTOM, `\:` escaping a colon; a `::` (data-only layers) is read as ':'. */
export function splitLowerdir(value: string): string[] {
  const dirs: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\' && i + 1 < value.length) cur += value[++i];
    else if (value[i] === ':') {
      if (cur !== '') dirs.push(cur);
      cur = '';
    } else cur += value[i];
  }
  if (cur !== '') dirs.push(cur);
  return dirs;
}

const unescape = (s: string) => s.replace(/\\(.)/g, '$1');

function parseIdMap(option: string, value: string): IdRange[] {
  const nums = value.split(':');
  if (nums.length % 3 !== 0 || nums.some((n) => !/^\d+$/.test(n))) {
    throw new UsageError(`${option}=${value}: expected container:host:length triples (numbers), e.g. 0:1000:65536`);
  }
  const out: IdRange[] = [];
  for (let i = 0; i < nums.length; i += 3) {
    const [container, host, length] = nums.slice(i, i + 3).map(Number);
    if (length === 0) throw new UsageError(`${option}=${value}: a range of length 0`);
    out.push({ container, host, length });
  }
  return out;
}

function parseId(option: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${option}=${value}: expected a number`);
  return Number(value);
}

/** The `-o` forms of the options spine (lib/options.ts), by name. */
const FORMS = new Map(cliForms().map(({ form }) => [form.name, form]));

/** Applies one `-o` option (`key`, `=value` when `hasValue`) to `m`, as its form in the spine says. */
function applyForm(m: CliMount, form: CliForm, key: string, value: string, hasValue: boolean): void {
  const fields = m as unknown as Record<string, unknown>;
  if ('set' in form) {
    Object.assign(m, form.set);
    return;
  }
  if (!hasValue || value === '') throw new UsageError(`${key} needs a value (${key}=...)`);
  if ('values' in form) {
    if (!Object.hasOwn(form.values, value)) throw new UsageError(`${key}=${value}: expected ${oneOf(Object.keys(form.values), String)}`);
    fields[form.field] = form.values[value];
    return;
  }
  let parsed: unknown;
  switch (form.parse) {
    case 'dirs':
      parsed = splitLowerdir(value);
      if ((parsed as string[]).length === 0) throw new UsageError(`${key}= names no directory`);
      break;
    case 'path': parsed = unescape(value); break;
    case 'idmap': parsed = parseIdMap(key, value); break;
    case 'uint': parsed = parseId(key, value); break;
    case 'string': parsed = value; break;
  }
  if (form.append === true) (fields[form.field] as unknown[]).push(...(parsed as unknown[]));
  else fields[form.field] = parsed;
}

export function parseMountArgs(argv: string[]): CliMount {
  const positional: string[] = [];
  const opts: string[] = [];
  let foreground = false;
  let debug = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-f') foreground = true;
    else if (a === '-d' || a === '--debug') {
      debug = true;
      foreground = true;
    } else if (a === '-o') {
      if (i + 1 >= argv.length) throw new UsageError('-o needs an option list');
      opts.push(...splitOptions(argv[++i]));
    } else if (a.startsWith('-o')) opts.push(...splitOptions(a.slice(2)));
    else if (a === '-s' || a === '-n' || a === '-v' || a === '--') continue; // mount.fuse3 / fusermount style, no meaning here
    else if (a.startsWith('-')) throw new UsageError(`unknown flag ${a} (see layerfs --help)`);
    else positional.push(a);
  }
  if (positional.length === 0) throw new UsageError('missing mountpoint');
  if (positional.length > 2) throw new UsageError(`too many arguments: ${positional.join(' ')}`);
  const m: CliMount = {
    source: positional.length === 2 ? positional[0] : null,
    mountpoint: positional[positional.length - 1],
    foreground,
    debug,
    lower: [],
    readOnly: false,
    volatile: false,
    userxattr: false,
    redirectFollow: true,
    passthrough: 'auto',
    acl: 'auto',
    uidmap: [],
    gidmap: [],
    staticNlink: false,
    noxattrs: false,
    ignored: [],
    unknown: [],
  };
  for (const raw of opts) {
    if (raw === '') continue;
    const eq = raw.indexOf('=');
    const key = eq < 0 ? raw : raw.slice(0, eq);
    const value = eq < 0 ? '' : raw.slice(eq + 1);
    const form = FORMS.get(key);
    if (form !== undefined) applyForm(m, form, key, value, eq >= 0);
    else if (ACCEPTED_FLAGS.has(key) || ACCEPTED_WITH_VALUE.has(key)) m.ignored.push(raw);
    else m.unknown.push(raw);
  }
  if (m.lower.length === 0) throw new UsageError('missing lowerdir= (the read-only layers, top first: -o lowerdir=TOP:...:BOTTOM)');
  if ((m.upper === undefined) !== (m.work === undefined)) throw new UsageError(m.upper === undefined ? 'workdir= given without upperdir=' : 'upperdir= needs workdir= (on the same filesystem)');
  return m;
}

/** `m` with every path made absolute against `cwd` (a background server leaves its directory). */
export function withAbsolutePaths(m: CliMount, cwd: string): CliMount {
  const abs = (p: string) => path.resolve(cwd, p);
  return {
    ...m,
    lower: m.lower.map(abs),
    upper: m.upper === undefined ? undefined : abs(m.upper),
    work: m.work === undefined ? undefined : abs(m.work),
    mountpoint: abs(m.mountpoint),
    logFile: m.logFile === undefined ? undefined : abs(m.logFile),
  };
}
