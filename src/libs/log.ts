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
  /** Writes out what is buffered; await it before exiting. */
  flush(): Promise<void>
}

/** stdout through Bun's buffered writer: one syscall per batch of lines, not per line. */
function stdoutSink(): { write(line: string): void; flush(): Promise<void> } {
  const sink = Bun.stdout.writer()
  const timer = setInterval(() => void sink.flush(), FLUSH_EVERY_MS)
  timer.unref()
  return {
    write: (line) => void sink.write(line),
    async flush() {
      await sink.flush()
    },
  }
}

/**
 * One JSON object per line: time, level, msg, then the fields. Callers pass only values safe to
 * keep: never a skey, session_key, secret, login code or access_token.
 */
export function createLogger(level: LogLevel = 'info', write?: (line: string) => void): Logger {
  const sink = write ? { write, flush: async () => undefined } : stdoutSink()
  const threshold = RANK[level]
  const emit = (lineLevel: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: LogFields) => {
    if (RANK[lineLevel] < threshold) return
    sink.write(`${JSON.stringify({ time: new Date().toISOString(), level: lineLevel, msg, ...fields })}\n`)
  }
  return {
    level,
    enabled: (lineLevel) => RANK[lineLevel] >= threshold,
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
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
