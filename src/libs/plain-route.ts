/** A route handler that needs nothing of Elysia's context but the Request, and answers a Response. */
export type RequestAnswer = (request: Request) => Response | Promise<Response>

const answers = new WeakMap<object, RequestAnswer>()

/**
 * An Elysia handler for `answer` that also tells the standalone server it may call `answer` directly:
 * a route with no hooks whose handler is plain runs as its own entry in Bun's native routes, without
 * Elysia's per-request context (see servedWithTelemetry). Through Elysia, the answer is the same.
 */
export function plainRoute(answer: RequestAnswer) {
  // Elysia compiles a handler whose source reads `return f(` or `=> f(` as async (one more promise on
  // every request): the answer goes out through a property instead.
  const handler = (context: { request: Request }) => {
    const answered = { response: answer(context.request) }
    return answered.response
  }
  answers.set(handler, answer)
  return handler
}

/** The plain answer behind an Elysia handler made by plainRoute, if it is one. */
export const plainAnswerOf = (handler: unknown): RequestAnswer | undefined =>
  typeof handler === 'function' ? answers.get(handler) : undefined
