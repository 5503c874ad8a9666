'use strict'
// The kafkajs scenarios. Each takes the bootstrap address (and its parameter), prints an "ok"
// line for each thing that held, and throws (a CheckFailure) at the first that did not.
const { AssignerProtocol, CompressionCodecs, CompressionTypes, ConfigResourceTypes, ConfigSource, Partitioners } = require('kafkajs')
const { CODECS, RawLz4jsCodec } = require('./codecs')
const {
  HOMEWORK_TOPIC, TIMEOUT, CheckFailure, check, show, sleep, waitFor, makeKafka, topicName, groupName,
  partitionOfKey, byPartition, range, createTopic,
} = require('./lib')

const producerOptions = extra => ({ createPartitioner: Partitioners.DefaultPartitioner, ...extra })

/** Runs fn(resource) and disconnects the resource afterwards, whatever happened. */
async function using(resource, fn) {
  await resource.connect()
  try {
    return await fn(resource)
  } finally {
    await resource.disconnect().catch(() => {})
  }
}

// --------------------------------------------------------------------------------- metadata

async function metadata(bootstrap) {
  const [host, port] = [bootstrap.slice(0, bootstrap.lastIndexOf(':')), Number(bootstrap.slice(bootstrap.lastIndexOf(':') + 1))]
  await using(makeKafka(bootstrap).admin(), async admin => {
    const cluster = await admin.describeCluster()
    check.eq('describeCluster: brokers', [{ nodeId: cluster.brokers[0]?.nodeId, host, port }], cluster.brokers)
    const nodeId = cluster.brokers[0].nodeId
    check.eq('describeCluster: controller', nodeId, cluster.controller)
    check.that(typeof cluster.clusterId === 'string' && cluster.clusterId.length > 0, `cluster id ${cluster.clusterId}`)
    check.ok(`describeCluster: one broker ${nodeId} at ${host}:${port}, the controller; cluster id ${cluster.clusterId}`)

    const checkPartitions = (what, partitions, count) => {
      check.eq(`${what}: partitions`, range(0, count), partitions.map(p => p.partitionId).sort((a, b) => a - b))
      for (const p of partitions) {
        check.eq(`${what}: partition ${p.partitionId} error code`, 0, p.partitionErrorCode)
        check.eq(`${what}: leader of ${p.partitionId}`, nodeId, p.leader)
        check.eq(`${what}: replicas of ${p.partitionId}`, [nodeId], p.replicas)
        check.eq(`${what}: isr of ${p.partitionId}`, [nodeId], p.isr)
      }
    }
    const listed = await admin.listTopics()
    check.that(listed.includes(HOMEWORK_TOPIC), `listTopics lacks ${HOMEWORK_TOPIC}: ${show(listed)}`)
    const md = await admin.fetchTopicMetadata({ topics: [HOMEWORK_TOPIC] })
    check.eq('fetchTopicMetadata: topics', [HOMEWORK_TOPIC], md.topics.map(t => t.name))
    checkPartitions(`fetchTopicMetadata ${HOMEWORK_TOPIC}`, md.topics[0].partitions, 2)
    check.ok(`listTopics has ${HOMEWORK_TOPIC}; fetchTopicMetadata: partitions [0, 1], leader/replicas/isr = ${nodeId}`)

    const topic = topicName('metadata')
    check.eq('createTopics (new)', true, await admin.createTopics({
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true, timeout: TIMEOUT,
    }))
    check.eq('createTopics (existing: kafkajs answers false)', false, await admin.createTopics({
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true, timeout: TIMEOUT,
    }))
    const created = await admin.fetchTopicMetadata({ topics: [topic] })
    checkPartitions(`fetchTopicMetadata ${topic}`, created.topics[0].partitions, 3)
    check.that((await admin.listTopics()).includes(topic), `listTopics lacks ${topic}`)
    const all = await admin.fetchTopicMetadata()
    check.that(all.topics.some(t => t.name === topic) && all.topics.some(t => t.name === HOMEWORK_TOPIC),
      'fetchTopicMetadata() (all topics) lacks one of them')
    check.ok(`createTopics ${topic} (3 partitions) → true, again → false; fetchTopicMetadata shows [0, 1, 2] led by ${nodeId}; ` +
      'listTopics and all-topics metadata have it')
  })
}

