/**
 * Trees deeper than PATH_MAX allows a path to name: built, walked and changed by a python3 child
 * that only ever takes one step at a time (openat relative to a directory descriptor), so no
 * system call sees a path longer than one component. Used by test/mount/deep and test/engine/deep
 * on kernel overlayfs, layerfs mounts and plain layer directories alike.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBounded } from './bounded';

/** A relative path as runs of one name: [['d', 5000], ['r', 1]] is d/d/.../d/r. */
export type Steps = [name: string, count: number][];

/** One operation at the directory `at` (relative to the root given to runOps). */
export type DeepOp =
  | { op: 'stat' | 'read' | 'mkdir' | 'rmdir' | 'unlink' | 'list'; at: Steps; name: string }
  | { op: 'create' | 'append'; at: Steps; name: string; data: string }
  | { op: 'rename'; at: Steps; name: string; to: string }
  /** mkdir -p of `at` itself, one level at a time. */
  | { op: 'mkdirs'; at: Steps };

/**
 * What an operation answered: `ok` with its value (stat: 'd', 'f 12', 'w' for a whiteout; read: the
 * content; list: the sorted names), or the errno's name and the depth of `at` the walk reached.
 */
export type DeepResult = { ok: string | string[] | null } | { err: string; depth?: number };

const PROGRAM = String.raw`
import errno, json, os, resource, stat, sys

def ename(e): return errno.errorcode.get(e.errno, str(e.errno))
class WalkError(Exception):
    def __init__(self, code, depth): self.code, self.depth = code, depth

def names(steps):
    for name, count in steps:
        for _ in range(count): yield name

def walk(root, steps, make=False):
    """An O_PATH descriptor of the directory at steps below root, one openat per component."""
    fd, depth = os.dup(root), 0
    for name in names(steps):
        try:
            if make:
                try: os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError: pass
            nfd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError as e:
            os.close(fd)
            raise WalkError(ename(e), depth)
        os.close(fd)
        fd, depth = nfd, depth + 1
    return fd

def kind(st):
    m = st.st_mode
    if stat.S_ISDIR(m): return 'd'
    if stat.S_ISREG(m): return 'f %d' % st.st_size
    if stat.S_ISLNK(m): return 'l'
    if stat.S_ISCHR(m): return 'w' if st.st_rdev == 0 else 'c'
    return 'o'

def listing(dirfd, name):
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    try: return sorted(os.listdir(fd))
    finally: os.close(fd)

def op(root, o):
    try:
        fd = walk(root, o['at'], make=o['op'] == 'mkdirs')
    except WalkError as e:
        return {'err': e.code, 'depth': e.depth}
    try:
        k, n = o['op'], o.get('name')
        if k == 'mkdirs': return {'ok': None}
        if k == 'stat': return {'ok': kind(os.stat(n, dir_fd=fd, follow_symlinks=False))}
        if k == 'list': return {'ok': listing(fd, n)}
        if k == 'mkdir': os.mkdir(n, 0o755, dir_fd=fd); return {'ok': None}
        if k == 'rmdir': os.rmdir(n, dir_fd=fd); return {'ok': None}
        if k == 'unlink': os.unlink(n, dir_fd=fd); return {'ok': None}
        if k == 'rename': os.rename(n, o['to'], src_dir_fd=fd, dst_dir_fd=fd); return {'ok': None}
        flags = {'read': os.O_RDONLY, 'create': os.O_WRONLY | os.O_CREAT | os.O_EXCL, 'append': os.O_WRONLY | os.O_APPEND}[k]
        f = os.open(n, flags | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        try:
            if k == 'read':
                out = b''
                while True:
                    b = os.read(f, 65536)
                    if not b: break
                    out += b
                return {'ok': out.decode()}
            os.write(f, o['data'].encode())
            return {'ok': None}
        finally: os.close(f)
    except OSError as e:
        return {'err': ename(e)}
    finally: os.close(fd)

def tree(root):
    """Depth-first, names sorted: one line per object, with the overlay markers of directories."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out, stack = [], [(os.open('.', os.O_RDONLY | os.O_DIRECTORY, dir_fd=root), None)]
    stack[0] = (stack[0][0], iter(sorted(os.listdir(stack[0][0]))))
    while stack:
        fd, it = stack[-1]
        n = next(it, None)
        if n is None:
            os.close(fd); stack.pop(); continue
        st = os.stat(n, dir_fd=fd, follow_symlinks=False)
        line = '%d %s %s' % (len(stack), n, kind(st))
        if stat.S_ISDIR(st.st_mode):
            cfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            for x in ('trusted.overlay.opaque', 'trusted.overlay.redirect'):
                try:
                    v = os.getxattr(cfd, x)
                    line += ' opaque=' + v.decode() if x.endswith('opaque') else ' redirect'
                except OSError: pass
            stack.append((cfd, iter(sorted(os.listdir(cfd)))))
        out.append(line)
    return out

def build(root, depth, content):
    fd = walk(root, [['d', depth]], make=True)
    f = os.open('f', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
    os.write(f, content.encode()); os.close(f); os.close(fd)

cmd, root = sys.argv[1], os.open(sys.argv[2], os.O_PATH | os.O_DIRECTORY)
arg = json.loads(sys.stdin.read())
if cmd == 'ops': print(json.dumps([op(root, o) for o in arg]))
elif cmd == 'tree': print('\n'.join(tree(root)))
elif cmd == 'build': build(root, arg['depth'], arg['content'])
`;

