/**
 * The options spine: every option of the engine (`Overlay.open`), of `mount()` and of the layerfs
 * command, defined once: its library name, type, default, the command line's `-o` forms, and its
 * documentation line. The engine's option checks (lib/engine/config.ts), `mount()`'s
 * (lib/mount/mount.ts), the command line parser (lib/cli/options.ts), `layerfs --help` and the option
 * tables of docs/cli.md and docs/api.md (scripts/options-docs.js; test/cli/spine.test.ts fails when
 * they disagree) all come from here. Pure data and pure functions: no imports that run code.
 */
import type { CliMount } from './cli/options';

/** Who consumes an option: the engine (any Overlay), the mount server, or the command only. */
export type OptionLayer = 'engine' | 'mount' | 'cli';

/** What a library option's value must be. 'dir'/'dirs'/'object' are checked by resolveConfig itself. */
export type OptionType =
  | { kind: 'bool' }
  | { kind: 'choice'; values: readonly (string | boolean | number)[] }
  | { kind: 'positive-int' }
  | { kind: 'uint' }
  | { kind: 'string' }
  | { kind: 'path' }
  | { kind: 'dir' }
  | { kind: 'dirs' }
  | { kind: 'idmap' }
  | { kind: 'function' }
  | { kind: 'object' }
  | { kind: 'none' };

type Field = keyof CliMount;

/** One `-o` form of an option. */
export type CliForm = { name: string; /** how the docs write it, when not the generated form */ syntax?: string } & (
  /** `name` alone: sets these fields of the parsed command line */
  | { set: Partial<Record<Field, unknown>> }
  /** `name=V`, V one of `values` (keys), giving the field that value */
  | { field: Field; values: Readonly<Record<string, unknown>> }
  /** `name=META`, parsed as `parse` says; `append`: each use adds to the list */
  | { field: Field; parse: 'dirs' | 'path' | 'idmap' | 'uint' | 'string'; meta: string; append?: boolean });

export interface OptionSpec {
  /** The property of the options of `Overlay.open()` / `mount()`; null: the command line's only. */
  key: string | null;
  layer: OptionLayer;
  type: OptionType;
  /** The default value the engine applies (engine options). */
  value?: boolean | number;
  /** The default, as the docs say it (default: `value`; undefined: none). */
  default?: string;
  /** One line for `--help` (command line forms) and the library options table. */
  summary: string;
  /** The `--help` line of the command line forms, when not the summary. */
  help?: string;
  /** The docs table line of the command line forms, when not the summary. */
  doc?: string;
  /** The `-o` forms; none: library only. */
  cli?: readonly CliForm[];
  /** The CliMount field that carries it to the library (default: `key`), when it has `-o` forms. */
  cliField?: Field;
  /** Accepted on the command line for compatibility, changes nothing. */
  noEffect?: boolean;
}

const bool = { kind: 'bool' } as const;
const onOff = { on: true, off: false } as const;