// -------------------------------------------------------------------------- produce_consume

/** 60 messages: keyed (order-N), key-less with an explicit partition, tombstones, headers. */
function messages(baseTs) {
  const out = []
  for (let i = 0; i < 60; i++) {
    const m = {}
    if (i % 10 === 9) {
      m.key = null
      m.partition = i % 2 // a key-less record's partition is the client's choice: pin it
    } else {
      m.key = `order-${i % 7}`
    }
    if (i % 13 === 5) m.value = null
    else if (i % 20 === 0) m.value = `big record ${i} `.repeat(300)
    else m.value = `value ${i} ünïcødé ${'z'.repeat(i % 40)}`
    switch (i % 4) {
      case 1: m.headers = { source: 'kafkajs', i: String(i) }; break
      case 2: m.headers = { dup: ['a', 'b'], empty: '' }; break
      case 3: m.headers = { bin: Buffer.from([0, 1, 2, 0xff, 0x80]) }; break
      default: break
    }
    if (i % 5 === 0) m.timestamp = String(baseTs + i)
    out.push(m)
  }
  return out
}

/** headers as {key: [Buffer, ...]} whichever shape kafkajs used. */
const normHeaders = headers => {
  const out = {}
  for (const [k, v] of Object.entries(headers || {})) {
    out[k] = (Array.isArray(v) ? v : [v]).map(x => Buffer.from(x))
  }
  return out
}

async function produceConsume(bootstrap, codec) {
  const compression = CODECS[codec]
  check.that(compression !== undefined, `unknown codec ${codec}`)
  const kafka = makeKafka(bootstrap)
  const topic = topicName(`pc-${codec}`)
  await using(kafka.admin(), admin => createTopic(admin, topic, 2))

  const baseTs = Math.floor(Date.now() / 1000) * 1000 - 60000
  const msgs = messages(baseTs)
  // Expected placement: keyed records by murmur2 (Java-compatible), the rest as pinned; two
  // sends (30 + 30), each one request with one batch per partition.
  const next = [0, 0]
  const expected = new Map() // "p@o" → message
  const firstOffsets = []
  for (const [i, m] of msgs.entries()) {
    const p = m.key === null ? m.partition : partitionOfKey(m.key, 2)
    if (i === 0 || i === 30) firstOffsets.push([...next])
    expected.set(`${p}@${next[p]}`, { ...m, index: i })
    next[p]++
  }
  check.that(next[0] > 0 && next[1] > 0, `all records on one partition: ${next}`)

  const t0 = Date.now()
  await using(kafka.producer(producerOptions({ idempotent: true, maxInFlightRequests: 1 })), async producer => {
    for (const [n, chunk] of [msgs.slice(0, 30), msgs.slice(30)].entries()) {
      const res = await producer.send({ topic, acks: -1, compression, messages: chunk })
      const got = byPartition(res).map(r => ({ partition: r.partition, errorCode: r.errorCode, baseOffset: r.baseOffset }))
      const want = [0, 1]
        .filter(p => chunk.some(m => (m.key === null ? m.partition : partitionOfKey(m.key, 2)) === p))
        .map(p => ({ partition: p, errorCode: 0, baseOffset: String(firstOffsets[n][p]) }))
      check.eq(`[${codec}] send #${n + 1} (idempotent, acks=-1): per-partition base offsets`, want, got)
    }
  })
  const t1 = Date.now()
  check.ok(`[${codec}] idempotent producer sent 60 records in 2 requests: base offsets ${show(firstOffsets)}, ` +
    `counts per partition ${show(next)} (keys on murmur2(key) % 2)`)

  const got = []
  const consumer = kafka.consumer({ groupId: groupName(`pc-${codec}`), maxWaitTimeInMs: 100 })
  await using(consumer, async () => {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        got.push({ partition, offset: Number(message.offset), key: message.key, value: message.value,
          headers: message.headers, timestamp: message.timestamp })
      },
    })
    await waitFor(`60 records (have ${got.length})`, () => got.length >= 60)
    await sleep(300) // anything beyond the 60 would show up now
  })
  check.eq(`[${codec}] records read`, 60, got.length)
  const last = [-1, -1]
  for (const r of got) {
    const where = `[${codec}] record ${r.partition}@${r.offset}`
    check.eq(`${where}: offset after ${last[r.partition]}`, last[r.partition] + 1, r.offset)
    last[r.partition] = r.offset
    const m = expected.get(`${r.partition}@${r.offset}`)
    check.that(m, `${where}: not expected there`)
    check.eq(`${where}: key`, m.key === null ? null : Buffer.from(m.key), r.key)
    check.eq(`${where}: value`, m.value === null ? null : Buffer.from(m.value), r.value)
    check.eq(`${where}: headers`, normHeaders(m.headers), normHeaders(r.headers))
    if (m.timestamp) check.eq(`${where}: timestamp`, m.timestamp, r.timestamp)
    else check.that(Number(r.timestamp) >= t0 - 1 && Number(r.timestamp) <= t1 + 1, `${where}: timestamp ${r.timestamp} not in [${t0}, ${t1}]`)
  }
  check.ok(`[${codec}] a group consumer read all 60 back from the beginning: keys, values (incl. tombstones), headers ` +
    '(repeated, empty, binary), timestamps identical, offsets contiguous from 0 per partition in send order')

  await using(kafka.admin(), async admin => {
    const offsets = byPartition(await admin.fetchTopicOffsets(topic))
    check.eq(`[${codec}] fetchTopicOffsets`, [0, 1].map(p => ({ partition: p, offset: String(next[p]), high: String(next[p]), low: '0' })), offsets)
  })
  check.ok(`[${codec}] fetchTopicOffsets: low 0, high = counts ${show(next)}`)
}

