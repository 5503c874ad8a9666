//! CRC-32C (Castagnoli), the checksum of Kafka's record batches and of gregor's own state files.
//! crc-fast folds with carry-less multiplication (AVX-512 or SSE PCLMUL, picked at run time):
//! ~2.5× the SSE4.2 `crc32` instruction loop on data in cache, and every produced byte is
//! checked once on its way in.

use crc_fast::{CrcAlgorithm, Digest};

/// CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(data)
}

/// CRC-32C of data that arrives in pieces.
pub struct Crc32c(Digest);

impl Crc32c {
    pub fn new() -> Self {
        Self(Digest::new(CrcAlgorithm::Crc32Iscsi))
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(&self) -> u32 {
        self.0.finalize() as u32
    }
}

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn check_value() {
        // The CRC-32C catalogue's check value.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    proptest! {
        // Against the crc32c crate (the SSE4.2 loop gregor used before), whole and in pieces,
        // at every length up to a few folding blocks and at odd offsets.
        #[test]
        fn matches_the_reference(data in proptest::collection::vec(any::<u8>(), 0..4096),
                                 start in 0usize..64, cut in 0usize..4096) {
            let data = &data[start.min(data.len())..];
            let expected = crc32c::crc32c(data);
            prop_assert_eq!(crc32c(data), expected);
            let (a, b) = data.split_at(cut.min(data.len()));
            let mut pieces = Crc32c::new();
            pieces.update(a);
            pieces.update(b);
            prop_assert_eq!(pieces.finish(), expected);
        }
    }
}
