//! Zero-copy fetch: record sets that the log returned as [`Region`]s are encoded as
//! placeholder tokens, and the encoded response is split around them, so the connection writer
//! sends the regions (sendfile for disk) between the encoded parts, with the length prefixes
//! (the frame's and each record set's) rewritten for the real sizes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::Region;

/// One piece of a response frame, written in order: bytes, or a region the medium sends.
pub use crate::log::Chunk as Part;

const TOKEN_LEN: usize = 16;

/// A response as it goes onto the wire.
pub enum Frame {
    Encoded(Bytes),
    Spliced(Vec<Part>),
}

/// One record set to send as regions, and the placeholder that stands for it in the encoding.
pub struct FileRecords {
    token: [u8; TOKEN_LEN],
    regions: Vec<Region>,
}

impl FileRecords {
    /// The placeholder to encode as the record set, and what replaces it. The token is random
    /// (a v4 UUID), so no client-chosen bytes elsewhere in the response can match it.
    pub fn new(regions: Vec<Region>) -> (Bytes, Self) {
        let token = uuid::Uuid::new_v4().into_bytes();
        (Bytes::copy_from_slice(&token), Self { token, regions })
    }

    fn len(&self) -> u64 {
        self.regions.iter().map(Region::len).sum()
    }
}

/// A response whose record sets in `files` appear, in encoding order, as placeholders.
pub struct WithFileRecords<R> {
    pub response: R,
    pub files: Vec<FileRecords>,
    /// Records are COMPACT_BYTES (unsigned varint length + 1) in flexible versions, else an
    /// INT32 length.
    pub flexible: bool,
}

/// Split an encoded frame (i32 length first) around the placeholders of `files`.
pub fn splice(encoded: Bytes, files: Vec<FileRecords>, flexible: bool) -> anyhow::Result<Frame> {
    if files.is_empty() {
        return Ok(Frame::Encoded(encoded));
    }
    let placeholder_prefix = length_prefix(TOKEN_LEN as u64, flexible)?;
    let mut parts = Vec::with_capacity(files.len() * 3 + 1);
    let mut total = encoded.len() as u64;
    let mut cursor = 4;
    for f in files {
        let at = encoded[cursor..]
            .windows(TOKEN_LEN)
            .position(|w| w == f.token)
            .map(|i| cursor + i)
            .ok_or_else(|| anyhow::anyhow!("record set placeholder missing from the encoding"))?;
        let prefix_at = at
            .checked_sub(placeholder_prefix.len())
            .filter(|&p| p >= cursor && encoded[p..at] == placeholder_prefix[..])
            .ok_or_else(|| anyhow::anyhow!("record set placeholder without its length"))?;
        let len = f.len();
        let mut head = BytesMut::with_capacity(prefix_at - cursor + 5);
        head.put_slice(&encoded[cursor..prefix_at]);
        let prefix = length_prefix(len, flexible)?;
        head.put_slice(&prefix);
        total += len + prefix.len() as u64;
        total -= (TOKEN_LEN + placeholder_prefix.len()) as u64;
        parts.push(Part::Bytes(head.freeze()));
        parts.extend(f.regions.into_iter().map(Part::Region));
        cursor = at + TOKEN_LEN;
    }
    parts.push(Part::Bytes(encoded.slice(cursor..)));
    let frame_len = i32::try_from(total - 4)?;
    parts.insert(
        0,
        Part::Bytes(Bytes::copy_from_slice(&frame_len.to_be_bytes())),
    );
    Ok(Frame::Spliced(parts))
}

fn length_prefix(len: u64, flexible: bool) -> anyhow::Result<Vec<u8>> {
    let len = u32::try_from(len)?;
    if !flexible {
        return Ok(i32::try_from(len)?.to_be_bytes().to_vec());
    }
    let mut n = len
        .checked_add(1)
        .ok_or_else(|| anyhow::anyhow!("record set too large"))?;
    let mut out = Vec::with_capacity(5);
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::protocol::{Decodable, Encodable};
    use std::sync::Arc;

    use crate::log::storage::memory::MemorySegment;
    use crate::log::SegmentData;

    /// Splicing file regions into a placeholder encoding gives exactly the bytes of encoding
    /// the records inline, in flexible and non-flexible versions.
    #[test]
    fn spliced_frames_equal_inline_encodings() {
        let content: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let data: Arc<dyn SegmentData> = Arc::new(MemorySegment::from(content.clone()));
        let region = |pos: u64, len: u64| Region::new(data.clone(), pos, len, 0);
        for version in [4i16, 11, 12, 16] {
            let sets = [vec![region(0, 200)], vec![region(200, 50), region(10, 40)]];
            let inline: Vec<Bytes> = vec![
                Bytes::copy_from_slice(&content[0..200]),
                Bytes::from([&content[200..250], &content[10..50]].concat()),
            ];
            let response = |records: Vec<Bytes>| {
                let partitions = records
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| {
                        PartitionData::default()
                            .with_partition_index(i as i32)
                            .with_records(Some(r))
                    })
                    .collect();
                FetchResponse::default().with_responses(vec![
                    FetchableTopicResponse::default().with_partitions(partitions)
                ])
            };
            let encode = |r: &FetchResponse| {
                let mut buf = BytesMut::from(&[0u8; 4][..]);
                r.encode(&mut buf, version).unwrap();
                let len = (buf.len() - 4) as i32;
                buf[..4].copy_from_slice(&len.to_be_bytes());
                buf.freeze()
            };
            let expected = encode(&response(inline));
            let (placeholders, files): (Vec<_>, Vec<_>) =
                sets.into_iter().map(FileRecords::new).unzip();
            let Frame::Spliced(parts) =
                splice(encode(&response(placeholders)), files, version >= 12).unwrap()
            else {
                panic!("nothing spliced");
            };
            let mut wire = Vec::new();
            for p in parts {
                match p {
                    Part::Bytes(b) => wire.extend_from_slice(&b),
                    Part::Region(r) => {
                        let (pos, len) = (r.pos() as usize, r.len() as usize);
                        wire.extend_from_slice(&content[pos..pos + len])
                    }
                }
            }
            assert_eq!(wire, expected.to_vec(), "version {version}");
            let mut body = Bytes::from(wire).slice(4..);
            assert!(FetchResponse::decode(&mut body, version).is_ok());
        }
    }

    #[test]
    fn varint_prefixes() {
        assert_eq!(length_prefix(16, true).unwrap(), vec![17]);
        assert_eq!(length_prefix(127, true).unwrap(), vec![0x80, 0x01]);
        assert_eq!(length_prefix(16, false).unwrap(), vec![0, 0, 0, 16]);
    }
}
