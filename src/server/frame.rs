//! Kafka framing: a big-endian i32 length, then that many bytes.

use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {0} is negative")]
    Negative(i32),
    #[error("frame length {len} exceeds the maximum of {max} bytes")]
    TooLarge { len: i32, max: usize },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Read a frame's length prefix and check it; `Ok(None)` when the peer closed the connection
/// between frames. Cancel-safe only if the caller keeps polling the same future.
pub async fn read_length<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<usize>, FrameError> {
    let mut len_buf = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        let n = reader.read(&mut len_buf[filled..]).await?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        filled += n;
    }
    let len = i32::from_be_bytes(len_buf);
    if len < 0 {
        return Err(FrameError::Negative(len));
    }
    if len as usize > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(Some(len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
        let mut r = bytes;
        read_length(&mut r, max).await
    }

    #[tokio::test]
    async fn reads_lengths_and_clean_eof() {
        let mut r: &[u8] = &[0, 0, 0, 2, 0, 0, 0, 0];
        assert_eq!(read_length(&mut r, 10).await.unwrap(), Some(2));
        assert_eq!(read_length(&mut r, 10).await.unwrap(), Some(0));
        assert!(read_length(&mut r, 10).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn rejects_bad_lengths_before_allocating() {
        assert!(matches!(
            read(&[0xff, 0xff, 0xff, 0xff], 100).await,
            Err(FrameError::Negative(-1))
        ));
        // 2 GiB - 1 announced, nothing behind it: refused by size, not by a failed read.
        assert!(matches!(
            read(&[0x7f, 0xff, 0xff, 0xff], 100 << 20).await,
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            read(&[0, 0, 0, 11], 10).await,
            Err(FrameError::TooLarge { len: 11, max: 10 })
        ));
    }

    #[tokio::test]
    async fn a_truncated_length_is_an_error() {
        assert!(matches!(
            read(&[0, 0], 10).await,
            Err(FrameError::Truncated)
        ));
    }
}
