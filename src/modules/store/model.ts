/** SQLite answers in the same tick; PostgreSQL and Redis answer later. Stores return either. */
export type MaybePromise<T> = T | Promise<T>

export type Backend = 'sqlite' | 'postgres' | 'redis'
