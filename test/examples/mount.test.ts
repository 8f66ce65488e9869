/**
 * The README's library example runs as written: it is examples/mount.mjs (the same text, checked
 * here), run as a user runs it, with `import { mount } from 'layerfs'` (the package's own name).
 * And docs/api.md's word on a live mount holds: it keeps its process running until unmount(), and
 * the signal handlers it shows let the process exit.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scratchDir } from '../helpers/scratch';
import { missing, testIf } from '../helpers/skip';

const ROOT = path.join(__dirname, '..', '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'mount.mjs');
/** mount() as root mounts through /dev/fuse; the examples are written for that. */
const t = testIf(test, missing('root', '/dev/fuse'));

/** The body of the first ```lang block after `after` in a markdown file. */
function codeBlock(file: string, after: string, lang: string): string {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const at = text.indexOf(after);
  assert.ok(at >= 0, `${file}: "${after}"`);
  const start = text.indexOf('```' + lang + '\n', at);
  assert.ok(start >= 0, `${file}: a ${lang} block after "${after}"`);
  const body = start + lang.length + 4;
  return text.slice(body, text.indexOf('```\n', body));
}

/** This environment without the color settings of the test runner (node warns when both are set). */
function cleanEnv(more: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...more };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return env;
}

function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(dir));
}

test("the README's library example is examples/mount.mjs, word for word", () => {
  assert.fixture(codeBlock('README.md', 'As a library', 'js'), fs.readFileSync(EXAMPLE, 'utf8'));
});

t('examples/mount.mjs runs: mounts, writes through the mount, unmounts, exits, and leaves nothing behind', () => {
  const scratch = scratchDir('layerfs-example-test-');
  try {
    // Run as a user runs it (node examples/mount.mjs), with its temp dir in ours.
    const r = spawnSync(process.execPath, [EXAMPLE], { cwd: ROOT, encoding: 'utf8', env: cleanEnv({ TMPDIR: scratch.dir }), timeout: 60_000 });
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stderr, '');
    assert.equal(r.stdout.split('\n'), [
      'from the lower layer | written through the mount',
      'lower: from the lower layer',
      'upper: from the lower layer | written through the mount',
      '',
    ]);
    assert.equal(fs.readdirSync(scratch.dir), [], 'its temp dir removed');
    assert.equal(mountsUnder(scratch.dir), []);
  } finally {
    scratch.remove();
  }
});

/**
 * A child that mounts and then just returns (with `extra` run after the mount): still running a
 * while later, mounted; then SIGTERM. Resolves with its exit status.
 */
async function mountThenSigterm(extra: string): Promise<{ stillRunning: boolean; wasMounted: boolean; status: number | null; leftMounted: boolean; stderr: string }> {
  const scratch = scratchDir('layerfs-example-test-');
  try {
    const dirs = ['lower', 'upper', 'work', 'rootfs'].map((d) => path.join(scratch.dir, d));
    for (const d of dirs) fs.mkdirSync(d);
    const code = `import { mount } from 'layerfs';
const [lower, upper, work, rootfs] = process.argv.slice(1);
const m = await mount({ lower: [lower], upper, work, mountpoint: rootfs });
${extra}
console.log('mounted');`;
    // -e: 'layerfs' resolves from the working directory, the package's own (its name, its exports).
    const child = spawn(process.execPath, ['--input-type=module', '-e', code, ...dirs], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    await new Promise<void>((res, rej) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('mounted') && res());
      void exited.then((c) => rej(new Error(`exited (${c}) before mounting: ${stderr}`)));
    });
    await new Promise((res) => setTimeout(res, 1500));
    const stillRunning = child.exitCode === null && child.signalCode === null;
    const wasMounted = mountsUnder(dirs[3]).length === 1;
    child.kill('SIGTERM');
    const status = await exited;
    return { stillRunning, wasMounted, status, leftMounted: mountsUnder(scratch.dir).length > 0, stderr };
  } finally {
    scratch.remove();
  }
}

t('docs/api.md: a live mount keeps its process running until unmount(); without handlers SIGTERM ends it (143) and detaches the mount', async () => {
  assert.ok(fs.readFileSync(path.join(ROOT, 'docs', 'api.md'), 'utf8').includes('**A live mount keeps its process running until `unmount()`.**'));
  const r = await mountThenSigterm('');
  assert.ok(r.stillRunning, 'the process had nothing left to do but kept running');
  assert.ok(r.wasMounted);
  assert.is(r.status, 143, r.stderr);
  assert.not.ok(r.leftMounted);
});

t("docs/api.md's signal handlers unmount, and the process then exits by itself with status 0", async () => {
  const handlers = codeBlock('docs/api.md', 'keeps its process running until', 'js');
  assert.match(handlers, /m\.unmount\(\)/);
  const r = await mountThenSigterm(handlers);
  assert.ok(r.stillRunning);
  assert.ok(r.wasMounted);
  assert.is(r.status, 0, r.stderr);
  assert.not.ok(r.leftMounted);
});

test.run();
