// The container image: scripts/image.sh builds it FROM scratch (the binary under test, PLAIT_BIN,
// as every other test here; set PLAIT_IMAGE_BIN to package another, e.g. a release build), then
// `podman run` starts it with a host directory as its /data volume and a loopback port published
// to its 0.0.0.0:1234. Two stock y-websocket clients converge through it, the health check
// passes, the server runs as uid 10001 and its SQLite file lands in the volume, and a second
// container on the same volume serves the same document.
//
// How podman runs here: `podman run` itself (no chroot stand-in), with two workarounds this
// sandbox (a VM with a hybrid cgroup v1/v2 layout) needs and a normal host does not. `podman run`
// starts in a private mount namespace (`unshare --mount --propagation private`) where the cgroup
// v2 mount /sys/fs/cgroup/unified is unmounted, because crun refuses a hybrid layout whose v2
// half has controllers ("cgroups in hybrid mode not supported"); later podman commands on that
// container (`healthcheck run`) enter the same namespace with nsenter, where its network
// namespace is mounted. And the rlimits are given explicitly, no higher than this process's, as
// crun may not raise them here ("setrlimit RLIMIT_NOFILE: Operation not permitted"). Neither
// changes the host.
//
// Needs root with podman and buildah (`.ci/run` installs them). Outside CI the test is skipped
// when those are missing; with CI=true it fails instead.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { plaitBin, freePort, waitUntil, uniqueDoc } from './lib/server.js'
import { connectClient, waitSynced, closeClient, types, contentOf, waitConverged } from './lib/clients.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const image = `localhost/plait:test-${process.pid}`
const UID = 10001

/** Runs a command to completion: `{ code, stdout, stderr }`; never throws on a non-zero exit. */
const run = (cmd, args, { env, timeoutMs = 60000 } = {}) => new Promise((resolve, reject) => {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (c) => { stdout += c })
  proc.stderr.on('data', (c) => { stderr += c })
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
  proc.on('error', (err) => { clearTimeout(timer); reject(err) })
  proc.on('close', (code, signal) => {
    clearTimeout(timer)
    resolve({ code: code ?? signal, stdout, stderr })
  })
})

const mustRun = async (cmd, args, options) => {
  const res = await run(cmd, args, options)
  if (res.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${res.code}):\n${res.stdout}\n${res.stderr}`)
  }
  return res
}

const have = async (cmd) => (await run('sh', ['-c', `command -v ${cmd}`])).code === 0

/**
 * A hybrid cgroup layout whose v2 half has controllers: crun refuses it, so podman commands that
 * start processes run where that mount is hidden (see the top of this file).
 */
const hybridCgroups = () => {
  try {
    return readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() !== ''
  } catch {
    return false
  }
}

/**
 * The argv that runs `podman run ...args`, in a private mount namespace when the host needs it
 * (`exec` all along: the child's pid is podman's).
 */
const podmanRunArgv = (args) => hybridCgroups()
  ? ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
      'umount /sys/fs/cgroup/unified && exec podman run "$@"', 'podman', ...args]]
  : ['podman', ['run', ...args]]

/** `podman ...args` about a running container, from the mount namespace its `podman run` is in. */
const podmanOn = (container, args, options) => hybridCgroups()
  ? run('nsenter', ['--target', String(container.proc.pid), '--mount', 'podman', ...args], options)
  : run('podman', args, options)

let skip = false
let workDir
let dataDir
let imageBuilt = false
const containers = []
const clients = []

/** `--ulimit` for `name` (as /proc/self/limits spells it): 4096, or less if this process has less. */
const ulimit = (flag, name) => {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(name))
  const soft = Number(line?.slice(name.length).trim().split(/\s+/)[0])
  const value = Number.isFinite(soft) ? Math.min(soft, 4096) : 4096
  return ['--ulimit', `${flag}=${value}:${value}`]
}

/**
 * `podman run` in the foreground (its --rm removes the container when plait exits): a child we
 * stop with SIGTERM, which podman passes on to plait. Resolves once /readyz answers 200.
 */
const startContainer = async (name) => {
  const port = await freePort()
  const [cmd, argv] = podmanRunArgv([
    '--rm', '--name', name,
    // Not above this process's limits, which the runtime may not raise here; plenty for a test.
    ...ulimit('nofile', 'Max open files'), ...ulimit('nproc', 'Max processes'),
    '--publish', `127.0.0.1:${port}:1234`,
    '--volume', `${dataDir}:/data`,
    '--env', 'RUST_LOG=info',
    image
  ])
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  const container = { name, port, proc, log: '', exit: null }
  containers.push(container)
  const append = (chunk) => {
    container.log = (container.log + chunk).slice(-64 * 1024)
    if (process.env.PLAIT_JS_VERBOSE) process.stderr.write(chunk)
  }
  proc.stdout.on('data', append)
  proc.stderr.on('data', append)
  container.exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
    container.exit = { code, signal }
    resolve(container.exit)
  }))
  container.httpUrl = `http://127.0.0.1:${port}`
  container.wsUrl = `ws://127.0.0.1:${port}/ws`
  await waitUntil(async () => {
    if (container.exit) {
      throw new Error(`podman run exited early (${JSON.stringify(container.exit)}):\n${container.log}`)
    }
    const res = await fetch(`${container.httpUrl}/readyz`, { signal: AbortSignal.timeout(1000) })
    return res.status === 200
  }, { timeoutMs: 60000, intervalMs: 100, what: `container ${name} to answer /readyz` }).catch((err) => {
    if (container.exit) throw new Error(`podman run exited (${JSON.stringify(container.exit)}):\n${container.log}`)
    err.message += `\n${container.log}`
    throw err
  })
  return container
}

