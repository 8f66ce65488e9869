/** The image side's errors: a code for programs, one line for people. */
export type ImageErrorCode =
  | 'ENOTFOUND' // image, container or blob not there
  | 'EEXIST' // name taken
  | 'EINUSE' // image used by a container, container mounted
  | 'EFORMAT' // a manifest, config, layout or archive that does not parse or is not supported
  | 'ETRANSPORT' // unknown transport prefix
  | 'EPLATFORM' // no manifest for the wanted platform
  | 'EINVAL';

export class ImageError extends Error {
  constructor(readonly code: ImageErrorCode, message: string) {
    super(message);
  }
}
