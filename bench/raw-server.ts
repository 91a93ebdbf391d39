// Scenario 1: the runtime's limit on this machine — a bare Bun.serve answering the JSON that GET /auth/me
// answers (RAW_BODY, read from the wxauth server under test), with no framework, no database, no check.
const body: unknown = JSON.parse(process.env.RAW_BODY ?? '{"status":"ok"}')
const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: '127.0.0.1',
  fetch: () => Response.json(body),
})
console.log(`raw listening on http://127.0.0.1:${server.port}`)
