// Scenario 1: the runtime's limit on this machine — a bare Bun.serve JSON answer, no framework, no database.
const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: '127.0.0.1',
  fetch: () => Response.json({ status: 'ok' }),
})
console.log(`raw listening on http://127.0.0.1:${server.port}`)
