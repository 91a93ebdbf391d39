/** Current time in epoch milliseconds; injected so tests can move time. */
export type Clock = () => number

export const systemClock: Clock = () => Date.now()

/** Epoch milliseconds as the ISO 8601 text the API and the CLI show. */
export const isoTime = (ms: number): string => new Date(ms).toISOString()
