/** Messages between the server and the sweep worker. */
export type ToSweepWorker =
  | { type: 'open'; path: string }
  | { type: 'sweep'; id: number; cutoff: number; batchRows: number }
  | { type: 'stop' }
  | { type: 'close' }

export type FromSweepWorker =
  | { type: 'swept'; id: number; deleted: number }
  | { type: 'failed'; id: number; message: string }
  | { type: 'closed' }

/** Checkpoint the WAL after this many deleted batches, so it never grows large mid-sweep. */
export const CHECKPOINT_EVERY_BATCHES = 20
/** The worker also checkpoints on this period, for the writes the server makes between sweeps. */
export const CHECKPOINT_INTERVAL_MS = 1000
/** The worker thread's nice value: the lowest priority, so it never takes a core from a request. */
export const SWEEP_THREAD_NICE = 19
