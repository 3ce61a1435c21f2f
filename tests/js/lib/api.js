// The HTTP API as a client uses it: JSON requests with an optional Bearer token, document paths
// with the name percent-encoded (`team-a/notes` -> `team-a%2Fnotes`), and the Prometheus text of
// /metrics read back as numbers.

/** `/api/docs/{doc}` with the name as one path segment. */
export const docPath = (name) => `/api/docs/${encodeURIComponent(name)}`

/** A query string from an object, leaving out undefined values. */
export const query = (params) => {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null)
  return entries.length ? '?' + new URLSearchParams(entries).toString() : ''
}

/**
 * One request. `json` is sent as JSON (`JSON.stringify`); `raw` is sent as is (for bodies that
 * must not be valid JSON). Resolves to `{ status, json, text, headers, what }`: `json` is the
 * parsed body or null, `what` names the request for assertion messages.
 */
export const request = async (server, method, path, { json, raw, token, timeoutMs = 10000 } = {}) => {
  const headers = {}
  if (token) headers.Authorization = `Bearer ${token}`
  let body
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(json)
  } else if (raw !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = raw
  }
  const res = await fetch(server.httpUrl + path, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) })
  const text = await res.text()
  let parsed = null
  try { parsed = JSON.parse(text) } catch { /* not JSON */ }
  const sent = body === undefined ? '' : ` ${body.length > 300 ? body.slice(0, 300) + '…' : body}`
  return {
    status: res.status,
    json: parsed,
    text,
    headers: res.headers,
    what: `${method} ${path}${sent} -> ${res.status} ${text.length > 500 ? text.slice(0, 500) + '…' : text}`
  }
}

/** Every page of `GET /api/docs`, following `next`; resolves to `{ names, documents, pages }`. */
export const listAll = async (server, { prefix, limit, token } = {}) => {
  const documents = []
  const pages = []
  let after
  for (let i = 0; i < 1000; i++) {
    const res = await request(server, 'GET', '/api/docs' + query({ prefix, after, limit }), { token })
    if (res.status !== 200) throw new Error(`listing failed: ${res.what}`)
    pages.push(res.json)
    documents.push(...res.json.documents)
    if (res.json.next === null) return { names: documents.map((d) => d.name), documents, pages }
    after = res.json.next
  }
  throw new Error('the list never ended (1000 pages)')
}

/** `GET /api/search`: resolves to the results array (throws on any status but 200). */
export const search = async (server, q, { prefix, limit, token } = {}) => {
  const res = await request(server, 'GET', '/api/search' + query({ q, prefix, limit }), { token })
  if (res.status !== 200) throw new Error(`search failed: ${res.what}`)
  return res.json.results
}

/** The sum of every series of the metric `name` on /metrics (0 when it has none). */
export const metric = async (server, name) => {
  const res = await fetch(`${server.httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) })
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  let sum = 0
  for (const line of (await res.text()).split('\n')) {
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (m && m[1] === name) sum += Number(m[3])
  }
  return sum
}

/** A word no other document holds: letters only, so every full-text tokenizer keeps it whole. */
export const distinctiveWord = (stem) => stem + Array.from({ length: 8 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')