// ----------------------------------------------------------------------------- list_offsets

async function listOffsets(bootstrap) {
  const kafka = makeKafka(bootstrap)
  const topic = topicName('offsets')
  const t = Math.floor(Date.now() / 1000) * 1000 - 3600000
  await using(kafka.admin(), async admin => {
    await createTopic(admin, topic, 2)
    await using(kafka.producer(producerOptions()), async producer => {
      const batches = [range(0, 5), range(5, 10), [10]]
      for (const [n, offsets] of batches.entries()) {
        const res = await producer.send({
          topic,
          acks: -1,
          messages: offsets.map(i => ({ partition: 0, key: `k${i}`, value: `v${i}`, timestamp: String(i < 10 ? t + i * 1000 : t + 2500) })),
        })
        check.eq(`send #${n + 1}: base offset`, [{ partition: 0, errorCode: 0, baseOffset: String(offsets[0]) }],
          res.map(r => ({ partition: r.partition, errorCode: r.errorCode, baseOffset: r.baseOffset })))
      }
    })
    check.ok(`produced offsets 0-4, 5-9 (T+0s..T+9s) and 10 (T+2.5s, out of order) to partition 0 in 3 batches (T=${t})`)

    check.eq('fetchTopicOffsets', [
      { partition: 0, offset: '11', high: '11', low: '0' },
      { partition: 1, offset: '0', high: '0', low: '0' },
    ], byPartition(await admin.fetchTopicOffsets(topic)))
    check.ok('fetchTopicOffsets: partition 0 low 0 high 11, partition 1 low 0 high 0')

    // kafkajs answers the high watermark where no record has a timestamp >= the query.
    const cases = [
      [t - 5000, '0'], [t, '0'], [t + 2500, '3'], [t + 3000, '3'], [t + 3500, '4'], [t + 5000, '5'],
      [t + 9000, '9'], [t + 9001, '11'],
    ]
    for (const [ts, offset] of cases) {
      check.eq(`fetchTopicOffsetsByTimestamp(T${ts - t >= 0 ? '+' : ''}${ts - t})`,
        [{ partition: 0, offset }, { partition: 1, offset: '0' }],
        byPartition(await admin.fetchTopicOffsetsByTimestamp(topic, ts)))
    }
    check.ok('fetchTopicOffsetsByTimestamp: before/at/between/across batches/out-of-order/past the end ' +
      '(→ high watermark), and the empty partition (→ 0), all exact')
  })
}

