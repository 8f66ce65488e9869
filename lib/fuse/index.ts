/** lib/fuse: the FUSE transport (protocol, codec, session, mount). Imports only lib/sys. */
export * from './protocol';
export * from './decode';
export * from './encode';
export type * from './operations';
export { FuseSession, errnoOf } from './session';
export type { FuseSessionOptions, Negotiated } from './session';
export { LatencyStats } from './latency';
export type { OpLatency } from './latency';
export { mountFuse, clearStaleMount } from './mount';
export type { MountOptions, FuseMount } from './mount';
