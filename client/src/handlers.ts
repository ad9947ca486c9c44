// Ready receivers for gamepay's notifications: each checks Gamepay-Signature over the raw body and the
// 5-minute tolerance, hands the parsed event over, and answers 2xx only once the event is handled, so a
// failed handler makes gamepay send the event again. No framework is imported: the request and reply
// types are the few members the handlers use, which Node's http, Express and Fastify all provide.
import {
  NotificationVerificationError, SIGNATURE_HEADER, verifyNotification, type VerifyNotificationOptions,
} from './notifications.js'
import type { GamepayEvent } from './types.js'

export interface NotificationHandlerOptions extends VerifyNotificationOptions {
  /** Called once per verified notification; throw (or reject) to have gamepay retry it later. */
  onEvent: (event: GamepayEvent) => void | Promise<void>
  /** Told about refused notifications and failed handlers (default: nothing). */
  onError?: (error: unknown, event?: GamepayEvent) => void
  /** Largest body read (default 1 MiB); a larger one is answered 413. */
  limitBytes?: number
}

type HeaderMap = Record<string, string | string[] | undefined>

/** The answer to give gamepay: 200 when handled, 400 refused, 500 failed (gamepay sends it again). */
export interface NotificationOutcome {
  status: number
  body: Record<string, unknown>
}

const DEFAULT_LIMIT = 1024 * 1024

class TooLarge extends Error {}

/** Verifies and hands over; returns the answer to give, and throws only when misconfigured (no secret). */
export async function handleNotification (
  opts: NotificationHandlerOptions, body: string | Uint8Array, headers: HeaderMap
): Promise<NotificationOutcome> {
  let event: GamepayEvent
  try {
    event = verifyNotification(body, headers[SIGNATURE_HEADER], opts)
  } catch (err) {
    opts.onError?.(err)
    if (err instanceof NotificationVerificationError) {
      return { status: 400, body: { error: err.reason, message: err.message } }
    }
    throw err
  }
  try {
    await opts.onEvent(event)
  } catch (err) {
    opts.onError?.(err, event)
    return { status: 500, body: { error: 'handler-failed' } }
  }
  return { status: 200, body: { received: true } }
}

/** The members of Node's IncomingMessage (and Express's Request) the handler reads. */
export interface NodeLikeRequest extends AsyncIterable<unknown> {
  method?: string
  headers: HeaderMap
  /** Set by a body parser: raw bytes from express.raw() are used as they are. */
  body?: unknown
  readableEnded?: boolean
}

/** The members of Node's ServerResponse (and Express's Response) the handler writes. */
export interface NodeLikeResponse {
  statusCode: number
  setHeader: (name: string, value: string) => unknown
  end: (chunk?: string) => unknown
}

async function readBody (req: AsyncIterable<unknown>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk as Uint8Array)
    size += bytes.length
    if (size > limit) throw new TooLarge()
    chunks.push(bytes)
  }
  return Buffer.concat(chunks)
}

function answer (res: NodeLikeResponse, outcome: NotificationOutcome) {
  res.statusCode = outcome.status
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify(outcome.body))
}

const PARSED = 'the body was parsed before the handler saw it, and the signature covers the raw bytes: ' +
  "use express.raw({ type: 'application/json' }) on this route, not express.json()"

/**
 * A handler for Node's http (`http.createServer(handler)`) and for Express (`app.post(path,
 * express.raw({ type: 'application/json' }), handler)`). It reads the body itself when no parser has.
 */
