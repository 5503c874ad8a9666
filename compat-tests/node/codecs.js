'use strict'
// Compression codecs for kafkajs, which has only gzip built in. Every one is pure JavaScript or
// WebAssembly, so `npm ci` needs no compiler: snappy through kafkajs-snappy (snappyjs, the
// codec kafkajs documents), LZ4 through lz4js (LZ4 frame format, what Kafka's magic-v2 batches
// use), zstd through zstd-codec (libzstd compiled to WebAssembly).
const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4js')
const { ZstdCodec } = require('zstd-codec')

const LZ4Codec = () => ({
  async compress(encoder) {
    return Buffer.from(lz4.compress(encoder.buffer))
  },
  async decompress(buffer) {
    return Buffer.from(lz4.decompress(buffer))
  },
})

let zstdBinding = null
const zstd = () => {
  if (!zstdBinding) zstdBinding = new Promise(resolve => ZstdCodec.run(binding => resolve(binding)))
  return zstdBinding
}

const ZstdKafkaCodec = () => ({
  async compress(encoder) {
    const z = await zstd()
    return Buffer.from(new z.Simple().compress(encoder.buffer, 3))
  },
  async decompress(buffer) {
    const z = await zstd()
    // Streaming: frames written by other clients need not carry their content size.
    const out = new z.Streaming().decompress(buffer)
    if (!out) throw new Error('zstd: cannot decompress')
    return Buffer.from(out)
  },
})

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = LZ4Codec
CompressionCodecs[CompressionTypes.ZSTD] = ZstdKafkaCodec

const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

module.exports = { CODECS }