async function python(cmd: string, root: string, arg: unknown, under: string, ms: number): Promise<string> {
  // The argument goes on stdin: an op list can be long. runBounded gives no stdin, so write it to a file.
  const input = path.join(os.tmpdir(), `layerfs-deep-arg-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(input, JSON.stringify(arg));
  try {
    const r = await runBounded('sh', ['-c', 'exec python3 -c "$0" "$@" < "$ARG"', PROGRAM, cmd, root], { under, ms, env: { ...process.env, ARG: input } });
    if (r.hung) throw new Error(`python3 ${cmd} in ${root}: no answer in ${ms} ms (the FUSE mounts under ${under} were aborted)`);
    if (r.code !== 0) throw new Error(`python3 ${cmd} in ${root}: exit ${r.code}: ${r.stderr.slice(-2000)}`);
    return r.stdout;
  } finally {
    fs.rmSync(input, { force: true });
  }
}

/** Runs `ops` in order in one child process, each walking from `root` afresh. */
export async function runOps(root: string, ops: DeepOp[], under: string, ms = 120_000): Promise<DeepResult[]> {
  return JSON.parse(await python('ops', root, ops, under, ms)) as DeepResult[];
}

/** The tree below `root` as lines "DEPTH NAME TYPE [opaque=V] [redirect]", depth-first, names sorted. */
export async function treeLines(root: string, under: string, ms = 120_000): Promise<string[]> {
  const out = (await python('tree', root, null, under, ms)).trimEnd();
  return out === '' ? [] : out.split('\n');
}

/** A chain of `depth` directories named `d` under `root`, and at the bottom a file `f` holding `content`. */
export async function buildChain(root: string, depth: number, content: string): Promise<void> {
  await python('build', root, { depth, content }, root, 120_000);
}

/** What `find . -printf %y` prints in `dir`, as counts per type ({ d: 10001, f: 1 }), or its failure. */
export async function findTypes(dir: string, under: string, ms = 120_000): Promise<Record<string, number> | { err: string }> {
  const r = await runBounded('find', ['.', '-printf', '%y'], { under, ms, cwd: dir });
  if (r.hung) return { err: 'hung' };
  if (r.code !== 0) return { err: `exit ${r.code}: ${r.stderr.trim().split('\n').slice(0, 3).map((l) => l.slice(-200)).join(' | ')}` };
  const counts: Record<string, number> = {};
  for (const c of r.stdout) counts[c] = (counts[c] ?? 0) + 1;
  return counts;
}

/** `rm -rf NAME` run in `dir` (GNU rm walks with directory descriptors), as exit code and first error. */
export async function rmRf(dir: string, name: string, under: string, ms = 120_000): Promise<{ code: number | null; err: string }> {
  const r = await runBounded('rm', ['-rf', '--', name], { under, ms, cwd: dir });
  if (r.hung) return { code: null, err: 'hung' };
  return { code: r.code, err: r.stderr.trim().split('\n')[0]?.slice(-200) ?? '' };
}

/** The first line where two tree listings differ, with a little context, for an assertion message. */
export function firstDifference(expected: string[], actual: string[]): string | null {
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    if (expected[i] !== actual[i]) {
      return `line ${i + 1} of ${expected.length} expected / ${actual.length} actual: expected ${JSON.stringify(expected[i])}, got ${JSON.stringify(actual[i])}`;
    }
  }
  return null;
}

/** Removes a directory that may hold trees deeper than PATH_MAX (fs.rmSync walks by full paths). */
export function removeDeep(dir: string): void {
  for (const mp of mountsBelow(dir).reverse()) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  execFileSync('rm', ['-rf', '--', dir], { stdio: 'ignore' });
}

function mountsBelow(dir: string): string[] {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1])
    .filter((m): m is string => m !== undefined)
    .map((m) => m.replace(/\\([0-7]{3})/g, (_x, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

const pending = new Set<string>();

/** A temp dir removed by removeDeep on `remove()` or at process exit, whatever happened. */
export function deepScratch(label: string): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), label));
  pending.add(dir);
  return { dir, remove: () => { pending.delete(dir); removeDeep(dir); } };
}

process.on('exit', () => {
  for (const dir of pending) {
    try {
      removeDeep(dir);
    } catch (err) {
      console.error(`deep scratch: ${dir} stays: ${String(err)}`);
    }
  }
});

/** Steps of `n` times `d` then `rest`. */
export function chain(n: number, ...rest: Steps): Steps {
  return ([['d', n], ...rest] as Steps).filter(([, c]) => c > 0);
}

/**
 * The tree lines of an upper holding a copied-up chain of `depth` directories d, `bottom` (sorted
 * "NAME TYPE" lines) in its last one; with `renamedAt`, the directory at that depth renamed to r
 * (a whiteout where it was, a redirect on r), as the kernel's overlayfs leaves it.
 */
export function copiedUpChain(depth: number, bottom: string[], renamedAt?: number): string[] {
  const lines = Array.from({ length: depth }, (_, i) => `${i + 1} d d`);
  if (renamedAt !== undefined) lines.splice(renamedAt - 1, 1, `${renamedAt} d w`, `${renamedAt} r d redirect`);
  return [...lines, ...bottom.map((b) => `${depth + 1} ${b}`)];
}

/** Where `actual` differs from `expected`, key by key, long listings cut to their first differences. */
export function differences(expected: unknown, actual: unknown, at = ''): string {
  const cut = (v: unknown) => { const j = JSON.stringify(v) ?? 'undefined'; return j.length > 300 ? j.slice(0, 300) + '...' : j; };
  if (JSON.stringify(expected) === JSON.stringify(actual)) return '';
  if (Array.isArray(expected) && Array.isArray(actual) && [...expected, ...actual].every((e) => typeof e === 'string')) {
    const [e, a] = [expected as string[], actual as string[]];
    const lines = Array.from({ length: Math.max(e.length, a.length) }, (_, i) => i).filter((i) => e[i] !== a[i]);
    return `  ${at} (${e.length} lines expected, ${a.length} got):\n` + lines.slice(0, 40).map((i) => `    line ${i + 1}: expected ${cut(e[i])}, got ${cut(a[i])}\n`).join('');
  }
  const isResult = (v: unknown) => v !== null && typeof v === 'object' && ('ok' in v || 'err' in v);
  if (expected !== null && actual !== null && typeof expected === 'object' && typeof actual === 'object' && !isResult(expected) && !isResult(actual)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
    return keys.map((k) => differences((expected as Record<string, unknown>)[k], (actual as Record<string, unknown>)[k], at === '' ? k : `${at}.${k}`)).join('');
  }
  return `  ${at}: expected ${cut(expected)}, got ${cut(actual)}\n`;
}
