#!/usr/bin/env node
/**
 * Container start and package work with layerfs (its defaults, and with -o opens=kernel through
 * containers/storage's overlay.mountopt) vs fuse-overlayfs as podman's mount program, in one
 * interleaved run on the same image (a debootstrap minbase rootfs). Both layerfs columns are served
 * by one mount service, so only the first column's first run meets a cold JIT:
 *   - `podman run --rm IMAGE true` (median of N, default 20)
 *   - the package work below: its first run, then the median of 7 more (3 with --quick)
 *   - `dpkg -i` of a 50-file package inside the container
 *   - dpkg/apt-like metadata work: dpkg -l, dpkg --verify of a few packages, a walk of /usr with stat
 *   node dist/bench/podman.js [--quick] [--steps]   (--steps: also each step timed inside one container)
 *   node dist/bench/podman.js --starts N   container starts only: N rounds, the order rotated each
 *     round, with paired figures (20 starts cannot tell a 2% difference from this machine's noise)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildTestDeb, Podman, rootfsTarball } from '../test/helpers/podman';
import { launcherIn, scratchDir } from '../test/helpers/scratch';

const CLI = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
const quick = process.argv.includes('--quick');
const RUNS = quick ? 5 : 20;
const startsAt = process.argv.indexOf('--starts');
const STARTS_ONLY = startsAt > 0 ? Number(process.argv[startsAt + 1]) : 0;
if (startsAt > 0 && !(Number.isInteger(STARTS_ONLY) && STARTS_ONLY > 0)) {
  process.stderr.write('podman bench: --starts needs a number of rounds (e.g. --starts 150)\n');
  process.exit(2);
}

/**
 * `podman run --rm IMAGE true` for each implementation, `rounds` times, the order rotated each
 * round so that none is always first after the others. Prints medians and, against
 * fuse-overlayfs, the median of the per-round differences and how often each layerfs column won.
 */
function startsOnly(impls: Record<string, Podman>, rounds: number): void {
  const names = Object.keys(impls);
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < rounds; i++) {
    const order = names.map((_, k) => names[(k + i) % names.length]);
    for (const name of order) {
      times[name].push(timeMs(() => impls[name].run(['run', '--rm', ...Podman.runFlags, 'localhost/bench:base', 'true'])));
    }
  }
  const fo = times['fuse-overlayfs'];
  console.log(`\n| container start (\`podman run --rm IMAGE true\`), ${rounds} rounds | median ms | / fuse-overlayfs | median of per-round differences | rounds faster than fuse-overlayfs |`);
  console.log('|---|---|---|---|---|');
  for (const name of names) {
    const diffs = times[name].map((t, i) => t - fo[i]);
    const wins = diffs.filter((d) => d < 0).length;
    const cells = name === 'fuse-overlayfs' ? ['-', '-', '-']
      : [`${(median(times[name]) / median(fo)).toFixed(3)}x`, `${median(diffs).toFixed(1)} ms`, `${wins}/${rounds}`];
    console.log(`| ${name} | ${median(times[name]).toFixed(1)} | ${cells.join(' | ')} |`);
  }
  console.log(`\ncommand: node dist/bench/podman.js --starts ${rounds}`);
}

