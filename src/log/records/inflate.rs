//! Decompressing a whole payload of one of Kafka's codecs (the client telemetry of KIP-714)
//! into memory, bounded: the output stops at `limit` bytes, so a small hostile payload cannot
//! expand into a large allocation. The same readers as the record walker's.

use super::source::{ReadSource, SnappySource, Source};
use super::{GZIP, LZ4, NONE, SNAPPY, ZSTD, ZSTD_WINDOW_LOG_MAX};

/// Why a payload could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// It decompresses to more than the limit.
    TooLarge,
    /// Not a codec Kafka has.
    UnknownCodec(i8),
    Corrupt(String),
}

const CHUNK: usize = 16 * 1024;

/// `data` compressed with Kafka's codec id `codec` (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
/// decompressed; at most `limit` bytes.
pub fn inflate(codec: i8, data: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let corrupt = |e: crate::log::batch::BatchError| InflateError::Corrupt(e.to_string());
    let unbounded = u64::MAX;
    match u8::try_from(codec).unwrap_or(u8::MAX) {
        NONE if data.len() > limit => Err(InflateError::TooLarge),
        NONE => Ok(data.to_vec()),
        GZIP => drain(
            &mut ReadSource::new(flate2::bufread::GzDecoder::new(data), unbounded),
            limit,
        ),
        SNAPPY => drain(&mut SnappySource::new(data).map_err(corrupt)?, limit),
        LZ4 => {
            let decoder =
                lz4::Decoder::new(data).map_err(|e| InflateError::Corrupt(e.to_string()))?;
            drain(&mut ReadSource::new(decoder, unbounded), limit)
        }
        ZSTD => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(data)
                .map_err(|e| InflateError::Corrupt(e.to_string()))?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| InflateError::Corrupt(e.to_string()))?;
            drain(&mut ReadSource::new(decoder, unbounded), limit)
        }
        _ => Err(InflateError::UnknownCodec(codec)),
    }
}

fn drain(source: &mut impl Source, limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    loop {
        let chunk = source
            .chunk(CHUNK)
            .map_err(|e| InflateError::Corrupt(e.to_string()))?;
        if chunk.is_empty() {
            return Ok(out);
        }
        if out.len() + chunk.len() > limit {
            return Err(InflateError::TooLarge);
        }
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_codec_round_trips_within_the_limit() {
        let data = b"otlp metrics payload ".repeat(100);
        let zstd = zstd::encode_all(&data[..], 3).unwrap();
        let snappy = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut lz4 = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        lz4.write_all(&data).unwrap();
        let (lz4, done) = lz4.finish();
        done.unwrap();
        for (codec, payload) in [
            (0, data.clone()),
            (1, gzip(&data)),
            (2, snappy),
            (3, lz4),
            (4, zstd),
        ] {
            assert_eq!(
                inflate(codec, &payload, data.len()).unwrap(),
                data,
                "codec {codec}"
            );
            assert_eq!(
                inflate(codec, &payload, data.len() - 1),
                Err(InflateError::TooLarge),
                "codec {codec}"
            );
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit_and_garbage_is_refused() {
        let bomb = zstd::encode_all(&vec![0u8; 16 << 20][..], 3).unwrap();
        assert!(bomb.len() < 1 << 20);
        assert_eq!(inflate(4, &bomb, 1 << 20), Err(InflateError::TooLarge));
        assert!(matches!(
            inflate(1, b"not gzip", 1024),
            Err(InflateError::Corrupt(_))
        ));
        assert!(matches!(
            inflate(4, b"not zstd", 1024),
            Err(InflateError::Corrupt(_))
        ));
        assert_eq!(inflate(9, b"x", 1024), Err(InflateError::UnknownCodec(9)));
    }
}
