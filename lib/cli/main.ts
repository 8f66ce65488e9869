#!/usr/bin/env node
import { runCli } from './run';

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`layerfs: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
