import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A temp dir that goes away with everything mounted below it: on remove(), and on process exit
 * (also after a failed assertion, an uncaught error or SIGINT/SIGTERM) if remove() never ran.
 */
export interface Scratch {
  dir: string;
  remove(): void;
}

const pending = new Set<Scratch>();

function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1])
    .filter((m): m is string => m !== undefined)
    .map((m) => m.replace(/\\([0-7]{3})/g, (_x, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

function removeAll(dir: string): void {
  for (const m of mountsUnder(dir).reverse()) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* gone already */
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** mkdtemp in the temp dir with `label` (e.g. 'layerfs-podman-'). */
export function scratchDir(label: string): Scratch {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), label));
  const s: Scratch = {
    dir,
    remove: () => {
      pending.delete(s);
      removeAll(dir);
    },
  };
  pending.add(s);
  return s;
}

process.on('exit', () => {
  for (const s of [...pending].reverse()) {
    try {
      s.remove();
    } catch (err) {
      console.error(`test scratch: ${s.dir} stays: ${String(err)}`);
    }
  }
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}

/** The C front door (native-bindings/src/launcher.c), from dist/test/helpers. */
export const LAUNCHER = path.join(__dirname, '..', '..', '..', 'native-bindings', 'build', 'Release', 'layerfs');

/**
 * A directory of the test's own holding `layerfs`, a symlink to the launcher (which finds
 * dist/lib/cli/main.js from its real path): what podman's overlay.mount_program or PATH is given,
 * instead of anything installed machine-wide.
 */
export function launcherIn(dir: string): string {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true, mode: 0o755 });
  const prog = path.join(bin, 'layerfs');
  fs.symlinkSync(LAUNCHER, prog);
  return prog;
}

/**
 * Runs `script` with sh in a private mount namespace in which `binDir` is bind-mounted over
 * /usr/local/bin: mount(8) drops PATH before it runs a helper, and the shell that mount.fuse3
 * starts then looks in its default PATH, where /usr/local/bin is. Only that namespace sees the
 * bind mount (and every mount the script makes): the machine's /usr/local/bin is never touched.
 * Returns the script's stdout; throws with its stderr.
 */
export function inPrivateMountNamespace(binDir: string, script: string, env: NodeJS.ProcessEnv = {}): string {
  return execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `mount --bind "$BIN_DIR" /usr/local/bin\n${script}`], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, env: { ...process.env, ...env, BIN_DIR: binDir },
  });
}
