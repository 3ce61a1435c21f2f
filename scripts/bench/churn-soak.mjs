// Memory under document churn (scripts/churn-memory.sh runs it; see BENCHMARKS.md). Each round
// opens a random set of documents from a pool with two stock y-websocket clients each, edits them
// (text, maps, arrays, nested maps, XML, 20 KB pastes and cuts, JSON values; no subdocuments,
// which the server refuses), sets presence,
// reads and posts over HTTP and sends hostile frames on raw sockets; then it closes everything,
// waits until every document has unloaded and samples the server's RSS. At the end every
// document the pool holds must equal a local mirror of all the clients' edits.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import fs from 'node:fs'
import { spawnSync } from 'node:child_process'

process.setMaxListeners(0) // every WebsocketProvider adds an exit listener
const BASE = process.env.BASE ?? 'http://127.0.0.1:1240'
const WS = BASE.replace('http', 'ws') + '/ws'
const PID = Number(process.env.PID)
const ROUNDS = Number(process.env.ROUNDS ?? 30)
const POOL = Number(process.env.POOL ?? 120)
const PER_ROUND = Number(process.env.PER_ROUND ?? 40)
let seed = Number(process.env.SEED ?? 7)
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const waitUntil = async (f, ms, what) => {
  const end = Date.now() + ms
  while (Date.now() < end) { if (await f()) return; await sleep(50) }
  throw new Error(`timeout: ${what}`)
}
const rss = () => {
  const s = fs.readFileSync(`/proc/${PID}/status`, 'utf8')
  const get = (k) => Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))[1])
  return { rss: get('VmRSS'), anon: get('RssAnon') }
}
const threads = () => fs.readdirSync(`/proc/${PID}/task`).length

/**
 * glibc's own count of the bytes in use, summed over its arenas, as `malloc_stats()` prints it
 * into the server's stderr (SERVER_LOG) when gdb calls it; null without gdb or SERVER_LOG. RSS
 * alone mixes what is live with what the allocator keeps after a free.
 */
const heapInUse = async () => {
  const log = process.env.SERVER_LOG
  if (!log || spawnSync('gdb', ['--version']).status !== 0) return null
  // Idle blocking-pool threads exit 10 s after their last task; until then their caches count as
  // in use. Wait (at most 20 s) until no more threads run than before the first round.
  for (const end = Date.now() + 20000; Date.now() < end && threads() > baseThreads;) await sleep(250)
  const offset = fs.statSync(log).size
  spawnSync('gdb', ['-p', String(PID), '-batch', '-ex', 'call (void)malloc_stats()'], { stdio: 'ignore' })
  const text = fs.readFileSync(log, 'utf8').slice(offset)
  const arenas = text.split('Total (incl. mmap)')[0]
  const sum = (re) => [...arenas.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0)
  return { inUse: sum(/in use bytes\s+=\s+(\d+)/g), system: sum(/system bytes\s+=\s+(\d+)/g), arenas: [...arenas.matchAll(/^Arena \d+:/gm)].length }
}
const reportHeap = async (when) => {
  const h = await heapInUse()
  if (h) console.log(`${when}: allocator in use ${(h.inUse / 1048576).toFixed(2)} MB, held from the OS ${(h.system / 1048576).toFixed(2)} MB (${h.arenas} arenas)`)
}

const baseThreads = threads()
const names = Array.from({ length: POOL }, (_, i) => `soak-${i}${i % 7 === 0 ? '/x y' : ''}`)
const mirrors = new Map(names.map((n) => [n, new Y.Doc()]))
const api = (n) => `${BASE}/api/docs/${encodeURIComponent(n)}`

const connect = (name) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(WS, name, doc, { WebSocketPolyfill: WebSocket, disableBc: true })
  return { doc, provider, name }
}
const synced = (c) => c.provider.synced ? Promise.resolve() : new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`sync ${c.name}`)), 15000)
  c.provider.on('sync', (s) => { if (s) { clearTimeout(t); resolve() } })
})

const edit = (doc) => {
  const r = rnd()
  doc.transact(() => {
    const text = doc.getText('text')
    if (r < 0.5 || text.length < 10) text.insert(Math.floor(rnd() * (text.length + 1)), 'hello world '.slice(0, 1 + Math.floor(rnd() * 12)))
    else if (r < 0.65) text.delete(Math.floor(rnd() * (text.length - 5)), 5)
    else if (r < 0.75) doc.getMap('map').set(`k${Math.floor(rnd() * 30)}`, Math.floor(rnd() * 1e9))
    else if (r < 0.85) doc.getArray('arr').push([rnd()])
    else if (r < 0.9) {
      const x = new Y.XmlElement('p'); x.insert(0, [new Y.XmlText('para')]); doc.getXmlFragment('xml').push([x])
    } else if (r < 0.93) doc.getMap('nested').set(`n${Math.floor(rnd() * 3)}`, new Y.Map([['at', rnd()]]))
    else if (r < 0.95) text.insert(0, 'x'.repeat(20000))
    else if (r < 0.97) { const t = doc.getText('text'); t.delete(0, Math.min(t.length, 20000)) }
    else doc.getMap('map').set('obj', { a: rnd(), b: [1, 2, 3], c: 'z'.repeat(Math.floor(rnd() * 500)) })
  })
}

