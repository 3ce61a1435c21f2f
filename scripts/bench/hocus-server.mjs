// Minimal Hocuspocus server used as a benchmark peer (in memory, no extensions).
// scripts/bench.sh copies it next to an `npm install @hocuspocus/server@4.7.0`
// (imports resolve relative to the file). Run: HOST=127.0.0.1 PORT=1235 node server.mjs
import { Server } from '@hocuspocus/server'

const host = process.env.HOST || '127.0.0.1'
const port = parseInt(process.env.PORT || '1235')
const server = new Server({ address: host, port, quiet: true, extensions: [] })
await server.listen()
console.log(`hocuspocus listening on ${host}:${port}`)
