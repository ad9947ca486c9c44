// Self time per function from the .cpuprofile files `node --cpu-prof` writes when a process exits
// (one per process: a cluster's workers each write their own).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

interface CpuProfile {
  nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number } }>
  samples?: number[]
  timeDeltas?: number[]
}

export interface SelfTime { name: string, ms: number }

const IDLE = '(idle)'

/** Functions (name, file:line) by self time over every profile in `dir`, and the busy time in all. */
export function selfTimes (dir: string): { functions: SelfTime[], busyMs: number, files: number } {
  const totals = new Map<string, number>()
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile
    const frameOf = new Map<number, string>()
    for (const { id, callFrame: f } of profile.nodes) {
      // lineNumber is 0-based; a file URL is shortened to its path below the checkout or node_modules.
      const where = f.url ? ` ${shorten(f.url)}:${f.lineNumber + 1}` : ''
      frameOf.set(id, `${f.functionName || '(anonymous)'}${where}`)
    }
    const samples = profile.samples ?? []
    const deltas = profile.timeDeltas ?? []
    // A sample's time is the gap to the next one (timeDeltas[i + 1]).
    for (let i = 0; i < samples.length; i++) {
      const name = frameOf.get(samples[i]) ?? '(unknown)'
      const us = deltas[i + 1] ?? 0
      totals.set(name, (totals.get(name) ?? 0) + us / 1000)
    }
  }
  const functions = [...totals].map(([name, ms]) => ({ name, ms })).filter((f) => f.name !== IDLE).sort((a, b) => b.ms - a.ms)
  return { functions, busyMs: functions.reduce((sum, f) => sum + f.ms, 0), files: files.length }
}

function shorten (url: string): string {
  const path = url.replace(/^file:\/\//, '')
  const modules = path.lastIndexOf('/node_modules/')
  if (modules >= 0) return path.slice(modules + 1)
  const dist = path.lastIndexOf('/dist/')
  return dist >= 0 ? path.slice(dist + 1) : path
}
