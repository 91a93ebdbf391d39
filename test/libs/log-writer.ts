// Child for test/libs/log.test.ts: logs a line every 10 ms to the real stdout for `ms` milliseconds.
import { createLogger } from '../../src/libs/log'

const logger = createLogger('info')
const until = Date.now() + Number(process.argv[2] ?? 600)
while (Date.now() < until) {
  logger.info('tick', { at: Date.now() })
  await Bun.sleep(10)
}
await logger.flush()
console.error('still alive')
