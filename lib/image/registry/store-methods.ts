/**
 * `store.pull(ref, opts)` and `store.push(image, ref, opts)`: the registry side adds them to the
 * Store class (declaration merging) so the store module itself does not depend on the registry.
 */
import { Store } from '../store/store';
import { pullImage, PullOptions, PullResult, pushImage, PushOptions } from './pull';

declare module '../store/store' {
  interface Store {
    /** Pulls `docker://REF` into the store (see pullImage). */
    pull(reference: string, opts?: PullOptions): Promise<PullResult>;
    /** Pushes a stored image to `docker://REF`; resolves with the pushed manifest's digest. */
    push(image: string, reference: string, opts?: PushOptions): Promise<{ digest: string; reference: string; copied: number; skipped: number }>;
  }
}

Store.prototype.pull = function pull(this: Store, reference: string, opts?: PullOptions) {
  return pullImage(this, reference, opts);
};
Store.prototype.push = function push(this: Store, image: string, reference: string, opts?: PushOptions) {
  return pushImage(this, image, reference, opts);
};
