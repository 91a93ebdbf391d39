/// <reference lib="webworker" />
// The sweep worker: its own connection deletes expired sessions and checkpoints the WAL,
// so neither ever runs on the server's event loop.
import type { Database } from 'bun:sqlite'
import { readFileSync } from 'node:fs'
import { setPriority } from 'node:os'
import { checkpointWal, connectDatabase } from '../db/service'
import { createSessionStore, type SessionStore, sweepInBatches } from './service'
import {
  CHECKPOINT_EVERY_BATCHES,
  CHECKPOINT_INTERVAL_MS,
  type FromSweepWorker,
  SWEEP_THREAD_NICE,
  type ToSweepWorker,
} from './sweep-protocol'

declare const self: DedicatedWorkerGlobalScope

let db: Database | null = null
let sessions: SessionStore | null = null
let stopping = false
let checkpointTimer: ReturnType<typeof setInterval> | undefined

const reply = (message: FromSweepWorker) => self.postMessage(message)

/**
 * Nice 19 for this thread only (Linux gives each thread its own nice value): when requests and the
 * sweep want the same core, the kernel runs the requests, and the sweep takes the idle time.
 */
function yieldCpuToRequests(): void {
  try {
    const threadId = Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0])
    setPriority(threadId, SWEEP_THREAD_NICE)
  } catch {
    // Not Linux, or not allowed: the sweep still runs, at normal priority.
  }
}

async function sweep(store: SessionStore, connection: Database, cutoff: number, batchRows: number): Promise<number> {
  const total = await sweepInBatches(store, cutoff, batchRows, {
    stopped: () => stopping,
    async between(batch) {
      if (batch % CHECKPOINT_EVERY_BATCHES === 0) checkpointWal(connection)
      // Let the server's writers take the write lock between batches.
      await Bun.sleep(0)
    },
  })
  checkpointWal(connection)
  return total
}

self.onmessage = async (event: MessageEvent<ToSweepWorker>) => {
  const message = event.data
  switch (message.type) {
    case 'open':
      yieldCpuToRequests()
      db = connectDatabase(message.path)
      sessions = createSessionStore(db, { cacheEntries: 1 })
      checkpointTimer = setInterval(() => db && checkpointWal(db), CHECKPOINT_INTERVAL_MS)
      return
    case 'sweep':
      try {
        if (!db || !sessions) throw new Error('sweep worker has no database')
        reply({ type: 'swept', id: message.id, deleted: await sweep(sessions, db, message.cutoff, message.batchRows) })
      } catch (error) {
        reply({ type: 'failed', id: message.id, message: error instanceof Error ? error.message : String(error) })
      }
      return
    case 'stop':
      stopping = true
      return
    case 'close':
      clearInterval(checkpointTimer)
      if (db) checkpointWal(db)
      db?.close()
      db = null
      reply({ type: 'closed' })
  }
}
