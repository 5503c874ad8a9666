//! Kafka's produce-side validation of what a producer sends for one partition (after
//! `LogValidator`, `DefaultRecordBatch` and `DefaultRecord`): the batch header rules, then
//! every record walked — uncompressed in place, compressed streamed through its codec — so
//! that no batch a consumer cannot read is ever stored.
//!
//! Per record: length, attributes, timestamp delta, offset delta (must be its index),
//! key/value lengths (>= -1, inside the record), header count (>= 0) and each header (key
//! length >= 0, value >= -1, inside the record), the record ending exactly at its length;
//! then exactly `records_count` records and nothing after them. Keys on compacted topics and
//! timestamps against `message.timestamp.{before,after}.max.ms` are per-record errors that
//! Kafka reports with the record's index (`record_errors`).

pub mod inflate;
mod source;
#[cfg(test)]
mod tests;

use super::batch::{self, BatchError, BatchHeader, RecordError, HEADER_LEN, LOG_OVERHEAD};

/// Where the magic byte sits (the same in every message format).
const MAGIC: usize = 16;
const MIN_BATCH_LENGTH: i32 = (HEADER_LEN - LOG_OVERHEAD) as i32;
use source::{decompress_error, ReadSource, SliceSource, SnappySource, Source};

/// What the topic and the request ask of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// The broker's clock, for timestamp bounds.
    pub now_ms: i64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_batch_bytes: usize,
    /// The Produce request version (zstd needs v7 or later).
    pub produce_version: i16,
    /// `message.timestamp.type=LogAppendTime`: record timestamps are not checked.
    pub log_append_time: bool,
    /// `message.timestamp.before.max.ms`
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
}

impl Rules {
    /// Kafka's defaults for a CreateTime, non-compacted topic and the newest Produce version.
    pub fn defaults(now_ms: i64) -> Self {
        Self {
            now_ms,
            max_batch_bytes: 1_048_588,
            produce_version: 9,
            log_append_time: false,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            compacted: false,
        }
    }
}

const NONE: u8 = 0;
const GZIP: u8 = 1;
const SNAPPY: u8 = 2;
const LZ4: u8 = 3;
const ZSTD: u8 = 4;
/// Zstd windows are bounded so a hostile frame cannot make the broker reserve Kafka's limit
/// of 128 MiB per batch; real producers' windows (levels up to ~17) are within 16 MiB.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// Validate the records a producer sent for one partition: exactly one v2 batch, its header
/// and every record in it, as Kafka does before appending. Pure (no I/O, no clock), never
/// panics, and allocates only a bounded decompression buffer; the fuzz targets call it.
pub fn validate_batch(data: &[u8], rules: &Rules) -> Result<BatchHeader, BatchError> {
    walk_batch(data, rules, u64::MAX)
}

/// [`validate_batch`], unless the decompressed records run past `max_output` bytes: then
/// `None`, undecided (the caller walks it again where a long walk does no harm). Gzip, LZ4
/// and zstd streams are counted; snappy's output is bounded by its block ratio check.
pub fn validate_batch_within(
    data: &[u8],
    rules: &Rules,
    max_output: u64,
) -> Option<Result<BatchHeader, BatchError>> {
    match walk_batch(data, rules, max_output) {
        Err(BatchError::Decompress(m)) if m == source::OUTPUT_LIMIT => None,
        decided => Some(decided),
    }
}

fn walk_batch(data: &[u8], rules: &Rules, limit: u64) -> Result<BatchHeader, BatchError> {
    check_request_shape(data, rules)?;
    let headers = batch::validate(data, rules.max_batch_bytes)?;
    let [h] = headers[..] else {
        return Err(BatchError::InvalidRecord(format!(
            "Produce requests with version {} are only allowed to contain exactly one record \
             batch per partition",
            rules.produce_version
        )));
    };
    check_header(&h)?;
    let records = data.get(HEADER_LEN..h.total_size()).unwrap_or_default();
    let mut walk = Walk {
        h: &h,
        rules,
        errors: Vec::new(),
        failed: 0,
        timestamp_error: false,
    };
    match h.compression() {
        NONE => walk.run(&mut SliceSource::new(records))?,
        GZIP => {
            let mut src = ReadSource::new(flate2::bufread::GzDecoder::new(records), limit);
            walk.run(&mut src)?;
            // A gzip member's end is not the end of the data: refuse what follows it.
            if !src.into_inner().into_inner().is_empty() {
                return Err(decompress_error("trailing bytes after the gzip stream"));
            }
        }
        SNAPPY => walk.run(&mut SnappySource::new(records)?)?,
        LZ4 => {
            let mut src =
                ReadSource::new(lz4::Decoder::new(records).map_err(decompress_error)?, limit);
            walk.run(&mut src)?;
            // The decoder ends quietly when its input does: a frame cut short is refused.
            src.into_inner()
                .finish()
                .1
                .map_err(|_| decompress_error("truncated LZ4 frame"))?;
        }
        ZSTD => {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(records).map_err(decompress_error)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(decompress_error)?;
            walk.run(&mut ReadSource::new(decoder, limit))?
        }
        codec => return Err(BatchError::UnknownCodec(codec)),
    }
    walk.finish()?;
    Ok(h)
}

