use std::io::Write;

use kafka_protocol::records::{Compression, RecordBatchDecoder};
use proptest::prelude::*;

use super::*;
use crate::log::batch::compute_crc;
use crate::log::testutil::{batch_with, ALL_CODECS};

const NOW: i64 = 1_700_000_000_000;

fn rules() -> Rules {
    Rules::defaults(NOW)
}

fn zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// One record's bytes (length prefix included) from its body fields.
fn record(
    offset_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&[u8], &[u8])],
) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    zigzag(0, &mut body); // timestamp delta
    zigzag(offset_delta, &mut body);
    for field in [key, value] {
        match field {
            Some(b) => {
                zigzag(b.len() as i64, &mut body);
                body.extend_from_slice(b);
            }
            None => zigzag(-1, &mut body),
        }
    }
    zigzag(headers.len() as i64, &mut body);
    for (k, v) in headers {
        zigzag(k.len() as i64, &mut body);
        body.extend_from_slice(k);
        zigzag(v.len() as i64, &mut body);
        body.extend_from_slice(v);
    }
    let mut out = Vec::new();
    zigzag(body.len() as i64, &mut out);
    out.extend_from_slice(&body);
    out
}

/// `n` valid records, offset deltas 0..n.
fn records(n: i64) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            record(
                i,
                Some(b"key"),
                Some(format!("value-{i}").as_bytes()),
                &[(b"h", b"v")],
            )
        })
        .collect()
}

fn compress(codec: u8, raw: &[u8]) -> Vec<u8> {
    match codec {
        GZIP => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        SNAPPY => {
            let block = snap::raw::Encoder::new().compress_vec(raw).unwrap();
            let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
            out.extend_from_slice(&(block.len() as u32).to_be_bytes());
            out.extend_from_slice(&block);
            out
        }
        LZ4 => {
            let mut e = lz4::EncoderBuilder::new()
                .block_mode(lz4::BlockMode::Independent)
                .build(Vec::new())
                .unwrap();
            e.write_all(raw).unwrap();
            let (out, r) = e.finish();
            r.unwrap();
            out
        }
        ZSTD => zstd::encode_all(raw, 3).unwrap(),
        _ => raw.to_vec(),
    }
}

/// A batch with extra attribute bits.
fn with_attributes(codec: u8, count: i32, raw: &[u8], attributes: i16) -> Vec<u8> {
    let mut b = built(codec, count, raw);
    b[21..23].copy_from_slice(&(i16::from(codec) | attributes).to_be_bytes());
    fix_crc(&mut b);
    b
}

/// A v2 batch around `payload` (already compressed), CRC correct.
fn frame(codec: u8, count: i32, last_offset_delta: i32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + payload.len());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - 12 + payload.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes()); // CRC, below
    b.extend_from_slice(&i16::from(codec).to_be_bytes());
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&NOW.to_be_bytes());
    b.extend_from_slice(&NOW.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(payload);
    fix_crc(&mut b);
    b
}

fn fix_crc(b: &mut [u8]) {
    if b.len() >= HEADER_LEN {
        let crc = compute_crc(b);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
    }
}

fn built(codec: u8, count: i32, raw: &[u8]) -> Vec<u8> {
    frame(codec, count, count - 1, &compress(codec, raw))
}

fn code(b: &[u8], rules: &Rules) -> i16 {
    match validate_batch(b, rules) {
        Ok(_) => 0,
        Err(e) => e.code(),
    }
}

const CODECS: [u8; 5] = [NONE, GZIP, SNAPPY, LZ4, ZSTD];

#[test]
fn encoder_batches_pass_for_every_codec() {
    for codec in ALL_CODECS {
        for count in [1, 7, 300] {
            let b = batch_with(0, count, |i| NOW + i as i64, codec);
            let h = validate_batch(&b, &rules()).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
            assert_eq!(h.records_count, count as i32);
        }
    }
}

#[test]
fn hand_built_batches_pass_for_every_codec() {
    for codec in CODECS {
        let raw: Vec<u8> = [
            record(0, None, None, &[]),
            record(1, Some(b""), Some(b""), &[(b"k", b"")]),
            record(2, Some(b"k"), Some(&[7; 5000]), &[]),
        ]
        .concat();
        assert_eq!(code(&built(codec, 3, &raw), &rules()), 0, "codec {codec}");
        assert_eq!(
            code(&built(codec, 20, &records(20)), &rules()),
            0,
            "codec {codec}"
        );
    }
}