// ------------------------------------------------------------------------------------ group

async function group(bootstrap) {
  const kafka = makeKafka(bootstrap)
  const topic = topicName('group')
  const groupId = groupName('group')
  const admin = kafka.admin()
  await admin.connect()
  const producer = kafka.producer(producerOptions())
  await producer.connect()
  const members = []
  try {
    await createTopic(admin, topic, 2)

    const start = async name => {
      const consumer = makeKafka(bootstrap, `gregor-compat-kafkajs-${name}`).consumer({
        groupId, sessionTimeout: 6000, heartbeatInterval: 1000, rebalanceTimeout: 10000, maxWaitTimeInMs: 100,
      })
      const m = { name, consumer, got: [], memberId: null, assignment: null, open: true }
      consumer.on(consumer.events.GROUP_JOIN, e => {
        m.memberId = e.payload.memberId
        m.assignment = [...(e.payload.memberAssignment[topic] || [])].sort()
      })
      await consumer.connect()
      await consumer.subscribe({ topic, fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          m.got.push({ partition, offset: Number(message.offset), value: message.value.toString() })
        },
      })
      members.push(m)
      return m
    }
    const live = () => members.filter(m => m.open)
    const state = () => show(live().map(m => ({ name: m.name, memberId: m.memberId, assignment: m.assignment, got: m.got.length })))

    /** The broker says Stable with exactly the live members, and each client saw its assignment. */
    const awaitStable = what => waitFor(what, async () => {
      const { groups: [g] } = await admin.describeGroups([groupId])
      if (g.state !== 'Stable' || g.members.length !== live().length) return false
      const byId = {}
      for (const gm of g.members) {
        const decoded = AssignerProtocol.MemberAssignment.decode(gm.memberAssignment)
        byId[gm.memberId] = [...((decoded && decoded.assignment[topic]) || [])].sort()
      }
      return live().every(m => m.memberId in byId && show(byId[m.memberId]) === show(m.assignment)) && g
    }, { interval: 200, state })

    const produce = async (from, count) => {
      await producer.send({
        topic,
        acks: -1,
        messages: [0, 1].flatMap(p => range(from, from + count).map(i => ({ partition: p, key: `key-${i}`, value: `${p}/${i}` }))),
      })
    }
    const offsetsRead = m => {
      const out = {}
      for (const r of m.got) {
        check.eq(`value at ${r.partition}@${r.offset}`, `${r.partition}/${r.offset}`, r.value)
        ;(out[r.partition] = out[r.partition] || []).push(r.offset)
      }
      return out
    }
    const committed = async () => {
      const [res] = await admin.fetchOffsets({ groupId, topics: [topic] })
      return byPartition(res.partitions).map(p => [p.partition, p.offset])
    }

    // ------------------------------------------------------------------ three join
    await Promise.all(['a', 'b', 'c'].map(start))
    const g1 = await awaitStable('a stable group of 3')
    const active = live().filter(m => m.assignment.length > 0)
    const idle = live().filter(m => m.assignment.length === 0)
    check.eq('members with partitions when 3 joined', 2, active.length)
    check.eq('assignments of the active members', [[0], [1]], active.map(m => m.assignment).sort())
    check.eq('idle members', 1, idle.length)
    const owner0 = active.find(m => m.assignment.includes(0))
    const owner1 = active.find(m => m.assignment.includes(1))
    const spare = idle[0]
    check.eq('describeGroups: protocol type', 'consumer', g1.protocolType)
    check.ok(`3 consumers joined ${groupId} (describeGroups Stable, 3 members, protocol ${g1.protocol}): ` +
      `${owner0.name} has p0, ${owner1.name} has p1, ${spare.name} none`)

    await produce(0, 10)
    await waitFor('10 records each on p0 and p1', () => owner0.got.length >= 10 && owner1.got.length >= 10, { state })
    await sleep(300)
    check.eq(`${owner0.name} read`, { 0: range(0, 10) }, offsetsRead(owner0))
    check.eq(`${owner1.name} read`, { 1: range(0, 10) }, offsetsRead(owner1))
    check.eq(`${spare.name} (idle) read`, {}, offsetsRead(spare))
    check.ok(`records produced after the join: ${owner0.name} read p0 offsets 0..9, ${owner1.name} p1 0..9, ${spare.name} nothing`)

    await owner0.consumer.commitOffsets([{ topic, partition: 0, offset: '7' }])
    await owner1.consumer.commitOffsets([{ topic, partition: 1, offset: '3' }])
    check.eq('committed offsets (admin fetchOffsets)', [[0, '7'], [1, '3']], await committed())
    check.ok('commitOffsets p0=7, p1=3; admin fetchOffsets agrees')

    // ------------------------------------------------------------------ one leaves
    for (const m of live()) m.got.length = 0
    await owner0.consumer.disconnect()
    owner0.open = false
    await awaitStable(`a stable group of 2 after ${owner0.name} left`)
    for (const m of live()) check.eq(`${m.name}'s partitions after the rebalance`, 1, m.assignment.length)
    const newOwner0 = live().find(m => m.assignment.includes(0))
    const newOwner1 = live().find(m => m.assignment.includes(1))
    check.ok(`${owner0.name} left: ${newOwner0.name} has p0, ${newOwner1.name} has p1 (${spare.name} got one)`)

    await waitFor('p0 from 7 and p1 from 3', () => newOwner0.got.length >= 3 && newOwner1.got.length >= 7, { state })
    await sleep(300)
    check.eq(`${newOwner0.name} read after the rebalance`, { 0: range(7, 10) }, offsetsRead(newOwner0))
    check.eq(`${newOwner1.name} read after the rebalance`, { 1: range(3, 10) }, offsetsRead(newOwner1))
    check.ok(`after the rebalance ${newOwner0.name} resumed p0 at the committed 7, ${newOwner1.name} p1 at the committed 3`)

    await newOwner0.consumer.commitOffsets([{ topic, partition: 0, offset: '10' }])
    await newOwner1.consumer.commitOffsets([{ topic, partition: 1, offset: '10' }])
    check.eq('committed offsets', [[0, '10'], [1, '10']], await committed())
    check.ok('commitOffsets p0=10, p1=10')

    // ------------------------------------------------------------------ a new consumer resumes
    for (const m of live()) {
      await m.consumer.disconnect()
      m.open = false
    }
    await produce(10, 4)
    const late = await start('d')
    await awaitStable('the new member alone')
    check.eq("the new member's partitions", [0, 1], late.assignment)
    await waitFor('8 new records', () => late.got.length >= 8, { state })
    await sleep(300)
    check.eq('the new member read', { 0: range(10, 14), 1: range(10, 14) }, offsetsRead(late))
    check.ok('a new consumer in the group got p0 and p1 and read exactly offsets 10..13 of each')
  } finally {
    for (const m of members) if (m.open) await m.consumer.disconnect().catch(() => {})
    await producer.disconnect().catch(() => {})
    await admin.disconnect().catch(() => {})
  }
}