function timeMs(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const withSteps = process.argv.includes('--steps');
/** --steps: the package work step by step, timed inside one container (after the runs above). */
const STEPS: [string, string][] = [
  ['dpkg -l', 'dpkg -l'],
  ['dpkg --verify coreutils dpkg apt', 'dpkg --verify coreutils dpkg apt'],
  ['find /usr -printf "%s %m %u" (nss opens /etc/passwd per file)', 'find /usr -xdev -printf "%s %m %u\\n"'],
  ['ls -lR /usr/share/zoneinfo', 'ls -lR /usr/share/zoneinfo'],
  ['dpkg -i', 'dpkg -i /pkg/layerfs-test.deb'],
];

/**
 * name, mount program (null: layerfs's launcher, linked into the bench's own dir), storage dir
 * (short: podman limits the runroot's length), extra mount options
 */
const IMPLS: [string, string | null, string, string][] = [
  ['layerfs', null, 'lf', ''],
  ['layerfs opens=kernel', null, 'lk', 'opens=kernel'],
  ['fuse-overlayfs', '/usr/bin/fuse-overlayfs', 'fo', ''],
];

const METADATA = 'dpkg -l > /dev/null && dpkg --verify coreutils dpkg apt > /dev/null; find /usr -xdev -printf "%s %m %u\\n" > /dev/null; ls -lR /usr/share/zoneinfo > /dev/null';

function main(): void {
  const tar = rootfsTarball();
  fs.chmodSync(CLI, 0o755);
  const impls: Record<string, Podman> = {};
  // Removed in finally, or at exit (Ctrl-C, a failed run) with everything mounted below it.
  const scratch = scratchDir('layerfs-podman-bench-');
  const base = scratch.dir;
  const results: Record<string, Record<string, number[]>> = {};
  try {
    const launcher = launcherIn(base);
    const pkgDir = path.join(base, 'pkg');
    fs.mkdirSync(pkgDir);
    buildTestDeb(pkgDir);
    for (const [name, prog, dir, opts] of IMPLS) {
      // podman refuses a runroot path longer than 50 characters: short directory names.
      const p = new Podman(path.join(base, dir), prog ?? launcher, opts);
      fs.mkdirSync(p.base, { recursive: true });
      p.run(['import', tar, 'localhost/bench:base']);
      p.run(['run', '--rm', ...Podman.runFlags, 'localhost/bench:base', 'true']); // warm
      impls[name] = p;
      results[name] = { start: [], dpkg: [], metadata: [], dpkgFirst: [], metadataFirst: [] };
    }
    if (STARTS_ONLY > 0) {
      startsOnly(impls, STARTS_ONLY);
      return;
    }
    for (let i = 0; i < RUNS; i++) {
      for (const name of Object.keys(impls)) {
        const p = impls[name];
        results[name].start.push(timeMs(() => p.run(['run', '--rm', ...Podman.runFlags, 'localhost/bench:base', 'true'])));
      }
    }
    // The first run of each is reported on its own row: for layerfs it is the first real work of
    // the mount service's server, whose JIT is still cold then.
    for (let i = 0; i < 1 + (quick ? 3 : 7); i++) {
      for (const name of Object.keys(impls)) {
        const p = impls[name];
        // The time inside the container, so container start does not count.
        const dpkg = p.run(['run', '--rm', ...Podman.runFlags, '-v', `${pkgDir}:/pkg:ro`, 'localhost/bench:base', 'sh', '-c',
          's=$(date +%s%N); dpkg -i /pkg/layerfs-test.deb > /dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 ))']);
        results[name][i === 0 ? 'dpkgFirst' : 'dpkg'].push(Number(dpkg.trim()) / 1000);
        const meta = p.run(['run', '--rm', ...Podman.runFlags, 'localhost/bench:base', 'sh', '-c',
          `s=$(date +%s%N); ${METADATA}; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`]);
        results[name][i === 0 ? 'metadataFirst' : 'metadata'].push(Number(meta.trim()) / 1000);
      }
    }
    if (withSteps) {
      const script = STEPS.map(([, cmd]) => `s=$(date +%s%N); ${cmd} > /dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`).join('; ');
      for (let i = 0; i < (quick ? 3 : 5); i++) {
        for (const name of Object.keys(impls)) {
          const out = impls[name].run(['run', '--rm', ...Podman.runFlags, '-v', `${pkgDir}:/pkg:ro`, 'localhost/bench:base', 'sh', '-c', script]);
          out.trim().split(/\s+/).forEach((us, k) => (results[name][`step${k}`] ??= []).push(Number(us) / 1000));
        }
      }
    }
    const rows = [
      ['podman run --rm IMAGE true', 'start'],
      ['dpkg -i (50-file package), in the container', 'dpkg'],
      ['dpkg -l, dpkg --verify, find /usr, ls -lR, in the container', 'metadata'],
      ['dpkg -i, first run (a server whose JIT is cold)', 'dpkgFirst'],
      ['dpkg -l ... ls -lR, first run', 'metadataFirst'],
      ...(withSteps ? STEPS.map(([label], k) => [`step in one container: ${label}`, `step${k}`]) : []),
    ];
    const names = Object.keys(impls);
    const lfNames = names.filter((n) => n !== 'fuse-overlayfs');
    console.log(`\n| workload (median, ms) | ${names.join(' | ')} | ${lfNames.map((n) => `${n}/fuse-overlayfs`).join(' | ')} |`);
    console.log(`|---|${names.map(() => '---|').join('')}${lfNames.map(() => '---|').join('')}`);
    for (const [label, key] of rows) {
      const fo = median(results['fuse-overlayfs'][key]);
      const cells = names.map((n) => median(results[n][key]).toFixed(1));
      const ratios = lfNames.map((n) => `${(median(results[n][key]) / fo).toFixed(2)}x`);
      console.log(`| ${label} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
    }
    console.log(`\nsamples: ${RUNS} container starts, ${quick ? 3 : 7} dpkg/metadata runs each after a first one; command: node dist/bench/podman.js${quick ? ' --quick' : ''}`);
    fs.mkdirSync(path.join(__dirname, '..', '..', 'bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, '..', '..', 'bench', 'results', 'podman.json'), JSON.stringify(results, null, 2));
  } finally {
    for (const p of Object.values(impls)) p.cleanup();
    scratch.remove();
  }
}

main();
