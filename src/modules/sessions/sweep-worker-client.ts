import type { Database } from 'bun:sqlite'
import { setAutoCheckpoint } from '../db/service'
import type { FromSweepWorker, ToSweepWorker } from './sweep-protocol'

/**
 * Where the worker's code is. In a `bun build --compile` binary (see package.json's build script)
 * every entrypoint sits under the virtual root at its path relative to src/.
 */
export function sweepWorkerUrl(moduleUrl = import.meta.url): string {
  if (moduleUrl.includes('/$bunfs/')) return './modules/sessions/sweep-worker.ts'
  return new URL('./sweep-worker.ts', moduleUrl).href
}

/** The server's side of the sweep worker: one request at a time, answered by id. */
export function startSweepWorker(db: Database, path: string, url = sweepWorkerUrl()) {
  const worker = new Worker(url)
  worker.unref()
  const pending = new Map<number, { resolve: (deleted: number) => void; reject: (error: Error) => void }>()
  let nextId = 0
  let closed: (() => void) | null = null
  let failure: Error | null = null
  const send = (message: ToSweepWorker) => worker.postMessage(message)

  // A worker that cannot load or crashes fails every sweep loudly instead of leaving it pending forever.
  worker.onerror = (event) => {
    failure = new Error(`the sweep worker failed: ${event.message}`)
    for (const waiter of pending.values()) waiter.reject(failure)
    pending.clear()
    closed?.()
  }

  worker.onmessage = (event: MessageEvent<FromSweepWorker>) => {
    const message = event.data
    if (message.type === 'closed') return closed?.()
    const waiter = pending.get(message.id)
    pending.delete(message.id)
    if (message.type === 'swept') waiter?.resolve(message.deleted)
    else waiter?.reject(new Error(`sweep failed: ${message.message}`))
  }

  // The worker checkpoints from now on; a checkpoint on this thread could stall requests.
  setAutoCheckpoint(db, 0)
  send({ type: 'open', path })

  return {
    sweep(cutoff: number, batchRows: number): Promise<number> {
      if (failure) return Promise.reject(failure)
      const id = ++nextId
      return new Promise<number>((resolve, reject) => {
        pending.set(id, { resolve, reject })
        send({ type: 'sweep', id, cutoff, batchRows })
      })
    },
    requestStop: () => send({ type: 'stop' }),
    get failed() {
      return failure !== null
    },
    async close(): Promise<void> {
      if (!failure) {
        const acknowledged = new Promise<void>((resolve) => {
          closed = resolve
          send({ type: 'close' })
        })
        // A stuck worker must not hold up shutdown forever.
        await Promise.race([acknowledged, Bun.sleep(CLOSE_TIMEOUT_MS)])
      }
      worker.terminate()
      setAutoCheckpoint(db, DEFAULT_AUTOCHECKPOINT_PAGES)
    },
  }
}

const DEFAULT_AUTOCHECKPOINT_PAGES = 1000
const CLOSE_TIMEOUT_MS = 5000