export const OPTIONS: readonly OptionSpec[] = [
  // ---- the engine (lib/engine/config.ts) ----
  {
    key: 'lower', layer: 'engine', type: { kind: 'dirs' },
    summary: 'read-only layers, top first (at least one)',
    help: 'read-only layers, top first; `\\:` escapes a colon',
    doc: 'read-only layers, top first; `\\:` escapes a colon',
    cli: [{ name: 'lowerdir', field: 'lower', parse: 'dirs', meta: 'TOP:...:BOTTOM' }],
  },
  {
    key: 'upper', layer: 'engine', type: { kind: 'dir' },
    summary: 'the writable layer (without it the mount is read-only)',
    cli: [{ name: 'upperdir', field: 'upper', parse: 'path', meta: 'DIR' }],
  },
  {
    key: 'work', layer: 'engine', type: { kind: 'dir' },
    summary: 'scratch directory of the upper layer, on its filesystem (required with upper)',
    help: 'scratch directory of upperdir, on its filesystem (required with it)',
    cli: [{ name: 'workdir', field: 'work', parse: 'path', meta: 'DIR' }],
  },
  {
    key: 'userxattr', layer: 'engine', type: bool, value: false, default: 'false (mount: true when not root)',
    summary: 'overlay xattrs in `user.overlay.*` instead of `trusted.overlay.*`',
    help: 'overlay xattrs in user.overlay.* instead of trusted.overlay.*',
    cli: [{ name: 'userxattr', set: { userxattr: true } }],
  },
  {
    key: 'redirectFollow', layer: 'engine', type: bool, value: true,
    summary: 'follow directory redirects (`overlay.redirect` xattrs) as redirect_dir=on/follow',
    help: 'follow directory redirects (on, follow) or not',
    cli: [{ name: 'redirect_dir', field: 'redirectFollow', values: { on: true, follow: true, off: false, nofollow: false } }],
  },
  {
    key: 'volatile', layer: 'engine', type: bool, value: false,
    summary: 'no fsync of copied-up data, no syncfs at unmount (faster, not crash-safe)',
    cli: [{ name: 'volatile', set: { volatile: true } }, { name: 'fsync', field: 'volatile', values: { 1: false, 0: true } }],
  },
  {
    key: 'metacopy', layer: 'engine', type: bool, value: true, default: 'true (mount: false when not root)',
    summary: 'metadata-only copy-up of lower files for chmod/chown/utimes/xattr changes',
    help: 'metadata-only copy-up (default: on; off when not root)',
    cli: [{ name: 'metacopy', field: 'metacopy', values: onOff }],
  },
  {
    key: 'cache', layer: 'engine', type: { kind: 'object' },
    summary: 'cache bounds: `{ nodes, dirIndexNames, dirFds }`',
  },
  {
    key: 'cache.nodes', layer: 'engine', type: { kind: 'positive-int' }, value: 8192,
    summary: 'overlay nodes kept by path (a quarter as many negative entries)',
  },
  {
    key: 'cache.dirIndexNames', layer: 'engine', type: { kind: 'positive-int' }, value: 250_000,
    summary: 'names held by merged-directory indexes, summed',
  },
  {
    key: 'cache.dirFds', layer: 'engine', type: { kind: 'positive-int' }, value: 1024,
    summary: 'open directory descriptors per layer directory',
  },
  {
    key: 'mountpoint', layer: 'engine', type: { kind: 'path' },
    summary: 'where the merged tree appears (mount: required; the command takes it as its last argument); recorded with the lock on upper and work',
  },
  // ---- the mount server (lib/mount/server.ts) ----
  {
    key: 'readOnly', layer: 'mount', type: bool, default: 'false',
    summary: 'a read-only mount even with an upper layer',
    cli: [{ name: 'ro', set: { readOnly: true } }, { name: 'rw', set: { readOnly: false } }],
  },
  {
    key: 'opens', layer: 'mount', type: { kind: 'choice', values: ['kernel', 'server', 'auto'] }, default: "'auto'",
    summary: 'who opens files: the server (each open a request, handed to the kernel for passthrough) or the kernel (FUSE no_open)',
    help: 'who opens files (default: server with passthrough, else kernel)',
    doc: 'who opens files (docs/architecture.md, Data path): `server` (every open is a request; each file handed to the kernel for passthrough) or `kernel` (FUSE no_open: open and close cost no round trip, reads and writes are served through the page cache; faster for package installs, slower for file data). Default: `server` where the kernel grants passthrough (root, Linux >= 6.9), else `kernel`',
    cli: [{ name: 'opens', field: 'opens', values: { kernel: 'kernel', server: 'server' } }],
  },
  {
    key: 'passthrough', layer: 'mount', type: { kind: 'choice', values: [true, false, 'auto'] }, default: "'auto'",
    summary: 'kernel passthrough of open files (needs root, Linux >= 6.9 and server opens)',
    help: 'kernel passthrough of open files (default: where the kernel offers it)',
    doc: 'kernel passthrough of open files (default: on where the kernel offers it; `on` needs root and server opens; `off` means kernel opens unless `opens=server`)',
    cli: [{ name: 'passthrough', syntax: 'passthrough=on|off', field: 'passthrough', values: { on: true, 1: true, true: true, off: false, 0: false, false: false } }],
  },
  {
    key: 'writeback', layer: 'mount', type: { kind: 'choice', values: [true, false, 'unless-passthrough'] },
    default: "false, 'unless-passthrough' under server opens",
    summary: "the kernel's writeback cache for served (non-passthrough) files",
    doc: "the kernel's writeback cache for served files (default: off, but on under `opens=server` without passthrough); the kernel takes it or passthrough, not both",
    cli: [{ name: 'writeback', syntax: 'writeback=1|0', field: 'writeback', values: { 1: true, 0: false } }],
  },
  {
    key: 'posixAcl', layer: 'mount', type: { kind: 'choice', values: [true, false, 'auto'] }, default: "'auto'",
    summary: 'POSIX ACLs enforced by the kernel and inherited as on overlayfs; auto: when the upper layer supports them',
    help: 'POSIX ACLs enforced by the kernel (default: when the upper layer has them)',
    doc: 'POSIX ACLs enforced by the kernel and inherited as on overlayfs (FUSE_POSIX_ACL); default: on when the upper layer supports them',
    cli: [{ name: 'acl', set: { acl: true } }, { name: 'noacl', set: { acl: false } }],
    cliField: 'acl',
  },
  {
    key: 'allowOther', layer: 'mount', type: bool, default: 'true when root',
    summary: 'other users may use the mount',
    help: 'other users may use the mount (default for root)',
    cli: [{ name: 'allow_other', set: { allowOther: true } }],
  },
  {
    key: 'uidmap', layer: 'mount', type: { kind: 'idmap' },
    summary: 'show stored host ids H.. as container ids C.. (`{ container, host, length }[]`)',
    help: 'show stored host ids H.. as container ids C..',
    cli: [{ name: 'uidmapping', field: 'uidmap', parse: 'idmap', meta: 'C:H:N[:C:H:N...]', append: true }],
  },
  {
    key: 'gidmap', layer: 'mount', type: { kind: 'idmap' },
    summary: 'the same for group ids',
    cli: [{ name: 'gidmapping', field: 'gidmap', parse: 'idmap', meta: 'C:H:N[:C:H:N...]', append: true }],
  },
  {
    key: 'squashUid', layer: 'mount', type: { kind: 'uint' },
    summary: 'show every object as owned by this uid',
    help: 'show every object as owned by uid N (squash_to_root: uid and gid 0)',
    cli: [{ name: 'squash_to_uid', field: 'squashUid', parse: 'uint', meta: 'N' }, { name: 'squash_to_root', set: { squashUid: 0, squashGid: 0 } }],
  },
  {
    key: 'squashGid', layer: 'mount', type: { kind: 'uint' },
    summary: 'show every object as owned by this gid',
    help: 'show every object as owned by gid N',
    cli: [{ name: 'squash_to_gid', field: 'squashGid', parse: 'uint', meta: 'N' }],
  },
  {
    key: 'xattrPermissions', layer: 'mount', type: { kind: 'choice', values: [0, 1, 2] }, default: '0',
    summary: 'ownership and permission bits kept in an xattr: 2 `user.containers.override_stat`, 1 `security.fuseoverlayfs.override_stat`, 0 the inode',
    help: 'ownership and modes in an xattr (2: user.*, 1: security.*)',
    doc: 'ownership and permission bits kept in `user.containers.override_stat` (2: containers/storage\'s force_mask, rootless) or `security.fuseoverlayfs.override_stat` (1), shown through the mount, never the xattr itself; 0: in the inode (default)',
    cli: [{ name: 'xattr_permissions', field: 'xattrPermissions', values: { 0: undefined, 1: 1, 2: 2 } }],
  },
  {
    key: 'transport', layer: 'mount', type: { kind: 'choice', values: ['fuse', 'fuse-native'] }, default: "'fuse'",
    summary: 'how the kernel is served: our own /dev/fuse session, or fuse-native (libfuse 2) in a child process (docs/transports.md)',
    help: 'fuse: our own /dev/fuse session; fuse-native: libfuse 2 (docs/transports.md)',
    doc: '`fuse` (default): our own /dev/fuse session; `fuse-native`: the optional fuse-native package over libfuse 2 (docs/transports.md: what differs, how to enable it)',
    cli: [{ name: 'transport', field: 'transport', values: { fuse: 'fuse', 'fuse-native': 'fuse-native' } }],
  },
  {
    key: 'fsname', layer: 'mount', type: { kind: 'string' }, default: "'layerfs'",
    summary: 'the source name in /proc/mounts (the command: its SOURCE argument)',
  },
  {
    key: 'warmUp', layer: 'mount', type: bool, default: 'false (the command: true, LAYERFS_WARM_UP)',
    summary: "once the mount answers, run a short scripted workload through the server's code in its idle time, so the first real work finds it compiled",
  },
  {
    key: 'debug', layer: 'mount', type: { kind: 'function' },
    summary: 'called with every FUSE request and reply (the command: -d)',
  },
  {
    key: 'log', layer: 'mount', type: { kind: 'function' }, default: 'console.error',
    summary: "called with the server's warnings and errors",
  },
  // ---- the command only (lib/cli) ----
  {
    key: null, layer: 'cli', type: { kind: 'none' },
    summary: 'log file of the background server (default: syslog)',
    doc: 'log file of the background server',
    cli: [{ name: 'log', field: 'logFile', parse: 'path', meta: 'FILE' }],
  },
  {
    key: null, layer: 'cli', type: { kind: 'none' },
    summary: 'accepted for fuse-overlayfs compatibility, no effect', noEffect: true,
    cli: [{ name: 'static_nlink', set: { staticNlink: true } }, { name: 'noxattrs', field: 'noxattrs', values: { 1: true, 2: true, 0: false } }],
  },
];

