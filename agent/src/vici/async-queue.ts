/** Items handed from the socket reader to one async consumer. */
export class AsyncQueue<T> {
  readonly #items: T[] = [];
  readonly #waiters: { resolve(r: IteratorResult<T, undefined>): void; reject(e: Error): void }[] =
    [];
  #finished = false;
  #error: Error | undefined;

  get size(): number {
    return this.#items.length;
  }

  push(item: T) {
    if (this.#finished) return;
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve({ value: item, done: false });
    else this.#items.push(item);
  }

  /** No more items; those queued are still delivered, then `error` is thrown if given. */
  finish(error?: Error) {
    if (this.#finished) return;
    this.#finished = true;
    this.#error = error;
    for (const waiter of this.#waiters.splice(0)) {
      if (error) waiter.reject(error);
      else waiter.resolve({ value: undefined, done: true });
    }
  }

  discard() {
    this.#items.length = 0;
    this.finish();
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#items.length > 0) {
      return Promise.resolve({ value: this.#items.shift() as T, done: false });
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }
}
