#!/usr/bin/env node
// Regenerates the "Latest full run" section of docs/benchmarks.md: runs `layerfs bench` at full
// sizes (5 rounds, every implementation this machine can run, podman workloads included when
// podman and a root filesystem tarball are there) with --out docs/benchmarks/latest, then puts its
// report (machine, command, table, chart) between the section's markers. Extra arguments go to
// `layerfs bench` (e.g. --rounds 7, or --workloads to rerun part: the section is then partial).
//
//   npm run bench:docs [-- ARGS]
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'docs', 'benchmarks', 'latest');
const doc = path.join(root, 'docs', 'benchmarks.md');
const START = '<!-- layerfs bench: latest full run (scripts/bench-docs.js writes this section) -->';
const END = '<!-- end of the latest full run -->';

fs.rmSync(out, { recursive: true, force: true });
const run = spawnSync(process.execPath, [path.join(root, 'dist', 'lib', 'cli', 'main.js'), 'bench', '--out', out, ...process.argv.slice(2)], { stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);
fs.rmSync(path.join(out, 'results.json')); // the CSV and the report carry it; keeps the docs small
const report = fs.readFileSync(path.join(out, 'report.md'), 'utf8')
  .replace(/^# layerfs bench\n/, '')
  .replace(/^## /gm, '### ')
  .replace('](chart.svg)', '](benchmarks/latest/chart.svg)')
  .replace(/--out \S+/, '--out docs/benchmarks/latest');
const text = fs.readFileSync(doc, 'utf8');
const a = text.indexOf(START), b = text.indexOf(END);
if (a < 0 || b < a) {
  console.error(`bench-docs: ${doc} has no section markers (${START} ... ${END})`);
  process.exit(1);
}
const section = `${START}\n## Latest full run (\`npm run bench:docs\`)\n\n${report.trim()}\n\nEvery sample: [benchmarks/latest/results.csv](benchmarks/latest/results.csv).\n${END}`;
fs.writeFileSync(doc, text.slice(0, a) + section + text.slice(b + END.length));
console.log(`bench-docs: ${path.relative(root, doc)} updated from ${path.relative(root, out)}/`);