/// Whether the first batch in `data` says it is compressed (attributes at byte 21 of a v2
/// batch): walking it may mean streaming far more bytes than were sent.
pub fn is_compressed(data: &[u8]) -> bool {
    data.get(22)
        .is_some_and(|attributes| attributes & 0x07 != 0)
}

/// Whether the first batch in `data` says it is transactional (attribute bit 4): Kafka
/// checks the producer's transactional id before anything else about such a request.
pub fn is_transactional(data: &[u8]) -> bool {
    data.get(22)
        .is_some_and(|attributes| attributes & 0x10 != 0)
}

/// The (producer id, epoch) the first batch in `data` names (bytes 43–52 of a v2 batch
/// header), if it is long enough to hold them; not validated.
pub fn producer_of(data: &[u8]) -> Option<(i64, i16)> {
    let id = <[u8; 8]>::try_from(data.get(43..51)?).ok()?;
    let epoch = <[u8; 2]>::try_from(data.get(51..53)?).ok()?;
    Some((i64::from_be_bytes(id), i16::from_be_bytes(epoch)))
}

/// What Kafka checks of a Produce v3+ partition's records before anything else
/// (`ProduceRequest.validateRecords`), in its order: a whole batch present (a partial one
/// does not count), magic 2, a known codec, zstd only from v7, nothing after the batch.
fn check_request_shape(data: &[u8], rules: &Rules) -> Result<(), BatchError> {
    let version = rules.produce_version;
    let none = || {
        BatchError::InvalidRecord(format!(
            "Produce requests with version {version} must have at least one record batch per \
             partition"
        ))
    };
    let length = data
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_be_bytes)
        .ok_or_else(none)?;
    // A length too small for a batch is CORRUPT_MESSAGE (`batch::validate` says so).
    if length >= 0 && LOG_OVERHEAD + length as usize > data.len() {
        return Err(none());
    }
    match data.get(MAGIC) {
        Some(2) | None => {}
        // Kafka's reader cannot tell what a future magic means: corrupt.
        Some(&m) if (m as i8) < 0 || m > 2 => {
            return Err(BatchError::Corrupt(format!(
                "Invalid magic found in record: {}",
                m as i8
            )))
        }
        Some(&m) => {
            return Err(BatchError::InvalidRecord(format!(
                "Produce requests with version {version} are only allowed to contain record \
                 batches with magic version 2, not {m}"
            )))
        }
    }
    if let Some(h) = BatchHeader::parse(data) {
        if h.magic == 2 && h.compression() > ZSTD {
            return Err(BatchError::UnknownCodec(h.compression()));
        }
        if h.compression() == ZSTD && version < 7 {
            return Err(BatchError::UnsupportedCompression(format!(
                "Produce requests with version {version} are not allowed to use ZStandard \
                 compression"
            )));
        }
        // (A length below a header's is CORRUPT_MESSAGE, from `batch::validate`.)
        if h.batch_length >= MIN_BATCH_LENGTH && h.total_size() < data.len() {
            return Err(BatchError::InvalidRecord(format!(
                "Produce requests with version {version} are only allowed to contain exactly \
                 one record batch per partition"
            )));
        }
        if h.base_offset != 0 {
            return Err(BatchError::InvalidRecord(format!(
                "The baseOffset of the record batch should be 0, but it is {}",
                h.base_offset
            )));
        }
    }
    Ok(())
}

/// Kafka's batch-level rules beyond framing, CRC and counts (`batch::validate`).
fn check_header(h: &BatchHeader) -> Result<(), BatchError> {
    if h.producer_id != -1 && h.base_sequence < 0 {
        return Err(BatchError::InvalidRecord(format!(
            "Invalid sequence number {} in record batch with producerId {}",
            h.base_sequence, h.producer_id
        )));
    }
    Ok(())
}

