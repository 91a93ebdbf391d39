// One step of GET /auth/me's cost, for `bun run bench`'s breakdown (BENCHMARKS.md: where the
// microseconds go). STEP picks how much of the real server answers: json, the same body from a native
// route; headers, + reading the skey and x-request-id headers as the real route does; check, wxauth's
// plain /auth/me (its skey check and answer); id, + the request id (the real server at LOG_LEVEL=warn);
// elysia, the real server's answer through an Elysia route with the auth macro instead of a plain route;
// echo, the json step's answer with a fresh id in a second response header (the id's echo alone).
import { isoTime } from '../src/libs/clock'
import { createLogger } from '../src/libs/log'
import { plainAnswerOf } from '../src/libs/plain-route'
import { readSkey } from '../src/modules/sessions'
import { toPublicUser } from '../src/modules/users/service'
import { createApp, createWechatClient, createWechatSimulator, openDatabase, servedWithTelemetry } from '../src/server'

const STEPS = ['json', 'headers', 'check', 'id', 'elysia', 'echo'] as const
type Step = (typeof STEPS)[number]
const step = process.env.STEP as Step
if (!STEPS.includes(step)) throw new Error(`steps-server: STEP must be one of ${STEPS.join(', ')}`)

const simulator = createWechatSimulator({ appid: 'wxbench', secret: 'bench-secret' })
const wechat = createWechatClient({
  appid: 'wxbench',
  secret: 'bench-secret',
  apiBase: 'http://127.0.0.1:9',
  timeoutMs: 1000,
  fetch: simulator.fetch,
})
const app = createApp({ db: openDatabase(process.env.DATABASE_PATH ?? ''), wechat, config: { loginRateLimit: 0 } })
// The same answer through an Elysia route with the `auth` macro: what /auth/me cost before it was plain.
const viaElysia = app.get(
  '/elysia/me',
  ({ user, session }) => ({ user: toPublicUser(user), expiresAt: isoTime(session.expiresAt) }),
  { auth: true },
)
const me = app.router.history.find((route) => route.method === 'GET' && route.path === '/auth/me')
const answerMe = plainAnswerOf(me?.handler)
if (!answerMe) throw new Error('steps-server: GET /auth/me is not a plain route')
const body = await (
  await answerMe(new Request('http://x/auth/me', { headers: { skey: process.env.SKEY ?? '' } }))
).json()

function routesOf(step: Step): Record<string, Record<string, (request: Request) => Response | Promise<Response>>> {
  switch (step) {
    case 'json':
      return { '/auth/me': { GET: () => Response.json(body) } }
    case 'headers':
      // Bun builds a request's Headers when first asked for one: the cost of reading the skey at all.
      return {
        '/auth/me': {
          GET: (request) =>
            request.headers.get('x-request-id') === null && readSkey(request.headers) !== null
              ? Response.json(body)
              : new Response(null, { status: 400 }),
        },
      }
    case 'echo':
      return {
        '/auth/me': {
          GET: () => {
            const response = Response.json(body)
            response.headers.set('x-request-id', crypto.randomUUID())
            return response
          },
        },
      }
    case 'check':
      return { '/auth/me': { GET: answerMe as (request: Request) => Response } }
    case 'id':
      return servedWithTelemetry(app, { logger: createLogger('warn') }).routes
    case 'elysia': {
      const logger = createLogger('info')
      const routes = servedWithTelemetry(viaElysia, { logger }).routes
      return { '/auth/me': routes['/elysia/me'] ?? {} }
    }
  }
}

const server = Bun.serve({ hostname: '127.0.0.1', port: 0, development: false, routes: routesOf(step) })
console.log(`steps-server ${step} listening on http://127.0.0.1:${server.port}`)
