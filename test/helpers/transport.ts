/**
 * Which transport the mount suites run through: LAYERFS_TEST_TRANSPORT=fuse-native runs
 * test/mount's differential, posix and fuzz suites through the fuse-native transport (libfuse 2),
 * the default through our own /dev/fuse session. What libfuse 2 cannot express is skipped by name
 * there (docs/transports.md lists it).
 */
import { loadFuseNative } from '../../lib/fuse-native/load';
import type { TreeSnapshot } from './tree';

export const TRANSPORT: 'fuse' | 'fuse-native' = process.env.LAYERFS_TEST_TRANSPORT === 'fuse-native' ? 'fuse-native' : 'fuse';
export const NATIVE = TRANSPORT === 'fuse-native';

/** fuse-native built with layerfs' patch (scripts/build-fuse-native.js): ns times, mtime, callers. */
export function nativePatched(): boolean {
  try {
    return loadFuseNative().patched;
  } catch {
    return false;
  }
}
const STOCK = NATIVE && !nativePatched();

/** A test name's suffix saying which transport ran it. */
export const VIA = NATIVE ? ' [via fuse-native]' : '';

/** An exact time in ns (a decimal string) cut to whole milliseconds under the stock fuse-native, which carries no more. */
export function transportTime(t: string): string {
  if (!STOCK || !/^\d+$/.test(t)) return t;
  return String((BigInt(t) / 1_000_000n) * 1_000_000n);
}

/** A snapshot with its times as precise as the transport carries them. */
export function transportSnapshot(s: TreeSnapshot): TreeSnapshot {
  if (!STOCK) return s;
  const out: TreeSnapshot = {};
  for (const [k, r] of Object.entries(s)) out[k] = { ...r, mtime: transportTime(r.mtime) };
  return out;
}

/**
 * Fuzzer scenarios libfuse 2 cannot express through fuse-native: rename flags (RENAME_NOREPLACE,
 * RENAME_EXCHANGE: EINVAL), fallocate (fuse-native has no handler for it), and with the stock
 * build setting mtime (it passes atime twice).
 */
export const NATIVE_EXCLUDED_SCENARIOS: ReadonlySet<string> = new Set([
  ...(NATIVE ? ['rename-noreplace', 'rename-exchange', 'rename-self', 'fallocate-extend', 'punch-hole'] : []),
  ...(STOCK ? ['utimes', 'utimes-now'] : []),
]);
