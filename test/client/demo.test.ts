import { expect, test } from 'bun:test'
import { resolve } from 'node:path'

test('bun run demo plays the whole flow against a real dev server and exits 0', async () => {
  const demo = Bun.spawn(['bun', 'client/demo.ts'], {
    cwd: resolve(import.meta.dir, '../..'),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [code, output, errors] = await Promise.all([
    demo.exited,
    new Response(demo.stdout).text(),
    new Response(demo.stderr).text(),
  ])
  expect(errors).toBe('')
  expect(code).toBe(0)
  const lines = output.split('\n').map((line) => line.trim())
  const expected = [
    'POST /auth/login → 200',
    'GET /auth/me → 200',
    'POST /notes → 201',
    'GET /notes → 200',
    'GET /notes → 401 SKEY_INVALID',
    'POST /auth/login → 200',
    'GET /notes → 200',
    'POST /auth/logout → 204',
  ]
  expect(lines.filter((line) => expected.includes(line))).toEqual(expected)
  for (const step of ['1.', '2.', '3.', '4.', '5.', '6.'])
    expect(lines.some((line) => line.startsWith(step))).toBe(true)
  expect(output).toContain('demo finished')
})
