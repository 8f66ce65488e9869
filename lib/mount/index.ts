export { mount } from './mount';
export type { MountHandle } from './mount';
export { startServer } from './server';
export type { MountOptions, Server, ServerStats } from './server';
export { OverlayFuseOps } from './adapter';
