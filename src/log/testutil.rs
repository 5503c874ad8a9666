//! Test batches built with the kafka-protocol encoder, as a producer would send them.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

pub(crate) const ALL_CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// One uncompressed batch of `count` records, timestamps 1000, 1001, ...
pub(crate) fn batch(base_offset: i64, count: usize) -> BytesMut {
    batch_with(base_offset, count, |i| 1_000 + i as i64, Compression::None)
}

/// One batch of `count` records with timestamps `ts(i)` and values `v<base_offset + i>`.
pub(crate) fn batch_with(
    base_offset: i64,
    count: usize,
    ts: impl Fn(usize) -> i64,
    compression: Compression,
) -> BytesMut {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 7,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: base_offset + i as i64,
            // The encoder splits batches where offset - sequence changes.
            sequence: i as i32,
            timestamp: ts(i),
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{}", base_offset + i as i64))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode test batch");
    buf
}

/// One transactional batch of `count` records of (producer id, epoch), sequences from `seq`.
pub(crate) fn txn_batch(producer_id: i64, epoch: i16, seq: i32, count: usize) -> BytesMut {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: 1_000,
            key: None,
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode test batch");
    buf
}
