/**
 * deploy/wxauth.service and deploy/wxauth.env.example: every hardening line the unit promises is there,
 * the command it runs is the binary's server command, the example env file is a configuration wxauth
 * accepts, and `systemd-analyze verify` passes on the unit (where systemd-analyze is installed: it needs
 * no running systemd; the ExecStart binary must exist, so a copy of the unit names a stand-in for it).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseCommand } from '../../src/modules/admin/cli'
import { readConfig } from '../../src/modules/config/service'

const DEPLOY = resolve(import.meta.dir, '..', '..', 'deploy')
const UNIT = readFileSync(join(DEPLOY, 'wxauth.service'), 'utf8')
const ENV_EXAMPLE = readFileSync(join(DEPLOY, 'wxauth.env.example'), 'utf8')
const BINARY = '/usr/local/bin/wxauth'

/** Every `Key=value` of the unit, in order (a key may repeat), comments and section lines left out. */
function directives(unit: string): [string, string][] {
  return unit
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && !line.startsWith(';') && !line.startsWith('['))
    .map((line) => {
      const at = line.indexOf('=')
      return [line.slice(0, at), line.slice(at + 1)]
    })
}

const valuesOf = (key: string) =>
  directives(UNIT)
    .filter(([name]) => name === key)
    .map(([, value]) => value)

/** `KEY=value` lines of an env file, comments left out. */
function envOf(text: string): Record<string, string> {
  const entries = text
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const)
  return Object.fromEntries(entries)
}

describe('deploy/wxauth.service', () => {
  test.each([
    ['User', 'wxauth'],
    ['Group', 'wxauth'],
    ['StateDirectory', 'wxauth'],
    ['EnvironmentFile', '/etc/wxauth/env'],
    ['UMask', '0077'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['RemoveIPC', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectKernelTunables', 'yes'],
    ['ProtectKernelModules', 'yes'],
    ['ProtectKernelLogs', 'yes'],
    ['ProtectControlGroups', 'yes'],
    ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
    ['RestrictNamespaces', 'yes'],
    ['LockPersonality', 'yes'],
    ['SystemCallArchitectures', 'native'],
    ['CapabilityBoundingSet', ''],
    ['Restart', 'on-failure'],
    ['KillSignal', 'SIGTERM'],
  ])('%s=%s', (key, value) => {
    expect(valuesOf(key)).toEqual([value])
  })

  test('starts after the network is up, and at boot', () => {
    expect(valuesOf('After').join(' ')).toContain('network-online.target')
    expect(valuesOf('Wants').join(' ')).toContain('network-online.target')
    expect(valuesOf('WantedBy')).toEqual(['multi-user.target'])
  })

  test("no MemoryDenyWriteExecute: JavaScriptCore's JIT needs memory it writes and then executes", () => {
    expect(valuesOf('MemoryDenyWriteExecute')).toEqual([])
    expect(UNIT).toMatch(/# Not MemoryDenyWriteExecute=yes: .*JIT/)
  })

  test('stops within TimeoutStopSec, long enough for a web-login long poll (25 s) to finish', () => {
    const [timeout] = valuesOf('TimeoutStopSec')
    expect(timeout).toMatch(/^\d+s$/)
    expect(Number.parseInt(timeout as string, 10)).toBeGreaterThan(25)
  })

  test("runs the binary's server command, on the database in its state directory", () => {
    const [execStart] = valuesOf('ExecStart')
    const [binary, ...args] = (execStart ?? '').split(' ')
    expect(binary).toBe(BINARY)
    expect(parseCommand(args)).toMatchObject({ name: 'serve' })
    expect(valuesOf('Environment').join(' ')).toContain('DATABASE_PATH=/var/lib/wxauth/wxauth.db')
  })

  const analyze = Bun.which('systemd-analyze')
  if (!analyze) console.warn('systemd-analyze verify skipped: systemd-analyze is not installed (Debian: systemd)')
  const withAnalyze = analyze ? test : test.skip
  let workdir = ''
  afterAll(() => {
    if (workdir) rmSync(workdir, { recursive: true, force: true })
  })

  withAnalyze('systemd-analyze verify finds nothing to say', () => {
    workdir = mkdtempSync(join(tmpdir(), 'wxauth-unit-'))
    // A stand-in for the binary: verify checks that ExecStart's program exists and is executable.
    const binary = join(workdir, 'wxauth')
    writeFileSync(binary, '#!/bin/sh\nexit 0\n')
    chmodSync(binary, 0o755)
    expect(UNIT).toContain(`ExecStart=${BINARY} `)
    const unit = join(workdir, 'wxauth.service')
    writeFileSync(unit, UNIT.replaceAll(`ExecStart=${BINARY} `, `ExecStart=${binary} `))
    const run = Bun.spawnSync([analyze as string, 'verify', unit], { stdout: 'pipe', stderr: 'pipe' })
    const said = `${run.stdout.toString()}${run.stderr.toString()}`
    expect({ exitCode: run.exitCode, said }).toEqual({ exitCode: 0, said: '' })
  })
})

describe('deploy/wxauth.env.example', () => {
  const env = envOf(ENV_EXAMPLE)

  test('behind the proxy on this machine, on the database the unit names', () => {
    expect(env).toMatchObject({
      HOST: '127.0.0.1',
      PORT: '3000',
      TRUST_PROXY: 'true',
      DATABASE_PATH: '/var/lib/wxauth/wxauth.db',
    })
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['WECHAT_APPID', 'WECHAT_SECRET']))
  })

  test('is a configuration `wxauth serve` accepts, read as the binary reads it', () => {
    const config = readConfig(env, 'start')
    expect(config).toMatchObject({ host: '127.0.0.1', port: 3000, databasePath: '/var/lib/wxauth/wxauth.db' })
  })

  test("the proxies' recipes point at the address it sets", () => {
    const address = `${env.HOST}:${env.PORT}`
    expect(readFileSync(join(DEPLOY, 'nginx.conf'), 'utf8')).toContain(`server ${address};`)
    expect(readFileSync(join(DEPLOY, 'Caddyfile'), 'utf8')).toContain(`reverse_proxy ${address} {`)
  })
})
