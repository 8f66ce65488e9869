import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as assert from 'uvu/assert';
import { mount, MountHandle, MountOptions } from '../../lib/mount';
import { trackMount, untrackMount } from './mounts';
import { NATIVE } from './transport';

/** The mount points in /proc/mounts under `prefix` (every test dir lives in the tmpdir). */
export function mountsUnder(prefix: string): string[] {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((mp) => mp !== undefined && mp.replace(/\\040/g, ' ').startsWith(prefix));
}

/** Mounts layerfs, runs `fn`, and always unmounts (then checks the mount is gone). */
export async function withLayerfs<T>(opts: MountOptions, fn: (m: MountHandle) => T | Promise<T>): Promise<T> {
  try {
    fs.mkdirSync(opts.mountpoint, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTCONN') throw err; // a dead mount: mount() clears it
  }
  const logs: string[] = [];
  const m = await mount({ log: (l) => logs.push(l), ...(NATIVE ? { transport: 'fuse-native' as const } : {}), ...opts });
  trackMount(m.mountpoint);
  let failed = false;
  try {
    return await fn(m);
  } catch (err) {
    failed = true;
    if (logs.length > 0) (err as Error).message += `\nserver log:\n${logs.slice(-20).join('\n')}`;
    throw err;
  } finally {
    await m.unmount();
    untrackMount(m.mountpoint);
    const left = mountsUnder(m.mountpoint).filter((mp) => mp === m.mountpoint);
    if (left.length > 0) {
      try {
        execFileSync('umount', ['-l', m.mountpoint], { stdio: 'ignore' });
      } catch {
        /* best effort */
      }
      if (!failed) assert.unreachable(`mount left behind at ${m.mountpoint}`);
    }
  }
}

/** A shell command in a child process (so the kernel sees another process, as users of a mount are). */
export function sh(cmd: string, timeout = 30000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile('sh', ['-c', cmd], { timeout, maxBuffer: 64 * 1024 * 1024 }, (e, out, err) =>
      res({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out: String(out), err: String(err) }));
  });
}

export async function ok(cmd: string, timeout?: number): Promise<string> {
  const r = await sh(cmd, timeout);
  assert.is(r.code, 0, `${cmd}: exit ${r.code}: ${r.err}`);
  return r.out;
}

/** Runs a python3 program in a child, with argv; resolves with stdout (asserting exit 0). */
export function py(program: string, args: string[] = [], timeout = 60000): Promise<string> {
  return new Promise((res, rej) => {
    execFile('python3', ['-c', program, ...args], { timeout, maxBuffer: 64 * 1024 * 1024 }, (e, out, err) => {
      if (e) rej(new Error(`python3 failed: ${e.message}\n${err}`));
      else res(String(out));
    });
  });
}

/** Asserts no mount under `prefix` is left (call at the end of each test file). */
export function assertNoMountsUnder(prefix: string): void {
  const left = mountsUnder(prefix);
  for (const mp of left) {
    try {
      execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
    } catch {
      /* best effort */
    }
  }
  assert.equal(left, [], `mounts left behind: ${left.join(', ')}`);
}
