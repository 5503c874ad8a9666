//! Entry points for the fuzz targets in fuzz/ (cargo-fuzz; the third, recover_segment, calls
//! `log::fuzz_recover`), and the replay of their committed
//! corpora under `cargo test`, so the same inputs are checked on every run without a nightly
//! toolchain. Each function takes arbitrary bytes and must neither panic nor allocate beyond
//! what its input can justify.

use bytes::Bytes;
use kafka_protocol::messages::RequestKind;

use crate::api::{parse_request, Parsed};
use crate::log::records::{validate_batch as validate, Rules};

/// CRC32C and batch length of a v2 batch are fixed up first (when there is a header), so the
/// fuzzer reaches the record walk instead of stopping at a wrong checksum.
pub fn batch_with_fixed_crc(data: &[u8]) -> Vec<u8> {
    let mut batch = data.to_vec();
    if batch.len() >= crate::log::batch::HEADER_LEN {
        let length = (batch.len() - crate::log::batch::LOG_OVERHEAD) as i32;
        batch[8..12].copy_from_slice(&length.to_be_bytes());
        let crc = crate::log::batch::compute_crc(&batch);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    batch
}

/// What a producer sent for one partition, validated as Produce does (Kafka's default topic
/// rules, timestamps unbounded so the corpus does not age). A batch that passes must be readable by a Kafka consumer: here, by
/// kafka-protocol's decoder, with exactly the records its header counts.
pub fn validate_batch(data: &[u8]) -> bool {
    let batch = batch_with_fixed_crc(data);
    let rules = Rules {
        timestamp_after_max_ms: i64::MAX,
        ..Rules::defaults(0)
    };
    let Ok(header) = validate(&batch, &rules) else {
        return false;
    };
    let mut bytes = Bytes::from(batch);
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes)
        .unwrap_or_else(|e| panic!("an accepted batch does not decode: {e:#}"));
    let records: usize = sets.iter().map(|s| s.records.len()).sum();
    assert_eq!(records as i64, i64::from(header.records_count));
    true
}

/// A request frame (without its length prefix) as the connection hands it to dispatch: the
/// header is read and checked against the API table, then the body decoded as that API's
/// request. Returns whether it decoded.
pub fn decode_request(frame: &[u8]) -> bool {
    let mut frame = Bytes::copy_from_slice(frame);
    match parse_request(&mut frame) {
        Parsed::Request { api, version, .. } => {
            RequestKind::decode(api.key, &mut frame, version).is_ok()
        }
        Parsed::UnsupportedApiVersions { .. } | Parsed::Refused(_) => false,
    }
}

/// What an MQTT client sends on a connection (`--mqtt-listen`): decoded as the listener does,
/// with a 64 KiB packet limit. Returns how many packets decoded.
pub fn decode_mqtt(data: &[u8]) -> usize {
    crate::mqtt::decode_client_bytes(data, 64 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let data = std::fs::read(&p).unwrap();
                (p, data)
            })
            .collect()
    }

    /// The committed corpus holds real clients' requests (fuzz/README.md): each still decodes.
    #[test]
    fn real_client_requests_decode() {
        let frames = corpus("decode_request");
        assert!(frames.len() >= 100, "corpus too small: {}", frames.len());
        let decoded = frames.iter().filter(|(_, f)| decode_request(f)).count();
        // A few entries are the fuzzer's own (malformed) finds; the clients' requests decode.
        assert!(
            decoded * 10 >= frames.len() * 9,
            "only {decoded} of {} corpus requests decode",
            frames.len()
        );
    }

    /// Every 32-bit field of every real request set to the largest count, and every position
    /// given a 5-byte varint of 2^32-1: decoding fails or succeeds, and never allocates what the
    /// count says (an unguarded decoder aborts the test process here).
    #[test]
    fn huge_lengths_anywhere_are_refused_without_allocating() {
        for (path, frame) in corpus("decode_request") {
            for at in 4..frame.len() {
                let mut f = frame.clone();
                let end = (at + 4).min(f.len());
                f[at..end].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff][..end - at]);
                decode_request(&f);
                let mut f = frame.clone();
                f.splice(at..at + 1, [0xff, 0xff, 0xff, 0xff, 0x0f]);
                decode_request(&f);
            }
            assert!(!path.as_os_str().is_empty());
        }
    }

    /// Real MQTT clients' connections (paho-mqtt 3.1.1 and 5, mosquitto_pub/sub) decode
    /// whole; every byte of them changed, or the stream cut anywhere, never panics.
    #[test]
    fn real_mqtt_client_streams_decode_and_mutations_do_not_panic() {
        let streams = corpus("decode_mqtt");
        assert!(streams.len() >= 4, "corpus too small: {}", streams.len());
        for (path, data) in &streams {
            assert!(decode_mqtt(data) >= 2, "{} does not decode", path.display());
            for at in 0..data.len() {
                let mut d = data.clone();
                d[at] ^= 0xa5;
                decode_mqtt(&d);
                decode_mqtt(&data[..at]);
            }
        }
    }

    /// Batches that real clients produced (all five codecs) pass; each mutated byte of them
    /// (with the CRC fixed up) is refused or still readable.
    #[test]
    fn real_client_batches_validate_and_mutations_stay_readable() {
        let batches = corpus("validate_batch");
        assert!(batches.len() >= 20, "corpus too small: {}", batches.len());
        for (path, batch) in &batches {
            assert!(validate_batch(batch), "{} is refused", path.display());
            for at in (crate::log::batch::HEADER_LEN..batch.len()).step_by(7) {
                let mut b = batch.clone();
                b[at] ^= 0x5a;
                validate_batch(&b);
            }
        }
    }

    /// The committed damage scripts (fuzz target recover_segment): each opens, scrubs and
    /// reads a damaged log without a bad batch served or an intact one lost.
    #[test]
    fn committed_damage_scripts_recover() {
        let scripts = corpus("recover_segment");
        assert!(scripts.len() >= 10, "corpus too small: {}", scripts.len());
        for (_, script) in scripts {
            crate::log::fuzz_recover(&script);
        }
    }

    /// The probe's 23 bytes: Metadata v4 with a topic count of 2^31-1.
    #[test]
    fn the_probes_request_is_refused() {
        let mut frame = vec![0, 3, 0, 4, 0, 0, 0, 1, 0, 3, b'r', b'e', b'l'];
        frame.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
        frame.extend_from_slice(&[0, 1, b'a', 0]);
        assert!(!decode_request(&frame));
    }
}