export function nodeNotificationHandler (
  opts: NotificationHandlerOptions
): (req: NodeLikeRequest, res: NodeLikeResponse) => Promise<void> {
  const limit = opts.limitBytes ?? DEFAULT_LIMIT
  const handle = async (req: NodeLikeRequest): Promise<NotificationOutcome> => {
    if (req.method !== undefined && req.method !== 'POST') return { status: 405, body: { error: 'method-not-allowed' } }
    let body: string | Uint8Array
    if (typeof req.body === 'string' || req.body instanceof Uint8Array) {
      body = req.body
    } else if (req.readableEnded !== true) {
      try {
        body = await readBody(req, limit)
      } catch (err) {
        if (err instanceof TooLarge) return { status: 413, body: { error: 'too-large' } }
        throw err
      }
    } else {
      opts.onError?.(new TypeError(PARSED))
      return { status: 500, body: { error: 'body-already-parsed', message: PARSED } }
    }
    return handleNotification(opts, body, req.headers)
  }
  // Never rejects: Node's http ignores a handler's promise, and Express 4 would leave the request hanging.
  return async (req, res) => {
    let outcome: NotificationOutcome
    try {
      outcome = await handle(req)
    } catch (err) {
      opts.onError?.(err)
      outcome = { status: 500, body: { error: 'internal' } }
    }
    if (outcome.status === 405) res.setHeader('allow', 'POST')
    answer(res, outcome)
  }
}

/** The same handler, named for Express: mount it after express.raw({ type: 'application/json' }), or with no body parser. */
export const expressNotificationHandler = nodeNotificationHandler

/** The members of a Fastify request and reply the handler uses. */
export interface FastifyLikeRequest {
  headers: HeaderMap
  body?: unknown
}

export interface FastifyLikeReply {
  code (statusCode: number): FastifyLikeReply
  header (name: string, value: string): FastifyLikeReply
  send (payload?: unknown): FastifyLikeReply
}

const FASTIFY_PARSED = 'the body reached the handler parsed, and the signature covers the raw bytes: register ' +
  "fastifyNotifications, or add a content-type parser for application/json with { parseAs: 'buffer' } on this route's plugin"

/**
 * A Fastify route handler. The route's plugin must hand it the raw body: add
 * `addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => done(null, body))`
 * in that plugin (the `fastifyNotifications` plugin does all of it).
 */
export function fastifyNotificationHandler (
  opts: NotificationHandlerOptions
): (request: FastifyLikeRequest, reply: FastifyLikeReply) => Promise<FastifyLikeReply> {
  return async (request, reply) => {
    const body = request.body
    if (!(typeof body === 'string' || body instanceof Uint8Array)) {
      opts.onError?.(new TypeError(FASTIFY_PARSED))
      return reply.code(500).send({ error: 'body-already-parsed', message: FASTIFY_PARSED })
    }
    const outcome = await handleNotification(opts, body, request.headers)
    return reply.code(outcome.status).header('content-type', 'application/json').send(JSON.stringify(outcome.body))
  }
}

/** The members of a Fastify instance the plugin uses. */
export interface FastifyLikeInstance {
  removeContentTypeParser (contentType: string): unknown
  addContentTypeParser (contentType: string, opts: { parseAs: 'buffer', bodyLimit?: number },
    parser: (request: unknown, body: Buffer, done: (err: Error | null, body?: unknown) => void) => void): unknown
  post (path: string, handler: (request: FastifyLikeRequest, reply: FastifyLikeReply) => Promise<unknown>): unknown
}

export interface FastifyNotificationsOptions extends NotificationHandlerOptions {
  /** The route, under the register() prefix (default "/"). */
  path?: string
}

/**
 * A Fastify plugin: `app.register(fastifyNotifications, { prefix: '/gamepay', path: '/notify', secret, onEvent })`.
 * Its raw-body JSON parser stays inside the plugin's own context, so the app's other routes keep theirs.
 */
export async function fastifyNotifications (instance: FastifyLikeInstance, opts: FastifyNotificationsOptions): Promise<void> {
  instance.removeContentTypeParser('application/json')
  instance.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: opts.limitBytes ?? DEFAULT_LIMIT },
    (_request, body, done) => done(null, body))
  instance.post(opts.path ?? '/', fastifyNotificationHandler(opts))
}