/** SIGTERM to `podman run` (passed on to plait), then waits for the container to be gone. */
const stopContainer = async (container, { timeoutMs = 30000 } = {}) => {
  if (!container.exit) container.proc.kill('SIGTERM')
  let timer
  const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs) })
  const exit = await Promise.race([container.exited, timedOut])
  clearTimeout(timer)
  if (!exit) {
    await podmanOn(container, ['rm', '--force', '--ignore', '--time', '5', container.name])
    container.proc.kill('SIGKILL')
  }
  return exit
}

before(async () => {
  const missing = []
  if (process.getuid?.() !== 0) missing.push('root')
  for (const cmd of ['podman', 'buildah', 'unshare', 'nsenter', 'strip']) {
    if (!(await have(cmd))) missing.push(cmd)
  }
  if (missing.length > 0) {
    const why = `the image test needs ${missing.join(', ')}: run it as root with podman and buildah (.ci/run installs them)`
    if (process.env.CI === 'true') throw new Error(why)
    skip = why
    return
  }
  const bin = process.env.PLAIT_IMAGE_BIN ? path.resolve(process.env.PLAIT_IMAGE_BIN) : plaitBin
  assert.ok(existsSync(bin), `no plait binary at ${bin}: build it or set PLAIT_IMAGE_BIN`)

  const started = Date.now()
  const built = await run('bash', [path.join(repo, 'scripts/image.sh')], {
    env: { PLAIT_BIN: bin, PLAIT_IMAGE: image },
    timeoutMs: 10 * 60 * 1000
  })
  if (built.code !== 0) throw new Error(`scripts/image.sh failed (${built.code}):\n${built.stdout}\n${built.stderr}`)
  imageBuilt = true
  console.log(`image ${built.stdout.trim()} in ${((Date.now() - started) / 1000).toFixed(1)} s`)

  workDir = mkdtempSync(path.join(tmpdir(), 'plait-image-'))
  dataDir = path.join(workDir, 'data')
  await mustRun('install', ['-d', '-o', String(UID), '-g', String(UID), '-m', '0750', dataDir])
})

