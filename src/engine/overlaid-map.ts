const REMOVED: unique symbol = Symbol('removed');

/** A merge once the overlay holds this many keys, or the square root of the base's size if more. */
const MIN_OVERLAY_BEFORE_MERGE = 64;

interface Base<K, V> {
  /** What lookups read: with no overlay, a lookup is this one Map get, as in a plain Map. */
  readonly map: ReadonlyMap<K, V>;
  readonly keys: readonly K[];
  readonly values: readonly V[];
  /** Each key's index in `keys` and `values`: built on the first lay-out of a map derived from this base. */
  position?: ReadonlyMap<K, number>;
}

interface Overlay<K, V> {
  /** Keys of the base replaced in place, or deleted (REMOVED). */
  readonly replaced: ReadonlyMap<K, V | typeof REMOVED>;
  /** Keys iterated after the base: new ones, and base keys deleted and then set again. */
  readonly appended: ReadonlyMap<K, V>;
}

interface Ordered<K, V> {
  readonly keys: readonly K[];
  readonly values: readonly V[];
}

/**
 * An immutable map that derives changed maps without copying itself: a shared base plus a small
 * overlay of what changed since. Copying a plain Map of 10,000 compiled flags costs about 1.2 ms,
 * which every write paid in every API process; deriving from an overlaid map copies only the
 * overlay, which is merged into a new base once it outgrows the square root of the base, so the
 * full copy is paid once per that many changes. A lookup in a map with no overlay is one Map get,
 * with one at most three; iterating a derived map first lays its keys and values out in arrays (two
 * array copies and a patch per changed key), once per map, so a scan of every flag runs at array speed.
 *
 * It reads and iterates exactly like the Map that `new Map(old)` then `set`/`delete` would have
 * made: a replaced key keeps its place, a new key (or one deleted and then set again) comes last.
 * Values are never `undefined`.
 */
export class OverlaidMap<K, V extends object> implements ReadonlyMap<K, V> {
  readonly #base: Base<K, V>;
  readonly #overlay: Overlay<K, V> | null;
  readonly size: number;
  /** The keys and values in order, laid out on the first iteration of a derived map. */
  #ordered: Ordered<K, V> | undefined;

  private constructor(base: Base<K, V>, overlay: Overlay<K, V> | null, size: number) {
    this.#base = base;
    this.#overlay = overlay;
    this.size = size;
    this.#ordered = overlay === null ? base : undefined;
  }

  static from<K, V extends object>(entries: Iterable<readonly [K, V]>): OverlaidMap<K, V> {
    const map = new Map(entries);
    return new OverlaidMap({ map, keys: [...map.keys()], values: [...map.values()] }, null, map.size);
  }

  /** A map with `changes` applied in order: a value sets its key, `undefined` deletes it. */
  with(changes: Iterable<readonly [K, V | undefined]>): OverlaidMap<K, V> {
    const replaced = new Map(this.#overlay?.replaced);
    const appended = new Map(this.#overlay?.appended);
    let size = this.size;
    for (const [key, value] of changes) {
      const inAppended = appended.has(key);
      const liveInBase = !inAppended && replaced.get(key) !== REMOVED && this.#base.map.has(key);
      if (value === undefined) {
        if (inAppended) appended.delete(key);
        else if (liveInBase) replaced.set(key, REMOVED);
        else continue;
        size -= 1;
      } else if (inAppended) {
        appended.set(key, value);
      } else if (liveInBase) {
        replaced.set(key, value);
      } else {
        appended.set(key, value);
        size += 1;
      }
    }
    const changed = replaced.size + appended.size;
    if (changed === 0) return new OverlaidMap(this.#base, null, size);
    const derived = new OverlaidMap(this.#base, { replaced, appended }, size);
    return changed > Math.max(MIN_OVERLAY_BEFORE_MERGE, Math.sqrt(this.#base.keys.length)) ? OverlaidMap.from(derived) : derived;
  }

  get(key: K): V | undefined {
    const overlay = this.#overlay;
    if (overlay !== null) {
      const appended = overlay.appended.get(key);
      if (appended !== undefined) return appended;
      const replaced = overlay.replaced.get(key);
      if (replaced !== undefined) return replaced === REMOVED ? undefined : replaced;
    }
    return this.#base.map.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  #layOut(): Ordered<K, V> {
    if (this.#ordered !== undefined) return this.#ordered;
    const base = this.#base;
    const { replaced, appended } = this.#overlay!;
    base.position ??= new Map(base.keys.map((key, at) => [key, at]));
    let keys = base.keys.slice();
    let values: (V | undefined)[] = base.values.slice();
    let removals = false;
    for (const [key, value] of replaced) {
      const at = base.position.get(key)!;
      if (value === REMOVED) {
        values[at] = undefined;
        removals = true;
      } else values[at] = value;
    }
    if (removals) {
      keys = keys.filter((_, at) => values[at] !== undefined);
      values = values.filter((value) => value !== undefined);
    }
    for (const [key, value] of appended) {
      keys.push(key);
      values.push(value);
    }
    this.#ordered = { keys, values: values as V[] };
    return this.#ordered;
  }

  keys(): MapIterator<K> {
    return this.#layOut().keys.values();
  }

  values(): MapIterator<V> {
    return this.#layOut().values.values();
  }

  *entries(): MapIterator<[K, V]> {
    const { keys, values } = this.#layOut();
    for (let at = 0; at < keys.length; at += 1) yield [keys[at]!, values[at]!];
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    const { keys, values } = this.#layOut();
    for (let at = 0; at < keys.length; at += 1) callback.call(thisArg, values[at]!, keys[at]!, this);
  }
}
