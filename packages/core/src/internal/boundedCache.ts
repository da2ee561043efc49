/**
 * A map of at most `capacity` entries that forgets the oldest first.
 *
 * When full, it evicts the oldest hundredth of its entries at once, not one
 * entry per insert. A `Map` iterates from its first slot, and the slots of
 * deleted entries stay until it is rehashed: evicting one entry at a time with
 * `keys().next()` walks past every entry evicted before it, about 46 µs an
 * insert at 100,000 entries (the Vault's key cache, full after 100,000
 * subjects, paid it for every new subject). One walk per hundredth makes an
 * insert cost about what a plain `Map.set` does.
 *
 * @internal
 */
export interface BoundedCache<K, V> {
  readonly get: (key: K) => V | undefined
  /** Adds or replaces; adding to a full cache first evicts its oldest entries. */
  readonly set: (key: K, value: V) => void
  readonly delete: (key: K) => boolean
  readonly size: () => number
}

/** @internal */
export const make = <K, V>(capacity: number): BoundedCache<K, V> => {
  if (!(Number.isSafeInteger(capacity) && capacity >= 1)) {
    throw new RangeError(`a cache holds at least one entry, got a capacity of ${capacity}`)
  }
  const entries = new Map<K, V>()
  const evictAtOnce = Math.ceil(capacity / 100)
  return {
    get: (key) => entries.get(key),
    set: (key, value) => {
      if (entries.size >= capacity && !entries.has(key)) {
        let evicted = 0
        for (const oldest of entries.keys()) {
          entries.delete(oldest)
          if (++evicted === evictAtOnce) break
        }
      }
      entries.set(key, value)
    },
    delete: (key) => entries.delete(key),
    size: () => entries.size
  }
}