/** Generic mount and FUSE flags mount(8) and mount.fuse3 pass along: accepted, most change nothing. */
export const ACCEPTED_FLAGS: ReadonlySet<string> = new Set([
  'rw', 'suid', 'nosuid', 'dev', 'nodev', 'exec', 'noexec', 'atime', 'noatime', 'relatime', 'norelatime',
  'strictatime', 'lazytime', 'nolazytime', 'diratime', 'nodiratime', 'sync', 'async', 'dirsync', 'auto', 'noauto',
  'user', 'nouser', 'users', 'nofail', 'silent', 'loud', 'defaults', '_netdev', 'default_permissions', 'allow_root',
  'auto_unmount', 'nonempty', 'kernel_cache', 'auto_cache', 'big_writes', 'splice_read', 'splice_write', 'splice_move',
  'clone_fd', 'x-systemd.automount',
]);

/** Options fuse-overlayfs or the kernel overlay take with a value that we accept and do not need. */
export const ACCEPTED_WITH_VALUE: ReadonlySet<string> = new Set([
  'timeout', 'threaded', 'context', 'fscontext', 'defcontext', 'rootcontext', 'index', 'xino', 'nfs_export', 'uuid',
  'max_read', 'blksize', 'fsname', 'subtype', 'max_idle_threads', 'plugins', 'verity', 'fd', 'rootmode', 'user_id', 'group_id',
]);

