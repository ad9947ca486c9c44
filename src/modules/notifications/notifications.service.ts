import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import { notifyEnvSuffix, notifyUrlFor, type NotifyConfig } from '../../config.ts'
import { RaceLost, type Store } from '../../db/connect.ts'
import type { Executor } from '../../db/database.ts'
import type { Metrics } from '../../metrics.ts'
import { batched } from './batched.ts'
import { orderPaidEvent, testEventBody, type PaidOrder } from './notification-event.ts'
import { postEvent, type SendResult } from './notification-sender.ts'
import {
  attemptsOf, countScheduledAttempts, findDueEvents, findEvent, insertAttempts, insertEvent, listEvents, recordAttemptResult,
  releaseEvent, takeDueEvents, takeEvent, type AttemptTrigger, type EventPatch, type EventStatus, type OutboxEvent,
} from './outbox.repository.ts'

type Log = { warn: (obj: object, msg: string) => void, info: (obj: object, msg: string) => void }

export interface NotificationDeps {
  store: Store
  clock: () => number
  /** null: no NOTIFY_URL of any kind is set, so no events are made and none can be sent. */
  notify: NotifyConfig | null
  /** DB_STATEMENT_TIMEOUT_MS: how long claiming or recording an attempt may take at most. */
  statementTimeoutMs: number
  metrics?: Pick<Metrics, 'notifications'>
  log?: Log
}

/** One attempt this instance holds the lease for. */
export interface Claim {
  event: OutboxEvent
  attempt: number
  trigger: AttemptTrigger
  /** null: no URL is configured for the event's server_flag, nor NOTIFY_URL. */
  url: string | null
  startedAt: number
}

export type AttemptOutcome = 'delivered' | 'retry' | 'failed' | 'unchanged' | 'lease_lost'
type Consequence = [AttemptOutcome, EventPatch]
type Settled = { outcome: AttemptOutcome, status: EventStatus }

export interface AttemptReport {
  eventId: string
  orderNo: string
  attempt: number
  url: string | null
  result: SendResult
  outcome: AttemptOutcome
  status: EventStatus
}

/** A command's refusal with the reason for a person (resend of an unknown event, say). */
export class NotifyError extends Error {}

export const NOWHERE = 'no NOTIFY_URL (nor NOTIFY_URL_<FLAG>) is configured: there is nowhere to send to'

/** A signed test event to `url`, stored nowhere: for checking an endpoint. */
export async function sendTestEvent (notify: NotifyConfig | null, url: string, clock: () => number = Date.now) {
  if (!notify) throw new NotifyError('no NOTIFY_SECRET configuration: NOTIFY_URL is not set')
  const { eventId, payload } = testEventBody(clock())
  const unixSeconds = Math.floor(clock() / 1000)
  const result = await postEvent(url, payload, { secret: notify.secret, timeoutMs: notify.timeoutMs, unixSeconds })
  return { eventId, payload, result }
}

