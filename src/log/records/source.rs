//! Byte sources the record walker reads a batch's records from: the batch itself when
//! uncompressed (no copy), or a codec's output streamed through one small reused buffer, so
//! neither keys and values nor the whole decompressed batch are ever held in memory.

use std::io::Read;

use crate::log::batch::BatchError;

/// What the walker needs: single bytes (varints), skipping (keys, values, headers) and the
/// position (record lengths).
pub(super) trait Source {
    /// The next byte, `None` at the end of the records.
    fn byte(&mut self) -> Result<Option<u8>, BatchError>;
    /// Skip `n` bytes; `false` if the records end first.
    fn skip(&mut self, n: u64) -> Result<bool, BatchError>;
    /// Consume and return up to `max` bytes that are contiguous here; empty at the end.
    fn chunk(&mut self, max: usize) -> Result<&[u8], BatchError>;
    /// Bytes consumed so far.
    fn position(&self) -> u64;
}

/// Uncompressed records, read in place.
pub(super) struct SliceSource<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }
}

impl Source for SliceSource<'_> {
    #[inline]
    fn byte(&mut self) -> Result<Option<u8>, BatchError> {
        let b = self.data.get(self.pos).copied();
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    fn skip(&mut self, n: u64) -> Result<bool, BatchError> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            self.pos = self.data.len();
            return Ok(false);
        }
        self.pos += n as usize;
        Ok(true)
    }

    fn chunk(&mut self, max: usize) -> Result<&[u8], BatchError> {
        let start = self.pos;
        self.pos += max.min(self.data.len() - start);
        Ok(self.data.get(start..self.pos).unwrap_or_default())
    }

    fn position(&self) -> u64 {
        self.pos as u64
    }
}

/// How much decompressed data a stream source holds at a time.
const STREAM_BUFFER: usize = 16 * 1024;

/// The message of the error a stream source stops with past its output limit (a walk that
/// is undecided, not a bad batch: see `validate_batch_within`).
pub(super) const OUTPUT_LIMIT: &str = "decompressed output over the inline limit";

/// A decompressor's output, read through a fixed buffer.
pub(super) struct ReadSource<R> {
    inner: R,
    buf: Box<[u8]>,
    at: usize,
    len: usize,
    consumed: u64,
    /// Decompressed bytes produced so far, and how many may be.
    produced: u64,
    limit: u64,
}

impl<R: Read> ReadSource<R> {
    pub(super) fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            buf: vec![0; STREAM_BUFFER].into_boxed_slice(),
            at: 0,
            len: 0,
            consumed: 0,
            produced: 0,
            limit,
        }
    }

    pub(super) fn into_inner(self) -> R {
        self.inner
    }

    /// Refill an empty buffer; `false` at the end of the stream.
    fn fill(&mut self) -> Result<bool, BatchError> {
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.produced += n as u64;
                    if self.produced > self.limit {
                        return Err(BatchError::Decompress(OUTPUT_LIMIT.into()));
                    }
                    self.at = 0;
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(decompress_error(e)),
            }
        }
    }
}

impl<R: Read> Source for ReadSource<R> {
    fn chunk(&mut self, max: usize) -> Result<&[u8], BatchError> {
        if self.at == self.len && !self.fill()? {
            return Ok(&[]);
        }
        let start = self.at;
        self.at += max.min(self.len - start);
        self.consumed += (self.at - start) as u64;
        Ok(self.buf.get(start..self.at).unwrap_or_default())
    }

    #[inline]
    fn byte(&mut self) -> Result<Option<u8>, BatchError> {
        if self.at == self.len && !self.fill()? {
            return Ok(None);
        }
        let b = self.buf.get(self.at).copied();
        self.at += 1;
        self.consumed += 1;
        Ok(b)
    }

    fn skip(&mut self, mut n: u64) -> Result<bool, BatchError> {
        while n > 0 {
            if self.at == self.len && !self.fill()? {
                return Ok(false);
            }
            let step = n.min((self.len - self.at) as u64);
            self.at += step as usize;
            self.consumed += step;
            n -= step;
        }
        Ok(true)
    }

