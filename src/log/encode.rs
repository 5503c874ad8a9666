//! Record batches the broker writes itself (the HTTP gateway's produce, share groups' dead
//! letters): version 2, uncompressed, no producer id, CreateTime.

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// A record at `delta` in its batch.
pub fn plain_record(
    delta: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: IndexMap<StrBytes, Option<Bytes>>,
) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: delta,
        // No producer id, so the batch's base sequence is -1; the encoder keeps records in
        // one batch while offset - sequence stays the same.
        sequence: (delta as i32).wrapping_sub(1),
        timestamp,
        key,
        value,
        headers,
    }
}

/// One uncompressed batch of `records` (made by [`plain_record`]).
pub fn plain_batch(records: &[Record]) -> Result<BytesMut, String> {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records, &options)
        .map_err(|e| format!("encoding a record batch: {e}"))?;
    Ok(buf)
}
