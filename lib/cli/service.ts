/**
 * The mount service: a background server that takes further mounts over a unix socket, so that a
 * container start pays neither a Node start-up nor a cold JIT.
 *
 * The first `layerfs -o ... MNT` run through the C launcher starts a server for its mount (one Node
 * start-up plus module loading). That server then listens on SOCKET_PATH; the launcher of every
 * later mount connects there first and the running server mounts it in the same thread, far
 * sooner, with its code already compiled (docs/benchmarks.md, Design figures). When its last mount is
 * gone the server lingers (LAYERFS_SERVICE_LINGER seconds, default 10) for the next container,
 * then exits. LAYERFS_NO_SERVICE=1 makes the launcher start a server of its own for its mount.
 *
 * Protocol (native-bindings/src/launcher.c): the client writes "LFS1\0", its working directory and
 * each argument, NUL-terminated, then shuts its side down; the server answers one byte and closes:
 * 'R' mounted, 'E' followed by the one-line error (exit 1), 'N' not handled here (-f, -d, other
 * commands: the launcher runs them itself).
 * The socket lives in a directory only its owner can enter ($LAYERFS_RUNTIME_DIR if set, else
 * /run/layerfs for root, else $XDG_RUNTIME_DIR/layerfs), so only the same user reaches it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Server } from '../mount/server';
import { CliMount, parseMountArgs, UsageError, withAbsolutePaths } from './options';
import { describeMountError, startMount } from './serve';

const MAGIC = 'LFS1';

/** Every directory a mount reads or writes: lower layers, then upper and work. */
function layerRoots(m: CliMount): string[] {
  return [...m.lower, ...(m.upper ? [m.upper] : []), ...(m.work ? [m.work] : [])];
}

/** `p` is `prefix` or below it (both absolute, normalized). */
function isUnder(p: string, prefix: string): boolean {
  return p === prefix || p.startsWith(prefix === '/' ? '/' : prefix + '/');
}

/** Every mount of /proc/self/mountinfo: its device ("major:minor") and its mount point, decoded. */
function readMountinfo(): { dev: string; mountpoint: string }[] {
  const out: { dev: string; mountpoint: string }[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length > 4) out.push({ dev: f[2], mountpoint: f[4].replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))) });
  }
  return out;
}

/** Mount points whose device is one of `devs` (a FUSE mount and its bind mounts). */
function mountpointsOfDevices(devs: Set<string>): string[] {
  return devs.size === 0 ? [] : readMountinfo().filter((m) => devs.has(m.dev)).map((m) => m.mountpoint);
}

/** The device of the mount at `mountpoint` (the newest one there). */
function deviceOfMount(mountpoint: string): string | null {
  return readMountinfo().filter((m) => m.mountpoint === mountpoint).pop()?.dev ?? null;
}

/**
 * realpath(3) of `p` that never looks below a `forbidden` path (it would ask one of our own mounts,
 * served by this very thread: a deadlock); null if it would have to.
 */
function realpathAvoiding(p: string, forbidden: string[]): string | null {
  const todo = path.resolve(p).split('/').filter((x) => x !== '');
  let cur = '/';
  let links = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      cur = path.dirname(cur);
      continue;
    }
    const next = path.join(cur, name);
    if (forbidden.some((f) => isUnder(next, f))) return null;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(next);
    } catch {
      return path.join(next, ...todo); // missing: the mount reports it
    }
    if (st.isSymbolicLink()) {
      if (++links > 40) return null;
      const target = fs.readlinkSync(next);
      todo.unshift(...target.split('/').filter((x) => x !== ''));
      if (target.startsWith('/')) cur = '/';
      continue;
    }
    cur = next;
  }
  return forbidden.some((f) => isUnder(cur, f)) ? null : cur;
}

/** Where the service listens for this user, or null when there is no private place for it. */
export function serviceSocketPath(): string | null {
  if (process.env.LAYERFS_NO_SERVICE === '1') return null;
  const uid = process.geteuid?.() ?? 0;
  const own = process.env.LAYERFS_RUNTIME_DIR;
  const xdg = process.env.XDG_RUNTIME_DIR;
  // as native-bindings/src/launcher.c finds it
  const dir = own ? own : uid === 0 ? '/run/layerfs' : xdg ? path.join(xdg, 'layerfs') : null;
  return dir === null ? null : path.join(path.resolve(dir), 'service.sock');
}

