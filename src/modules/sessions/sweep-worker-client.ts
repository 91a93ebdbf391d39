import type { Database } from 'bun:sqlite'
import { setAutoCheckpoint } from '../db/service'
import type { FromSweepWorker, ToSweepWorker } from './sweep-protocol'

/** The server's side of the sweep worker: one request at a time, answered by id. */
export function startSweepWorker(db: Database, path: string) {
  const worker = new Worker(new URL('./sweep-worker.ts', import.meta.url))
  worker.unref()
  const pending = new Map<number, { resolve: (deleted: number) => void; reject: (error: Error) => void }>()
  let nextId = 0
  let closed: (() => void) | null = null
  const send = (message: ToSweepWorker) => worker.postMessage(message)

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
      const id = ++nextId
      return new Promise<number>((resolve, reject) => {
        pending.set(id, { resolve, reject })
        send({ type: 'sweep', id, cutoff, batchRows })
      })
    },
    requestStop: () => send({ type: 'stop' }),
    async close(): Promise<void> {
      await new Promise<void>((resolve) => {
        closed = resolve
        send({ type: 'close' })
      })
      worker.terminate()
      setAutoCheckpoint(db, DEFAULT_AUTOCHECKPOINT_PAGES)
    },
  }
}

const DEFAULT_AUTOCHECKPOINT_PAGES = 1000
