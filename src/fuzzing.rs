//! Entry points for the fuzz targets in fuzz/ (cargo-fuzz), and the replay of their committed
//! corpora under `cargo test`, so the same inputs are checked on every run without a nightly
//! toolchain. Each function takes arbitrary bytes and must neither panic nor allocate beyond
//! what its input can justify.

use bytes::Bytes;
use kafka_protocol::messages::RequestKind;

use crate::api::{parse_request, Parsed};

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

    /// The probe's 23 bytes: Metadata v4 with a topic count of 2^31-1.
    #[test]
    fn the_probes_request_is_refused() {
        let mut frame = vec![0, 3, 0, 4, 0, 0, 0, 1, 0, 3, b'r', b'e', b'l'];
        frame.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
        frame.extend_from_slice(&[0, 1, b'a', 0]);
        assert!(!decode_request(&frame));
    }
}