function lingerMs(): number {
  const v = Number(process.env.LAYERFS_SERVICE_LINGER ?? '10');
  return Number.isFinite(v) && v >= 0 ? v * 1000 : 10_000;
}

const NOT_MOUNTS = new Set(['--help', '-h', '--version', '-V', 'tree', 'demo', 'umount', 'bench']);

/** A request's mount, with relative paths taken from the client's working directory. */
function requestedMount(cwd: string, argv: string[]): CliMount | null {
  // Only mounts: --help, --version and the other commands are the launcher's to run (lib/cli/run.ts).
  if (argv.length === 0 || NOT_MOUNTS.has(argv[0])) return null;
  const m = parseMountArgs(argv);
  if (m.foreground || m.debug) return null; // the caller's terminal is not ours to print to
  return withAbsolutePaths(m, cwd);
}

function decodeRequest(data: Buffer): { cwd: string; argv: string[] } | null {
  const parts = data.toString('utf8').split('\0');
  if (parts.pop() !== '' || parts.shift() !== MAGIC || parts.length < 1) return null;
  const [cwd, ...argv] = parts;
  return path.isAbsolute(cwd) ? { cwd, argv } : null;
}

export class MountService {
  private readonly mounts = new Map<string, Server>();
  /** Per mount: its FUSE device (to find it and its bind mounts in mountinfo) and its layer roots. */
  private readonly owned = new Map<Server, { dev: string | null; roots: string[] }>();
  private listener: import('node:net').Server | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  private resolveIdle!: () => void;
  /** Resolves once no mount is left and the linger time passed (or the service was stopped). */
  readonly idle = new Promise<void>((res) => { this.resolveIdle = res; });

  constructor(private readonly socketPath: string) {}

