// Bounded read-ahead for many small file reads whose results must come out in order.

/**
 * Maps items in order with up to `concurrency` in flight, handing each result to `emit` in input order
 * (so output stays sorted while reads overlap).
 */
export async function mapOrdered<T, R> (items: AsyncIterable<T>, concurrency: number, fn: (item: T) => Promise<R>,
  emit: (result: R, item: T) => void): Promise<void> {
  const window: Array<{ item: T, result: Promise<R> }> = []
  for await (const item of items) {
    const result = fn(item)
    // a rejection is rethrown when its turn comes; until then it must not count as unhandled
    result.catch(() => {})
    window.push({ item, result })
    if (window.length >= concurrency) {
      const head = window.shift()!
      emit(await head.result, head.item)
    }
  }
  for (const head of window) emit(await head.result, head.item)
}
