/**
 * One upper and work directory, one live user (lib/engine/work-lock.ts): a second Overlay.open is
 * refused with EBUSY naming the first, whether it shares the work or only the upper; close() lets
 * go; a SIGKILLed holder leaves no stale lock; the work of the refused one is never touched.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../../lib/engine';
import { makeLayerSet } from '../helpers/layers';

const LIB = path.resolve(__dirname, '../../lib/engine');

function stack() {
  const set = makeLayerSet([{ 'etc/base': { type: 'file', content: 'base' } }]);
  const work2 = path.join(set.base, 'work2');
  fs.mkdirSync(work2);
  return { ...set, work2 };
}

test('a second Overlay.open of the same work or upper is refused with EBUSY naming the first; close() lets go', () => {
  const s = stack();
  try {
    const first = Overlay.open({ lower: s.lower, upper: s.upper, work: s.work });
    // Something of the first's in flight in work/work: the refused open must not remove it.
    fs.writeFileSync(path.join(s.work, 'work', '#in-flight'), 'copy-up');
    try {
      for (const [work, option, dir] of [[s.work, 'work', s.work], [s.work2, 'upper', s.upper]]) {
        let err: (Error & { code?: string; option?: string }) | undefined;
        try {
          Overlay.open({ lower: s.lower, upper: s.upper, work }).close();
        } catch (e) {
          err = e as typeof err;
        }
        assert.ok(err, `work ${work}: refused`);
        assert.is(err!.name, 'ConfigError');
        assert.is(err!.code, 'EBUSY');
        assert.is(err!.option, option);
        assert.is(err!.message, `${option} ${dir} is in use by process ${process.pid}: an upper and work directory serve one mount at a time`);
      }
      assert.is(fs.readFileSync(path.join(s.work, 'work', '#in-flight'), 'utf8'), 'copy-up', 'the first one\'s work is untouched');
      const holder = JSON.parse(fs.readFileSync(path.join(s.work, 'layerfs.lock'), 'utf8'));
      assert.equal(holder, { pid: process.pid, owner: `process ${process.pid}`, upper: s.upper, work: s.work });
    } finally {
      first.close();
    }
    const again = Overlay.open({ lower: s.lower, upper: s.upper, work: s.work2 });
    again.close();
    // A read-only overlay takes no lock: any number of them.
    const ro = [Overlay.open({ lower: [s.upper, ...s.lower] }), Overlay.open({ lower: [s.upper, ...s.lower] })];
    for (const o of ro) o.close();
  } finally {
    s.remove();
  }
});

test('a SIGKILLed holder leaves no stale lock', async () => {
  const s = stack();
  try {
    const program = `const { Overlay } = require(${JSON.stringify(LIB)});
      Overlay.open(${JSON.stringify({ lower: s.lower, upper: s.upper, work: s.work })});
      console.log('open'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (d) => String(d).includes('open') && res());
      child.once('exit', (code) => rej(new Error(`child exited ${code}`)));
    });
    assert.throws(() => Overlay.open({ lower: s.lower, upper: s.upper, work: s.work }), (e: Error) => e.message.includes(`in use by process ${child.pid}`));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    Overlay.open({ lower: s.lower, upper: s.upper, work: s.work }).close();
  } finally {
    s.remove();
  }
});

test.run();
