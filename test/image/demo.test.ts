/** The quick start's main job (`layerfs demo`): the image flow ends with umoci agreeing. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { cli, tmp } from './helpers';

test('layerfs demo: import, mount, change, diff, commit, export, umoci unpack agrees', () => {
  const dir = path.join(tmp('demo'), 'd');
  const r = cli(['demo', dir]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /2\. imported into the store/);
  assert.match(r.stdout, /\n {5}A \/app\/config\.json\n/);
  assert.match(r.stdout, /\n {5}D \/etc\/hostname\n/);
  assert.match(r.stdout, /5\. committed as sample:2 .*: 4 layers, the first 3 shared with sample:1/);
  assert.match(r.stdout, /7\. umoci unpack of the export shows the container's \d+ objects exactly/);
});

test.run();
