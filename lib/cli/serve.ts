import * as fs from 'node:fs';
import { startServer, MountOptions } from '../mount/server';
import type { CliMount } from './options';

/** Where the background server reports: a log file (log= option), else syslog through logger(1). */
function makeLogger(m: CliMount, foreground: boolean): (line: string) => void {
  if (foreground) return (line) => process.stderr.write(`layerfs: ${line}\n`);
  if (m.logFile !== undefined) {
    const fd = fs.openSync(m.logFile, 'a');
    return (line) => fs.writeSync(fd, `${new Date().toISOString()} layerfs[${process.pid}]: ${line}\n`);
  }
  return (line) => {
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
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
    posixAcl: m.acl,
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
export async function serve(m: CliMount, foreground: boolean, ready: () => void | Promise<void>): Promise<number> {
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
  await ready();
  await server.ended;
  await server.unmount(); // unmounted from outside: close the layers, sync the upper
  return 0;
}

