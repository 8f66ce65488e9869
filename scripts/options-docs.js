#!/usr/bin/env node
// Writes the option tables of docs/cli.md and docs/api.md (and the environment table of docs/cli.md)
// from the options spine, lib/options.ts (run `npm run build` first). With --check it only compares,
// and exits 1 naming the tables that differ (test/cli/spine.test.ts does the same check).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const spine = require(path.join(root, 'dist', 'lib', 'options.js'));

/** [file, marker, generated table] */
const TABLES = [
  ['docs/cli.md', 'cli-options', spine.cliDocTable()],
  ['docs/cli.md', 'environment', spine.environmentDocTable()],
  ['docs/api.md', 'library-options', spine.libraryDocTable()],
];

function section(text, marker) {
  const begin = `<!-- ${marker}: generated from lib/options.ts by scripts/options-docs.js -->\n`;
  const end = `\n<!-- /${marker} -->`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end, i);
  if (i < 0 || j < 0) throw new Error(`no ${begin.trim()} ... ${end.trim()} section`);
  return { start: i + begin.length, end: j };
}

const check = process.argv.includes('--check');
const differ = [];
for (const [file, marker, table] of TABLES) {
  const full = path.join(root, file);
  const text = fs.readFileSync(full, 'utf8');
  const s = section(text, marker);
  const want = `\n${table}\n`;
  if (text.slice(s.start, s.end) === want) continue;
  differ.push(`${file} (${marker})`);
  if (!check) fs.writeFileSync(full, text.slice(0, s.start) + want + text.slice(s.end));
}
if (check && differ.length > 0) {
  console.error(`options tables out of date: ${differ.join(', ')}; run: npm run build && node scripts/options-docs.js`);
  process.exit(1);
}
if (!check) console.log(differ.length === 0 ? 'options tables up to date' : `rewrote ${differ.join(', ')}`);
