// Awareness (presence) through plait: a state set by one client reaches the other, and is removed
// there when its owner leaves - both when the owner says goodbye and when its socket just dies.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectClient, waitSynced, closeClient } from './lib/clients.js'

let server
const open = new Set()

before(async () => {
  server = new PlaitServer()
  await server.start()
})
after(async () => {
  open.forEach(closeClient)
  await server?.dispose()
})

const pair = async (prefix) => {
  const doc = uniqueDoc(prefix)
  const a = connectClient(server, doc)
  const b = connectClient(server, doc)
  open.add(a); open.add(b)
  await Promise.all([waitSynced(a), waitSynced(b)])
  return { a, b }
}

const remoteName = (observer, owner) =>
  observer.provider.awareness.getStates().get(owner.doc.clientID)?.user?.name

test('awareness state reaches the other client and is removed when its owner disconnects', async () => {
  const { a, b } = await pair('awareness-leave')
  a.provider.awareness.setLocalStateField('user', { name: 'Alice' })
  await waitUntil(() => remoteName(b, a) === 'Alice', { timeoutMs: 5000, what: "B to see A's awareness" })

  a.provider.awareness.setLocalStateField('user', { name: 'Alice (renamed)' })
  await waitUntil(() => remoteName(b, a) === 'Alice (renamed)', { timeoutMs: 5000, what: 'B to see the update' })

  const removed = new Promise((resolve) => {
    b.provider.awareness.on('change', ({ removed }) => { if (removed.includes(a.doc.clientID)) resolve() })
  })
  closeClient(a); open.delete(a)
  await waitUntil(() => !b.provider.awareness.getStates().has(a.doc.clientID),
    { timeoutMs: 5000, what: "B to drop A's awareness state" })
  await removed
  assert.equal(b.provider.wsconnected, true)
})

test('awareness is removed by the server when a client socket dies without a goodbye', async () => {
  const { a, b } = await pair('awareness-drop')
  a.provider.awareness.setLocalStateField('user', { name: 'Bob' })
  await waitUntil(() => remoteName(b, a) === 'Bob', { timeoutMs: 5000, what: "B to see A's awareness" })

  // Cut A's TCP connection: A sends no "null" awareness, so only the server can tell B.
  // (y-protocols would time the state out by itself only after 30 s; we allow 5 s.)
  a.provider.shouldConnect = false
  a.provider.ws.terminate()
  await waitUntil(() => !b.provider.awareness.getStates().has(a.doc.clientID),
    { timeoutMs: 5000, what: "B to drop A's awareness after A's socket died" })
  closeClient(a); open.delete(a)
})

test("a client's presence comes back at its first renewal after a reconnect", async () => {
  // When A's socket drops, the server removes A's state and tells B (clock c, state null). On
  // reconnecting, y-websocket re-sends A's state with the same clock c, which B (and the server)
  // must ignore: y-websocket clients send back every state they receive, so a late echo of A's
  // old state looks exactly like that. A's next renewal (every 15 s, clock c + 1) brings it back.
  // Before the server kept the clock, it bumped it to c + 1 on removal, and only the second
  // renewal, ~30 s later, got through.
  const { a, b } = await pair('awareness-reconnect')
  a.provider.awareness.setLocalStateField('user', { name: 'Cleo' })
  await waitUntil(() => remoteName(b, a) === 'Cleo', { timeoutMs: 5000, what: "B to see A's awareness" })

  a.provider.ws.terminate() // the provider reconnects by itself
  await waitUntil(() => !b.provider.awareness.getStates().has(a.doc.clientID),
    { timeoutMs: 5000, what: "B to drop A's awareness after A's socket died" })
  await waitSynced(a)
  await waitUntil(() => remoteName(b, a) === 'Cleo',
    { timeoutMs: 25000, what: "B to see A again after A's first renewal" })
})

// y-websocket sends back every presence change it applies, so in a busy room each client's
// messages carry everyone's states; the server must not take those echoes for states the client
// introduces (it once closed every client with 1007 past 16 people in a room).
test('a room of 24 clients: everyone sees everyone, and nobody is disconnected', async () => {
  const doc = uniqueDoc('awareness-crowd')
  const crowd = []
  for (let i = 0; i < 24; i++) {
    const client = connectClient(server, doc)
    open.add(client)
    crowd.push(client)
    client.provider.awareness.setLocalStateField('user', { name: `user ${i}` })
  }
  await Promise.all(crowd.map((client) => waitSynced(client)))
  await waitUntil(() => crowd.every((c) => c.provider.awareness.getStates().size === crowd.length), {
    timeoutMs: 10000,
    what: 'every client to see all 24 states'
  })
  for (const client of crowd) {
    assert.deepEqual(client.closes, [], 'a connection was closed')
    assert.equal(remoteName(client, crowd[23]), 'user 23')
  }
})
