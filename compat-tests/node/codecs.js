'use strict'
// Compression codecs for kafkajs, which has only gzip built in. Every one is pure JavaScript or
// WebAssembly, so `npm ci` needs no compiler: snappy through kafkajs-snappy (snappyjs, the
// codec kafkajs documents), LZ4 through lz4js (LZ4 frame format, what Kafka's magic-v2 batches
// use), zstd through zstd-codec (libzstd compiled to WebAssembly).
const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4js')
const xxh32 = require('lz4js/xxh32')
const { ZstdCodec } = require('zstd-codec')

// lz4js writes one frame whose descriptor leaves the block-independence flag clear, which
// Kafka refuses ("Dependent block stream is unsupported"). With a single block (input up to
// the 4 MiB default block size, far above a request's size) the block depends on nothing, so
// set the flag and recompute the header checksum: a frame like Kafka's own.
const LZ4_BLOCK_MAX = 4 << 20
const FLG_BLOCK_INDEPENDENT = 0x20
const LZ4Codec = () => ({
  async compress(encoder) {
    const src = encoder.buffer
    if (src.length > LZ4_BLOCK_MAX) throw new Error(`lz4: ${src.length} bytes exceed one ${LZ4_BLOCK_MAX}-byte block`)
    const frame = Buffer.from(lz4.compress(src))
    frame[4] |= FLG_BLOCK_INDEPENDENT // FLG; BD is frame[5], the header checksum frame[6]
    frame[6] = (xxh32.hash(0, frame, 4, 2) >>> 8) & 0xff
    return frame
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

/** lz4js's own frames, flag as written (blocks may depend on each other): what Kafka refuses. */
const RawLz4jsCodec = () => ({
  async compress(encoder) {
    return Buffer.from(lz4.compress(encoder.buffer))
  },
  async decompress(buffer) {
    return Buffer.from(lz4.decompress(buffer))
  },
})

module.exports = { CODECS, RawLz4jsCodec }
