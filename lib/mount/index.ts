export { mount } from './mount';
export type { MountHandle } from './mount';
export { startServer } from './server';
export type { MountOptions, Server, ServerStats } from './server';
export type { OpLatency } from '../fuse';
export { OverlayFuseOps } from './adapter';
