/**
 * The request path is written once for answers that are at hand (a cached key, an in-memory
 * bucket) and for answers that must be waited for (the database, Redis). A promise and its
 * microtask on every step of every request cost more than the steps themselves, so the steps
 * chain through these: synchronously while nothing is waited for.
 */
export type MaybePromise<T> = T | Promise<T>;

/** `next(value)`, at once when the value is at hand, or when it arrives. */
export function thenMaybe<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}

/** Ends a callback-style hook when its work is done: at once when there was nothing to wait for. */
export function finishHook(work: unknown, done: (error?: Error) => void): void {
  if (work instanceof Promise) work.then(() => done(), done);
  else done();
}
