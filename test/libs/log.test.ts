import { expect, test } from 'bun:test'
import { createLogger } from '../../src/libs/log'

test('every line is one JSON object: time, level, msg, fields; quotes and newlines escaped', () => {
  const lines: string[] = []
  const logger = createLogger('debug', (line) => lines.push(line))
  logger.info('hello "world"\nnext', { n: 1, s: 'a"b', skip: undefined })
  logger.preformatted('warn', 'pre', '"x":2')
  logger.error('bare')
  expect(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true)
  const parsed = lines.map((line) => JSON.parse(line))
  expect(parsed[0]).toMatchObject({ level: 'info', msg: 'hello "world"\nnext', n: 1, s: 'a"b' })
  expect(parsed[0]).not.toHaveProperty('skip')
  expect(new Date(parsed[0].time).toISOString()).toBe(parsed[0].time)
  expect(parsed[1]).toMatchObject({ level: 'warn', msg: 'pre', x: 2 })
  expect(Object.keys(parsed[2])).toEqual(['time', 'level', 'msg'])
})

test('lines below the level are dropped; silent drops everything', () => {
  const lines: string[] = []
  const warn = createLogger('warn', (line) => lines.push(line))
  warn.debug('d')
  warn.info('i')
  warn.warn('w')
  expect(lines.map((line) => JSON.parse(line).msg)).toEqual(['w'])
  expect(warn.enabled('info')).toBe(false)
  const silent = createLogger('silent', (line) => lines.push(line))
  silent.error('e')
  expect(lines).toHaveLength(1)
})

test('request lines reach stdout in batches, in order, and every one arrives by flush()', async () => {
  const child = Bun.spawn(['bun', `${import.meta.dir}/log-writer.ts`, '300'], { stdout: 'pipe', stderr: 'pipe' })
  const [code, out] = await Promise.all([child.exited, new Response(child.stdout).text()])
  expect(code).toBe(0)
  const ats = out
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).at as number)
  expect(ats.length).toBeGreaterThan(10)
  expect([...ats].sort((a, b) => a - b)).toEqual(ats)
})

test('a closed stdout (the reader went away) drops the lines, says so once on stderr, and never crashes', async () => {
  const child = Bun.spawn(['bun', `${import.meta.dir}/log-writer.ts`, '600'], { stdout: 'pipe', stderr: 'pipe' })
  const reader = child.stdout.getReader()
  await reader.read() // the first batch arrives, then nobody reads any more
  await reader.cancel()
  const [code, errors] = await Promise.all([child.exited, new Response(child.stderr).text()])
  expect(code).toBe(0)
  expect(errors.match(/stdout is closed/g)).toHaveLength(1)
  expect(errors).toContain('still alive')
})
