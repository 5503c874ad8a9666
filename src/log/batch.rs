//! Record batch (magic v2) headers: parsing, validation of what producers send, and the
//! in-place rewrites the log does.
//!
//! Layout of a v2 batch (big-endian):
//! base offset i64 @0, batch length i32 @8 (bytes after this field), partition leader epoch
//! i32 @12, magic i8 @16, CRC32C u32 @17 (over everything from @21 to the end), attributes
//! i16 @21, last offset delta i32 @23, base timestamp i64 @27, max timestamp i64 @35,
//! producer id i64 @43, producer epoch i16 @51, base sequence i32 @53, records count i32 @57,
//! then the records (possibly compressed) from @61.

/// Size of a v2 batch header, i.e. of a batch with no records.
pub const HEADER_LEN: usize = 61;
/// Bytes before what `batch_length` counts: the base offset and the length field itself.
pub const LOG_OVERHEAD: usize = 12;
const MIN_BATCH_LENGTH: i32 = (HEADER_LEN - LOG_OVERHEAD) as i32;

const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const MAX_TIMESTAMP: usize = 35;

const COMPRESSION_MASK: i16 = 0x07;
const LOG_APPEND_TIME_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

impl BatchHeader {
    /// Parse the header at the start of `buf`; `None` if `buf` is shorter than a header.
    /// Nothing is checked: see [`validate`] and [`check_batch`].
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let b = buf.get(..HEADER_LEN)?;
        Some(Self {
            base_offset: i64::from_be_bytes(array(b, 0)),
            batch_length: i32::from_be_bytes(array(b, 8)),
            partition_leader_epoch: i32::from_be_bytes(array(b, PARTITION_LEADER_EPOCH)),
            magic: b[MAGIC] as i8,
            crc: u32::from_be_bytes(array(b, CRC)),
            attributes: i16::from_be_bytes(array(b, ATTRIBUTES)),
            last_offset_delta: i32::from_be_bytes(array(b, 23)),
            base_timestamp: i64::from_be_bytes(array(b, 27)),
            max_timestamp: i64::from_be_bytes(array(b, MAX_TIMESTAMP)),
            producer_id: i64::from_be_bytes(array(b, 43)),
            producer_epoch: i16::from_be_bytes(array(b, 51)),
            base_sequence: i32::from_be_bytes(array(b, 53)),
            records_count: i32::from_be_bytes(array(b, 57)),
        })
    }

    /// Size of the whole batch, header included.
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    #[error("record batch of {size} bytes exceeds the maximum of {max}")]
    TooLarge { size: usize, max: usize },
    /// A batch larger than the topic's segment size (Kafka's RecordBatchTooLargeException in
    /// `UnifiedLog.append`: RECORD_LIST_TOO_LARGE).
    #[error("Message batch size is {size} bytes in append to partition {partition} which exceeds the maximum configured segment size of {segment_bytes}.")]
    LargerThanSegment {
        size: usize,
        partition: String,
        segment_bytes: u64,
    },
    #[error("unsupported record batch magic {0} (only v2 is supported)")]
    UnsupportedMagic(i8),
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    #[error("unsupported compression: {0}")]
    UnsupportedCompression(String),
    /// A compression codec id Kafka does not know (its reader throws: UNKNOWN_SERVER_ERROR).
    #[error("unknown compression codec id {0}")]
    UnknownCodec(u8),
    /// The codec refused the compressed records (Kafka: "Failed to decompress record stream",
    /// UNKNOWN_SERVER_ERROR).
    #[error("failed to decompress record stream: {0}")]
    Decompress(String),
    /// Records that break a per-record rule, with their index in the batch (Produce v8+
    /// `record_errors`); `code` is INVALID_TIMESTAMP when any is a timestamp error.
    #[error("{message}")]
    Records {
        code: i16,
        message: String,
        errors: Vec<RecordError>,
    },
}

/// A record refused by a per-record rule, as Kafka reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

impl BatchError {
    /// The Kafka error code to answer the producer with.
    pub fn code(&self) -> i16 {
        match self {
            BatchError::Corrupt(_) => 2,
            BatchError::TooLarge { .. } => 10,
            BatchError::LargerThanSegment { .. } => 18,
            BatchError::UnsupportedMagic(_) => 43,
            BatchError::InvalidRecord(_) => 87,
            BatchError::UnsupportedCompression(_) => 76,
            BatchError::UnknownCodec(_) | BatchError::Decompress(_) => -1,
            BatchError::Records { code, .. } => *code,
        }
    }
}