// ------------------------------------------------------------------------------------ admin

async function adminScenario(bootstrap) {
  const kafka = makeKafka(bootstrap)
  const t1 = topicName('admin1')
  const t2 = topicName('admin2')
  const groupId = groupName('admin')
  await using(kafka.admin(), async admin => {
    const meta = async topics => Object.fromEntries((await admin.fetchTopicMetadata({ topics })).topics
      .map(t => [t.name, t.partitions.map(p => p.partitionId).sort()]))

    // ---------------------------------------------------------------- topics
    check.eq('createTopics', true, await admin.createTopics({
      topics: [{ topic: t1, numPartitions: 1, replicationFactor: 1 }, { topic: t2, numPartitions: 2, replicationFactor: 1 }],
      waitForLeaders: true,
      timeout: TIMEOUT,
    }))
    check.eq('fetchTopicMetadata', { [t1]: [0], [t2]: [0, 1] }, await meta([t1, t2]))
    check.ok(`createTopics ${t1} (1 partition), ${t2} (2); fetchTopicMetadata agrees`)

    await admin.createPartitions({ topicPartitions: [{ topic: t1, count: 3 }], timeout: TIMEOUT })
    await waitFor(`${t1} with 3 partitions`, async () => (await meta([t1]))[t1].length === 3)
    await check.rejects('createPartitions 3 → 2', 'INVALID_PARTITIONS',
      admin.createPartitions({ topicPartitions: [{ topic: t1, count: 2 }], timeout: TIMEOUT }))
    check.ok('createPartitions 1 → 3 (metadata shows 3); 3 → 2 → INVALID_PARTITIONS (37)')

    // ---------------------------------------------------------------- a live group
    await using(kafka.producer(producerOptions()), producer => producer.send({
      topic: t2, acks: -1, messages: range(0, 5).map(i => ({ partition: i < 3 ? 0 : 1, value: `r${i}` })),
    }))
    const consumer = makeKafka(bootstrap, 'gregor-compat-kafkajs-admin-member').consumer({
      groupId, sessionTimeout: 6000, heartbeatInterval: 1000, maxWaitTimeInMs: 100,
    })
    let memberId = null
    consumer.on(consumer.events.GROUP_JOIN, e => { memberId = e.payload.memberId })
    const got = []
    await using(consumer, async () => {
      await consumer.subscribe({ topic: t2, fromBeginning: true })
      await consumer.run({ autoCommit: false, eachMessage: async ({ partition, message }) => { got.push([partition, message.offset]) } })
      await waitFor('5 records', () => got.length >= 5)
      await consumer.commitOffsets([{ topic: t2, partition: 0, offset: '3' }, { topic: t2, partition: 1, offset: '2' }])
      check.ok(`a consumer in group ${groupId} read the 5 records of ${t2} and committed p0=3, p1=2`)

      const { groups } = await admin.listGroups()
      check.eq('listGroups entry', [{ groupId, protocolType: 'consumer' }], groups.filter(g => g.groupId === groupId))
      const { groups: [g] } = await waitFor('describeGroups: Stable', async () => {
        const d = await admin.describeGroups([groupId])
        return d.groups[0].state === 'Stable' && d
      })
      check.eq('describeGroups: error code', 0, g.errorCode)
      check.eq('describeGroups: protocol type', 'consumer', g.protocolType)
      check.eq('describeGroups: protocol', 'RoundRobinAssigner', g.protocol)
      check.eq('describeGroups: member ids', [memberId], g.members.map(m => m.memberId))
      const [m] = g.members
      check.eq('describeGroups: member client id', 'gregor-compat-kafkajs-admin-member', m.clientId)
      check.that(m.clientHost && m.clientHost.length > 0, 'describeGroups: empty member host')
      const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
      check.eq('describeGroups: member assignment', { [t2]: [0, 1] },
        Object.fromEntries(Object.entries(assignment.assignment).map(([k, v]) => [k, [...v].sort()])))
      const subscription = AssignerProtocol.MemberMetadata.decode(m.memberMetadata)
      check.eq('describeGroups: member subscription', [t2], subscription.topics)
      check.ok(`listGroups has ${groupId} (consumer); describeGroups: Stable, RoundRobinAssigner, 1 member ` +
        `(${m.clientId}, ${m.clientHost}) assigned ${t2} [0, 1], subscribed to ${t2}`)

      await check.rejects('deleteGroups of a group with a member', 'NON_EMPTY_GROUP', admin.deleteGroups([groupId]))
      check.ok('deleteGroups while a member is in → NON_EMPTY_GROUP (68)')
      await check.rejects('resetOffsets of a group with a member', 'KafkaJSNonRetriableError',
        admin.resetOffsets({ groupId, topic: t2, earliest: true }))
      check.ok('resetOffsets while a member is in → refused by kafkajs (group not Empty)')
    })
    const offsets = async () => {
      const [res] = await admin.fetchOffsets({ groupId, topics: [t2] })
      check.eq('fetchOffsets topic', t2, res.topic)
      return byPartition(res.partitions).map(p => [p.partition, p.offset])
    }
    check.eq('fetchOffsets', [[0, '3'], [1, '2']], await offsets())
    check.ok('fetchOffsets: p0=3, p1=2')

    // ---------------------------------------------------------------- the group, empty
    const { groups: [empty] } = await admin.describeGroups([groupId])
    check.eq('describeGroups after the member left: state, members', ['Empty', 0], [empty.state, empty.members.length])
    check.ok('after the member left: describeGroups says Empty, no members')

    // kafkajs commits the sentinels -2 (earliest) / -1 (latest) as they are; fetchOffsets with
    // resolveOffsets turns them into real offsets (ListOffsets) and commits those with
    // setOffsets. (Each reset/set joins the group with a paused consumer: ~5 s in kafkajs.)
    await admin.resetOffsets({ groupId, topic: t2, earliest: true })
    check.eq('fetchOffsets after resetOffsets(earliest)', [[0, '-2'], [1, '-2']], await offsets())
    check.eq('fetchOffsets(resolveOffsets) after resetOffsets(earliest)', [[0, '0'], [1, '0']],
      byPartition((await admin.fetchOffsets({ groupId, topics: [t2], resolveOffsets: true }))[0].partitions)
        .map(p => [p.partition, p.offset]))
    check.eq('fetchOffsets after resolving (setOffsets)', [[0, '0'], [1, '0']], await offsets())
    check.ok('resetOffsets(earliest) → -2, -2; fetchOffsets(resolveOffsets) → 0, 0, committed through setOffsets')

    check.eq('deleteGroups', [{ groupId, errorCode: 0 }],
      (await admin.deleteGroups([groupId])).map(r => ({ groupId: r.groupId, errorCode: r.errorCode })))
    check.that(!(await admin.listGroups()).groups.some(g => g.groupId === groupId), 'listGroups still has the deleted group')
    check.eq('fetchOffsets of the deleted group', [[0, '-1'], [1, '-1']], await offsets())
    await check.rejects('deleteGroups of a deleted group', 'GROUP_ID_NOT_FOUND', admin.deleteGroups([groupId]))
    check.ok('deleteGroups → error code 0; gone from listGroups, offsets -1; again → GROUP_ID_NOT_FOUND (69)')

    // ---------------------------------------------------------------- delete topics
    await admin.deleteTopics({ topics: [t1, t2], timeout: TIMEOUT })
    await waitFor('both topics gone from listTopics', async () => {
      const names = await admin.listTopics()
      return !names.includes(t1) && !names.includes(t2)
    })
    // kafkajs retries UNKNOWN_TOPIC_OR_PARTITION on DeleteTopics: ask once, through a client without retries.
    await using(makeKafka(bootstrap, 'gregor-compat-kafkajs', { retries: 0 }).admin(), once =>
      check.rejects('deleteTopics of a deleted topic', 'UNKNOWN_TOPIC_OR_PARTITION', once.deleteTopics({ topics: [t1], timeout: TIMEOUT })))
    check.ok('deleteTopics: both gone from listTopics; again → UNKNOWN_TOPIC_OR_PARTITION (3)')
  })
}