  /** Serves `server` (mounted already) and any mount asked for later. */
  adopt(server: Server, m: CliMount): void {
    this.mounts.set(server.mountpoint, server);
    const ours = [...this.mounts.keys()].map((p) => path.resolve(p));
    // The mountpoint as mountinfo shows it: its directory resolved (not the mountpoint itself,
    // whose stat this thread would have to answer).
    const given = path.resolve(server.mountpoint);
    const parent = realpathAvoiding(path.dirname(given), ours) ?? path.dirname(given);
    const mountpoint = path.join(parent, path.basename(given));
    // Layer roots as real paths, found without looking into any of our mounts (null: keep as given).
    const roots = layerRoots(m).map((r) => realpathAvoiding(r, [mountpoint, ...ours]) ?? path.resolve(r));
    this.owned.set(server, { dev: deviceOfMount(mountpoint), roots });
    if (this.lingerTimer !== null) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
    }
    void server.ended.then(async () => {
      await server.unmount().catch(() => undefined); // unmounted from outside: sync and close
      if (this.mounts.get(server.mountpoint) === server) this.mounts.delete(server.mountpoint);
      this.owned.delete(server);
      if (this.mounts.size === 0) this.linger();
    });
  }

  /** Listens on the socket; false when another server has it (this one then serves its mounts only). */
  async listen(): Promise<boolean> {
    const net = await import('node:net');
    fs.mkdirSync(path.dirname(this.socketPath), { recursive: true, mode: 0o700 });
    fs.chmodSync(path.dirname(this.socketPath), 0o700);
    for (let attempt = 0; attempt < 2; attempt++) {
      // allowHalfOpen: the client shuts its side down after the request and waits for the answer
      const server = net.createServer({ allowHalfOpen: true }, (conn) => this.onConnection(conn));
      const ok = await new Promise<boolean>((res) => {
        server.once('error', () => res(false));
        server.listen(this.socketPath, () => res(true));
      });
      if (ok) {
        server.unref(); // mounts keep the process alive, not the socket
        this.listener = server;
        return true;
      }
      // In use: a live service answers a connection; a dead one left its socket behind.
      const live = await new Promise<boolean>((res) => {
        const c = net.connect(this.socketPath, () => { c.destroy(); res(true); });
        c.once('error', () => res(false));
      });
      if (live) return false;
      fs.rmSync(this.socketPath, { force: true });
    }
    return false;
  }

  /** Unmounts everything (SIGTERM), then lets the process go. */
  async stop(): Promise<void> {
    this.close();
    await Promise.allSettled([...this.mounts.values()].map((s) => s.unmount()));
    this.mounts.clear();
    this.resolveIdle();
  }

  private linger(): void {
    // Not listening (another server has the socket): nothing can come, no reason to wait.
    this.lingerTimer = setTimeout(() => {
      if (this.mounts.size > 0) return;
      this.close();
      this.resolveIdle();
    }, this.listener === null ? 0 : lingerMs());
  }

  private close(): void {
    if (this.listener === null) return;
    this.listener.close();
    this.listener = null;
    // Only our own socket: a newer service may have taken the name over.
    fs.rmSync(this.socketPath, { force: true });
  }

  private onConnection(conn: import('node:net').Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    conn.on('data', (d: Buffer) => {
      size += d.length;
      if (size > 1 << 20) conn.destroy(); // no mount request is that long
      else chunks.push(d);
    });
    conn.on('error', () => undefined);
    conn.on('end', () => {
      void this.answer(Buffer.concat(chunks)).then((reply) => conn.end(reply), () => conn.destroy());
    });
  }

  /**
   * This thread serves its mounts; any system call of its own that reached one would wait for
   * itself. So a request is taken only if none of its paths is (or leads through a symlink) below
   * one of our mounts, its mountpoint is not below a layer of one (the engine would walk into it),
   * and none of our mounts is below one of its layers. Paths come back resolved; null: not here.
   */
  private safely(m: CliMount): CliMount | null {
    // A mount unmounted a moment ago (umount(2) returned) is gone from mountinfo before its session's
    // end reaches this thread: it is no longer ours to avoid, and its mountpoint may be mounted
    // again at once (its layers stay locked until it has closed them: lib/engine/work-lock.ts).
    const present = new Set(readMountinfo().map((e) => e.dev));
    const devs = new Set<string>();
    const ourRoots: string[] = [];
    const ours: string[] = [];
    for (const [server, { dev, roots }] of this.owned) {
      if (dev === null) return null; // a mount we could not place: play safe
      if (!present.has(dev)) continue;
      devs.add(dev);
      ourRoots.push(...roots);
      ours.push(path.resolve(server.mountpoint));
    }
    const fuse = [...new Set([...ours, ...mountpointsOfDevices(devs)])];
    const real = (p: string, forbidden: string[]) => realpathAvoiding(p, forbidden);
    const layers = layerRoots(m).map((p) => real(p, fuse));
    const mountpoint = real(m.mountpoint, [...fuse, ...ourRoots]);
    const logFile = m.logFile === undefined ? undefined : real(m.logFile, fuse);
    if (layers.some((p) => p === null) || mountpoint === null || logFile === null) return null;
    if (layers.some((root) => fuse.some((f) => isUnder(f, root!)))) return null;
    const n = m.lower.length;
    return {
      ...m,
      lower: layers.slice(0, n) as string[],
      upper: m.upper ? layers[n]! : undefined,
      work: m.work ? layers[n + (m.upper ? 1 : 0)]! : undefined,
      mountpoint,
      logFile,
    };
  }

  private async answer(data: Buffer): Promise<Buffer> {
    const req = decodeRequest(data);
    if (req === null || this.listener === null) return Buffer.from('N');
    let m: CliMount | null;
    try {
      m = requestedMount(req.cwd, req.argv);
    } catch (err) {
      if (err instanceof UsageError) return Buffer.from(`Elayerfs: ${err.message}\n`);
      return Buffer.from('N');
    }
    if (m === null) return Buffer.from('N');
    const safe = this.safely(m);
    if (safe === null) return Buffer.from('N'); // touches one of our mounts: a server of its own does it
    m = safe;
    const warnings = m.unknown.map((u) => `layerfs: unknown option "${u}" ignored\n`).join('');
    try {
      this.adopt(await startMount(m, false), m);
      return Buffer.from('R' + warnings);
    } catch (err) {
      return Buffer.from(`E${warnings}layerfs: ${describeMountError(err)}\n`);
    }
  }
}
