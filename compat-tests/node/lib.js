'use strict'
// Shared helpers of the kafkajs scenarios: checks that print what held, bounded waits, the
// Kafka client factory, unique names, and Java's murmur2 partitioner for exact expectations.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const crypto = require('crypto')
const util = require('util')
const { Kafka, logLevel } = require('kafkajs')

const HOMEWORK_TOPIC = 'loms.order-events'
// Milliseconds any single wait may take (the suite's COMPAT_TIMEOUT, seconds).
const TIMEOUT = Math.round(parseFloat(process.env.COMPAT_TIMEOUT || '30') * 1000)

class CheckFailure extends Error {}

const show = v => util.inspect(v, { depth: 6, breakLength: Infinity, maxArrayLength: 40 })

const T0 = Date.now()
const check = {
  ok(msg) {
    console.log(`  ok (${((Date.now() - T0) / 1000).toFixed(1)} s): ${msg}`)
  },
  that(cond, msg) {
    if (!cond) throw new CheckFailure(typeof msg === 'function' ? msg() : msg)
  },
  eq(what, expected, actual) {
    if (!util.isDeepStrictEqual(expected, actual)) {
      throw new CheckFailure(`${what}: expected ${show(expected)}, got ${show(actual)}`)
    }
    return actual
  },
  /** Awaits promise, which must reject with a kafkajs error of this protocol type (e.g.
   *  'NON_EMPTY_GROUP') or class name (e.g. 'KafkaJSNonRetriableError'). */
  async rejects(what, type, promise) {
    let result
    try {
      result = await promise
    } catch (e) {
      const types = errorTypes(e)
      if (!types.includes(type)) {
        throw new CheckFailure(`${what}: expected ${type}, got ${e.name}: ${e.message} (types ${show(types)})`)
      }
      return e
    }
    throw new CheckFailure(`${what}: expected ${type}, but it succeeded with ${show(result)}`)
  },
}

/** The protocol error types and class names in a kafkajs error, its nested errors and causes. */
function errorTypes(e, out = []) {
  if (!e || typeof e !== 'object') return out
  if (e.type) out.push(e.type)
  if (e.name && e.name !== 'Error') out.push(e.name)
  for (const sub of e.errors || []) errorTypes(sub, out)
  for (const g of e.groups || []) errorTypes(g.error, out)
  if (e.cause) errorTypes(e.cause, out)
  if (e.originalError) errorTypes(e.originalError, out)
  return out
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Calls probe() (may be async) until it returns a truthy value; returns it, or fails. */
async function waitFor(what, probe, { timeout = TIMEOUT, interval = 100, state = () => '' } = {}) {
  const deadline = Date.now() + timeout
  let last
  for (;;) {
    try {
      last = await probe()
    } catch (e) {
      last = e
      if (e instanceof CheckFailure) throw e
    }
    if (last && !(last instanceof Error)) return last
    if (Date.now() > deadline) {
      throw new CheckFailure(`timed out after ${timeout / 1000} s waiting for ${what} (last: ${
        last instanceof Error ? last.message : show(last)}) ${state()}`)
    }
    await sleep(interval)
  }
}

/** kafkajs logs WARN and above to stderr (shown by the suite when a scenario fails). */
const logCreator = () => ({ namespace, level, log }) => {
  const { message, timestamp, logger, ...extra } = log
  const name = ['', 'ERROR', 'WARN', '', 'INFO', 'DEBUG'][level] || level
  process.stderr.write(`${timestamp} ${name} [${namespace}] ${message} ${JSON.stringify(extra)}\n`)
}

/**
 * Client security for the secured brokers (compat-tests/python/secured.py): COMPAT_CLIENT_SECURITY
 * holds {"protocol", "mechanism", "username", "password", "ca", "cert", "key"}; TLS for SSL and
 * SASL_SSL, SASL for SASL_PLAINTEXT and SASL_SSL. Without it: plaintext, as before.
 */
function securityOptions() {
  const raw = process.env.COMPAT_CLIENT_SECURITY
  if (!raw) return {}
  const fs = require('fs')
  const c = JSON.parse(raw)
  const out = {}
  if (c.protocol.endsWith('SSL')) {
    out.ssl = { ca: [fs.readFileSync(c.ca)] }
    if (c.cert) {
      out.ssl.cert = fs.readFileSync(c.cert)
      out.ssl.key = fs.readFileSync(c.key)
    }
  }
  if (c.protocol.startsWith('SASL')) {
    out.sasl = { mechanism: c.mechanism.toLowerCase(), username: c.username, password: c.password }
  }
  return out
}

function makeKafka(bootstrap, clientId = 'gregor-compat-kafkajs', retry = {}) {
  return new Kafka({
    ...securityOptions(),
    clientId,
    brokers: bootstrap.split(','),
    logLevel: logLevel.WARN,
    logCreator,
    connectionTimeout: 5000,
    requestTimeout: TIMEOUT,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000, ...retry },
  })
}

const suffix = crypto.randomBytes(6).toString('hex')
const topicName = label => `compat.kafkajs-${label}.${suffix}`
const groupName = label => `compat.kafkajs-${label}.${suffix}`

/** Java's Utils.murmur2 (what Kafka's default partitioners hash keys with). */
function murmur2(buf) {
  const m = 0x5bd1e995
  const length = buf.length
  let h = 0x9747b28c ^ length
  const length4 = length >> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k = buf[i4] + (buf[i4 + 1] << 8) + (buf[i4 + 2] << 16) + (buf[i4 + 3] << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m)
    h ^= k
  }
  const tail = length & ~3
  switch (length % 4) {
    case 3:
      h ^= buf[tail + 2] << 16
    // falls through
    case 2:
      h ^= buf[tail + 1] << 8
    // falls through
    case 1:
      h ^= buf[tail]
      h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

const partitionOfKey = (key, partitions) => (murmur2(Buffer.from(key)) & 0x7fffffff) % partitions

/** [{partition, ...}] sorted by partition. */
const byPartition = list => [...list].sort((a, b) => a.partition - b.partition)

const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i)

/** Creates a topic through the admin client and waits until metadata shows every partition led. */
async function createTopic(admin, topic, numPartitions) {
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions, replicationFactor: 1 }],
    waitForLeaders: true,
    timeout: TIMEOUT,
  })
  check.eq(`createTopics ${topic}`, true, created)
  await waitFor(`${topic} with ${numPartitions} led partitions`, async () => {
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    const ps = md.topics[0].partitions
    return ps.length === numPartitions && ps.every(p => p.leader >= 0 && p.partitionErrorCode === 0)
  })
}

module.exports = {
  HOMEWORK_TOPIC,
  TIMEOUT,
  CheckFailure,
  check,
  show,
  sleep,
  waitFor,
  makeKafka,
  topicName,
  groupName,
  murmur2,
  partitionOfKey,
  byPartition,
  range,
  createTopic,
  errorTypes,
}
