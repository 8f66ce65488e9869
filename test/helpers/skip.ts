/**
 * What a test needs from this machine, decided when its file loads: a test whose needs are missing
 * is registered with uvu's test.skip, so it is counted as skipped (scripts/run-tests.js prints the
 * count and fails under LAYERFS_TEST_REQUIRE_ALL=1), never passed by returning early.
 *
 * LAYERFS_TEST_PRETEND_MISSING=root,mkfs.xfs,... makes needs count as missing although present:
 * test/meta checks with it that each such test is reported skipped where its need is missing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { Callback, Test } from 'uvu';
import * as sys from '../../lib/sys';

/** The needs tests name, each with how it is checked here. */
const CHECKS = {
  root: () => process.getuid?.() === 0,
  '/dev/fuse': () => fs.existsSync('/dev/fuse'),
  fusermount3: () => {
    try {
      sys.findFusermount();
      return true;
    } catch {
      return false;
    }
  },
  'mkfs.xfs': () => ['/usr/sbin/mkfs.xfs', '/sbin/mkfs.xfs'].some((p) => fs.existsSync(p)),
  /** The unprivileged user the tests switch to. */
  'user nobody': () => spawnSync('id', ['-u', 'nobody']).status === 0,
  setpriv: () => spawnSync('setpriv', ['--version']).status === 0,
} satisfies Record<string, () => boolean>;

export type Need = keyof typeof CHECKS;

function pretendMissing(): Set<string> {
  return new Set((process.env.LAYERFS_TEST_PRETEND_MISSING ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}

/** Why tests needing `needs` cannot run here ("needs root, /dev/fuse"), or null when they can. */
export function missing(...needs: Need[]): string | null {
  const pretend = pretendMissing();
  const absent = needs.filter((n) => pretend.has(n) || !CHECKS[n]());
  return absent.length === 0 ? null : `needs ${absent.join(', ')}`;
}

/** `reason` as a skip reason unless LAYERFS_TEST_PRETEND_MISSING names `need` (for probes of this machine). */
export function unless(need: string, reason: string | null): string | null {
  return pretendMissing().has(need) ? `needs ${need}` : reason;
}

/**
 * uvu's `test` when `reason` is null; else a register that counts each test as skipped and says
 * why on stdout (when the file loads, above the run's output).
 */
export function testIf<T>(t: Test<T>, reason: string | null): (name: string, fn: Callback<T>) => void {
  if (reason === null) return (name, fn) => t(name, fn);
  return (name, fn) => {
    console.log(`  skipped: ${name} (${reason})`);
    t.skip(name, fn);
  };
}
