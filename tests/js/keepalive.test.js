// y-websocket 3.x drops a connection that received nothing for 30 s; it renews its awareness
// every 15 s and relies on the server echoing it. A lone client must stay connected well past
// 30 s. Takes ~36 s; PLAIT_JS_FAST=1 skips it.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { PlaitServer, uniqueDoc } from './lib/server.js'
import { connectClient, waitSynced, closeClient, types } from './lib/clients.js'

const WATCH_MS = 36000
const cleanups = []
after(async () => { for (const c of cleanups.reverse()) await c() })

test('a lone client is not disconnected after 35 s of quiet', {
  skip: process.env.PLAIT_JS_FAST === '1' ? 'PLAIT_JS_FAST=1' : false,
  timeout: WATCH_MS + 30000
}, async () => {
  const server = new PlaitServer()
  cleanups.push(() => server.dispose())
  await server.start()
  const a = connectClient(server, uniqueDoc('keepalive'))
  cleanups.push(() => closeClient(a))
  a.provider.awareness.setLocalStateField('user', { name: 'lonely' })
  await waitSynced(a)
  types(a.doc).text.insert(0, 'still here')
  const statusesBefore = a.statuses.length

  // The duration of the quiet period is what is being tested, so this wait is a fixed one.
  const received = []
  a.provider.ws.on('message', () => received.push(Date.now()))
  await new Promise((resolve) => setTimeout(resolve, WATCH_MS))

  assert.deepEqual(a.statuses.slice(statusesBefore), [], `no status change during ${WATCH_MS} ms (closes: ${JSON.stringify(a.closes)})`)
  assert.deepEqual(a.closes, [])
  assert.equal(a.provider.wsconnected, true)
  assert.equal(a.provider.synced, true)
  // something arrived in every 30 s window: the awareness renewal echo (or a ping the client sees)
  assert.ok(received.length > 0, 'the server sent something while the client was quiet')
})