#[test]
fn hostile_records_are_invalid_record_in_every_codec() {
    let one = records(1);
    let three = records(3);
    let mut negative_len = Vec::new();
    zigzag(-5, &mut negative_len);
    negative_len.extend_from_slice(&one[1..]);
    let mut longer = Vec::new();
    zigzag(1000, &mut longer);
    longer.extend_from_slice(&one[1..]);
    // The value's length claims more than the record holds.
    let value_past = record(0, Some(b"k"), Some(b"vvvv"), &[]);
    let mut value_past_bad = value_past.clone();
    let at = value_past_bad.len() - 6; // value length varint (4 → 40)
    value_past_bad[at] = 80;
    let negative_key = {
        let mut r = record(0, Some(b"k"), None, &[]);
        r[4] = 3; // key length -2
        r
    };
    let mut trailing = one.clone();
    trailing.extend_from_slice(&[0, 0, 0]);
    let cases: Vec<(&str, i32, Vec<u8>)> = vec![
        ("negative record length", 1, negative_len),
        ("record longer than the batch", 1, longer),
        ("value past the record", 1, value_past_bad),
        ("key length -2", 1, negative_key),
        (
            "random body",
            1,
            vec![0x22, 0x91, 0xff, 0x13, 0x07, 0x42, 0x00, 0x99],
        ),
        ("count 1, three records", 1, three.clone()),
        ("count 5, three records", 5, three.clone()),
        ("trailing bytes", 1, trailing),
        (
            "offset delta not its index",
            2,
            [record(0, None, None, &[]), record(0, None, None, &[])].concat(),
        ),
        ("negative header count", 1, garbage_headers(-3)),
        ("huge header count", 1, garbage_headers(1 << 30)),
        ("negative header key", 1, negative_header_key()),
        ("empty records", 1, Vec::new()),
    ];
    for codec in CODECS {
        for (what, count, raw) in &cases {
            let b = built(codec, *count, raw);
            assert_eq!(code(&b, &rules()), 87, "{what}, codec {codec}");
        }
    }
}

/// A record whose header count is `n` and holds no header.
fn garbage_headers(n: i64) -> Vec<u8> {
    let mut body = vec![0u8, 0, 0, 1, 1];
    zigzag(n, &mut body);
    let mut out = Vec::new();
    zigzag(body.len() as i64, &mut out);
    out.extend_from_slice(&body);
    out
}

/// A record with one header whose key length is -1.
fn negative_header_key() -> Vec<u8> {
    let mut r = record(0, None, None, &[(b"", b"")]);
    let at = r.len() - 2; // the header key length, 0 → -1
    r[at] = 1;
    r
}

#[test]
fn count_and_offsets_in_the_header() {
    let raw = records(1);
    // 2^31 - 1 records claimed, one present.
    let b = frame(NONE, i32::MAX, i32::MAX - 1, &raw);
    assert_eq!(code(&b, &rules()), 87);
    let mut based = built(NONE, 1, &raw);
    based[..8].copy_from_slice(&5i64.to_be_bytes());
    assert_eq!(code(&based, &rules()), 87, "client base offset must be 0");
    let mut no_sequence = built(NONE, 1, &raw);
    no_sequence[43..51].copy_from_slice(&7i64.to_be_bytes());
    fix_crc(&mut no_sequence);
    assert_eq!(
        code(&no_sequence, &rules()),
        87,
        "producer id without sequence"
    );
    no_sequence[53..57].copy_from_slice(&0i32.to_be_bytes());
    fix_crc(&mut no_sequence);
    assert_eq!(code(&no_sequence, &rules()), 0);
}

#[test]
fn codecs_and_garbage_payloads() {
    let raw = records(2);
    for codec in 5..=7u8 {
        // Kafka's reader throws on an unknown codec id: UNKNOWN_SERVER_ERROR.
        assert_eq!(
            code(&frame(codec, 2, 1, &raw), &rules()),
            -1,
            "codec {codec}"
        );
    }
    let zstd = built(ZSTD, 2, &raw);
    let v6 = Rules {
        produce_version: 6,
        ..rules()
    };
    assert_eq!(code(&zstd, &v6), 76);
    let v7 = Rules {
        produce_version: 7,
        ..rules()
    };
    assert_eq!(code(&zstd, &v7), 0);
    // Garbage under a valid CRC: Kafka's codec readers throw (UNKNOWN_SERVER_ERROR).
    let garbage = [0x5au8; 64];
    for codec in [GZIP, SNAPPY, LZ4, ZSTD] {
        assert_eq!(
            code(&frame(codec, 2, 1, &garbage), &rules()),
            -1,
            "codec {codec}"
        );
        let mut truncated = compress(codec, &raw);
        truncated.truncate(truncated.len() - 5);
        assert_ne!(
            code(&frame(codec, 2, 1, &truncated), &rules()),
            0,
            "codec {codec}"
        );
    }
    let mut gz = compress(GZIP, &raw);
    gz.extend_from_slice(b"junk");
    assert_eq!(
        code(&frame(GZIP, 2, 1, &gz), &rules()),
        -1,
        "bytes after the gzip member"
    );
}

