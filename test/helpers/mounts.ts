import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Every mount a test makes is tracked here and detached when the process exits, even after a failed
 * assertion or Ctrl-C: no test leaves a mount behind.
 */
const live = new Set<string>();

export function trackMount(mountpoint: string): void {
  live.add(mountpoint);
}

/** Unmounts (lazily if busy) and stops tracking; says on stderr why when the mount stays. */
export function unmount(mountpoint: string): void {
  const why: string[] = [];
  for (const args of [[mountpoint], ['-l', mountpoint]]) {
    try {
      execFileSync('umount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      break;
    } catch (err) {
      why.push(String((err as { stderr?: Buffer }).stderr ?? err).trim());
    }
  }
  if (why.length === 2 && readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mountpoint)) {
    console.error(`test mounts: ${mountpoint} stays mounted: ${why.join('; ')}`);
  }
  live.delete(mountpoint);
}

export function untrackMount(mountpoint: string): void {
  live.delete(mountpoint);
}

process.on('exit', () => {
  for (const mp of [...live].reverse()) unmount(mp);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}

const FUSECTL = '/sys/fs/fuse/connections';

/** The FUSE connections open now (fusectl is mounted here if it was not). */
export function fuseConnections(): Set<string> {
  try {
    execFileSync('mountpoint', ['-q', FUSECTL]);
  } catch {
    execFileSync('mount', ['-t', 'fusectl', 'fusectl', FUSECTL], { stdio: 'ignore' });
  }
  return new Set(readdirSync(FUSECTL));
}

/**
 * Aborts every FUSE connection that is not in `before`. A server that hangs on requests to its
 * own mount cannot even be killed (its threads wait for answers only it could give): aborting
 * the connection is the one way out, and what a test does before it gives up on such a child.
 */
export function abortFuseConnectionsSince(before: Set<string>): string[] {
  const aborted = [...fuseConnections()].filter((c) => !before.has(c));
  for (const c of aborted) writeFileSync(`${FUSECTL}/${c}/abort`, '1');
  return aborted;
}

/**
 * Aborts the FUSE connections of the mounts under `prefix` only (another user's mounts on this
 * machine are left alone): in mountinfo a FUSE mount's device 0:N is connection N of fusectl.
 */
export function abortFuseMountsUnder(prefix: string): string[] {
  fuseConnections(); // fusectl mounted
  const aborted: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0 || !f[sep + 1]?.startsWith('fuse')) continue;
    const mp = f[4].replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp !== prefix && !mp.startsWith(prefix.endsWith('/') ? prefix : prefix + '/')) continue;
    const [major, minor] = f[2].split(':').map(Number);
    const id = String(major * 2 ** 20 + minor);
    try {
      writeFileSync(`${FUSECTL}/${id}/abort`, '1');
      aborted.push(id);
    } catch {
      /* gone already */
    }
  }
  return aborted;
}
