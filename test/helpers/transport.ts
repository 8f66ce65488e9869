/**
 * Which transport the mount suites run through: LAYERFS_TEST_TRANSPORT=fuse-native runs
 * test/mount's differential, posix and fuzz suites through the fuse-native transport (libfuse 2),
 * the default through our own /dev/fuse session. What libfuse 2 cannot express is skipped by name
 * there (docs/transports.md lists it).
 */
import type { TreeSnapshot } from './tree';

export const TRANSPORT: 'fuse' | 'fuse-native' = process.env.LAYERFS_TEST_TRANSPORT === 'fuse-native' ? 'fuse-native' : 'fuse';
export const NATIVE = TRANSPORT === 'fuse-native';

/** A test name's suffix saying which transport ran it. */
export const VIA = NATIVE ? ' [via fuse-native]' : '';

/** An exact time in ns (a decimal string) cut to whole milliseconds under fuse-native, which carries no more. */
export function transportTime(t: string): string {
  if (!NATIVE || !/^\d+$/.test(t)) return t;
  return String((BigInt(t) / 1_000_000n) * 1_000_000n);
}

/** A snapshot with its times as precise as the transport carries them. */
export function transportSnapshot(s: TreeSnapshot): TreeSnapshot {
  if (!NATIVE) return s;
  const out: TreeSnapshot = {};
  for (const [k, r] of Object.entries(s)) out[k] = { ...r, mtime: transportTime(r.mtime) };
  return out;
}

/**
 * Fuzzer scenarios libfuse 2 cannot express through fuse-native: rename flags (RENAME_NOREPLACE,
 * RENAME_EXCHANGE: EINVAL), setting mtime (fuse-native passes atime twice), fallocate (no handler).
 */
export const NATIVE_EXCLUDED_SCENARIOS: ReadonlySet<string> = new Set(
  NATIVE ? ['rename-noreplace', 'rename-exchange', 'rename-self', 'utimes', 'utimes-now', 'fallocate-extend', 'punch-hole'] : [],
);
