/**
 * Passes items to `write` in batches: one batch at a time, and whatever arrives meanwhile goes in
 * the next. Under load many attempts' results then share one transaction (on SQLite, one fsync
 * under the single write lock the payments also need) instead of taking one each.
 */
export function batched<I, O> (write: (items: I[]) => Promise<O[]>, max = 64): (item: I) => Promise<O> {
  const queue: { item: I, resolve: (o: O) => void, reject: (err: unknown) => void }[] = []
  let draining = false

  async function drain () {
    draining = true
    while (queue.length > 0) {
      const batch = queue.splice(0, max)
      try {
        const out = await write(batch.map((b) => b.item))
        batch.forEach((b, i) => b.resolve(out[i]))
      } catch (err) {
        batch.forEach((b) => b.reject(err))
      }
    }
    draining = false
  }

  return (item) => new Promise<O>((resolve, reject) => {
    queue.push({ item, resolve, reject })
    if (!draining) drain()
  })
}