const hostile = async (name) => {
  const payloads = [
    Buffer.from([0, 2, 0xff, 0xff, 0xff, 0xff, 0x0f]),
    Buffer.from([0, 2, 5, 1, 2]),
    Buffer.from(Array.from({ length: 200 }, () => Math.floor(rnd() * 256))),
    Buffer.from([9, 9, 9]),
    Buffer.from([1, 3, 1, 0xff, 0xff, 0xff, 0xff, 0x7f]),
    Buffer.from([0, 0, 0xff])
  ]
  await new Promise((resolve) => {
    const ws = new WebSocket(`${WS}/${name}`)
    const t = setTimeout(() => { ws.terminate(); resolve() }, 3000)
    ws.on('open', () => {
      const p = payloads[Math.floor(rnd() * payloads.length)]
      if (rnd() < 0.2) ws.send('text frame') ; else ws.send(p)
      if (rnd() < 0.3) ws.terminate()
    })
    ws.on('close', () => { clearTimeout(t); resolve() })
    ws.on('error', () => {})
  })
}

const canon = (v) => JSON.stringify(v, (k, x) => x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a < b ? -1 : 1)) : x)
const samples = []
for (let round = 0; round < ROUNDS; round++) {
  const picked = [...new Set(Array.from({ length: PER_ROUND }, () => names[Math.floor(rnd() * POOL)]))]
  const clients = []
  for (const name of picked) for (let k = 0; k < 2; k++) clients.push(connect(name))
  await Promise.all(clients.map(synced))
  for (const c of clients) c.provider.awareness.setLocalStateField('user', { name: c.name, r: rnd() })
  const hostiles = []
  for (let step = 0; step < 400; step++) {
    const c = clients[Math.floor(rnd() * clients.length)]
    edit(c.doc)
    if (step % 50 === 0) hostiles.push(hostile(picked[Math.floor(rnd() * picked.length)]))
    if (step % 40 === 0) {
      const n = picked[Math.floor(rnd() * picked.length)]
      const res = await fetch(`${api(n)}/update`)
      if (res.status !== 200 && res.status !== 404) throw new Error(`GET ${n}: ${res.status}`)
      await res.arrayBuffer()
    }
    if (step % 60 === 0) {
      // an update made offline, posted over HTTP to a document nobody has open right now
      const n = names[Math.floor(rnd() * POOL)]
      const d = new Y.Doc(); d.getMap('posted').set(`r${round}s${step}`, step)
      const res = await fetch(`${api(n)}/update`, { method: 'POST', body: Y.encodeStateAsUpdate(d) })
      if (res.status !== 200) throw new Error(`POST ${n}: ${res.status} ${await res.text()}`)
      Y.applyUpdate(mirrors.get(n), Y.encodeStateAsUpdate(d))
    }
    if (step % 10 === 0) await sleep(5)
  }
  await Promise.all(hostiles)
  // converge each pair, fold into the mirror, close
  for (const name of picked) {
    const pair = clients.filter((c) => c.name === name)
    await waitUntil(() => pair.every((c) => Y.encodeStateVector(c.doc).toString() === Y.encodeStateVector(pair[0].doc).toString()), 20000, `converge ${name}`)
    for (const c of pair) Y.applyUpdate(mirrors.get(name), Y.encodeStateAsUpdate(c.doc))
  }
  for (const c of clients) { c.provider.destroy(); c.doc.destroy() }
  // all unloaded?
  await waitUntil(async () => {
    for (const name of picked) {
      const j = await (await fetch(api(name))).json()
      if (j.loaded) return false
    }
    return true
  }, 30000, 'unload')
  await sleep(300)
  const m = rss()
  samples.push(m)
  console.log(`round ${round}: VmRSS ${(m.rss / 1024).toFixed(1)} MB, RssAnon ${(m.anon / 1024).toFixed(1)} MB, docs ${picked.length}`)
  if (round === Math.floor(ROUNDS / 2) - 1) await reportHeap(`after round ${round}`)
}
await reportHeap('at the end')
// final check: every document equals its mirror
let bad = 0
for (const name of names) {
  const res = await fetch(`${api(name)}/update`)
  const mirror = mirrors.get(name)
  if (res.status === 404) { if (Y.encodeStateVector(mirror).length > 1) { bad++; console.log(`missing ${name}`) } continue }
  const d = new Y.Doc(); Y.applyUpdate(d, new Uint8Array(await res.arrayBuffer()))
  const sa = canon([d.getText('text').toString(), d.getArray('arr').toJSON(), d.getXmlFragment('xml').toString(), d.getMap('posted').toJSON(), d.getMap('map').toJSON(), [...d.getMap('subs').keys()].sort()])
  const sb = canon([mirror.getText('text').toString(), mirror.getArray('arr').toJSON(), mirror.getXmlFragment('xml').toString(), mirror.getMap('posted').toJSON(), mirror.getMap('map').toJSON(), [...mirror.getMap('subs').keys()].sort()])
  // State vector encodings may order clients differently: compare the decoded entries.
  const svA = [...Y.decodeStateVector(Y.encodeStateVector(d))].sort().join()
  const svB = [...Y.decodeStateVector(Y.encodeStateVector(mirror))].sort().join()
  if (svA !== svB || sa !== sb) { bad++; console.log(`mismatch ${name}: sv ${svA === svB} content ${sa === sb}`) }
}
console.log(`documents checked: ${names.length}, mismatches: ${bad}`)
if (samples.length > 0) {
  const first = samples[Math.min(5, samples.length - 1)]; const last = samples[samples.length - 1]
  console.log(`growth from round ${Math.min(5, samples.length - 1)} to the end: VmRSS ${((last.rss - first.rss) / 1024).toFixed(2)} MB, RssAnon ${((last.anon - first.anon) / 1024).toFixed(2)} MB`)
}
process.exit(bad ? 1 : 0)