#[test]
fn request_shape_as_kafka_checks_it() {
    let b = built(NONE, 1, &records(1));
    assert_eq!(code(&[], &rules()), 87, "no batch");
    assert_eq!(code(&b[..11], &rules()), 87, "less than a batch");
    assert_eq!(
        code(&b[..b.len() - 1], &rules()),
        87,
        "a partial batch is no batch"
    );
    assert_eq!(
        code(&[&b[..], &b[..]].concat(), &rules()),
        87,
        "two batches"
    );
    assert_eq!(
        code(&[&b[..], &b[..20]].concat(), &rules()),
        87,
        "a batch and a partial one"
    );
    for (magic, expected) in [(0u8, 87), (1, 87), (3, 2), (0xff, 2)] {
        let mut m = b.clone();
        m[MAGIC] = magic;
        assert_eq!(code(&m, &rules()), expected, "magic {magic}");
    }
    let mut short = b.clone();
    short[8..12].copy_from_slice(&20i32.to_be_bytes());
    assert_eq!(code(&short, &rules()), 2, "batch length below a header");
    let mut crc = b.clone();
    *crc.last_mut().unwrap() ^= 1;
    assert_eq!(code(&crc, &rules()), 2, "CRC");
    let small = Rules {
        max_batch_bytes: b.len() - 1,
        ..rules()
    };
    assert_eq!(code(&b, &small), 10);
    let control = with_attributes(NONE, 1, &records(1), 0x20);
    assert_eq!(code(&control, &rules()), 87, "control batch from a client");
}

#[test]
fn bombs_stream_without_materialising() {
    // One well-formed record with a 64 MiB value of zeros, then a stray byte: every codec's
    // output is streamed through (never held) and the batch refused at its end.
    let zeros = vec![0u8; 64 << 20];
    let mut raw = record(0, None, Some(&zeros), &[]);
    raw.push(0);
    for codec in [GZIP, LZ4, ZSTD] {
        let b = built(codec, 1, &raw);
        assert!(b.len() < 1 << 20, "codec {codec} compresses the bomb");
        assert_eq!(code(&b, &rules()), 87, "codec {codec}");
    }
    // A value claiming more than its record holds is refused before anything is read.
    let mut claim = Vec::new();
    zigzag(10, &mut claim);
    claim.extend_from_slice(&[0, 0, 0, 1]);
    zigzag(64 << 20, &mut claim);
    claim.extend_from_slice(&zeros[..1 << 20]);
    assert_eq!(code(&built(ZSTD, 1, &claim), &rules()), 87);
    // A snappy block claiming 4 GiB is refused before anything is allocated.
    let mut snappy = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    snappy.extend_from_slice(&[0; 16]);
    assert_eq!(code(&frame(SNAPPY, 1, 0, &snappy), &rules()), -1);
}

#[test]
fn compressed_batches_are_told_apart_by_their_attributes() {
    assert!(!super::is_compressed(&built(NONE, 1, &records(1))));
    for codec in [GZIP, SNAPPY, LZ4, ZSTD] {
        assert!(
            super::is_compressed(&built(codec, 1, &records(1))),
            "{codec}"
        );
    }
    assert!(!super::is_compressed(&[0; 22]), "too short to say");
}

#[test]
fn walks_within_an_output_limit_stop_undecided() {
    let zeros = vec![0u8; 16 << 20];
    let bomb = record(0, None, Some(&zeros), &[]);
    for codec in [GZIP, LZ4, ZSTD] {
        let b = built(codec, 1, &bomb);
        assert!(
            super::validate_batch_within(&b, &rules(), 1 << 20).is_none(),
            "codec {codec}: over the limit is undecided"
        );
        assert!(super::validate_batch(&b, &rules()).is_ok(), "codec {codec}");
        let small = built(codec, 3, &records(3));
        assert!(matches!(
            super::validate_batch_within(&small, &rules(), 1 << 20),
            Some(Ok(_))
        ));
        let mut bad = records(3);
        bad.push(0);
        let refused = super::validate_batch_within(&built(codec, 3, &bad), &rules(), 1 << 20);
        assert!(
            matches!(refused, Some(Err(_))),
            "codec {codec}: decided refusals stay"
        );
    }
}