/// Check the framing, size and CRC of the batch at the start of `data` (what log recovery
/// needs too). Trailing bytes after the batch are ignored.
pub fn check_batch(data: &[u8], max_batch_bytes: usize) -> Result<BatchHeader, BatchError> {
    if data.len() < LOG_OVERHEAD {
        return Err(BatchError::Corrupt(format!(
            "{} trailing bytes, too few for a batch",
            data.len()
        )));
    }
    // Magic sits at the same place in v0/v1 message sets, which can be shorter than a v2
    // header: answer those with "unsupported" rather than "corrupt".
    if let Some(&magic) = data.get(MAGIC) {
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic as i8));
        }
    }
    let batch_length = i32::from_be_bytes(array(data, 8));
    if batch_length < MIN_BATCH_LENGTH {
        return Err(BatchError::Corrupt(format!(
            "batch length {batch_length} is below the minimum {MIN_BATCH_LENGTH}"
        )));
    }
    let size = LOG_OVERHEAD + batch_length as usize;
    if size > data.len() {
        return Err(BatchError::Corrupt(format!(
            "batch of {size} bytes but only {} bytes present",
            data.len()
        )));
    }
    if size > max_batch_bytes {
        return Err(BatchError::TooLarge {
            size,
            max: max_batch_bytes,
        });
    }
    let batch = &data[..size];
    let header = BatchHeader::parse(batch)
        .ok_or_else(|| BatchError::Corrupt("short batch header".into()))?;
    let actual = compute_crc(batch);
    if actual != header.crc {
        return Err(BatchError::Corrupt(format!(
            "CRC mismatch: stored {:#010x}, computed {actual:#010x}",
            header.crc
        )));
    }
    Ok(header)
}

/// Validate what a producer sent for one partition: one or more complete v2 batches, nothing
/// trailing. Never panics and allocates only in proportion to `data`.
pub fn validate(data: &[u8], max_batch_bytes: usize) -> Result<Vec<BatchHeader>, BatchError> {
    if data.is_empty() {
        return Err(BatchError::Corrupt("no record batches".into()));
    }
    let mut headers = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let h = check_batch(&data[pos..], max_batch_bytes)?;
        if h.records_count < 1 || i64::from(h.records_count) != i64::from(h.last_offset_delta) + 1 {
            return Err(BatchError::InvalidRecord(format!(
                "records count {} does not match last offset delta {}",
                h.records_count, h.last_offset_delta
            )));
        }
        check_lz4_frame(&h, &data[pos..pos + h.total_size()])?;
        if h.is_control() {
            return Err(BatchError::InvalidRecord(
                "clients may not write control batches".into(),
            ));
        }
        pos += h.total_size();
        headers.push(h);
    }
    Ok(headers)
}

const LZ4: u8 = 3;
const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
const LZ4_BLOCK_INDEPENDENCE: u8 = 1 << 5;

/// Kafka's consumers (Java's LZ4 reader) only read LZ4 frames whose blocks are independent;
/// Kafka refuses other frames on produce, so a batch no consumer can read never gets stored.
fn check_lz4_frame(h: &BatchHeader, batch: &[u8]) -> Result<(), BatchError> {
    if h.compression() != LZ4 {
        return Ok(());
    }
    let frame = &batch[HEADER_LEN.min(batch.len())..];
    match frame {
        [m0, m1, m2, m3, flags, ..] if [*m0, *m1, *m2, *m3] == LZ4_FRAME_MAGIC => {
            if flags & LZ4_BLOCK_INDEPENDENCE == 0 {
                Err(BatchError::Decompress(
                    "LZ4 frames with dependent blocks are not supported".into(),
                ))
            } else {
                Ok(())
            }
        }
        _ => Err(BatchError::Decompress(
            "LZ4 batch does not hold an LZ4 frame".into(),
        )),
    }
}

/// CRC32C of a whole batch as stored in its header (covers attributes to the end, so the base
/// offset and partition leader epoch can change without it). `batch` must be at least a header.
pub fn compute_crc(batch: &[u8]) -> u32 {
    super::crc::crc32c(&batch[ATTRIBUTES..])
}

/// Rewrite the base offset of the batch at the start of `batch`.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrite the partition leader epoch of the batch at the start of `batch`.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Stamp a batch with the broker's clock (LogAppendTime): set the timestamp-type bit and the
/// max timestamp, then recompute the CRC. `batch` must be exactly one whole batch.
pub fn set_log_append_time(batch: &mut [u8], timestamp: i64) {
    let (head, body) = batch.split_at_mut(HEADER_LEN);
    set_log_append_time_split(head, body, timestamp);
}