after(async () => {
  clients.forEach(closeClient)
  for (const container of containers) await stopContainer(container)
  if (imageBuilt) await run('podman', ['rmi', '--force', image])
  if (workDir) rmSync(workDir, { recursive: true, force: true })
})

test('the image runs as uid 10001, passes its health check and keeps the demo', async (t) => {
  if (skip) return t.skip(skip)
  const inspected = JSON.parse((await mustRun('podman', ['image', 'inspect', image])).stdout)[0]
  assert.equal(inspected.Config.User, `${UID}:${UID}`)
  assert.ok(inspected.Config.Env.includes('PLAIT_BIND=0.0.0.0:1234'), inspected.Config.Env.join(' '))
  assert.ok(inspected.Config.Env.includes('DATABASE_URL=sqlite:///data/plait.db?mode=rwc'))
  assert.deepEqual(Object.keys(inspected.Config.Volumes ?? {}), ['/data'])
  assert.deepEqual(inspected.Healthcheck?.Test, ['CMD', '/usr/local/bin/plait', 'healthcheck'])

  const c = await startContainer(`plait-image-test-${process.pid}-1`)
  // The process in the container, seen from the host.
  const pid = (await mustRun('podman', ['inspect', '--format', '{{.State.Pid}}', c.name])).stdout.trim()
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  assert.match(status, new RegExp(`^Uid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}$`, 'm'))
  assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /^\/usr\/local\/bin\/plait\0serve\0$/)

  // The image's HEALTHCHECK (`plait healthcheck` inside the container), as the runtime runs it.
  const health = await podmanOn(c, ['healthcheck', 'run', c.name])
  assert.equal(health.code, 0, `podman healthcheck run failed:\n${health.stdout}\n${health.stderr}`)
  const state = (await mustRun('podman', ['inspect', '--format', '{{.State.Health.Status}}', c.name])).stdout.trim()
  assert.equal(state, 'healthy')

  const page = await fetch(`${c.httpUrl}/`)
  assert.equal(page.status, 200)
  const html = await page.text()
  assert.ok(!html.includes('Plait is running'), 'the image serves the placeholder page, not the web demo')
  assert.match(html, /<script/)
})

test('two y-websocket clients converge through the container; the data is in the volume', async (t) => {
  if (skip) return t.skip(skip)
  const c = containers[0]
  assert.ok(c && !c.exit, 'the first test left no running container')
  const doc = uniqueDoc('image')
  const a = connectClient(c, doc)
  const b = connectClient(c, doc)
  clients.push(a, b)
  await Promise.all([waitSynced(a), waitSynced(b)])
  for (let i = 0; i < 50; i++) {
    types(a.doc).text.insert(0, 'a')
    types(b.doc).text.insert(types(b.doc).text.length, 'b')
    types(a.doc).map.set(`a${i % 5}`, i)
    types(b.doc).map.set(`b${i % 5}`, i)
  }
  await waitConverged([a.doc, b.doc])
  const expected = contentOf(a.doc)
  assert.equal(expected.text.length, 100)
  // Durable acknowledgement: nothing pending once the server has written the log.
  await waitUntil(async () => {
    const stats = await (await fetch(`${c.httpUrl}/api/docs/${encodeURIComponent(doc)}`)).json()
    return stats.stored && stats.pending === 0
  }, { what: 'the document to be stored' })
  closeClient(a)
  closeClient(b)
  clients.length = 0

  const exit = await stopContainer(c)
  assert.deepEqual(exit, { code: 0, signal: null }, `podman run did not exit cleanly:\n${c.log}`)
  const db = statSync(path.join(dataDir, 'plait.db'))
  assert.ok(db.size > 0)
  assert.equal(db.uid, UID, 'the SQLite file is not owned by the image user')

  // A new container on the same volume serves the same document.
  const again = await startContainer(`plait-image-test-${process.pid}-2`)
  const late = connectClient(again, doc)
  clients.push(late)
  await waitSynced(late)
  assert.deepEqual(contentOf(late.doc), expected)
})