#[test]
fn keys_on_compacted_topics() {
    let compacted = Rules {
        compacted: true,
        ..rules()
    };
    let raw = [
        record(0, Some(b"k"), None, &[]),
        record(1, None, Some(b"v"), &[]),
        record(2, None, None, &[]),
    ]
    .concat();
    for codec in CODECS {
        match validate_batch(&built(codec, 3, &raw), &compacted) {
            Err(BatchError::Records { code, errors, .. }) => {
                assert_eq!(code, 87);
                assert_eq!(
                    errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(),
                    [1, 2]
                );
            }
            other => panic!("codec {codec}: {other:?}"),
        }
        assert_eq!(code(&built(codec, 3, &raw), &rules()), 0);
    }
}

#[test]
fn record_errors_kept_are_bounded() {
    let compacted = Rules {
        compacted: true,
        ..rules()
    };
    let raw: Vec<u8> = (0..5000).flat_map(|i| record(i, None, None, &[])).collect();
    match validate_batch(&built(ZSTD, 5000, &raw), &compacted) {
        Err(BatchError::Records {
            errors, message, ..
        }) => {
            assert_eq!(errors.len(), MAX_RECORD_ERRORS);
            assert!(message.contains("due to 5000 record errors"), "{message}");
            assert!(
                message.contains("RecordError(batchIndex=0, message='Compacted"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn timestamps_against_the_topic_bounds() {
    let b = batch_with(0, 3, |i| NOW + 3_600_000 + i as i64, Compression::Zstd);
    match validate_batch(&b, &rules()) {
        Err(BatchError::Records { code, errors, .. }) => {
            assert_eq!(code, 32);
            assert_eq!(
                errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(),
                [1, 2]
            );
        }
        other => panic!("{other:?}"),
    }
    let lat = Rules {
        log_append_time: true,
        ..rules()
    };
    assert!(
        validate_batch(&b, &lat).is_ok(),
        "LogAppendTime topics ignore record timestamps"
    );
    let old = batch_with(0, 2, |i| NOW - 10_000 - i as i64, Compression::None);
    assert!(validate_batch(&old, &rules()).is_ok());
    let strict = Rules {
        timestamp_before_max_ms: 10_000,
        ..rules()
    };
    assert_eq!(code(&old, &strict), 32);
    let no_timestamp = batch_with(0, 1, |_| -1, Compression::None);
    assert_eq!(code(&no_timestamp, &strict), 0, "-1 means no timestamp");
}

/// Accepted ⇒ every consumer-side decoder reads exactly `records_count` records.
fn check_accepted(b: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(h) = validate_batch(b, &rules()) {
        let mut bytes = bytes::Bytes::copy_from_slice(b);
        let set = RecordBatchDecoder::decode(&mut bytes);
        prop_assert!(set.is_ok(), "accepted but undecodable: {:?}", set.err());
        if let Ok(set) = set {
            prop_assert_eq!(set.records.len(), h.records_count as usize);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Mutate the records before compression, so the walker (not the codec) meets them.
    #[test]
    fn mutated_records_never_panic_and_accepted_ones_decode(
        codec in 0usize..5,
        n in 1i64..6,
        count_delta in -1i32..2,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
    ) {
        let mut raw = records(n);
        for (at, x) in flips {
            let at = at % raw.len();
            raw[at] ^= x;
        }
        raw.truncate(raw.len() - cut % 3);
        let count = (n as i32 + count_delta).max(1);
        let codec = CODECS[codec];
        check_accepted(&built(codec, count, &raw))?;
    }

    /// Mutate the compressed payload (CRC fixed), so the codecs meet garbage.
    #[test]
    fn mutated_payloads_never_panic_and_accepted_ones_decode(
        codec in 0usize..5,
        n in 1usize..6,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut b = batch_with(0, n, |i| NOW + i as i64, ALL_CODECS[codec]).to_vec();
        for (at, x) in flips {
            let at = HEADER_LEN + at % (b.len() - HEADER_LEN);
            b[at] ^= x.max(1);
        }
        let len = HEADER_LEN + (b.len() - HEADER_LEN) - cut % 4;
        b.truncate(len);
        let batch_len = (len - 12) as i32;
        b[8..12].copy_from_slice(&batch_len.to_be_bytes());
        fix_crc(&mut b);
        check_accepted(&b)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = validate_batch(&data, &rules());
    }
}
