/**
 * wx.request and wx's storage calls over fetch and a Map, for running the client outside a mini
 * program: the demo and the tests. Not part of the shipped build.
 */
import type { WxLike, WxRequestOptions, WxRequestSuccess } from './dist/wxauth.js'

/** What wx.request does: a JSON body out, the answer parsed as JSON when it is JSON, text otherwise. */
export async function requestOverFetch(options: WxRequestOptions): Promise<WxRequestSuccess> {
  const hasBody = options.data !== undefined && options.method !== 'GET'
  const response = await fetch(options.url, {
    method: options.method,
    headers: { ...options.header, ...(hasBody ? { 'content-type': 'application/json' } : {}) },
    body: hasBody ? JSON.stringify(options.data) : undefined,
    signal: AbortSignal.timeout(options.timeout ?? 60_000),
  })
  const text = await response.text()
  let data: unknown = text
  try {
    data = JSON.parse(text)
  } catch {
    // not JSON: wx.request hands over the text
  }
  return { statusCode: response.status, data, header: Object.fromEntries(response.headers) }
}

/** wx.request's failure shape for a fetch that threw. */
export const requestFailure = (error: unknown) => ({ errMsg: `request:fail ${String(error)}` })

/** wx.getStorageSync & co. over `storage` (missing keys read as '', as in a mini program). */
export function mapStorage(
  storage: Map<string, unknown>,
): Pick<WxLike, 'getStorageSync' | 'setStorageSync' | 'removeStorageSync'> {
  return {
    getStorageSync: (key) => storage.get(key) ?? '',
    setStorageSync: (key, value) => void storage.set(key, value),
    removeStorageSync: (key) => void storage.delete(key),
  }
}