/** Environment variables layerfs reads: test and debugging knobs, and the launcher's plumbing. */
export const ENVIRONMENT: readonly { name: string; readBy: string; doc: string }[] = [
  { name: 'LAYERFS_WARM_UP', readBy: 'lib/cli/serve.ts, lib/bench/mounts.ts', doc: "the command's warm-up of a new server (`warmUp`): 0 turns it off, N sets its number of requests" },
  { name: 'LAYERFS_SERVICE_LINGER', readBy: 'lib/cli/service.ts', doc: 'seconds the mount service waits for a next mount after its last one is gone (default 10)' },
  { name: 'LAYERFS_NO_SERVICE', readBy: 'lib/cli/service.ts, lib/bench/podman.ts, launcher.c', doc: '1: the launcher neither asks a mount service nor starts one (a server per mount)' },
  { name: 'LAYERFS_RUNTIME_DIR', readBy: 'lib/cli/service.ts, launcher.c', doc: "directory of the mount service's socket (default /run/layerfs for root, else $XDG_RUNTIME_DIR/layerfs): tests use their own" },
  { name: 'LAYERFS_NODE', readBy: 'launcher.c', doc: 'the node binary the launcher runs (default: node in PATH, /usr/local/bin/node, /usr/bin/node)' },
  { name: 'LAYERFS_MAIN', readBy: 'launcher.c', doc: 'the script the launcher runs (default: ../../../dist/lib/cli/main.js from the launcher)' },
  { name: 'LAYERFS_STATUS_FD', readBy: 'lib/cli/mount-command.ts', doc: 'set by the launcher for its server: the status pipe (internal)' },
  { name: 'LAYERFS_DAEMON_CHILD', readBy: 'lib/cli/mount-command.ts', doc: 'set by main.js for the background server it starts (internal)' },
  { name: 'LAYERFS_FUSERMOUNT', readBy: 'lib/sys/fuse.ts', doc: 'the fusermount3 program for unprivileged mounts (default: fusermount3, then fusermount, in PATH, /usr/bin, /bin)' },
  { name: 'LAYERFS_NATIVE_ADDON', readBy: 'lib/sys/native.ts', doc: 'the addon file to load instead of native-bindings/build/Release/layerfs_native.node (tests)' },
  { name: 'LAYERFS_READER_SPIN', readBy: 'fuse_dev.c', doc: 'microseconds the request reader looks for a back-to-back request before it sleeps (default 30; 0: the plain libuv-driven reader), to compare' },
  { name: 'LAYERFS_FUSE_NATIVE_STOCK', readBy: 'lib/fuse-native/load.ts', doc: '1: `transport=fuse-native` uses the stock fuse-native build even when the patched one is built (docs/transports.md)' },
  { name: 'LAYERFS_BENCH_ROOTFS', readBy: 'lib/bench/podman.ts', doc: "`layerfs bench`'s root filesystem tarball for its podman workloads (default /var/cache/layerfs-test/bookworm-minbase.tar)" },
  { name: 'LAYERFS_FILE_POOL', readBy: 'lib/engine/workdir.ts', doc: 'files the create pool keeps ready in the work directory (default 32; 0: off), to compare' },
];