export function createNotificationService (deps: NotificationDeps) {
  const { store, clock, notify } = deps
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`.slice(0, 128)
  // How long a claimed attempt is ours: the request's deadline plus a statement timeout each for
  // claiming and recording it, so another instance takes an event over only once its holder died.
  const leaseMs = (notify?.timeoutMs ?? 0) + 2 * deps.statementTimeoutMs
  const noUrl = (flag: string) =>
    `no URL is configured for server_flag "${flag}": neither NOTIFY_URL_${notifyEnvSuffix(flag)} nor NOTIFY_URL`

  /** The attempt an event was just taken for; its URL is resolved now, when it is sent, from this configuration. */
  function claimOf (event: OutboxEvent, trigger: AttemptTrigger, now: number): Claim {
    const url = notify ? notifyUrlFor(notify, event.serverFlag) : null
    return { event, attempt: event.attempts + 1, trigger, url, startedAt: now }
  }

  /** The attempts' rows, result still unknown: what stays if this instance dies during them. */
  const attemptRows = (claims: Claim[]) => claims.map((c) =>
    ({ eventId: c.event.eventId, attempt: c.attempt, trigger: c.trigger, url: c.url ?? '', startedAt: c.startedAt }))

  async function send (c: Claim, stop?: AbortSignal): Promise<SendResult> {
    if (c.url === null || !notify) {
      return { ok: false, httpStatus: null, error: noUrl(c.event.serverFlag), latencyMs: 0, head: '', interrupted: false }
    }
    const unixSeconds = Math.floor(clock() / 1000)
    return postEvent(c.url, c.event.payload, { secret: notify.secret, timeoutMs: notify.timeoutMs, unixSeconds, stop })
  }

  /** What a scheduled attempt's result does to its event: delivered, the next retry, or failed. */
  async function scheduleConsequence (trx: Executor, c: Claim, r: SendResult, now: number): Promise<Consequence> {
    if (r.ok) return ['delivered', { status: 'delivered', delivered_at: now }]
    // Stopped mid-attempt: due again at once, for whichever instance is running.
    if (r.interrupted) return ['unchanged', { next_attempt_at: now }]
    const retries = notify?.retrySeconds ?? []
    const made = await countScheduledAttempts(trx, c.event.eventId)
    if (made > retries.length) return ['failed', { status: 'failed', failed_at: now }]
    return ['retry', { next_attempt_at: now + retries[made - 1] * 1000 }]
  }

  /** Writes one attempt's result and what it does to its event, in the caller's transaction. */
  async function settle (trx: Executor, c: Claim, r: SendResult, now: number): Promise<Settled> {
    const { eventId, status } = c.event
    const result = { latencyMs: r.latencyMs, httpStatus: r.httpStatus, error: r.error, responseHead: r.head }
    await recordAttemptResult(trx, eventId, c.attempt, result)
    let [outcome, patch]: Consequence = ['unchanged', {}]
    if (c.trigger === 'schedule') [outcome, patch] = await scheduleConsequence(trx, c, r, now)
    // A resend changes the schedule only by delivering; a pending event keeps its next retry time.
    else if (r.ok) [outcome, patch] = ['delivered', status === 'delivered' ? {} : { status: 'delivered', delivered_at: now }]
    else if (status === 'pending') patch = { next_attempt_at: c.event.nextAttemptAt }
    if (!await releaseEvent(trx, eventId, c.attempt, owner, patch)) return { outcome: 'lease_lost', status }
    return { outcome, status: patch.status ?? status }
  }

  const settleBatch = batched((items: { c: Claim, r: SendResult }[]) => store.transaction(async (trx) => {
    const now = clock()
    const settled = []
    for (const { c, r } of items) settled.push(await settle(trx, c, r, now))
    return settled
  }))

  async function finish (c: Claim, r: SendResult): Promise<AttemptReport> {
    const { outcome, status } = await settleBatch({ c, r })
    const { eventId, orderNo } = c.event
    const facts = { event_id: eventId, order: orderNo, attempt: c.attempt, http_status: r.httpStatus, error: r.error }
    if (outcome === 'delivered' || outcome === 'retry' || outcome === 'failed') {
      deps.metrics?.notifications.inc({ result: outcome })
    }
    if (outcome === 'failed') deps.log?.warn(facts, 'notification failed: the retry schedule ended without a 2xx answer')
    else if (outcome === 'retry') deps.log?.info(facts, 'notification not delivered; it will be tried again')
    else if (outcome === 'lease_lost') {
      deps.log?.warn(facts, 'notification attempt outlived its lease; another instance may have sent it again')
    }
    return { eventId, orderNo, attempt: c.attempt, url: c.url, result: r, outcome, status }
  }

  /** Claims at most `limit` due events for this instance, in one short transaction. */
  async function claimDue (limit: number): Promise<Claim[]> {
    if (limit <= 0) return []
    return store.transaction(async (trx) => {
      const now = clock()
      const due = await findDueEvents(trx, now, limit, store.caps.rowLocks)
      if (due.length === 0) return []
      // Locked as read: all of them are taken, or the claim starts over.
      const taken = await takeDueEvents(trx, due, { owner, until: now + leaseMs }, now)
      if (taken !== due.length) throw new RaceLost('due notification events changed while claimed')
      const claims = due.map((event) => claimOf(event, 'schedule', now))
      await insertAttempts(trx, attemptRows(claims))
      return claims
    })
  }

  async function deliver (c: Claim, stop?: AbortSignal): Promise<AttemptReport> {
    return finish(c, await send(c, stop))
  }

  return {
    /**
     * Inside the paying transaction. An event is made when a URL is configured for the order's
     * server_flag or globally (NOTIFY_URL); with none, no event is made for this payment, ever.
     */
    async recordPaid (trx: Executor, paid: PaidOrder): Promise<void> {
      if (!notify || notifyUrlFor(notify, paid.serverFlag) === null) return
      // Made in the same instant as the payment: created_at is paid_at.
      await insertEvent(trx, orderPaidEvent(paid, paid.paidAt))
    },

    claimDue,

    /** Sends one claimed attempt (no transaction is open meanwhile) and records what came of it. */
    deliver,

    /** Claims what is due, up to `limit`, and delivers it all; for tests and one-off runs. */
    async deliverDue (limit = notify?.concurrency ?? 8): Promise<AttemptReport[]> {
      return Promise.all((await claimDue(limit)).map((c) => deliver(c)))
    },

    /** Sends an event again now, whatever its status, as a new attempt of the same event. */
    async resend (ref: string): Promise<AttemptReport> {
      if (!notify) throw new NotifyError(NOWHERE)
      const c = await store.transaction(async (trx) => {
        const now = clock()
        const event = await findEvent(trx, ref, store.caps.rowLocks)
        if (!event) throw new NotifyError(`no notification event has the event_id or order "${ref}"`)
        if (event.leaseOwner !== null && event.leaseUntil > now) {
          const attempt = `attempt ${event.attempts}`
          throw new NotifyError(`event ${event.eventId} is being delivered right now (${attempt}); try again in a moment`)
        }
        if (!await takeEvent(trx, event, { owner, until: now + leaseMs }, now)) {
          throw new NotifyError(`event ${event.eventId} changed while it was being claimed; try again`)
        }
        const c = claimOf(event, 'resend', now)
        await insertAttempts(trx, attemptRows([c]))
        return c
      })
      return deliver(c)
    },

    sendTest: (url: string) => sendTestEvent(notify, url, clock),

    list: (opts: { failed?: boolean, limit?: number } = {}) =>
      listEvents(store.db, { failed: opts.failed ?? false, limit: opts.limit ?? 50 }),
    attempts: (eventId: string) => attemptsOf(store.db, eventId),
  }
}

export type NotificationService = ReturnType<typeof createNotificationService>
