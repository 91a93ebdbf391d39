import { parseArgs } from 'node:util'
import { isoTime } from '../../libs/clock'
import { DEFAULT_USER_LIST_LIMIT } from './model'
import type { AdminService } from './service'

export type Command =
  | { name: 'serve' }
  | { name: 'dev' }
  | { name: 'migrate' }
  | { name: 'help' }
  | { name: 'version' }
  | { name: 'users list'; limit: number; json: boolean }
  | { name: 'users show'; openid: string; json: boolean }
  | { name: 'sessions revoke'; openid: string | null; json: boolean }
  | { name: 'stats'; json: boolean }
  | { name: 'admin-link'; openid: string; base: string | null; json: boolean }
  | { name: 'backup'; file: string; json: boolean }
  | { name: 'restore'; file: string; yes: boolean; json: boolean }

/** The commands that copy the SQLite file itself rather than read the stores. */
export type BackupCommand = Extract<Command, { name: 'backup' | 'restore' }>
export type AdminCommand = Exclude<Extract<Command, { json: boolean }>, BackupCommand>

/** Bad command line: usage goes to stderr and the exit code is 2. */
export class UsageError extends Error {}

/** Every flag of every command; each command then refuses those it does not take (allowOnly). */
const OPTIONS = {
  limit: { type: 'string' },
  user: { type: 'string' },
  json: { type: 'boolean' },
  all: { type: 'boolean' },
  yes: { type: 'boolean' },
  base: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values']

/** parseArgs' complaint in our words: the flag it names, as typed ('-jx' names 'j'). */
function usageErrorOf(error: unknown): UsageError {
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : String(error)
  const named = /^(?:Unknown option|Option) '([^' ]+)/.exec(message)?.[1]
  if (!named) return new UsageError(message)
  const flag = named.startsWith('-') ? named : `-${named}`
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new UsageError(`unknown flag ${flag}`)
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return new UsageError(message.includes('does not take') ? `${flag} takes no value` : `${flag} needs a value`)
  }
  return new UsageError(message)
}

function split(args: string[]): { words: string[]; flags: Flags } {
  try {
    const { positionals, values } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true })
    return { words: positionals, flags: values }
  } catch (error) {
    if (error instanceof TypeError && 'code' in error) throw usageErrorOf(error)
    throw error
  }
}

/** Refuses the first flag given (in command-line order) that the command does not take. */
function allowOnly(flags: Flags, allowed: (keyof typeof OPTIONS)[]): void {
  for (const flag of Object.keys(flags)) {
    if (!allowed.includes(flag as keyof typeof OPTIONS)) throw new UsageError(`--${flag} does not apply here`)
  }
}

function readLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_USER_LIST_LIMIT
  const limit = /^\d+$/.test(raw) ? Number(raw) : 0
  if (limit < 1 || limit > 1_000_000) throw new UsageError('--limit must be a whole number from 1 to 1000000')
  return limit
}

/** `backup <file>` and `restore <file> [--yes]`: one file name, then flags. */
function fileCommand(
  name: BackupCommand['name'],
  file: string | undefined,
  extra: string | undefined,
  flags: Flags,
): BackupCommand {
  allowOnly(flags, name === 'backup' ? ['json'] : ['yes', 'json'])
  if (file === undefined) throw new UsageError(`${name} needs a file name`)
  if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`)
  const json = flags.json === true
  return name === 'backup' ? { name, file, json } : { name, file, yes: flags.yes === true, json }
}

/** `admin-link <openid> [--base <url>]`: the base is where the admin's browser reaches wxauth. */
function adminLinkCommand(openid: string | undefined, extra: string | undefined, flags: Flags): Command {
  allowOnly(flags, ['base', 'json'])
  if (openid === undefined) throw new UsageError('admin-link needs an openid (one of ADMIN_OPENIDS)')
  if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`)
  const base = flags.base ?? null
  if (base !== null && !/^https?:\/\/[^/]+$/.test(base.replace(/\/+$/, ''))) {
    throw new UsageError('--base must be where browsers reach wxauth, like https://auth.example.com')
  }
  return { name: 'admin-link', openid, base: base?.replace(/\/+$/, '') ?? null, json: flags.json === true }
}