/** The library options of these layers, by key (with 'cache.nodes' and the like). */
export function librarySpecs(...layers: OptionLayer[]): Map<string, OptionSpec> {
  const out = new Map<string, OptionSpec>();
  for (const s of OPTIONS) if (s.key !== null && layers.includes(s.layer)) out.set(s.key, s);
  return out;
}

/** The spec of `key` (e.g. 'cache.nodes'). */
export function specOf(key: string): OptionSpec {
  const s = OPTIONS.find((o) => o.key === key);
  if (s === undefined) throw new Error(`no option ${key}`);
  return s;
}

const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : String(v));

/** "a, b or c" */
export function oneOf(values: readonly unknown[], fmt: (v: unknown) => string = show): string {
  const shown = values.map(fmt);
  return shown.length < 2 ? shown.join('') : `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}`;
}

/**
 * What is wrong with `value` for the option `name` of type `type`, as one line naming it, or null.
 * (Directories are checked by resolveConfig, against the filesystem.)
 */
export function optionProblem(name: string, type: OptionType, value: unknown): string | null {
  const got = `got ${JSON.stringify(value)}`;
  switch (type.kind) {
    case 'bool':
      return typeof value === 'boolean' ? null : `${name} must be true or false, ${got}`;
    case 'choice':
      return type.values.includes(value as never) ? null : `${name} must be ${oneOf(type.values)}, ${got}`;
    case 'positive-int':
      return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? null : `${name} must be a positive integer, ${got}`;
    case 'uint':
      return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? null : `${name} must be a non-negative integer, ${got}`;
    case 'string':
      return typeof value === 'string' && value !== '' ? null : `${name} must be a non-empty string, ${got}`;
    case 'path':
      return typeof value === 'string' && value !== '' ? null : `${name} must be a non-empty path`;
    case 'function':
      return typeof value === 'function' ? null : `${name} must be a function`;
    case 'idmap': {
      const id = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 0;
      const ok = Array.isArray(value) && value.every((r) => r !== null && typeof r === 'object' && id(r.container) && id(r.host) && id(r.length) && r.length > 0);
      return ok ? null : `${name} must be an array of { container, host, length } (integers, length > 0), ${got}`;
    }
    default:
      return null;
  }
}

