#!/usr/bin/env node
/**
 * CPU cost of the request path per FUSE request, without the device: requests built as the kernel
 * sends them go through FuseSession (decode, dispatch, reply encoding), the adapter and the engine,
 * and their replies are dropped. No round trip, no wake-up: this is the server's own share of each
 * request, the part that code changes move. A mounted workload pays it 5-10x over (caches that the
 * client and the kernel evicted between two requests), plus the reply write (~10 us here).
 *
 *   node dist/bench/request-path.js [--quick]     (also `npm run bench -- request-path`)
 *
 * Layers: a lower layer of 64 small files in a directory, an empty upper; files are taken in turn
 * so that per-file caches hold many entries, as in a real workload.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../lib/engine';
import { FuseSession } from '../lib/fuse';
import { Op, SIZE } from '../lib/fuse/protocol';
import { body, request } from '../lib/fuse/requests';
import { OverlayFuseOps } from '../lib/mount/adapter';
import { O } from '../lib/sys';
import { removeTree, tempDir } from '../test/helpers/layers';
import { benchWarm, keep, Measure } from './measure';
import { makeRow, WorkloadOptions, WorkloadResult } from './types';

const FILES = 64;
/** µs per request, median of benchmark.js samples, per kind of request. */
export function measureRequestPath(quick: boolean): Map<string, Measure> {
  const base = tempDir('lf-reqpath-');
  const ov = (() => {
    for (const d of ['lower/dir', 'upper', 'work']) fs.mkdirSync(path.join(base, d), { recursive: true });
    for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(base, 'lower/dir', `f${i}`), `file ${i}\n`);
    return Overlay.open({ lower: [path.join(base, 'lower')], upper: path.join(base, 'upper'), work: path.join(base, 'work'), volatile: true });
  })();
  try {
    let last: Buffer = Buffer.alloc(0);
    const session = new FuseSession(-1, new OverlayFuseOps(ov), {
      log: (m) => process.stderr.write(`${m}\n`),
      writeReply: (out) => {
        last = Array.isArray(out) ? out[0] : out;
        return last.length;
      },
    });
    let unique = 10;
    /** One request, answered synchronously (the ones measured here all are); its reply. */
    const call = (op: Op, nodeid: number, b?: Buffer): Buffer => {
      session.deliver(request(op, unique++, nodeid, b));
      if (last.readInt32LE(4) < 0 && op !== Op.LOOKUP && op !== Op.GETXATTR) throw new Error(`op ${op}: error ${last.readInt32LE(4)}`);
      return last;
    };
    const nodeidOf = (reply: Buffer) => Number(reply.readBigUInt64LE(SIZE.OUT_HEADER));
    const dir = nodeidOf(call(Op.LOOKUP, 1, body.name('dir')));
    const files = Array.from({ length: FILES }, (_, i) => nodeidOf(call(Op.LOOKUP, dir, body.name(`f${i}`))));
    // Built once: building a request is the kernel's work, not ours.
    const lookups = files.map((_, i) => body.name(`f${i}`));
    const missing = files.map((_, i) => body.name(`f${i}.dpkg-new`));
    const getattr = body.getattr();
    const capability = body.getxattr('security.capability', 0);
    const openRead = body.open(O.RDONLY);
    const forgetOne = body.forget(1);
    let n = 0;
    const next = () => (n = (n + 1) % FILES);
    const impls = [
      { name: 'LOOKUP, cached node (+ its FORGET)', fn: () => { const i = next(); keep(call(Op.LOOKUP, dir, lookups[i])); call(Op.FORGET, files[i], forgetOne); } },
      { name: 'LOOKUP, missing name', fn: () => keep(call(Op.LOOKUP, dir, missing[next()])) },
      { name: 'GETATTR', fn: () => keep(call(Op.GETATTR, files[next()], getattr)) },
      { name: 'GETXATTR security.capability (none)', fn: () => keep(call(Op.GETXATTR, files[next()], capability)) },
      { name: 'OPEN read-only + RELEASE', fn: () => {
        const i = next();
        const fh = Number(call(Op.OPEN, files[i], openRead).readBigUInt64LE(SIZE.OUT_HEADER));
        call(Op.RELEASE, files[i], body.release(fh));
      } },
    ];
    return benchWarm(impls, quick ? 1 : 3, quick ? 0.5 : 1.5);
  } finally {
    ov.close();
    removeTree(base);
  }
}

/** The same as a workload of bench/run.ts (no kernel column: there is no device). */
export async function runRequestPath(opts: WorkloadOptions): Promise<WorkloadResult> {
  opts.log('request-path: requests through the session, adapter and engine, no device');
  const results = measureRequestPath(opts.quick);
  return { rows: [...results].map(([name, m]) => makeRow('request-path', `request path: ${name}`, m, null, 'server CPU per request, no device')), ratios: [] };
}

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  const results = measureRequestPath(quick);
  console.log('\n| request (no device) | median us | samples |\n|---|---|---|');
  for (const [name, m] of results) console.log(`| ${name} | ${m.median_us.toFixed(2)} | ${m.samples} |`);
  console.log(`\ncommand: node dist/bench/request-path.js${quick ? ' --quick' : ''}`);
}
