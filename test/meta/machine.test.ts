/**
 * Tests leave the machine as they found it: they never depend on what a machine-wide path holds
 * (a regular file installed as /usr/local/bin/layerfs broke the CLI and podman tests), and their
 * temp dirs go away also when they fail or are killed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scratchDir } from '../helpers/scratch';

const ROOT = path.join(__dirname, '..', '..', '..');
const UVU = path.join(ROOT, 'node_modules', 'uvu', 'bin.js');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

test('no test or benchmark installs into or reads /usr/local/bin (only the private mount namespace helper names it)', () => {
  const allowed = new Set(['test/helpers/scratch.ts', 'test/meta/machine.test.ts']);
  const naming = [...sources(path.join(ROOT, 'test')), ...sources(path.join(ROOT, 'bench'))]
    .map((f) => path.relative(ROOT, f))
    .filter((f) => !allowed.has(f) && fs.readFileSync(path.join(ROOT, f), 'utf8').includes('/usr/local/bin'));
  assert.equal(naming, []);
});

test('the CLI tests pass with a regular file installed as /usr/local/bin/layerfs, leave it as it was and leave no temp dir', () => {
  // Only this test's own mount namespace sees the stand-in /usr/local/bin; TMPDIR shows what the run left.
  const scratch = scratchDir('layerfs-meta-');
  try {
    const bin = path.join(scratch.dir, 'bin');
    const tmp = path.join(scratch.dir, 'tmp');
    fs.mkdirSync(bin);
    fs.mkdirSync(tmp);
    fs.writeFileSync(path.join(bin, 'layerfs'), '#!/bin/sh\necho a layerfs of the machine\n', { mode: 0o755 });
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, NO_COLOR: '1', FORCE_COLOR: '0', BIN_DIR: bin };
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec',
      `mount --bind "$BIN_DIR" /usr/local/bin\nexec "${process.execPath}" "${UVU}" "${path.join(__dirname, '..', 'cli')}" '^mount-command\\.test\\.js$'`],
    { cwd: ROOT, encoding: 'utf8', env, timeout: 5 * 60_000, killSignal: 'SIGTERM' });
    const out = `${r.stdout}\n${r.stderr}`;
    assert.is(r.status, 0, out);
    const total = Number(r.stdout.match(/Total:\s+(\d+)/)?.[1]);
    assert.ok(total > 0 && r.stdout.includes(`Passed:    ${total}`), out);
    assert.is(fs.readFileSync(path.join(bin, 'layerfs'), 'utf8'), '#!/bin/sh\necho a layerfs of the machine\n');
    assert.ok(fs.lstatSync(path.join(bin, 'layerfs')).isFile());
    assert.equal(fs.readdirSync(bin), ['layerfs']);
    assert.equal(fs.readdirSync(tmp), [], 'temp dirs left behind');
  } finally {
    scratch.remove();
  }
});

/** Runs `body` in a child that has test/helpers/scratch loaded and TMPDIR=tmp; resolves with its exit. */
function child(tmp: string, body: string, onLine?: (line: string, kill: (s: NodeJS.Signals) => void) => void): Promise<number | null> {
  const helper = path.join(__dirname, '..', 'helpers', 'scratch.js');
  const p = spawn(process.execPath, ['-e', `const { scratchDir } = require(${JSON.stringify(helper)});\n${body}`],
    { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.setEncoding('utf8').on('data', (d: string) => d.split('\n').filter(Boolean).forEach((l) => onLine?.(l, (s) => p.kill(s))));
  return new Promise((res) => p.once('exit', (code) => res(code)));
}

function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(dir));
}

test('a scratch dir is removed, with what is mounted below it, when its test throws or is killed', async () => {
  const scratch = scratchDir('layerfs-meta-');
  try {
    const tmp = scratch.dir;
    // podman's storage mounts below its dir: a tmpfs stands in for those mounts.
    const setup = `const s = scratchDir('layerfs-podman-');
      require('fs').mkdirSync(s.dir + '/storage');
      require('child_process').execFileSync('mount', ['-t', 'tmpfs', 'layerfs-test', s.dir + '/storage']);
      require('fs').writeFileSync(s.dir + '/storage/f', 'x');`;
    const thrown = await child(tmp, `${setup}\nthrow new Error('an assertion failed');`);
    assert.is.not(thrown, 0);
    assert.equal(fs.readdirSync(tmp), [], 'removed after an uncaught error');
    assert.equal(mountsUnder(tmp), []);

    const killed = await child(tmp, `${setup}\nconsole.log('ready'); setInterval(() => {}, 1000);`, (line, kill) => {
      if (line === 'ready') kill('SIGTERM');
    });
    assert.is.not(killed, 0);
    assert.equal(fs.readdirSync(tmp), [], 'removed after SIGTERM');
    assert.equal(mountsUnder(tmp), []);
  } finally {
    scratch.remove();
  }
});

test.run();
