// Revocation pushed from the database, with stock clients: a y-websocket provider and a
// Hocuspocus provider holding tokens of `alice` (minted with `plait token --sub alice`) are closed
// with 4401 within a second of a revocation, on SQLite (a row inserted by the sqlite3 command
// line, another program) and on two PostgreSQL nodes (`plait revoke` against the database; the
// clients on the other node). Her old tokens are refused; a token minted afterwards works.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { PlaitServer, plaitBin, uniqueDoc, waitUntil } from './lib/server.js'
import { connectCounting, waitSynced, closeClient } from './lib/clients.js'
import { connectHocuspocus, hocuspocusUrl } from './lib/hocuspocus.js'
import { freshPgDatabase, sqlite3 } from './lib/database.js'

const SECRET = 'js-interop-secret-0123456789abcdef-0123456789abcdef'
const env = { PLAIT_AUTH_SECRET: SECRET }

const mint = (sub) => execFileSync(plaitBin, ['token', '--sub', sub, '--doc', '*', '--mode', 'write', '--ttl', '1h'], {
  env: { ...process.env, PLAIT_AUTH_SECRET: SECRET },
  encoding: 'utf8'
}).trim()

/** Both kinds of client of `sub`'s token on `doc` (y-websocket on `a`, Hocuspocus on `b`). */
const clientsOf = async (a, b, doc, token) => {
  const yws = connectCounting(a, doc, { token })
  const hp = connectHocuspocus(hocuspocusUrl(b), doc, { token })
  await waitSynced(yws)
  await waitUntil(() => hp.provider.synced, { what: 'the Hocuspocus provider synced' })
  return { yws, hp }
}

/** Waits until both are closed with 4401; returns how long it took from `since`. */
const closedWith4401 = async ({ yws, hp }, since) => {
  await waitUntil(() => yws.closes.includes(4401) && hp.closes.includes(4401),
    { timeoutMs: 5000, intervalMs: 5, what: `4401 on both (y-websocket ${JSON.stringify(yws.closes)}, Hocuspocus ${JSON.stringify(hp.closes)})` })
  return Date.now() - since
}

const upgradeStatus = async (server, doc, token) => {
  const res = await fetch(`${server.httpUrl}/ws/${encodeURIComponent(doc)}?token=${token}`, { signal: AbortSignal.timeout(5000) })
  return res.status
}

const dispose = ({ yws, hp }) => {
  closeClient(yws)
  hp.provider.destroy()
}

test('SQLite: a row inserted by another program closes alice\'s clients of both protocols', async () => {
  const server = new PlaitServer({ env })
  await server.start()
  const doc = uniqueDoc('revoke-sqlite')
  const old = mint('alice')
  const alice = await clientsOf(server, server, doc, old)
  const bob = await clientsOf(server, server, doc, mint('bob'))
  try {
    const since = Date.now()
    sqlite3(server.dbFile, "INSERT INTO revocations (subject, reason) VALUES ('alice', 'left');")
    const took = await closedWith4401(alice, since)
    console.log(`SQLite: both of alice's clients closed ${took} ms after the INSERT`)
    assert.ok(took < 1000, `closed after ${took} ms`)
    assert.ok(!bob.yws.closes.includes(4401) && !bob.hp.closes.includes(4401), 'bob was not revoked')
    // 401 before the upgrade for the old token (a plain GET answers with the refusal).
    assert.equal(await upgradeStatus(server, doc, old), 401)
    const fresh = connectCounting(server, doc, { token: mint('alice') })
    await waitSynced(fresh)
    closeClient(fresh)
  } finally {
    dispose(alice)
    dispose(bob)
    await server.dispose()
  }
})

test('PostgreSQL: plait revoke closes alice\'s clients on both nodes', async () => {
  const db = freshPgDatabase('plait_js_revoke')
  const nodes = [new PlaitServer({ databaseUrl: db.url, env }), new PlaitServer({ databaseUrl: db.url, env })]
  try {
    await Promise.all(nodes.map((node) => node.start()))
    const doc = uniqueDoc('revoke-pg')
    const old = mint('alice')
    // y-websocket on node 0, Hocuspocus on node 1, and the other way round.
    const first = await clientsOf(nodes[0], nodes[1], doc, old)
    const second = await clientsOf(nodes[1], nodes[0], doc, old)
    const since = Date.now()
    execFileSync(plaitBin, ['revoke', '--sub', 'alice', '--database-url', db.url], { encoding: 'utf8' })
    const took = Math.max(await closedWith4401(first, since), await closedWith4401(second, since))
    console.log(`PostgreSQL: alice's clients on both nodes closed ${took} ms after plait revoke started`)
    assert.ok(took < 1000 + 500, `closed after ${took} ms (the command's own start included)`)
    for (const node of nodes) assert.equal(await upgradeStatus(node, doc, old), 401)
    dispose(first)
    dispose(second)
  } finally {
    await Promise.all(nodes.map((node) => node.dispose()))
    db.drop()
  }
})