// ---------------------------------------------------------------------------------- configs

/** Topic and broker configs: DescribeConfigs and AlterConfigs. */
async function configs(bootstrap) {
  const kafka = makeKafka(bootstrap)
  const topic = topicName('configs')
  await using(kafka.admin(), async admin => {
    check.eq('createTopics with configs', true, await admin.createTopics({
      topics: [{
        topic, numPartitions: 1, replicationFactor: 1,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'retention.ms', value: '3600000' }],
      }],
      waitForLeaders: true,
      timeout: TIMEOUT,
    }))
    check.ok(`createTopics ${topic} with cleanup.policy=compact, retention.ms=3600000`)

    const describe = async (type, name) => {
      const { resources: [r] } = await admin.describeConfigs({ resources: [{ type, name }], includeSynonyms: false })
      check.eq(`describeConfigs ${name}: error code`, 0, r.errorCode)
      return Object.fromEntries(r.configEntries.map(e => [e.configName, e]))
    }
    const entry = (cfg, name) => cfg[name] && [cfg[name].configValue, cfg[name].isDefault, cfg[name].configSource]
    let cfg = await describe(ConfigResourceTypes.TOPIC, topic)
    check.eq('cleanup.policy [value, isDefault, source]', ['compact', false, ConfigSource.TOPIC_CONFIG], entry(cfg, 'cleanup.policy'))
    check.eq('retention.ms [value, isDefault, source]', ['3600000', false, ConfigSource.TOPIC_CONFIG], entry(cfg, 'retention.ms'))
    check.that(cfg['max.message.bytes'] && cfg['max.message.bytes'].isDefault, `max.message.bytes: ${show(cfg['max.message.bytes'])}`)
    check.ok(`describeConfigs ${topic}: cleanup.policy=compact, retention.ms=3600000 (topic configs), max.message.bytes a default`)

    // AlterConfigs replaces every dynamic config of the resource: cleanup.policy falls back to its default.
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic,
      configEntries: [{ name: 'retention.ms', value: '7200000' }] }] })
    cfg = await describe(ConfigResourceTypes.TOPIC, topic)
    check.eq('retention.ms after alterConfigs', ['7200000', false, ConfigSource.TOPIC_CONFIG], entry(cfg, 'retention.ms'))
    check.eq('cleanup.policy after alterConfigs [value, isDefault]', ['delete', true], entry(cfg, 'cleanup.policy').slice(0, 2))
    check.ok('alterConfigs retention.ms=7200000 (replacing all): describeConfigs shows it, cleanup.policy back to delete')

    const { brokers: [b] } = await admin.describeCluster()
    const brokerCfg = await describe(ConfigResourceTypes.BROKER, String(b.nodeId))
    check.that(Object.keys(brokerCfg).length > 10, `broker ${b.nodeId} describes only ${Object.keys(brokerCfg).length} configs`)
    check.that(brokerCfg['num.partitions'], 'broker configs lack num.partitions')
    check.ok(`describeConfigs of broker ${b.nodeId}: ${Object.keys(brokerCfg).length} configs, num.partitions=${brokerCfg['num.partitions'].configValue}`)
  })
}

