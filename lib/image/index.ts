/** The image side: the store, transports, the generic copy, containers. */
export * from './types';
export { Store } from './store/store';
export type { StoreOptions, ImageRecord, ImageInfo, StoredLayer, TempDir } from './store/store';
export { StoreDestination, StoreSource } from './store/transport';
export { defaultRoot } from './store/layout';
export { copyImage, resolveManifest } from './copy';
export type { CopyOptions, CopyResult } from './copy';
export { Container, listChanges } from './container';
export type { ContainerRecord, ContainerChange } from './container';
export { registerTransport, openSource, openDestination, transportNames, isTransportReference } from './transports';
export type { Transport, DestinationOptions } from './transports';
export { parseReference, formatReference, withDefaultTag, parseTag, referenceName, isDigest, ReferenceError } from './reference';
export type { Reference } from './reference';
export { hostPlatform, parsePlatform, formatPlatform, selectManifest } from './platform';
export { ImageError } from './errors';
export type { ImageErrorCode } from './errors';
export { DigestError, DigestStream, sha256 } from './digest';
export { setLayerCodec, layerCodec } from './store/codec';
export type { LayerCodec, LayerResult } from './store/codec';
// the registry side: docker:// registered as a transport, store.pull / store.push
export { pullImage, pushImage, DockerSource, DockerDestination, RegistryClient, RegistryError, BlobLocations, login, logout, findCredentials, parseReference as parseRegistryReference } from './registry';
export type { PullOptions, PushOptions, PullResult, RegistryReference, RegistryErrorCode, Credentials } from './registry';
