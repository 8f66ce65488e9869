/** True for a layer media type (OCI or Docker, any compression). */
export function isLayerMediaType(mt: string): boolean {
  return mt.includes('.layer.') || mt.includes('rootfs.diff');
}