fn invalid(message: String) -> BatchError {
    BatchError::InvalidRecord(message)
}

/// One pass over a batch's records; per-record errors are collected (Kafka reports them
/// all), structural ones stop the walk.
struct Walk<'a> {
    h: &'a BatchHeader,
    rules: &'a Rules,
    /// The first `MAX_RECORD_ERRORS` per-record errors (a compressed batch can hold
    /// billions of records: what is kept must not grow with them).
    errors: Vec<RecordError>,
    /// How many records broke a per-record rule.
    failed: u64,
    timestamp_error: bool,
}

const MAX_RECORD_ERRORS: usize = 1000;

impl Walk<'_> {
    fn run<S: Source>(&mut self, src: &mut S) -> Result<(), BatchError> {
        for index in 0..self.h.records_count {
            self.record(src, index)?;
        }
        if src.byte()?.is_some() {
            return Err(invalid(
                "Incorrect declared batch size, records still remaining in file".into(),
            ));
        }
        Ok(())
    }

    fn record<S: Source>(&mut self, src: &mut S, index: i32) -> Result<(), BatchError> {
        let len = varint(src)?;
        if len < 0 {
            return Err(invalid(format!(
                "record {index} has a negative length {len}"
            )));
        }
        let start = src.position();
        let end = start + len as u64;
        let _attributes = next(src)?;
        let timestamp_delta = varlong(src)?;
        let offset_delta = varint(src)?;
        within(src, end)?;
        if offset_delta != index {
            return Err(invalid(format!(
                "record {index} has offset delta {offset_delta}"
            )));
        }
        let key_len = varint(src)?;
        field(src, key_len, end, "key")?;
        let value_len = varint(src)?;
        field(src, value_len, end, "value")?;
        let headers = varint(src)?;
        within(src, end)?;
        if headers < 0 {
            return Err(invalid(format!(
                "Found invalid number of record headers {headers}"
            )));
        }
        if headers as u64 > end - src.position() {
            return Err(invalid(format!(
                "Found invalid number of record headers. {headers} is larger than the remaining \
                 size of the record"
            )));
        }
        for _ in 0..headers {
            let key_len = varint(src)?;
            if key_len < 0 {
                return Err(invalid(format!(
                    "Invalid negative header key size {key_len}"
                )));
            }
            within(src, end)?;
            if key_len as u64 > end - src.position() {
                return Err(invalid(format!(
                    "header key of {key_len} bytes runs past the end of its record"
                )));
            }
            utf8(src, key_len as u64)?;
            let value_len = varint(src)?;
            field(src, value_len, end, "header value")?;
        }
        let read = src.position() - start;
        if read != len as u64 {
            return Err(invalid(format!(
                "Invalid record size: expected to read {len} bytes in record payload, but instead \
                 read {read}"
            )));
        }
        self.check_record(index, key_len >= 0, timestamp_delta);
        Ok(())
    }

    /// Kafka's per-record rules (`LogValidator.validateKey`, `validateTimestamp`).
    fn check_record(&mut self, index: i32, has_key: bool, timestamp_delta: i64) {
        if self.rules.compacted && !has_key {
            self.fail(index, || {
                "Compacted topic cannot accept message without key".into()
            });
            return;
        }
        let h = self.h;
        let timestamp = if h.is_log_append_time() {
            h.max_timestamp
        } else {
            h.base_timestamp.wrapping_add(timestamp_delta)
        };
        let (now, before, after) = (
            self.rules.now_ms,
            self.rules.timestamp_before_max_ms,
            self.rules.timestamp_after_max_ms,
        );
        if !self.rules.log_append_time && timestamp != -1 {
            let diff = now.wrapping_sub(timestamp);
            if diff > before || diff.wrapping_neg() > after {
                self.timestamp_error = true;
                self.fail(index, || {
                    format!(
                        "Timestamp {timestamp} of message with offset {} is out of range. The \
                         timestamp should be within [{}, {}]",
                        h.base_offset.wrapping_add(i64::from(index)),
                        now.wrapping_sub(before),
                        now.wrapping_add(after)
                    )
                });
            }
        } else if h.is_log_append_time() {
            self.timestamp_error = true;
            self.fail(index, || {
                "Invalid timestamp type in message. Producer should not set timestamp type to \
                 LogAppendTime."
                    .into()
            });
        }
    }

    fn fail(&mut self, index: i32, message: impl FnOnce() -> String) {
        self.failed += 1;
        if self.errors.len() < MAX_RECORD_ERRORS {
            self.errors.push(RecordError {
                batch_index: index,
                message: message(),
            });
        }
    }

    fn finish(self) -> Result<(), BatchError> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let message = if self.timestamp_error {
            "One or more records have been rejected due to invalid timestamp".to_string()
        } else {
            let first: Vec<String> = self
                .errors
                .iter()
                .take(3)
                .map(|e| {
                    format!(
                        "RecordError(batchIndex={}, message='{}')",
                        e.batch_index, e.message
                    )
                })
                .collect();
            format!(
                "One or more records have been rejected due to {} record errors in total, and \
                 only showing the first three errors at most: [{}]",
                self.failed,
                first.join(", ")
            )
        };
        Err(BatchError::Records {
            code: if self.timestamp_error { 32 } else { 87 },
            message,
            errors: self.errors,
        })
    }
}

