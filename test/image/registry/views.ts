/** Trees to compare: the merged view of extracted layers (the engine, no mount) and a plain rootfs. */
import { Overlay } from '../../../lib/engine';
import { diffSnapshots, PathRecord, snapshotEngine, snapshotMount, TreeSnapshot } from '../../helpers/tree';

/** What a container sees and an image defines: not link counts (overlay keeps a lower's), not directory times. */
function normalize(s: TreeSnapshot): TreeSnapshot {
  const out: TreeSnapshot = {};
  for (const [k, v] of Object.entries(s)) {
    const r: Partial<PathRecord> = { ...v };
    delete r.nlink;
    if (v.type === 'dir') delete r.mtime;
    if (k === '/') {
      delete r.mode;
      delete r.uid;
      delete r.gid;
    }
    out[k] = r as PathRecord;
  }
  return out;
}

/** The merged view of layer directories, top first. */
export function mergedView(lowersTopFirst: string[]): TreeSnapshot {
  const ov = Overlay.open({ lower: lowersTopFirst });
  try {
    return normalize(snapshotEngine(ov));
  } finally {
    (ov as unknown as { close?: () => void }).close?.();
  }
}

export function rootfsView(dir: string): TreeSnapshot {
  return normalize(snapshotMount(dir));
}

export const diffViews = (a: TreeSnapshot, b: TreeSnapshot): string[] => diffSnapshots(a, b);
