/**
 * What a request's handlers learned that the access log and metrics want once it is answered.
 * Written on the request's way through (a WeakMap set, no hook), read by the standalone server's
 * telemetry; in a host app nobody reads them and they go with the request.
 */
export const errorCodeOf = new WeakMap<Request, string>()
/** The signed-in user, or for a login the user it just signed in. */
export const userIdOf = new WeakMap<Request, number>()
/** Requests whose session came from the web-login cookie rather than an skey header. */
export const signedInByCookie = new WeakSet<Request>()
