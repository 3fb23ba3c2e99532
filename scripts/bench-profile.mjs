#!/usr/bin/env node
// Where a `node --cpu-prof` profile (e.g. from `node scripts/bench.mjs --profile`) spends its time: self
// time by function and by area (our code per src/ directory, each npm package, Node internals, GC, idle).
// Usage: node scripts/bench-profile.mjs <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs'

const [file, topArg = '25'] = process.argv.slice(2)
if (file === undefined) {
  process.stderr.write('usage: node scripts/bench-profile.mjs <file.cpuprofile> [top]\n')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8'))
const top = Number(topArg)

// self time per node: samples × the interval that followed each one
const selfUs = new Map()
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0)))

function area (url, name) {
  if (url === '') return name.startsWith('(') ? name : '(native/V8)'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg !== null) return pkg[1]
  const ours = /\/dist\/([^/]+)\//.exec(url)
  if (ours !== null) return `yubival ${ours[1]}`
  if (url.startsWith('node:')) return 'node internals'
  return url
}

const byFn = new Map()
const byArea = new Map()
let total = 0
for (const n of profile.nodes) {
  const us = selfUs.get(n.id) ?? 0
  if (us === 0) continue
  const cf = n.callFrame
  const key = `${cf.functionName || '(anonymous)'}  ${cf.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${cf.lineNumber + 1}`
  byFn.set(key, (byFn.get(key) ?? 0) + us)
  const a = area(cf.url, cf.functionName)
  byArea.set(a, (byArea.get(a) ?? 0) + us)
  total += us
}
// inclusive time: each function once per sample, however deep it recurses
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const nodeById = new Map(profile.nodes.map((n) => [n.id, n]))
const keyOf = (n) => `${n.callFrame.functionName || '(anonymous)'}  ${n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${n.callFrame.lineNumber + 1}`
const inclusive = new Map()
profile.samples.forEach((id, i) => {
  const us = profile.timeDeltas[i + 1] ?? 0
  const seen = new Set()
  for (let n = nodeById.get(id); n !== undefined; n = nodeById.get(parent.get(n.id))) {
    const k = keyOf(n)
    if (seen.has(k)) continue
    seen.add(k)
    inclusive.set(k, (inclusive.get(k) ?? 0) + us)
  }
})
for (const k of [...inclusive.keys()]) if (k.startsWith('(root)') || k.startsWith('(idle)') || k.startsWith('(program)')) inclusive.delete(k)

const idle = byArea.get('(idle)') ?? 0
const busy = total - idle
const show = (map, n) => [...map].filter(([k]) => !k.startsWith('(idle)')).sort(([, a], [, b]) => b - a).slice(0, n)
  .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(8)} ms ${(us / busy * 100).toFixed(1).padStart(5)}%  ${k}`).join('\n')
process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (percentages of busy)\n\n`)
process.stdout.write(`By area:\n${show(byArea, top)}\n\nBy function (self time):\n${show(byFn, top)}\n\n` +
  `By function (inclusive time):\n${show(inclusive, top * 2)}\n`)
