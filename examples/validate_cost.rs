//! What produce-side validation costs per batch and codec: the framing/CRC checks alone
//! (`batch::validate`, all gregor did before the record walker) against the full
//! `records::validate_batch` (every record walked, compressed batches streamed through
//! their codec).
//!
//! `cargo run --release --example validate_cost [records per batch] [iterations]`
//! (defaults: 16 records of 1 KiB, as a producer with linger sends them). A third argument
//! (none, gzip, snappy, lz4, zstd) measures that codec only.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use gregor::log::{batch, records};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn batch_of(count: usize, compression: Compression, now: i64) -> BytesMut {
    // Text-like values (compressible about as much as JSON events are), 1 KiB each.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let words = [
        "order", "id", "status", "paid", "user", "amount", "item", "sku", "true", "null",
    ];
    let records: Vec<Record> = (0..count)
        .map(|i| {
            let mut value = String::with_capacity(1024);
            while value.len() < 1024 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                value.push_str(words[(seed % 10) as usize]);
                value.push_str(&format!("\":{},\"", seed % 100_000));
            }
            value.truncate(1024);
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: now,
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(value)),
                headers: Default::default(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    if let Err(e) = RecordBatchEncoder::encode(&mut buf, &records, &options) {
        eprintln!("encode: {e}");
        std::process::exit(1);
    }
    buf
}

fn per_batch_ns(iterations: u32, mut f: impl FnMut() -> bool) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        if !f() {
            eprintln!("validation failed");
            std::process::exit(1);
        }
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let iterations: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    // Optionally one codec only (for `valgrind --tool=callgrind` instruction counts per codec).
    let only = args.next();
    let now = 1_700_000_000_000;
    let rules = records::Rules {
        max_batch_bytes: usize::MAX,
        ..records::Rules::defaults(now)
    };
    println!("{count} records of 1 KiB per batch, {iterations} iterations");
    println!(
        "| codec | batch bytes | framing+CRC µs | full validation µs | kafka-protocol decode µs \
         | validation MB/s (uncompressed) |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, codec) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let b = batch_of(count, codec, now);
        let framing = per_batch_ns(iterations, || batch::validate(&b, usize::MAX).is_ok());
        if let Err(e) = records::validate_batch(&b, &rules) {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
        let full = per_batch_ns(iterations, || records::validate_batch(&b, &rules).is_ok());
        let decode = per_batch_ns(iterations / 4, || {
            kafka_protocol::records::RecordBatchDecoder::decode(&mut b.clone().freeze()).is_ok()
        });
        let uncompressed_mb = (count * 1024) as f64 / 1e6;
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.0} |",
            b.len(),
            framing / 1e3,
            full / 1e3,
            decode / 1e3,
            uncompressed_mb / (full / 1e9)
        );
    }
}
