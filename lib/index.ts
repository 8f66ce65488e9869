/**
 * The public API of layerfs (package.json "exports": "."), for ESM and CommonJS alike. Everything
 * else is internal: this repository's own code and tests reach it by path (lib/engine, lib/mount...),
 * users of the package cannot. Importing this module loads no native code: the addon loads when a
 * first system call needs it (lib/sys/native.ts). test/examples/package.test.ts checks the list.
 */

// Mounting a layer stack (lib/mount).
export { mount } from './mount/mount';
export type { MountHandle } from './mount/mount';
export type { MountOptions, ServerStats } from './mount/server';
export type { IdRange } from './mount/idmap';
export type { OpLatency } from './fuse/latency';

// The engine without FUSE (lib/engine).
export { Overlay } from './engine/overlay';
export type { DirHandle } from './engine/overlay';
export type { FileHandle } from './engine/file';
export type { OverlayOptions, CacheOptions } from './engine/config';
export type { Attr } from './engine/attr';
export type { DirEntry } from './engine/readdir';
export type { EngineStats } from './engine/context';
export type { Caller } from './engine/creds';
export { ACL_ACCESS, ACL_DEFAULT } from './engine/acl';

// Errors: `code` says what went wrong (an errno name, or a named code for the image store).
export { ConfigError, MAX_LOWER_LAYERS } from './engine/config';
export { OverlayError } from './engine/errors';
export { SysError } from './sys/errors';

// The image store (lib/image): images, containers, transports, copies.
export { Store, Container, copyImage, registerTransport, openSource, openDestination, ImageError, parseReference } from './image';
export type { ImageSource, ImageDestination, BlobProgress, CopyOptions, ImageInfo, ContainerRecord, ImageErrorCode } from './image';
