import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../lib/engine/overlay';
import { O } from '../lib/sys';
import { removeTree, tempDir } from '../test/helpers/layers';
import { summarise } from './measure';
import { makeRow, Row, WorkloadOptions, WorkloadResult } from './types';

const MiB = 1 << 20;

/**
 * The engine's copy-up by file size, no mount: a fresh upper per sample (opened untimed), then
 * `open(O_WRONLY|O_APPEND)` of a lower file timed (the copy-up, with its method from the engine's
 * event), and chmod of the largest file (metacopy=on: metadata only). Per-call samples: copy-up
 * happens once per file and upper, which benchmark.js's repeated calls cannot measure.
 */
export async function runEngineCopyUp(opts: WorkloadOptions): Promise<WorkloadResult> {
  const sizes = opts.quick ? [MiB, 8 * MiB] : [MiB, 16 * MiB, 100 * MiB, 1024 * MiB];
  const samples = opts.quick ? 3 : 7;
  const base = tempDir('layerfs-bench-copyup-');
  const rows: Row[] = [];
  const methods: Record<string, string[]> = {};
  try {
    const lower = path.join(base, 'lower');
    fs.mkdirSync(lower);
    const chunk = Buffer.alloc(MiB);
    for (let i = 0; i < MiB; i += 4) chunk.writeUInt32LE((Math.random() * 0xffffffff) >>> 0, i);
    for (const size of sizes) {
      const fd = fs.openSync(path.join(lower, `f${size}`), 'w');
      for (let off = 0; off < size; off += MiB) fs.writeSync(fd, chunk, 0, Math.min(MiB, size - off));
      fs.closeSync(fd);
    }
    let seq = 0;
    const fresh = (metacopy: boolean) => {
      const dir = path.join(base, `s${seq++}`);
      fs.mkdirSync(path.join(dir, 'u'), { recursive: true });
      fs.mkdirSync(path.join(dir, 'w'));
      const ov = Overlay.open({ lower: [lower], upper: path.join(dir, 'u'), work: path.join(dir, 'w'), metacopy });
      return { ov, dir };
    };
    const sample = async (label: string, metacopy: boolean, op: (ov: Overlay) => Promise<void>): Promise<number> => {
      const { ov, dir } = fresh(metacopy);
      try {
        ov.events.on('copy-up', (e: { method: string; metadataOnly: boolean }) => (methods[label] ??= []).push(`${e.method}${e.metadataOnly ? ' (metadata only)' : ''}`));
        const t0 = process.hrtime.bigint();
        await op(ov);
        return Number(process.hrtime.bigint() - t0) / 1000;
      } finally {
        ov.close();
        removeTree(dir);
      }
    };
    for (const size of sizes) {
      const label = `engine copy-up (open O_APPEND) of a ${size / MiB} MiB lower file`;
      opts.log(`copyup: ${label}`);
      const xs: number[] = [];
      for (let i = 0; i < samples; i++) {
        xs.push(await sample(label, false, async (ov) => (await ov.open(`/f${size}`, O.WRONLY | O.APPEND)).close()));
      }
      rows.push(makeRow('copyup', label, summarise(xs, 'per-call'), null, `method: ${[...new Set(methods[label] ?? [])].join(', ') || '?'}`));
    }
    const big = sizes[sizes.length - 1];
    for (const metacopy of [false, true]) {
      const label = `engine chmod of a ${big / MiB} MiB lower file, metacopy=${metacopy ? 'on' : 'off'}`;
      opts.log(`copyup: ${label}`);
      const xs: number[] = [];
      for (let i = 0; i < samples; i++) xs.push(await sample(label, metacopy, async (ov) => void (await ov.chmod(`/f${big}`, 0o600))));
      rows.push(makeRow('copyup', label, summarise(xs, 'per-call'), null, `method: ${[...new Set(methods[label] ?? [])].join(', ') || '?'}`));
    }
  } finally {
    removeTree(base);
  }
  return { rows, ratios: [], details: { methods } };
}
