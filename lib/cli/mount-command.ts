import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { ConfigError } from '../engine';
import { startServer, MountOptions } from '../mount';
import * as sys from '../sys';
import { CliMount, parseMountArgs } from './options';

/** Where the background server reports: a log file (log= option), else syslog through logger(1). */
function makeLogger(m: CliMount, foreground: boolean): (line: string) => void {
  if (foreground) return (line) => process.stderr.write(`layerfs: ${line}\n`);
  if (m.logFile !== undefined) {
    const fd = fs.openSync(m.logFile, 'a');
    return (line) => fs.writeSync(fd, `${new Date().toISOString()} layerfs[${process.pid}]: ${line}\n`);
  }
  return (line) => {
    spawnSync('logger', ['-t', 'layerfs', '--', line], { stdio: 'ignore' });
  };
}

function mountOptionsOf(m: CliMount, log: (line: string) => void): MountOptions {
  return {
    lower: m.lower,
    upper: m.upper,
    work: m.work,
    mountpoint: m.mountpoint,
    readOnly: m.readOnly,
    volatile: m.volatile,
    userxattr: m.userxattr ? true : undefined, // not given: the server decides (on when not root)
    redirectFollow: m.redirectFollow,
    metacopy: m.metacopy,
    passthrough: m.passthrough,
    allowOther: m.allowOther,
    fsname: m.source ?? 'layerfs',
    uidmap: m.uidmap,
    gidmap: m.gidmap,
    squashUid: m.squashUid,
    squashGid: m.squashGid,
    xattrPermissions: m.xattrPermissions,
    debug: m.debug ? (line) => process.stderr.write(line + '\n') : undefined,
    log,
  };
}

/** Serves the mount in this process until it is unmounted or we get SIGTERM/SIGINT. */
async function serve(m: CliMount, foreground: boolean, ready: () => void): Promise<number> {
  const log = makeLogger(m, foreground);
  const server = await startServer(mountOptionsOf(m, log));
  if (m.debug) log(`mounted ${m.mountpoint}: passthrough ${server.stats().passthrough ? 'on' : 'off (served reads and writes)'}`);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      void server.unmount().then(() => process.exit(0), (err) => {
        log(`unmount on ${signal}: ${(err as Error).message}`);
        process.exit(1);
      });
    });
  }
  ready();
  await server.ended;
  await server.unmount(); // unmounted from outside: close the layers, sync the upper
  return 0;
}

/**
 * `layerfs [-f] [-d] -o OPTS [SOURCE] MOUNTPOINT`. Without -f the server goes to the background and
 * this process exits 0 only once the mount answers; any failure is one line on stderr and exit 1.
 */
export async function mountCommand(argv: string[]): Promise<number> {
  const m = parseMountArgs(argv);
  for (const u of m.unknown) process.stderr.write(`layerfs: unknown option "${u}" ignored\n`);
  if (m.foreground) return serve(m, true, () => undefined);
  if (process.env.LAYERFS_DAEMON_CHILD === '1') {
    return serve(m, false, () => {
      process.send?.({ ready: true });
      process.disconnect?.();
    });
  }
  // Parent: start the server detached and wait for its word.
  const child = spawn(process.execPath, [process.argv[1], ...argv], {
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

/** `layerfs umount MOUNTPOINT [-l]`: the server sees the unmount, syncs and exits. */
export function umountCommand(argv: string[]): number {
  const lazy = argv.includes('-l');
  const target = argv.find((a) => !a.startsWith('-'));
  if (target === undefined) throw new ConfigError('EINVAL', 'mountpoint', 'usage: layerfs umount MOUNTPOINT [-l]');
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
