/**
 * What a request's handlers learned that the access log and metrics want once it is answered.
 * Written on the request's way through (no hook), read by the standalone server's telemetry; in a
 * host app nobody reads them and they go with the request.
 */
export const errorCodeOf = new WeakMap<Request, string>()
/** Requests whose session came from the web-login cookie rather than an skey header. */
export const signedInByCookie = new WeakSet<Request>()

/** The user a request is answered for, when noted outside its handler call (after an await). */
const userIdOf = new WeakMap<Request, number>()

/** The request whose handler the telemetry is calling right now, with what was noted of it. */
export interface HandlerCall {
  readonly request: Request
  userId: number | undefined
  readonly outer: HandlerCall | null
}
let current: HandlerCall | null = null

/**
 * Notes the signed-in user (or, for a login, the user it signed in). A WeakMap set costs about as much
 * as the rest of the skey check's bookkeeping, so a note made during the handler's own call (a plain
 * route on SQLite answers within it) goes into that call's slot; one made after an await, into the WeakMap.
 */
export function noteUserId(request: Request, userId: number): void {
  if (current?.request === request) current.userId = userId
  else userIdOf.set(request, userId)
}

/** Opens the slot for `request`'s handler call; close it with endHandlerCall when the call returns or throws. */
export function beginHandlerCall(request: Request): HandlerCall {
  current = { request, userId: undefined, outer: current }
  return current
}

export function endHandlerCall(call: HandlerCall): void {
  current = call.outer
  // A call nested in one for the same request (telemetry wrapped twice): the outer one sees the note too.
  if (current?.request === call.request && call.userId !== undefined) current.userId = call.userId
}

/** The user noted for the request of `call`: the latest note, made after an await or in the call. */
export const userIdNoted = (call: HandlerCall): number | undefined => userIdOf.get(call.request) ?? call.userId
