// /proc readings for the benchmark: CPU time and RSS of a process, and how busy the whole machine was
// (other work on a shared 2-core machine shows up as "other" CPU next to server, load generator and
// PostgreSQL).
import { readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'

// USER_HZ: 100 on every Linux architecture Node supports (sysconf(_SC_CLK_TCK)).
const TICK_MS = 10

/** utime + stime of a process in ms, or null when it is gone. */
export function processCpuMs (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the parenthesised command name, which may itself contain spaces
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * TICK_MS
  } catch {
    return null
  }
}

/** Resident set size in MB (VmRSS), or null when the process is gone. */
export function processRssMb (pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1]) / 1024
  } catch {
    return null
  }
}

/** Busy and total CPU time of the whole machine so far, ms (all cores). */
export function machineCpuMs () {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0) // user..steal; guest is inside user
  const idle = v[3] + v[4]
  return { busy: (total - idle) * TICK_MS, total: total * TICK_MS }
}

/** Summed CPU ms of a set of pids (PostgreSQL backends), keyed by pid so a run's delta can be taken. */
export function pidsCpuMs (pids) {
  const out = new Map()
  for (const pid of pids) {
    const ms = processCpuMs(pid)
    if (ms !== null) out.set(pid, ms)
  }
  return out
}

/** CPU ms spent between two pidsCpuMs() readings; pids born in between count from zero. */
export function pidsCpuDelta (before, after) {
  let sum = 0
  for (const [pid, ms] of after) sum += ms - (before.get(pid) ?? 0)
  return sum
}

/** pid and all its descendants (a cluster primary and its workers), from the parent pids in /proc. */
export function processTree (pid) {
  const parentOf = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch { /* gone meanwhile */ }
  }
  const tree = [pid]
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child)
  return tree
}

/**
 * Samples the RSS of a set of processes every intervalMs until stopped; returns the peak of their sum
 * and the peak of the largest single one (they differ when a cluster primary has workers).
 */
export function rssSampler (pids, intervalMs = 200) {
  let total = 0
  let largest = 0
  const sample = () => {
    const each = pids.map((pid) => processRssMb(pid) ?? 0)
    total = Math.max(total, each.reduce((a, b) => a + b, 0))
    largest = Math.max(largest, ...each)
  }
  sample()
  const timer = setInterval(sample, intervalMs)
  return { stop: () => { clearInterval(timer); sample(); return { total, largest } } }
}

export function machineInfo () {
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGb: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    node: process.version,
    kernel: os.release()
  }
}

export function loadAverage () {
  return os.loadavg().map((v) => Math.round(v * 100) / 100)
}
