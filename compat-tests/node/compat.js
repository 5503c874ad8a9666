#!/usr/bin/env node
'use strict'
// The kafkajs part of gregor's compatibility suite:
//
//   node compat.js kafkajs SCENARIO HOST:PORT
//
// runs one scenario against one broker, prints each thing it checked, and exits 0 when every
// check held, 1 with a "FAIL:" line when one did not, 2 on bad usage, 3 when the run took longer
// than its deadline (COMPAT_DEADLINE seconds, default 120).
//
// Scenarios: metadata, produce_consume (every codec) or produce_consume:CODEC
// (none|gzip|snappy|lz4|zstd), list_offsets, group, admin, configs, reject_lz4_dependent. Topic and group names carry a
// random suffix, so scenarios can run again and side by side against the same broker.
const { CODECS } = require('./codecs')
const scenarios = require('./scenarios')
const { CheckFailure } = require('./lib')

async function main(argv) {
  const [client, scenario, bootstrap] = argv
  const usage = `usage: node compat.js kafkajs SCENARIO HOST:PORT\n  scenarios: ${Object.keys(scenarios).join(', ')}, ` +
    `produce_consume:CODEC (${Object.keys(CODECS).join('|')})`
  const [name, param] = (scenario || '').split(':', 2)
  if (argv.length !== 3 || client !== 'kafkajs' || !scenarios[name] || (param !== undefined && name !== 'produce_consume') ||
      (param !== undefined && !(param in CODECS)) || !/^.+:\d+$/.test(bootstrap)) {
    console.error(usage)
    return 2
  }
  const deadline = parseFloat(process.env.COMPAT_DEADLINE || '120')
  setTimeout(() => {
    console.log(`FAIL: kafkajs ${scenario}: still running after ${deadline} s (COMPAT_DEADLINE)`)
    process.exit(3)
  }, deadline * 1000).unref()

  const t0 = Date.now()
  try {
    if (name === 'produce_consume') {
      for (const codec of param ? [param] : Object.keys(CODECS)) await scenarios.produce_consume(bootstrap, codec)
    } else {
      await scenarios[name](bootstrap)
    }
    console.log(`PASS: kafkajs ${scenario} against ${bootstrap} (${Date.now() - t0} ms)`)
    return 0
  } catch (e) {
    if (!(e instanceof CheckFailure)) console.error(e)
    const what = e instanceof CheckFailure ? e.message : `${e.name}: ${e.message}${e.type ? ` (type ${e.type})` : ''}`
    console.log(`FAIL: kafkajs ${scenario} against ${bootstrap}: ${what}`)
    return 1
  }
}

main(process.argv.slice(2)).then(
  code => process.exit(code),
  e => {
    console.error(e)
    process.exit(1)
  }
)