fn next<S: Source>(src: &mut S) -> Result<u8, BatchError> {
    src.byte()?
        .ok_or_else(|| invalid("Incorrect declared batch size, premature EOF reached".into()))
}

/// A field must not run past the end of its record.
fn within<S: Source>(src: &S, end: u64) -> Result<(), BatchError> {
    if src.position() > end {
        return Err(invalid(
            "Found invalid record structure: a field runs past the record".into(),
        ));
    }
    Ok(())
}

/// Skip a length-prefixed field (-1 is null) that must lie inside the record.
fn field<S: Source>(src: &mut S, len: i32, end: u64, what: &str) -> Result<(), BatchError> {
    within(src, end)?;
    if len < -1 {
        return Err(invalid(format!("invalid {what} length {len}")));
    }
    if len > 0 {
        if len as u64 > end - src.position() {
            return Err(invalid(format!(
                "{what} of {len} bytes runs past the end of its record"
            )));
        }
        if !src.skip(len as u64)? {
            return Err(invalid(
                "Incorrect declared batch size, premature EOF reached".into(),
            ));
        }
    }
    Ok(())
}

/// Header keys are strings: consumers (and gregor's cleaner, through kafka-protocol) refuse
/// a batch whose header key is not UTF-8, so it is refused here. Checked in chunks, carrying
/// a character split between them.
fn utf8<S: Source>(src: &mut S, mut n: u64) -> Result<(), BatchError> {
    let bad = || invalid("header key is not valid UTF-8".into());
    let mut carry = [0u8; 64];
    let mut kept = 0;
    while n > 0 {
        let want = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(carry.len() - kept);
        let chunk = src.chunk(want)?;
        if chunk.is_empty() {
            return Err(invalid(
                "Incorrect declared batch size, premature EOF reached".into(),
            ));
        }
        n -= chunk.len() as u64;
        let Some(dest) = carry.get_mut(kept..kept + chunk.len()) else {
            return Err(bad());
        };
        dest.copy_from_slice(chunk);
        let filled = kept + chunk.len();
        let part = carry.get(..filled).unwrap_or_default();
        kept = match std::str::from_utf8(part) {
            Ok(_) => 0,
            // An incomplete character at the end: keep it for the next chunk.
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                carry.copy_within(valid..filled, 0);
                filled - valid
            }
            Err(_) => return Err(bad()),
        };
    }
    if kept != 0 {
        return Err(bad());
    }
    Ok(())
}

/// A zigzag varint of at most 5 bytes (Kafka's `readVarint`), refusing bits beyond 32.
fn varint<S: Source>(src: &mut S) -> Result<i32, BatchError> {
    let mut raw: u32 = 0;
    for i in 0..5 {
        let b = next(src)?;
        if i == 4 && b > 0x0f {
            return Err(invalid("Varint is too long".into()));
        }
        raw |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((raw >> 1) as i32 ^ -((raw & 1) as i32));
        }
    }
    Err(invalid("Varint is too long".into()))
}

/// A zigzag varlong of at most 10 bytes (Kafka's `readVarlong`), refusing bits beyond 64.
fn varlong<S: Source>(src: &mut S) -> Result<i64, BatchError> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let b = next(src)?;
        if i == 9 && b > 0x01 {
            return Err(invalid("Varlong is too long".into()));
        }
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(invalid("Varlong is too long".into()))
}
