/** SQLite answers in the same tick; PostgreSQL and Redis answer later. Stores return either. */
export type MaybePromise<T> = T | Promise<T>

export type Backend = 'sqlite' | 'postgres' | 'redis'

/** A store's interface as its SQLite implementation has it: every answer in the same tick. */
export type Synchronous<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => MaybePromise<infer R> ? (...args: A) => R : T[K]
}