    fn position(&self) -> u64 {
        self.consumed
    }
}

pub(super) fn decompress_error(e: impl std::fmt::Display) -> BatchError {
    BatchError::Decompress(e.to_string())
}

/// Kafka's snappy framing (xerial's: a magic header, then blocks each preceded by its
/// compressed length), or one raw snappy block when the header is absent — as Kafka's Java
/// reader and kafka-protocol's decoder accept both.
const XERIAL_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// Snappy's largest expansion is 64 bytes out of a 3-byte copy; a block that claims more
/// than this per input byte is corrupt, and refusing it before allocating bounds memory.
const SNAPPY_MAX_RATIO: usize = 32;

pub(super) struct SnappySource<'a> {
    /// Compressed bytes not yet decompressed.
    rest: &'a [u8],
    xerial: bool,
    block: Vec<u8>,
    at: usize,
    consumed: u64,
    decoder: snap::raw::Decoder,
}

impl<'a> SnappySource<'a> {
    pub(super) fn new(data: &'a [u8]) -> Result<Self, BatchError> {
        if data.is_empty() {
            return Err(decompress_error("empty snappy stream"));
        }
        let (xerial, rest) = match data.strip_prefix(&XERIAL_MAGIC[..]) {
            Some(rest) => (true, rest),
            None => (false, data),
        };
        Ok(Self {
            rest,
            xerial,
            block: Vec::new(),
            at: 0,
            consumed: 0,
            decoder: snap::raw::Decoder::new(),
        })
    }

    /// Decompress the next block into the reused buffer; `false` when none is left.
    fn next_block(&mut self) -> Result<bool, BatchError> {
        loop {
            if self.rest.is_empty() {
                return Ok(false);
            }
            let compressed = if self.xerial {
                let Some((len, rest)) = self.rest.split_first_chunk::<4>() else {
                    return Err(decompress_error("truncated snappy block length"));
                };
                let len = u32::from_be_bytes(*len) as usize;
                let Some(block) = rest.get(..len) else {
                    return Err(decompress_error("truncated snappy block"));
                };
                self.rest = &rest[len..];
                block
            } else {
                std::mem::take(&mut self.rest)
            };
            let n = snap::raw::decompress_len(compressed).map_err(decompress_error)?;
            if n > compressed.len().saturating_mul(SNAPPY_MAX_RATIO) {
                return Err(decompress_error("snappy block claims an impossible length"));
            }
            self.block.clear();
            self.block.resize(n, 0);
            self.decoder
                .decompress(compressed, &mut self.block)
                .map_err(decompress_error)?;
            self.at = 0;
            if n > 0 {
                return Ok(true);
            }
        }
    }
}

impl Source for SnappySource<'_> {
    fn chunk(&mut self, max: usize) -> Result<&[u8], BatchError> {
        if self.at == self.block.len() && !self.next_block()? {
            return Ok(&[]);
        }
        let start = self.at;
        self.at += max.min(self.block.len() - start);
        self.consumed += (self.at - start) as u64;
        Ok(self.block.get(start..self.at).unwrap_or_default())
    }

    #[inline]
    fn byte(&mut self) -> Result<Option<u8>, BatchError> {
        if self.at == self.block.len() && !self.next_block()? {
            return Ok(None);
        }
        let b = self.block.get(self.at).copied();
        self.at += 1;
        self.consumed += 1;
        Ok(b)
    }

    fn skip(&mut self, mut n: u64) -> Result<bool, BatchError> {
        while n > 0 {
            if self.at == self.block.len() && !self.next_block()? {
                return Ok(false);
            }
            let step = n.min((self.block.len() - self.at) as u64);
            self.at += step as usize;
            self.consumed += step;
            n -= step;
        }
        Ok(true)
    }

    fn position(&self) -> u64 {
        self.consumed
    }
}
