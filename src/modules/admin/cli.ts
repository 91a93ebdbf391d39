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

export type AdminCommand = Extract<Command, { json: boolean }>

/** Bad command line: usage goes to stderr and the exit code is 2. */
export class UsageError extends Error {}

interface Parsed {
  words: string[]
  flags: Map<string, string | true>
}

const VALUE_FLAGS = new Set(['--limit', '--user'])
const SWITCHES = new Set(['--json', '--all', '--help', '-h', '--version', '-v'])

function split(args: string[]): Parsed {
  const words: string[] = []
  const flags = new Map<string, string | true>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (!arg.startsWith('-')) words.push(arg)
    else if (SWITCHES.has(arg)) flags.set(arg, true)
    else if (VALUE_FLAGS.has(arg)) {
      const value = args[++i]
      if (value === undefined || value.startsWith('-')) throw new UsageError(`${arg} needs a value`)
      flags.set(arg, value)
    } else throw new UsageError(`unknown flag ${arg}`)
  }
  return { words, flags }
}

function allowOnly(flags: Map<string, string | true>, allowed: string[]): void {
  for (const flag of flags.keys()) {
    if (!allowed.includes(flag)) throw new UsageError(`${flag} does not apply here`)
  }
}

function readLimit(raw: string | true | undefined): number {
  if (raw === undefined) return DEFAULT_USER_LIST_LIMIT
  const limit = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : 0
  if (limit < 1 || limit > 1_000_000) throw new UsageError('--limit must be a whole number from 1 to 1000000')
  return limit
}

/** Reads the command line (without the program name); throws UsageError for anything unknown. */
export function parseCommand(args: string[]): Command {
  const { words, flags } = split(args)
  const json = flags.has('--json')
  const [first = 'serve', second, third, ...rest] = words
  if (flags.has('--help') || flags.has('-h')) return { name: 'help' }
  if (flags.has('--version') || flags.has('-v')) return { name: 'version' }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`)
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
    case 'users list':
      allowOnly(flags, ['--limit', '--json'])
      if (third !== undefined) throw new UsageError(`unexpected argument ${third}`)
      return { name: 'users list', limit: readLimit(flags.get('--limit')), json }
    case 'users show':
      allowOnly(flags, ['--json'])
      if (third === undefined) throw new UsageError('users show needs an openid')
      return { name: 'users show', openid: third, json }
    case 'sessions revoke': {
      allowOnly(flags, ['--user', '--all', '--json'])
      const user = flags.get('--user')
      if (third !== undefined) throw new UsageError(`unexpected argument ${third}`)
      if ((typeof user === 'string') === flags.has('--all'))
        throw new UsageError('give exactly one of --user <openid> or --all')
      return { name: 'sessions revoke', openid: typeof user === 'string' ? user : null, json }
    }
    case 'stats':
      allowOnly(flags, ['--json'])
      return { name: 'stats', json }
    default:
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
