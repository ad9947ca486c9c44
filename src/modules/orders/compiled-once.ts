import { CompiledQuery, type Compilable, type QueryResult } from 'kysely'
import type { Executor } from '../../db/database.ts'

/** Stands for a value in a query built once: compiled, it becomes that value's parameter. */
class Placeholder {
  constructor (readonly name: string) {}
}

interface Compiled { sql: string, slots: Array<string | { value: unknown }> }

/**
 * A query of a hot path, built and compiled once per database and shape, and run with each
 * request's values bound by name. Building a query tree with Kysely and compiling it costs more
 * CPU than the database spends running it (a statement of four writes chained by CTEs is hundreds
 * of nodes), and the same text every time lets the driver keep it prepared.
 *
 * `build` gets placeholders for the values: it may pass them into the query but not look at them;
 * what changes the query's text (an optional condition) goes in `shape`. The values come in one
 * object or in several, each read by name in turn: a request's parts are handed over as they are,
 * not merged into one object first (on Node 20 a merged object of twenty-odd properties costs
 * microseconds and kilobytes, see merge.ts).
 */
export function compiledOnce<P extends object, R> (build: (db: Executor, p: P, shape: string) => Compilable<R>) {
  const compiled = new WeakMap<object, Map<string, Compiled>>()

  function compile (db: Executor, shape: string): Compiled {
    const placeholders = new Proxy({}, { get: (_, name) => new Placeholder(String(name)) }) as P
    const query = build(db, placeholders, shape).compile()
    const slots = query.parameters.map((v) => v instanceof Placeholder ? v.name : { value: v })
    return { sql: query.sql, slots }
  }

  return async (db: Executor, values: P | ReadonlyArray<Partial<P>>, shape = ''): Promise<QueryResult<R>> => {
    // The adapter is the database's: one per store, shared by its transactions.
    const adapter = db.getExecutor().adapter
    let shapes = compiled.get(adapter)
    if (!shapes) compiled.set(adapter, (shapes = new Map()))
    let query = shapes.get(shape)
    if (!query) shapes.set(shape, (query = compile(db, shape)))
    const sources: ReadonlyArray<Partial<P>> = Array.isArray(values) ? values : [values as P]
    const parameters = query.slots.map((s) => {
      if (typeof s !== 'string') return s.value
      for (const source of sources) {
        const value = source[s as keyof P]
        if (value !== undefined) return value
      }
      throw new Error(`no value for ${s}`)
    })
    return db.executeQuery(CompiledQuery.raw(query.sql, parameters) as CompiledQuery<R>)
  }
}