// ---------------------------------------------------------------------- reject_lz4_dependent

/**
 * A batch whose LZ4 frame does not declare independent blocks (lz4js's own output) cannot be
 * read by Kafka's decompressor (Java's Lz4BlockInputStream: "Dependent block stream is
 * unsupported"). Kafka decompresses every compressed batch on append and refuses it; a broker
 * that stores it hands every Java consumer a batch it cannot read.
 */
async function rejectLz4Dependent(bootstrap) {
  const kafka = makeKafka(bootstrap, 'gregor-compat-kafkajs', { retries: 0 })
  const topic = topicName('lz4dep')
  await using(kafka.admin(), async admin => {
    await createTopic(admin, topic, 1)
    CompressionCodecs[CompressionTypes.LZ4] = RawLz4jsCodec
    await using(kafka.producer(producerOptions()), async producer => {
      let result
      try {
        result = await producer.send({ topic, acks: -1, compression: CompressionTypes.LZ4, messages: [{ key: 'k', value: 'v' }] })
      } catch (e) {
        check.ok(`Produce of an LZ4 batch with a dependent-block frame refused: ${e.type || e.name} (${e.code ?? '-'}) ${e.message}`)
        return
      }
      throw new CheckFailure(`the broker accepted an LZ4 frame Kafka's decompressor cannot read: ${show(result)}`)
    })
    check.eq('fetchTopicOffsets after the refused batch', [{ partition: 0, offset: '0', high: '0', low: '0' }],
      await admin.fetchTopicOffsets(topic))
    check.ok('nothing was appended (high watermark 0)')
  })
}

module.exports = {
  metadata,
  produce_consume: produceConsume,
  list_offsets: listOffsets,
  group,
  admin: adminScenario,
  configs,
  reject_lz4_dependent: rejectLz4Dependent,
}