/// [`set_log_append_time`] for a batch held as its header (`head`, [`HEADER_LEN`] bytes,
/// rewritten) and the records after it (`body`, unchanged).
pub fn set_log_append_time_split(head: &mut [u8], body: &[u8], timestamp: i64) {
    let attributes = i16::from_be_bytes(array(head, ATTRIBUTES)) | LOG_APPEND_TIME_BIT;
    head[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    head[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&timestamp.to_be_bytes());
    let mut crc = super::crc::Crc32c::new();
    crc.update(&head[ATTRIBUTES..HEADER_LEN]);
    crc.update(body);
    let crc = crc.finish();
    head[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Iterate `(position, header)` over the complete batches at the start of `data`, stopping at
/// the first incomplete one or one whose length is impossible. Checks nothing else.
pub fn headers(data: &[u8]) -> Headers<'_> {
    Headers { data, pos: 0 }
}

pub struct Headers<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Headers<'_> {
    /// Where iteration stands: the end of the last batch yielded.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for Headers<'_> {
    type Item = (usize, BatchHeader);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.data[self.pos..];
        let h = BatchHeader::parse(rest)?;
        if h.batch_length < MIN_BATCH_LENGTH || h.total_size() > rest.len() {
            return None;
        }
        let pos = self.pos;
        self.pos += h.total_size();
        Some((pos, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testutil::{batch, batch_with, ALL_CODECS};
    use kafka_protocol::records::Compression;
    use proptest::prelude::*;

    #[test]
    fn parses_encoder_output_for_all_codecs() {
        for codec in ALL_CODECS {
            let b = batch_with(0, 5, |i| 1_000 + i as i64, codec);
            let hs = validate(&b, usize::MAX).unwrap();
            assert_eq!(hs.len(), 1, "{codec:?}");
            let h = hs[0];
            assert_eq!(h.total_size(), b.len());
            assert_eq!(h.magic, 2);
            assert_eq!(h.records_count, 5);
            assert_eq!(h.last_offset(), 4);
            assert_eq!(h.base_timestamp, 1_000);
            assert_eq!(h.max_timestamp, 1_004);
            assert_eq!(h.compression(), codec as u8);
            assert!(!h.is_log_append_time() && !h.is_control() && !h.is_transactional());
        }
    }

    #[test]
    fn validates_several_batches_and_rejects_trailing_bytes() {
        let mut data = batch(0, 3).to_vec();
        data.extend_from_slice(&batch(0, 2));
        let hs = validate(&data, usize::MAX).unwrap();
        assert_eq!(
            hs.iter().map(|h| h.records_count).collect::<Vec<_>>(),
            [3, 2]
        );
        assert_eq!(headers(&data).count(), 2);

        data.push(0);
        assert_eq!(validate(&data, usize::MAX).unwrap_err().code(), 2);
        assert_eq!(validate(&[], usize::MAX).unwrap_err().code(), 2);
    }

    #[test]
    fn error_codes() {
        let b = batch(0, 3);
        let too_large = validate(&b, b.len() - 1).unwrap_err();
        assert!(matches!(too_large, BatchError::TooLarge { size, .. } if size == b.len()));
        assert_eq!(too_large.code(), 10);
        assert!(validate(&b, b.len()).is_ok());

        let mut bad_crc = b.to_vec();
        *bad_crc.last_mut().unwrap() ^= 1;
        assert_eq!(validate(&bad_crc, usize::MAX).unwrap_err().code(), 2);

        let mut v1 = b.to_vec();
        v1[MAGIC] = 1;
        assert!(matches!(
            validate(&v1, usize::MAX),
            Err(BatchError::UnsupportedMagic(1))
        ));
        assert_eq!(validate(&v1, usize::MAX).unwrap_err().code(), 43);

        let mut short = b.to_vec();
        short.truncate(b.len() - 1);
        assert_eq!(validate(&short, usize::MAX).unwrap_err().code(), 2);

        let mut tiny_len = b.to_vec();
        tiny_len[8..12].copy_from_slice(&48i32.to_be_bytes());
        assert_eq!(validate(&tiny_len, usize::MAX).unwrap_err().code(), 2);
    }

    #[test]
    fn log_append_time_on_a_split_batch_is_the_whole_batch_rewrite() {
        let b = batch_with(0, 4, |i| i as i64, Compression::Lz4);
        let mut whole = b.to_vec();
        set_log_append_time(&mut whole, 7_000);
        let mut head: [u8; HEADER_LEN] = b[..HEADER_LEN].try_into().unwrap();
        set_log_append_time_split(&mut head, &b[HEADER_LEN..], 7_000);
        assert_eq!(head[..], whole[..HEADER_LEN]);
        let h = validate(&whole, usize::MAX).unwrap()[0];
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 7_000);
    }

    /// Rewrite a header field covered by the CRC and fix the CRC up.
    fn with_field(b: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
        let mut v = b.to_vec();
        v[at..at + bytes.len()].copy_from_slice(bytes);
        let crc = compute_crc(&v);
        v[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        v
    }

    #[test]
    fn invalid_records() {
        let b = batch(0, 3);
        let control = with_field(&b, ATTRIBUTES, &CONTROL_BIT.to_be_bytes());
        assert_eq!(validate(&control, usize::MAX).unwrap_err().code(), 87);
        let zero = with_field(&b, 57, &0i32.to_be_bytes());
        assert_eq!(validate(&zero, usize::MAX).unwrap_err().code(), 87);
        let mismatch = with_field(&b, 23, &5i32.to_be_bytes());
        assert_eq!(validate(&mismatch, usize::MAX).unwrap_err().code(), 87);
    }

    #[test]
    fn lz4_frames_must_have_independent_blocks() {
        let b = batch_with(0, 3, |i| i as i64, Compression::Lz4);
        assert!(
            validate(&b, usize::MAX).is_ok(),
            "the encoder writes independent blocks"
        );
        let flags = b[HEADER_LEN + 4] & !LZ4_BLOCK_INDEPENDENCE;
        let dependent = with_field(&b, HEADER_LEN + 4, &[flags]);
        // Kafka's LZ4 reader throws on both: UNKNOWN_SERVER_ERROR.
        assert_eq!(validate(&dependent, usize::MAX).unwrap_err().code(), -1);
        let not_a_frame = with_field(&b, HEADER_LEN, &[0, 0, 0, 0]);
        assert_eq!(validate(&not_a_frame, usize::MAX).unwrap_err().code(), -1);
    }

    #[test]
    fn rewrites_keep_the_batch_valid() {
        for codec in ALL_CODECS {
            let mut b = batch_with(0, 4, |i| 50 + i as i64, codec).to_vec();
            set_base_offset(&mut b, 1234);
            set_partition_leader_epoch(&mut b, 0);
            let h = check_batch(&b, usize::MAX).unwrap();
            assert_eq!((h.base_offset, h.partition_leader_epoch), (1234, 0));
            assert!(!h.is_log_append_time());

            set_log_append_time(&mut b, 9_999);
            let h = check_batch(&b, usize::MAX).unwrap();
            assert!(h.is_log_append_time());
            assert_eq!((h.max_timestamp, h.base_timestamp), (9_999, 50));
            assert_eq!(h.compression(), codec as u8);

            // The decoder (which checks the CRC) still reads every record.
            let mut bytes = bytes::Bytes::from(b);
            let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).unwrap();
            let offsets: Vec<i64> = set.records.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, [1234, 1235, 1236, 1237]);
        }
    }

    #[test]
    fn headers_stop_at_incomplete_batch() {
        let mut data = batch(0, 1).to_vec();
        let first = data.len();
        data.extend_from_slice(&batch(0, 1)[..40]);
        let mut it = headers(&data);
        assert_eq!(it.next().map(|(p, _)| p), Some(0));
        assert!(it.next().is_none());
        assert_eq!(it.position(), first);
    }

    proptest! {
        #[test]
        fn validate_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = validate(&data, 1 << 20);
            let _ = headers(&data).count();
        }

        #[test]
        fn validate_never_panics_on_mutated_batches(
            codec in 0usize..5,
            count in 1usize..6,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>(),
        ) {
            let mut data = batch_with(0, count, |i| i as i64, ALL_CODECS[codec]).to_vec();
            data.extend_from_slice(&batch_with(0, 1, |_| 7, Compression::None));
            for (at, x) in flips {
                let at = at % data.len();
                data[at] ^= x.max(1);
            }
            data.truncate(cut % (data.len() + 1));
            let _ = validate(&data, 1 << 20);
            let _ = headers(&data).count();
        }

        #[test]
        fn mutating_covered_bytes_is_always_detected(at in ATTRIBUTES..200usize, x in 1u8..) {
            let mut data = batch(0, 3).to_vec();
            let at = ATTRIBUTES + (at - ATTRIBUTES) % (data.len() - ATTRIBUTES);
            data[at] ^= x;
            prop_assert!(validate(&data, usize::MAX).is_err());
        }
    }
}
