import { describe, expect, test } from 'bun:test'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dir, '..')
const EXAMPLE = join(ROOT, 'examples/miniprogram')
const TSC_TIMEOUT_MS = 60_000

/** `bunx tsc -p <project>/tsconfig.json`: its exit code and everything it printed. */
async function typecheck(project: string): Promise<{ code: number; output: string }> {
  const tsc = Bun.spawn(['bunx', 'tsc', '-p', join(project, 'tsconfig.json')], {
    cwd: ROOT,
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [code, stdout, stderr] = await Promise.all([
    tsc.exited,
    new Response(tsc.stdout).text(),
    new Response(tsc.stderr).text(),
  ])
  return { code, output: stdout + stderr }
}

describe('examples/miniprogram', () => {
  // WeChat loads only files inside the project, so the SDK is committed there as a copy; it must never go stale.
  test('libs/ holds exactly the built client (client/dist)', () => {
    for (const file of ['wxauth.js', 'wxauth.d.ts']) {
      const copy = readFileSync(join(EXAMPLE, 'libs', file), 'utf8')
      const built = readFileSync(join(ROOT, 'client/dist', file), 'utf8')
      expect(copy === built, `libs/${file} is stale: cp client/dist/${file} examples/miniprogram/libs/`).toBe(true)
    }
  })

  test(
    'type-checks against miniprogram-api-typings and the SDK .d.ts',
    async () => {
      const { code, output } = await typecheck(EXAMPLE)
      expect(output).toBe('')
      expect(code).toBe(0)
    },
    TSC_TIMEOUT_MS,
  )

  test(
    'the check is real: a wrong wx call, page method or SDK option fails',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wxauth-miniprogram-'))
      try {
        const copy = join(dir, 'miniprogram')
        cpSync(EXAMPLE, copy, { recursive: true })
        // The copy resolves `types: ["miniprogram-api-typings"]` through node_modules, as the original does.
        symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')

        const edit = (file: string, from: string, to: string) => {
          const path = join(copy, file)
          const text = readFileSync(path, 'utf8')
          expect(text).toContain(from)
          writeFileSync(path, text.replace(from, to))
        }
        edit('app.js', 'onLaunch() {', 'onLaunch() {\n    wx.login({ sucess() {} })')
        edit('pages/index/index.js', 'wx.navigateTo(', 'wx.navigateToo(')
        edit('pages/notes/index.js', 'this.setData({ deleting: 0 })', 'this.setData({ deleting: 0 })\n    this.lod()')
        edit('utils/api.js', "{ url: '/notes', method: 'POST'", "{ url: '/notes', method: 'POSTT'")

        const { code, output } = await typecheck(copy)
        expect(code).not.toBe(0)
        expect(output).toMatch(/app\.js\(\d+,\d+\): error TS\d+: .*'sucess' does not exist in type 'LoginOption'/)
        expect(output).toMatch(/pages\/index\/index\.js\(\d+,\d+\): error TS\d+: Property 'navigateToo' does not exist/)
        expect(output).toMatch(/pages\/notes\/index\.js\(\d+,\d+\): error TS\d+: Property 'lod' does not exist/)
        expect(output).toMatch(
          /utils\/api\.js\(\d+,\d+\): error TS\d+: Type '"POSTT"' is not assignable to type 'HttpMethod/,
        )
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
    TSC_TIMEOUT_MS,
  )
})
