/** Platform constants, taken from the addon (so they match the C library and kernel headers). */
import { native } from './native';

export const O = native.O;
export const AT = native.AT;
export const RESOLVE = native.RESOLVE;
export const RENAME = native.RENAME;
export const S = native.S;
export const DT = native.DT;
export const UTIME = native.UTIME;
export const XATTR = native.XATTR;
export const SEEK = native.SEEK;
export const FALLOC = native.FALLOC;
export const LOCK = native.LOCK;
