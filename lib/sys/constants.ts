/** Platform constants, taken from the addon (so they match the C library and kernel headers) when first read. */
import { nativeGroup } from './native';

export const O = nativeGroup('O');
export const AT = nativeGroup('AT');
export const RESOLVE = nativeGroup('RESOLVE');
export const RENAME = nativeGroup('RENAME');
export const S = nativeGroup('S');
export const DT = nativeGroup('DT');
export const UTIME = nativeGroup('UTIME');
export const XATTR = nativeGroup('XATTR');
export const SEEK = nativeGroup('SEEK');
export const FALLOC = nativeGroup('FALLOC');
export const LOCK = nativeGroup('LOCK');
