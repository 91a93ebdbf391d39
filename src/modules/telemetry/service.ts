import type { Clock } from '../../libs/clock'
import type { MaybePromise } from '../store/model'
import type { FetchLike } from '../wechat/model'
import { LIVE_SESSIONS_CACHE_MS, WECHAT_LATENCY_BUCKETS } from './model'

type Labels = Record<string, string>

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
const labelText = (labels: Labels) => {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`)
  return pairs.length > 0 ? `{${pairs.join(',')}}` : ''
}

/** A counter family keyed by its label values. */
function counterFamily() {
  const values = new Map<string, { labels: Labels; value: number }>()
  return {
    add(labels: Labels, by = 1) {
      const key = labelText(labels)
      const entry = values.get(key)
      if (entry) entry.value += by
      else values.set(key, { labels, value: by })
    },
    lines: (name: string) => [...values.values()].map(({ labels, value }) => `${name}${labelText(labels)} ${value}`),
  }
}

function histogramFamily(buckets: readonly number[]) {
  const series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>()
  return {
    observe(labels: Labels, value: number) {
      const key = labelText(labels)
      let entry = series.get(key)
      if (!entry) {
        entry = { labels, counts: buckets.map(() => 0), sum: 0, count: 0 }
        series.set(key, entry)
      }
      buckets.forEach((le, i) => {
        if (value <= le) entry.counts[i] = (entry.counts[i] ?? 0) + 1
      })
      entry.sum += value
      entry.count++
    },
    lines(name: string) {
      return [...series.values()].flatMap(({ labels, counts, sum, count }) => [
        ...buckets.map((le, i) => `${name}_bucket${labelText({ ...labels, le: String(le) })} ${counts[i]}`),
        `${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`,
        `${name}_sum${labelText(labels)} ${sum}`,
        `${name}_count${labelText(labels)} ${count}`,
      ])
    },
  }
}

/** The Prometheus metrics of one process; `render()` gives the text exposition format. */
export function createMetrics({
  countLive,
  clock,
}: {
  countLive: (nowMs: number) => MaybePromise<number>
  clock: Clock
}) {
  const requests = counterFamily()
  const logins = counterFamily()
  const sweepRuns = counterFamily()
  const sweptRows = counterFamily()
  const wechatLatency = histogramFamily(WECHAT_LATENCY_BUCKETS)
  let live = { value: 0, at: Number.NEGATIVE_INFINITY }

  async function liveSessions(): Promise<number> {
    const now = clock()
    if (now - live.at >= LIVE_SESSIONS_CACHE_MS) live = { value: await countLive(now), at: now }
    return live.value
  }

  const family = (name: string, type: string, help: string, lines: string[]) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...lines,
  ]

  return {
    request(route: string, method: string, status: number) {
      requests.add({ route, method, status: String(status) })
    },
    login(code: string) {
      logins.add({ code })
    },
    sweep(deleted: number) {
      sweepRuns.add({})
      sweptRows.add({}, deleted)
    },
    wechatCall(api: string, seconds: number) {
      wechatLatency.observe({ api }, seconds)
    },
    async render(): Promise<string> {
      const liveNow = await liveSessions()
      return `${[
        ...family(
          'wxauth_http_requests_total',
          'counter',
          'HTTP requests by route, method and status.',
          requests.lines('wxauth_http_requests_total'),
        ),
        ...family(
          'wxauth_logins_total',
          'counter',
          'POST /auth/login outcomes: OK or the error code.',
          logins.lines('wxauth_logins_total'),
        ),
        ...family('wxauth_live_sessions', 'gauge', 'Sessions not yet expired.', [`wxauth_live_sessions ${liveNow}`]),
        ...family(
          'wxauth_sweep_runs_total',
          'counter',
          'Completed sweeps of expired sessions.',
          sweepRuns.lines('wxauth_sweep_runs_total'),
        ),
        ...family(
          'wxauth_sweep_deleted_rows_total',
          'counter',
          'Expired sessions deleted by sweeps.',
          sweptRows.lines('wxauth_sweep_deleted_rows_total'),
        ),
        ...family(
          'wxauth_wechat_call_duration_seconds',
          'histogram',
          'Latency of calls to WeChat by API.',
          wechatLatency.lines('wxauth_wechat_call_duration_seconds'),
        ),
      ].join('\n')}\n`
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>

/** WeChat's API name from its path, e.g. /sns/jscode2session → jscode2session. */
export const wechatApiName = (url: string) => new URL(url).pathname.split('/').filter(Boolean).pop() ?? 'unknown'

/** Times every call to WeChat (failures included) into the latency histogram. */
export function timedFetch(metrics: Metrics, fetch: FetchLike): FetchLike {
  return async (request) => {
    const started = performance.now()
    try {
      return await fetch(request)
    } finally {
      metrics.wechatCall(wechatApiName(request.url), (performance.now() - started) / 1000)
    }
  }
}