/** How a `-o` form is written: `name`, `name=a|b`, `name=META`. */
export function cliSyntax(f: CliForm): string {
  if (f.syntax !== undefined) return f.syntax;
  if ('set' in f) return f.name;
  if ('values' in f) return `${f.name}=${Object.keys(f.values).join('|')}`;
  return `${f.name}=${f.meta}`;
}

/** Every `-o` form, with the spec it belongs to. */
export function cliForms(): { form: CliForm; spec: OptionSpec }[] {
  return OPTIONS.flatMap((spec) => (spec.cli ?? []).map((form) => ({ form, spec })));
}

/** The `-o` lines of `layerfs --help`: every form with its summary. */
export function cliHelp(indent: string): string {
  return OPTIONS.filter((s) => s.cli !== undefined).map((s) => {
    const syntax = s.cli!.map(cliSyntax).join(', ');
    const text = s.help ?? s.summary;
    return syntax.length < 30 ? `${indent}${syntax.padEnd(30)} ${text}` : `${indent}${syntax}\n${indent}${' '.repeat(31)}${text}`;
  }).join('\n');
}

const cell = (s: string) => s.replace(/\|/g, '\\|');
const code = (s: string) => '`' + cell(s) + '`';

/** The option table of docs/cli.md. */
export function cliDocTable(): string {
  const rows = OPTIONS.filter((s) => s.cli !== undefined && s.noEffect !== true)
    .map((s) => `| ${s.cli!.map((f) => code(cliSyntax(f))).join(', ')} | ${cell(s.doc ?? s.summary)} |`);
  const accepted = [
    ...OPTIONS.filter((s) => s.noEffect === true).flatMap((s) => s.cli!.map(cliSyntax)),
    ...[...ACCEPTED_WITH_VALUE].map((n) => n + '='),
  ];
  return [
    '| option | meaning |', '|---|---|', ...rows,
    `| accepted, no effect here | ${accepted.map(code).join(' ')}; mount(8)/FUSE flags ${[...ACCEPTED_FLAGS].map(code).join(' ')} |`,
  ].join('\n');
}

/** The option table of docs/api.md (`Overlay.open()` and `mount()`). */
export function libraryDocTable(): string {
  const rows = OPTIONS.filter((s) => s.key !== null).map((s) => {
    const type = s.type.kind === 'choice' ? oneOf(s.type.values, (v) => (typeof v === 'string' ? `'${v}'` : String(v))) : s.type.kind;
    return `| \`${s.key}\` | ${s.layer === 'engine' ? 'both' : 'mount()'} | ${cell(type)} | ${cell(s.default ?? (s.value === undefined ? '' : String(s.value)))} | ${cell(s.summary)} |`;
  });
  return ['| option | in | type | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The environment table of docs/cli.md. */
export function environmentDocTable(): string {
  return ['| variable | read by | meaning |', '|---|---|---|', ...ENVIRONMENT.map((e) => `| \`${e.name}\` | ${e.readBy} | ${cell(e.doc)} |`)].join('\n');
}