/** Reads the command line (without the program name); throws UsageError for anything unknown. */
export function parseCommand(args: string[]): Command {
  const { words, flags } = split(args)
  const json = flags.json === true
  const [first = 'serve', second, third, ...rest] = words
  if (flags.help) return { name: 'help' }
  if (flags.version) return { name: 'version' }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`)
  if (first === 'backup' || first === 'restore') return fileCommand(first, second, third, flags)
  const command = second === undefined ? first : `${first} ${second}`
  switch (command) {
    case 'serve':
    case 'start':
      allowOnly(flags, [])
      return { name: 'serve' }
    case 'dev':
      allowOnly(flags, [])
      return { name: 'dev' }
    case 'migrate':
      allowOnly(flags, [])
      return { name: 'migrate' }
    case 'help':
      return { name: 'help' }
    case 'users list':
      allowOnly(flags, ['limit', 'json'])
      if (third !== undefined) throw new UsageError(`unexpected argument ${third}`)
      return { name: 'users list', limit: readLimit(flags.limit), json }
    case 'users show':
      allowOnly(flags, ['json'])
      if (third === undefined) throw new UsageError('users show needs an openid')
      return { name: 'users show', openid: third, json }
    case 'sessions revoke': {
      allowOnly(flags, ['user', 'all', 'json'])
      if (third !== undefined) throw new UsageError(`unexpected argument ${third}`)
      if ((flags.user !== undefined) === (flags.all === true))
        throw new UsageError('give exactly one of --user <openid> or --all')
      return { name: 'sessions revoke', openid: flags.user ?? null, json }
    }
    case 'stats':
      allowOnly(flags, ['json'])
      return { name: 'stats', json }
    default:
      if (first === 'admin-link') return adminLinkCommand(second, third, flags)
      throw new UsageError(`unknown command "${words.join(' ')}"`)
  }
}

type Cell = string | number | null

/** Rows as left-aligned columns under a header. */
export function formatTable(rows: Record<string, Cell>[], columns: string[]): string {
  const text = (cell: Cell | undefined) => (cell === null || cell === undefined ? '-' : String(cell))
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => text(row[column]).length)))
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(columns), ...rows.map((row) => line(columns.map((column) => text(row[column]))))].join('\n')
}

/** `wxauth dev`'s warning on stderr: a box around the lines, its right border aligned whatever they hold. */
export function devBanner(startCommand: string, { databasePath }: { databasePath: string }): string {
  const lines = [
    'wxauth DEV MODE — logins go to the built-in WeChat simulator',
    `Any code is accepted. NOT FOR PRODUCTION: use ${startCommand}.`,
    `Simulator users are kept in ${databasePath}`,
  ]
  const width = Math.max(...lines.map((line) => line.length))
  const rule = '─'.repeat(width + 4)
  return ['', `  ┌${rule}┐`, ...lines.map((line) => `  │  ${line.padEnd(width)}  │`), `  └${rule}┘`].join('\n')
}

export interface AdminOutput {
  out(text: string): void
  err(text: string): void
}

/** Runs one admin command; returns the exit code. */
export async function runAdminCommand(
  command: AdminCommand,
  admin: AdminService,
  nowMs: number,
  io: AdminOutput,
): Promise<number> {
  const print = (value: unknown, text: () => string) => io.out(command.json ? JSON.stringify(value) : text())
  switch (command.name) {
    case 'users list': {
      const users = await admin.listUsers(nowMs, command.limit)
      print(users, () =>
        formatTable(users as unknown as Record<string, Cell>[], [
          'id',
          'openid',
          'unionid',
          'createdAt',
          'lastLoginAt',
          'liveSessions',
        ]),
      )
      return 0
    }
    case 'users show': {
      const found = await admin.showUser(command.openid, nowMs)
      if (!found) {
        io.err(`wxauth: no user with openid ${command.openid}`)
        return 1
      }
      print(found, () => {
        const { user, sessions } = found
        const fields = Object.entries(user).map(([key, value]) => ({ field: key, value: value as Cell }))
        const sessionTable = sessions.length
          ? formatTable(sessions as unknown as Record<string, Cell>[], ['createdAt', 'expiresAt'])
          : '(no live sessions)'
        return `${formatTable(fields, ['field', 'value'])}\n\nlive sessions:\n${sessionTable}`
      })
      return 0
    }
    case 'sessions revoke': {
      const revoked = await (command.openid === null ? admin.revokeAll() : admin.revokeUser(command.openid))
      if (revoked === null) {
        io.err(`wxauth: no user with openid ${command.openid}`)
        return 1
      }
      const whose = command.openid === null ? 'all users' : command.openid
      print({ revoked }, () => `revoked ${revoked} session${revoked === 1 ? '' : 's'} of ${whose}`)
      return 0
    }
    case 'admin-link': {
      const made = await admin.adminLink(command.openid, nowMs)
      if ('refused' in made) {
        io.err(`wxauth: ${made.refused}`)
        return 1
      }
      const url = `${command.base ?? admin.serverUrl}${made.path}`
      const expiresAt = isoTime(made.expiresAt)
      print({ url, expiresAt }, () =>
        [
          url,
          `signs ${command.openid} in to the console once, until ${expiresAt}.`,
          command.base ? '' : 'Reached through a proxy? Give its address: --base https://auth.example.com',
        ]
          .filter(Boolean)
          .join('\n'),
      )
      return 0
    }
    case 'stats': {
      const stats = await admin.stats(nowMs)
      print(stats, () =>
        formatTable(
          [
            { measure: 'users', value: stats.users },
            { measure: 'live sessions', value: stats.liveSessions },
            { measure: 'expired, awaiting the sweep', value: stats.expiredAwaitingSweep },
            { measure: 'database size (bytes)', value: stats.databaseBytes },
          ],
          ['measure', 'value'],
        ),
      )
      return 0
    }
  }
}
