import { buildSnapshot, SNAPSHOT_WARN_BYTES, type BuiltSnapshot } from '../snapshots/build-snapshot.ts';
import type { SnapshotSigner } from '../snapshots/signing-key.ts';

import type { Logger } from '../log.ts';
import type { LiveFlagSet } from './live-flag-set.ts';
import type { ApiMetrics } from './metrics.ts';

/** The snapshot of a live flag set, rebuilt lazily after the set changes. */
export class SnapshotCache {
  readonly #live: LiveFlagSet;
  readonly #signer: SnapshotSigner;
  readonly #log: Logger;
  readonly #metrics: ApiMetrics | undefined;
  #built: BuiltSnapshot | undefined;
  #builtForChange = -1;
  #builtForVersion = -1;

  constructor(options: { live: LiveFlagSet; signer: SnapshotSigner; log: Logger; metrics?: ApiMetrics }) {
    this.#live = options.live;
    this.#signer = options.signer;
    this.#log = options.log;
    this.#metrics = options.metrics;
  }

  get publicKeyPem(): string {
    return this.#signer.publicKeyPem;
  }

  /** Rebuilt when the answers changed, and when the version moved (the snapshot carries it, and SDKs refuse an older one). */
  current(): BuiltSnapshot {
    if (!this.#built || this.#builtForChange !== this.#live.changeCount || this.#builtForVersion !== this.#live.version) {
      const change = this.#live.changeCount;
      this.#builtForVersion = this.#live.version;
      const set = this.#live.current;
      this.#built = buildSnapshot(
        { version: this.#live.version, flags: this.#live.flags.values(), segments: this.#live.segments.values(), killswitches: set.killswitches },
        this.#signer,
        Date.now(),
      );
      this.#builtForChange = change;
      this.#metrics?.snapshotBytes.set(this.#built.body.length);
      if (this.#built.body.length > SNAPSHOT_WARN_BYTES) {
        this.#log.warn({ bytes: this.#built.body.length, limit: SNAPSHOT_WARN_BYTES }, 'the snapshot is larger than 5 MB; SDK bootstraps will be slow');
      }
    }
    return this.#built;
  }

  /** Seconds since the snapshot served now was built (0 when none was built yet). */
  ageSeconds(now = Date.now()): number | undefined {
    return this.#built ? (now - this.#built.builtAt) / 1000 : undefined;
  }
}
