import type { Claim, NotificationService } from './notifications.service.ts'

// How long a wake-up waits for more payments to claim with it.
const WAKE_BATCH_MS = 10

export interface DeliveryLoopDeps {
  service: Pick<NotificationService, 'claimDue' | 'deliver'>
  /** Deliveries in flight at once in this instance: a slow receiver ties up this many, no more. */
  concurrency: number
  /** How often to look for due events (retries, other instances' payments) without a wake-up. */
  pollMs: number
  log?: { warn: (obj: object, msg: string) => void }
}

/**
 * Claims due events and delivers them with at most `concurrency` in flight. No transaction is open
 * while a request waits on the network: claiming and recording are each one short transaction.
 */
export function startDeliveryLoop ({ service, concurrency, pollMs, log }: DeliveryLoopDeps) {
  const stop = new AbortController()
  const running = new Set<Promise<void>>()
  let claiming: Promise<void> | null = null
  let again = false

  function launch (c: Claim) {
    const delivery: Promise<void> = service.deliver(c, stop.signal)
      .then(() => {}, (err: unknown) => {
        // The attempt's row and lease stay as claimed: the event is due again once the lease ends.
        log?.warn({ event_id: c.event.eventId, err: (err as Error).message }, 'notification result could not be recorded')
      })
      .finally(() => {
        running.delete(delivery)
        fill()
      })
    running.add(delivery)
  }

  async function claimWhileRoom () {
    do {
      again = false
      const room = concurrency - running.size
      if (room <= 0) return
      const claims = await service.claimDue(room)
      for (const c of claims) launch(c)
      // A full batch: more may be due right now.
      if (claims.length === room) again = true
    } while (again && !stop.signal.aborted)
  }

  /** One claimer at a time in this instance; a call meanwhile makes it look once more. */
  function fill () {
    if (stop.signal.aborted) return
    if (claiming) {
      again = true
      return
    }
    claiming = claimWhileRoom()
      .catch((err: unknown) => {
        // The database is not answering: the next poll tries again, not every finished delivery.
        again = false
        log?.warn({ err: (err as Error).message }, 'claiming due notifications failed')
      })
      .finally(() => {
        claiming = null
        if (again) fill()
      })
  }

  const timer = setInterval(fill, pollMs)
  timer.unref()
  fill()

  // Payments committed within a few milliseconds of each other are claimed together: one claim
  // transaction for the lot, not one each (on SQLite each is a write under the payments' lock).
  let wakeTimer: NodeJS.Timeout | undefined
  function wake () {
    wakeTimer ??= setTimeout(() => {
      wakeTimer = undefined
      fill()
    }, WAKE_BATCH_MS)
  }

  return {
    /** Looks for due events soon (right after a payment committed here), not at the next poll. */
    wake,
    /**
     * Stops claiming and interrupts the requests in flight; each is recorded as interrupted and due
     * again at once, or, if even that fails, left to its lease.
     */
    async close () {
      clearInterval(timer)
      clearTimeout(wakeTimer)
      stop.abort()
      await claiming
      await Promise.allSettled([...running])
    },
  }
}

export type DeliveryLoop = ReturnType<typeof startDeliveryLoop>
