// Minimal Hocuspocus server used as a benchmark peer (in memory, no extensions unless SQLITE).
// scripts/bench.sh copies it next to an `npm install @hocuspocus/server@4.7.0`
// (imports resolve relative to the file). Run: HOST=127.0.0.1 PORT=1235 node server.mjs
// SQLITE=/path/file.sqlite adds @hocuspocus/extension-sqlite on that file (needs
// `npm install @hocuspocus/extension-sqlite@4.7.0` there too) with Hocuspocus's defaults: the
// whole document is stored 2 s after the last change (debounce), at least every 10 s while
// changes keep coming (maxDebounce), and when it unloads (scripts/bench/write-amp.sh).
import { Server } from '@hocuspocus/server'

const host = process.env.HOST || '127.0.0.1'
const port = parseInt(process.env.PORT || '1235')
const extensions = []
if (process.env.SQLITE) {
  const { SQLite } = await import('@hocuspocus/extension-sqlite')
  extensions.push(new SQLite({ database: process.env.SQLITE }))
}
const server = new Server({ address: host, port, quiet: true, extensions })
await server.listen()
console.log(`hocuspocus listening on ${host}:${port}${process.env.SQLITE ? ` (sqlite ${process.env.SQLITE})` : ''}`)
