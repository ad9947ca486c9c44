// CPU time and peak memory of processes, read from /proc (Linux only; elsewhere they read as 0).
import { readdirSync, readFileSync } from 'node:fs'

// USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux architecture Node runs on.
const TICKS_PER_SECOND = 100

/** The fields after "pid (comm)" of /proc/<pid>/stat; comm may hold spaces and parentheses. */
function statFields (pid: number | 'self'): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

// Indexes into statFields (stat(5) field numbers minus 3).
const PPID = 1
const UTIME = 11
const STIME = 12
const CUTIME = 13
const CSTIME = 14

/** `root` and every process below it (a cluster's workers). */
export function processTree (root: number): number[] {
  const children = new Map<number, number[]>()
  let entries: string[] = []
  try {
    entries = readdirSync('/proc')
  } catch {
    return [root]
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue
    const fields = statFields(Number(name))
    if (!fields) continue
    const ppid = Number(fields[PPID])
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)])
  }
  const tree: number[] = []
  const visit = (pid: number) => {
    tree.push(pid)
    for (const child of children.get(pid) ?? []) visit(child)
  }
  visit(root)
  return tree
}

/** User + system CPU seconds the processes have used so far (a process gone meanwhile counts 0). */
export function cpuSeconds (pids: number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const fields = statFields(pid)
    if (fields) ticks += Number(fields[UTIME]) + Number(fields[STIME])
  }
  return ticks / TICKS_PER_SECOND
}

/** CPU seconds of this process's children that have ended and been waited for (a finished wrk). */
export function endedChildrenCpuSeconds (): number {
  const fields = statFields('self')
  return fields ? (Number(fields[CUTIME]) + Number(fields[CSTIME])) / TICKS_PER_SECOND : 0
}

/** Sum of the processes' peak resident set (VmHWM), in MB. */
export function peakRssMb (pids: number[]): number {
  let kb = 0
  for (const pid of pids) {
    try {
      const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (match) kb += Number(match[1])
    } catch {
      // gone
    }
  }
  return kb / 1024
}

/** The file system type the path lives on (tmpfs makes SQLite's fsync free), from /proc/mounts. */
export function fileSystemOf (path: string): string {
  let best = { point: '', type: 'unknown' }
  try {
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, point, type] = line.split(' ')
      if (point && type && (path === point || path.startsWith(point.endsWith('/') ? point : `${point}/`)) && point.length >= best.point.length) {
        best = { point, type }
      }
    }
  } catch {
    // not Linux
  }
  return best.type
}
