import * as fs from 'node:fs';
import { parseMountArgs, UsageError, withAbsolutePaths } from './options';

// The server (and the engine, the FUSE session, the addon) load only in the process that serves:
// the parent that waits for the mount stays light, so a container starts sooner.
const serveModule = () => import('./serve');

/**
 * V8 flags for the long-running server, which keep its resident size close to its live data
 * (docs/benchmarks.md, Design figures and Issue 18): a small young generation (the default grows to
 * 16 MiB semispaces), and an old generation collected at 1.25x what survived the last collection
 * (V8's default lets it double first: a walk of 200k files left 2.3x the live heap resident).
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=4', '--heap-growing-percent=25'];

/**
 * `layerfs [-f] [-d] -o OPTS [SOURCE] MOUNTPOINT`. Without -f the server goes to the background and
 * this process exits 0 only once the mount answers; any failure is one line on stderr and exit 1.
 */
export async function mountCommand(argv: string[]): Promise<number> {
  const statusFd = launcherStatusFd();
  let m = parseMountArgs(argv);
  for (const u of m.unknown) process.stderr.write(`layerfs: unknown option "${u}" ignored\n`);
  if (m.foreground) {
    if (statusFd !== null) fs.closeSync(statusFd); // the launcher waits for our exit instead
    return (await serveModule()).serve(m, true, () => undefined);
  }
  if (statusFd !== null || process.env.LAYERFS_DAEMON_CHILD === '1') {
    // In the background the server leaves its working directory (it must not keep a filesystem
    // busy): every path absolute first.
    m = withAbsolutePaths(m, process.cwd());
  }
  if (statusFd !== null) {
    // Started by the C launcher (native-bindings/src/launcher.c), already in our own session:
    // serve here, and once mounted let go of the caller's stdio and say "R" on the status pipe.
    // Then take later mounts over the service socket, if no other server has it (lib/cli/service.ts).
    const { MountService, serviceSocketPath } = await import('./service');
    const socketPath = serviceSocketPath();
    const service = socketPath === null ? undefined : new MountService(socketPath);
    // Listening while the first mount is made, so the next mount finds the socket as soon as the
    // first one's launcher has exited (false: another server has the socket, and this one serves
    // its own mount only).
    const listening = service?.listen().catch(() => false);
    return (await serveModule()).serve(m, false, async () => {
      await listening;
      const sys = await import('../sys');
      const devNull = fs.openSync('/dev/null', 'r+');
      for (const fd of [0, 1, 2]) sys.dup2(devNull, fd);
      fs.closeSync(devNull);
      fs.writeSync(statusFd, 'R');
      fs.closeSync(statusFd);
      process.chdir('/');
    }, service);
  }
  if (process.env.LAYERFS_DAEMON_CHILD === '1') {
    return (await serveModule()).serve(m, false, () => {
      process.send?.({ ready: true });
      process.disconnect?.();
      process.chdir('/');
    });
  }
  // Parent: start the server detached and wait for its word.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, process.argv[1], ...argv], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, LAYERFS_DAEMON_CHILD: '1' },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const outcome = await new Promise<{ ok: boolean }>((resolve) => {
    child.once('message', () => resolve({ ok: true }));
    child.once('exit', () => resolve({ ok: false }));
  });
  if (!outcome.ok) {
    const msg = stderr.trim().split('\n').filter((l) => !l.includes('unknown option')).pop() ?? 'mount failed';
    process.stderr.write(msg.startsWith('layerfs:') ? msg + '\n' : `layerfs: ${msg}\n`);
    return 1;
  }
  child.stderr!.destroy();
  child.unref();
  return 0;
}

/** The status pipe the C launcher gave us (LAYERFS_STATUS_FD), or null when run directly. */
function launcherStatusFd(): number | null {
  const v = process.env.LAYERFS_STATUS_FD;
  if (v === undefined || !/^\d+$/.test(v)) return null;
  delete process.env.LAYERFS_STATUS_FD;
  return Number(v);
}

/** `layerfs umount MOUNTPOINT [-l]`: the server sees the unmount, syncs and exits. */
export async function umountCommand(argv: string[]): Promise<number> {
  const lazy = argv.includes('-l');
  const target = argv.find((a) => !a.startsWith('-'));
  if (target === undefined) throw new UsageError('usage: layerfs umount MOUNTPOINT [-l]');
  const sys = await import('../sys');
  try {
    // not root: only fusermount3 may unmount (our own FUSE mounts)
    if (process.getuid?.() === 0) sys.umount2(target, lazy ? sys.MNT.DETACH : 0);
    else sys.fusermountUnmount(target, lazy);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'EINVAL' ? 'not a mount point' : code === 'EBUSY' ? 'busy (use -l to detach lazily)' : code === 'ENOENT' ? 'does not exist' : code;
    process.stderr.write(`layerfs: umount ${target}: ${why}\n`);
    return 1;
  }
  return 0;
}
