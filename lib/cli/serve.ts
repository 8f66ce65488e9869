import * as fs from 'node:fs';
import { startServer, MountOptions, Server } from '../mount/server';
import type { MountService } from './service';
import type { CliMount } from './options';
import { OPTIONS } from '../options';

/** Where the background server reports: a log file (log= option), else syslog through logger(1). */
function makeLogger(m: CliMount, foreground: boolean): (line: string) => void {
  if (foreground) return (line) => process.stderr.write(`layerfs: ${line}\n`);
  if (m.logFile !== undefined) {
    const fd = fs.openSync(m.logFile, 'a');
    return (line) => fs.writeSync(fd, `${new Date().toISOString()} layerfs[${process.pid}]: ${line}\n`);
  }
  return syslogWriter();
}

/**
 * Lines to syslog through one logger(1) process for the server's life, fed on its stdin (a process
 * per line would cost a fork on the server thread each time). It ends when the server closes the pipe.
 */
export function syslogWriter(): (line: string) => void {
  let logger: import('node:child_process').ChildProcess | null = null;
  return (line) => {
    if (logger === null || logger.exitCode !== null || logger.signalCode !== null) {
      const { spawn } = require('node:child_process') as typeof import('node:child_process');
      logger = spawn('logger', ['-t', `layerfs[${process.pid}]`], { stdio: ['pipe', 'ignore', 'ignore'] });
      logger.on('error', () => { /* no logger(1): nowhere to report */ });
      logger.stdin!.on('error', () => { /* logger went away: the next line starts another */ });
      logger.unref();
      (logger.stdin as unknown as { unref?: () => void }).unref?.();
    }
    logger.stdin!.write(line.replace(/\n/g, ' ') + '\n');
  };
}

/** The library options of a command line: every option of the spine with `-o` forms (lib/options.ts). */
export function mountOptionsOf(m: CliMount, log: (line: string) => void): MountOptions {
  const given: Record<string, unknown> = {};
  for (const s of OPTIONS) {
    if (s.key !== null && s.layer !== 'cli' && s.cli !== undefined) given[s.key] = m[s.cliField ?? (s.key as keyof CliMount)];
  }
  return {
    ...(given as unknown as Omit<MountOptions, 'mountpoint'>),
    mountpoint: m.mountpoint,
    userxattr: m.userxattr ? true : undefined, // not given: the server decides (on when not root)
    fsname: m.source ?? 'layerfs',
    debug: m.debug ? (line) => process.stderr.write(line + '\n') : undefined,
    log,
  };
}

/** The mounts this process serves, each with its logger (for SIGUSR1). */
const liveMounts = new Map<Server, (line: string) => void>();

/**
 * SIGUSR1: each mount of this process writes its statistics (requests, time per request by
 * operation, copy-ups, caches) to its log as one line of JSON, as dd(1) reports on SIGUSR1.
 */
function reportStatsOnSignal(): void {
  if (process.listenerCount('SIGUSR1') > 0) return;
  process.on('SIGUSR1', () => {
    for (const [server, log] of liveMounts) log(`stats ${server.mountpoint} ${JSON.stringify(server.stats())}`);
  });
}

/** Mounts `m` in this thread; resolves once the mount answers. */
export async function startMount(m: CliMount, foreground: boolean): Promise<Server> {
  const log = makeLogger(m, foreground);
  const options = mountOptionsOf(m, log);
  // fuse-native serves from this process' main thread, loaded only when asked for
  const server = m.transport === 'fuse-native' ? await (await import('../fuse-native/server')).startNativeServer(options) : await startServer(options);
  if (m.debug) log(`mounted ${m.mountpoint}: ${server.stats().opens === 'kernel' ? 'opens by the kernel (no OPEN requests), served reads and writes' : `passthrough ${server.stats().passthrough ? 'on' : 'off (served reads and writes)'}`}`);
  liveMounts.set(server, log);
  void server.ended.then(() => liveMounts.delete(server));
  reportStatsOnSignal();
  return server;
}

/** The one line a failed mount reports (no stack: bad options, missing dirs, no /dev/fuse...). */
export function describeMountError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Serves the mount in this process until it is unmounted or we get SIGTERM/SIGINT. With a mount
 * service (`service`), the process also takes later mounts over its socket and lives until the
 * service is idle.
 */
export async function serve(
  m: CliMount, foreground: boolean, ready: () => void | Promise<void>, service?: MountService,
): Promise<number> {
  const server = await startMount(m, foreground);
  const stopAll = service !== undefined ? () => service.stop() : () => server.unmount();
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      void stopAll().then(() => process.exit(0), (err) => {
        process.stderr.write(`layerfs: unmount on ${signal}: ${(err as Error).message}\n`);
        process.exit(1);
      });
    });
  }
  await ready();
  // The first workload on a fresh server runs slower than later ones (lib/mount/warm-up.ts).
  // LAYERFS_WARM_UP: 0 turns it off, a number sets its request budget.
  const warm = process.env.LAYERFS_WARM_UP;
  if (warm !== '0' && m.transport !== 'fuse-native') { // (it warms the primary transport's code)
    // warm-up.ts is an optional part, loaded only when asked for (its own entry point)
    void import('../mount/warm-up').then(({ warmUp, warmUpOptionsOf }) =>
      warmUp({ lower: m.lower, ...warmUpOptionsOf(server), requests: warm !== undefined && Number(warm) > 0 ? Number(warm) : undefined }));
  }
  if (service !== undefined) {
    service.adopt(server, m);
    await service.idle;
    return 0;
  }
  await server.ended;
  await server.unmount(); // unmounted from outside: close the layers, sync the upper
  return 0;
}
