export * from './engine';
export * from './mount';
export { Store, Container, copyImage, registerTransport, openSource, openDestination, ImageError, parseReference } from './image';
export type { ImageSource, ImageDestination, BlobProgress, CopyOptions, ImageInfo, ContainerRecord } from './image';
