import { isoTime } from './clock'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogFields = Record<string, string | number | boolean | null | undefined>

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }
const FLUSH_EVERY_MS = 100

export interface Logger {
  readonly level: LogLevel
  enabled(level: Exclude<LogLevel, 'silent'>): boolean
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
  /** A line whose fields are already JSON (`"a":1,"b":"x"`): for the per-request line, skips a stringify. */
  preformatted(level: Exclude<LogLevel, 'silent'>, msg: string, fieldsJson: string): void
  /** Writes out what is buffered; await it before exiting. */
  flush(): Promise<void>
}

/** Lines are held in memory up to this many characters or FLUSH_EVERY_MS, then written in one go. */
const BATCH_CHARS = 64 * 1024

/**
 * stdout, one write per batch of lines. Bun's writer issues one write() per line when stdout is a
 * file (journald, Docker and `> file` all look like that): a syscall on every request. Warnings and
 * errors go out at once, so a crash loses at most FLUSH_EVERY_MS of request lines.
 */
function stdoutSink(): { write(line: string, urgent: boolean): void; flush(): Promise<void> } {
  const sink = Bun.stdout.writer()
  let pending = ''
  let lost = false
  /** stdout is gone (EPIPE: whoever read it stopped). Losing log lines must not stop the server. */
  function dropFromNowOn(error: unknown): void {
    if (lost) return
    lost = true
    process.stderr.write(`wxauth: stdout is closed, log lines are dropped from now on (${String(error)})\n`)
  }
  function writeOut(): void {
    if (pending === '' || lost) return
    try {
      sink.write(pending)
      Promise.resolve(sink.flush()).catch(dropFromNowOn)
    } catch (error) {
      dropFromNowOn(error)
    }
    pending = ''
  }
  const timer = setInterval(writeOut, FLUSH_EVERY_MS)
  timer.unref()
  return {
    write(line, urgent) {
      if (lost) return
      pending += line
      if (urgent || pending.length >= BATCH_CHARS) writeOut()
    },
    async flush() {
      writeOut()
      if (!lost) await Promise.resolve(sink.flush()).catch(() => undefined)
    },
  }
}

let lastMs = -1
let lastIso = ''
/** Under load many lines share a millisecond: format its timestamp once. */
function isoNow(): string {
  const ms = Date.now()
  if (ms !== lastMs) {
    lastMs = ms
    lastIso = isoTime(ms)
  }
  return lastIso
}

/**
 * One JSON object per line: time, level, msg, then the fields. Callers pass only values safe to
 * keep: never a skey, session_key, secret, login code or access_token.
 */
export function createLogger(level: LogLevel = 'info', write?: (line: string) => void): Logger {
  // A silent logger never writes: it needs no stdout writer and no flush timer.
  const sink = write || level === 'silent' ? { write: write ?? (() => {}), flush: async () => undefined } : stdoutSink()
  const urgent = RANK.warn
  const threshold = RANK[level]
  /** Messages are a handful of fixed texts: each is escaped once. */
  const escapedMessages = new Map<string, string>()
  function escapedMessage(msg: string): string {
    let escaped = escapedMessages.get(msg)
    if (escaped === undefined) {
      escaped = JSON.stringify(msg)
      if (escapedMessages.size < 1000) escapedMessages.set(msg, escaped)
    }
    return escaped
  }
  function preformatted(lineLevel: Exclude<LogLevel, 'silent'>, msg: string, fieldsJson: string): void {
    if (RANK[lineLevel] < threshold) return
    const rest = fieldsJson === '' ? '' : `,${fieldsJson}`
    sink.write(
      `{"time":"${isoNow()}","level":"${lineLevel}","msg":${escapedMessage(msg)}${rest}}\n`,
      RANK[lineLevel] >= urgent,
    )
  }
  const emit = (lineLevel: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: LogFields) => {
    if (RANK[lineLevel] < threshold) return
    preformatted(lineLevel, msg, fields ? JSON.stringify(fields).slice(1, -1) : '')
  }
  return {
    level,
    enabled: (lineLevel) => RANK[lineLevel] >= threshold,
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    preformatted,
    flush: () => sink.flush(),
  }
}

let current: Logger | null = null

/** The process-wide logger (errors and background jobs log through it); JSON at info until configured. */
export function logger(): Logger {
  current ??= createLogger()
  return current
}

export function setLogger(next: Logger): void {
  current = next
}
