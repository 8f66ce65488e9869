/**
 * Where blobs are known to live on registries (registry -> digest -> repositories), learned from
 * pulls and pushes, so a push can mount a blob from another repository of the same registry
 * instead of uploading it (as containers/image's blob info cache does). In memory for the
 * process, and in a JSON file when given one (the store keeps it beside its images).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const MAX_REPOS_PER_BLOB = 8;

export class BlobLocations {
  private readonly map = new Map<string, Map<string, string[]>>();
  private dirty = false;

  constructor(readonly file?: string) {
    if (!file) return;
    try {
      const j = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Record<string, string[]>>;
      for (const [reg, blobs] of Object.entries(j)) this.map.set(reg, new Map(Object.entries(blobs)));
    } catch {
      /* no file yet, or unreadable: start empty, it is only a hint */
    }
  }

  /** Records that `digest` is in `repository` of `registry` (most recent first). */
  add(registry: string, repository: string, digest: string): void {
    let blobs = this.map.get(registry);
    if (!blobs) this.map.set(registry, (blobs = new Map()));
    const repos = blobs.get(digest) ?? [];
    if (repos[0] === repository) return;
    blobs.set(digest, [repository, ...repos.filter((r) => r !== repository)].slice(0, MAX_REPOS_PER_BLOB));
    this.dirty = true;
  }

  /** Other repositories of `registry` known to hold `digest`. */
  candidates(registry: string, repository: string, digest: string): string[] {
    return (this.map.get(registry)?.get(digest) ?? []).filter((r) => r !== repository);
  }

  /** Writes the file (atomically) when something was learned. */
  save(): void {
    if (!this.file || !this.dirty) return;
    const out: Record<string, Record<string, string[]>> = {};
    for (const [reg, blobs] of this.map) out[reg] = Object.fromEntries(blobs);
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(out));
    fs.renameSync(tmp, this.file);
    this.dirty = false;
  }
}

/** The process-wide instance used when a transport is given none. */
export const defaultBlobLocations = new BlobLocations();
