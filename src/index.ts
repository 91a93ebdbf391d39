import { systemClock } from './libs/clock'
import {
  type Config,
  ConfigError,
  createApp,
  createSessionStore,
  createWechatClient,
  createWechatSimulator,
  type Mode,
  openDatabase,
  readConfig,
  startSweeper,
} from './server'

const DEV_BANNER = `
  ┌──────────────────────────────────────────────────────────────┐
  │  wxauth DEV MODE — logins go to the built-in WeChat simulator │
  │  Any code is accepted. NOT FOR PRODUCTION: use bun run start. │
  └──────────────────────────────────────────────────────────────┘`

function parseMode(args: string[]): Mode {
  const [command = 'start'] = args
  if (command === 'dev' || command === 'start') return command
  console.error(`wxauth: unknown command "${command}" (expected dev or start)`)
  process.exit(2)
}

function loadConfig(mode: Mode): Config {
  try {
    return readConfig(process.env, mode)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    console.error(`wxauth: ${error.message}`)
    process.exit(1)
  }
}

/** Start-up failures the operator can fix end in one line, not a stack trace. */
function orExit<T>(step: () => T, what: string): T {
  try {
    return step()
  } catch (error) {
    console.error(`wxauth: ${what}: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
}

function wechatFor(mode: Mode, config: Config) {
  if (mode === 'dev') {
    const simulator = createWechatSimulator(config.wechat)
    return createWechatClient({ ...config.wechat, fetch: simulator.fetch })
  }
  return createWechatClient(config.wechat)
}

function main(): void {
  const mode = parseMode(process.argv.slice(2))
  const config = loadConfig(mode)
  if (mode === 'dev') console.warn(DEV_BANNER)

  const db = orExit(() => openDatabase(config.databasePath), `cannot open DATABASE_PATH=${config.databasePath}`)
  const sessions = createSessionStore(db)
  const app = createApp({ db, wechat: wechatFor(mode, config), config, sessions })
  orExit(
    () => app.listen({ port: config.port, hostname: config.host, reusePort: false }),
    `cannot listen on ${config.host}:${config.port}`,
  )
  const sweeper = startSweeper({
    sessions,
    intervalMs: config.sweepIntervalSeconds * 1000,
    clock: systemClock,
    worker: config.databasePath === ':memory:' ? undefined : { db, path: config.databasePath },
    onSwept: (deleted, elapsedMs) => {
      if (deleted > 0) console.log(`wxauth: swept ${deleted} expired sessions in ${Math.round(elapsedMs)} ms`)
    },
    onError: (error) => console.error('wxauth: sweep failed:', error instanceof Error ? error.message : error),
  })
  console.log(`wxauth listening on http://${app.server?.hostname}:${app.server?.port}`)

  let stopping = false
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return
    stopping = true
    console.log(`wxauth: ${signal} received, finishing in-flight requests`)
    await app.stop()
    await sweeper.stop()
    db.close()
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

main()
