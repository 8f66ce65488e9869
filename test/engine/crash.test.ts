import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../../lib/engine';
import { LayerSpec, makeLayerSet } from '../helpers/layers';
import { rng } from '../helpers/random-layers';

const FILES = 60;
const SIZE = 1024 * 1024;
const content = (i: number) => Buffer.alloc(SIZE, 65 + (i % 26));

/**
 * SIGKILL a process in the middle of copy-ups, many times at random moments; after each kill,
 * reopening the stack must show every file either untouched or fully copied (never half), and the
 * work dir must hold nothing.
 */
test('killed during copy-ups: nothing lost, nothing half-visible, work dir cleaned at open', async () => {
  const spec: LayerSpec = {};
  for (let i = 0; i < FILES; i++) {
    spec[`f${i}`] = { type: 'file', content: content(i) };
    spec[`m${i}`] = { type: 'file', content: `meta${i}`, mode: 0o644 };
    spec[`d${i}/inner`] = { type: 'file', content: `inner${i}` };
  }
  const set = makeLayerSet([spec]);
  const child = path.join(__dirname, '..', 'helpers', 'crash-child.js');
  const r = rng(42);
  try {
    for (let round = 0; round < 6; round++) {
      const proc = fork(child, [set.lower[0], set.upper, set.work, String(FILES)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      await new Promise<void>((resolve, reject) => {
        proc.once('message', () => resolve());
        proc.once('exit', (code) => reject(new Error(`child exited with ${code} before starting`)));
      });
      await new Promise((res) => setTimeout(res, 5 + Math.floor(r() * 120)));
      const exited = new Promise((res) => (proc.exitCode !== null || proc.signalCode !== null ? res(null) : proc.once('exit', res)));
      proc.kill('SIGKILL');
      await exited;

      const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
      try {
        assert.equal(fs.readdirSync(path.join(set.work, 'work')), [], 'leftovers removed at open');
        for (let i = 0; i < FILES; i++) {
          const data = ov.readFile(`/f${i}`);
          assert.is(data.length, SIZE, `/f${i} size`);
          const expected = content(i);
          if (data[0] === 'W'.charCodeAt(0)) expected[0] = data[0];
          assert.ok(data.equals(expected), `/f${i} is whole`);
          assert.is(ov.readFile(`/m${i}`).toString(), `meta${i}`);
          const moved = ov.tryResolve(`/moved${i}`);
          const orig = ov.tryResolve(`/d${i}`);
          assert.ok((moved === null) !== (orig === null), `d${i} is in exactly one place`);
          assert.is(ov.readFile(`/${moved ? 'moved' : 'd'}${i}/inner`).toString(), `inner${i}`);
        }
      } finally {
        ov.close();
      }
    }
  } finally {
    set.remove();
  }
});

test.run();
