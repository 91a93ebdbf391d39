/**
 * Processes a test starts and stops (wxauth, nginx, Caddy, an echo backend): their output kept for the
 * failure message, SIGTERM then SIGKILL to stop, and none outlives the run.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dir, '..')

export interface Child {
  name: string
  proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>
  output(): string
}

const children: Child[] = []
export const running = (child: Child) => child.proc.exitCode === null && child.proc.signalCode === null

// Whatever happens to the run, no child outlives it.
process.on('exit', () => {
  for (const child of children) if (running(child)) child.proc.kill('SIGKILL')
})

function collect(stream: ReadableStream<Uint8Array>): () => string {
  let text = ''
  void (async () => {
    for await (const chunk of stream) text += Buffer.from(chunk).toString()
  })()
  return () => text
}

/** `cmd` with PATH and `env` only, from the repository's root unless `cwd` is given. */
export function spawnChild(name: string, cmd: string[], env: Record<string, string>, cwd = ROOT): Child {
  const proc = Bun.spawn(cmd, {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const stdout = collect(proc.stdout)
  const stderr = collect(proc.stderr)
  const child = { name, proc, output: () => stdout() + stderr() }
  children.push(child)
  return child
}

/** Every child started so far, for an afterAll that stops whatever a test left running. */
export const startedChildren = (): readonly Child[] => children

/** SIGTERM, then SIGKILL if it is still there 3 s later. */
export async function stopChild(child: Child | undefined): Promise<void> {
  if (!child || !running(child)) return
  child.proc.kill('SIGTERM')
  const timer = setTimeout(() => running(child) && child.proc.kill('SIGKILL'), 3000)
  await child.proc.exited
  clearTimeout(timer)
}

/** Polls `probe` until it gives a value; fails with the child's output when it exits or time runs out. */
export async function waitFor<T>(
  child: Child,
  probe: () => T | null | undefined | Promise<T | null | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found) return found
    if (!running(child) || Date.now() > deadline) {
      if (running(child)) child.proc.kill('SIGKILL')
      const why = running(child) ? 'timed out' : `exit ${child.proc.exitCode ?? child.proc.signalCode}`
      throw new Error(`${child.name} did not start (${why}):\n${child.output()}`)
    }
    await Bun.sleep(25)
  }
}

export function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = probe
  probe.stop(true)
  return port
}

/** From PATH, or where Debian puts it: /usr/sbin (nginx) is not on every user's PATH. */
export function findBinary(name: string): string | null {
  const found = Bun.which(name)
  if (found) return found
  return ['/usr/sbin', '/usr/bin'].map((dir) => join(dir, name)).find((path) => existsSync(path)) ?? null
}

/**
 * Whether `tool` is installed. If not, one line on stderr says what is skipped and how to get it; under
 * CI=true it is an error instead, since CI must run `testFile` whole.
 */
export function installedTool(
  tool: string,
  { testFile, how, skipped }: { testFile: string; how: string; skipped: string },
) {
  if (findBinary(tool)) return true
  if (process.env.CI === 'true') throw new Error(`CI must run ${testFile}, but ${tool} is missing: ${how}`)
  console.warn(`${skipped} skipped: ${tool} is not installed (${how})`)
  return false
}

/** A recipe file (relative to the repository) with its example values replaced; fails loudly if one is gone. */
export function fromRecipe(file: string, replacements: [string, string][], testFile: string): string {
  let text = readFileSync(join(ROOT, file), 'utf8')
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`${file} no longer contains "${from}": update ${testFile}`)
    text = text.replaceAll(from, to)
  }
  return text
}

export interface DevServer {
  url: string
  output(): string
  stop(): Promise<void>
}

/** `bun src/index.ts dev` on a free port with `env` (its own DATABASE_PATH, …): the server a developer runs. */
export async function startDevServer(env: Record<string, string>): Promise<DevServer> {
  const child = spawnChild('wxauth dev', ['bun', 'src/index.ts', 'dev'], { PORT: '0', ...env })
  const url = await waitFor(child, () => /wxauth listening on (http:\/\/[^\s"]+)/.exec(child.output())?.[1])
  return { url, output: child.output, stop: () => stopChild(child) }
}
