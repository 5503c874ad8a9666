//! Sending a log [`Region`] to a socket: with sendfile, without copying it through user
//! space, when the medium offers a descriptor (disk); otherwise by reading it.

use std::io;

use tokio::net::TcpStream;

use crate::log::Region;

/// Write the whole region to `stream`. A segment shorter than the region is an error (the
/// frame would be cut short, so the caller closes the connection).
pub async fn send_region(stream: &TcpStream, region: &Region) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(fd) = region.fd() {
        return sendfile(stream, fd, region.pos(), region.len()).await;
    }
    copy(stream, region).await
}

#[cfg(target_os = "linux")]
async fn sendfile(
    stream: &TcpStream,
    fd: std::os::fd::BorrowedFd<'_>,
    pos: u64,
    len: u64,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;

    let end = pos + len;
    let mut offset = libc::off_t::try_from(pos).map_err(io::Error::other)?;
    while (offset as u64) < end {
        stream.writable().await?;
        let count = (end - offset as u64).min(1 << 30) as usize;
        let sent = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors stay open for the call (the stream and the region are
            // borrowed), and `offset` is a valid off_t that the kernel advances.
            let n =
                unsafe { libc::sendfile(stream.as_raw_fd(), fd.as_raw_fd(), &mut offset, count) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read the region and write it (media without a descriptor, systems without sendfile).
async fn copy(stream: &TcpStream, region: &Region) -> io::Result<()> {
    let mut buf = vec![0; region.len() as usize];
    region.read_exact_at(0, &mut buf)?;
    let mut written = 0;
    while written < buf.len() {
        stream.writable().await?;
        match stream.try_write(&buf[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read the region a chunk at a time into `out` (a TLS stream, which must encrypt it).
pub async fn copy_region<W: tokio::io::AsyncWrite + Unpin>(
    out: &mut W,
    region: &Region,
) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    const CHUNK: u64 = 64 * 1024;
    let mut buf = vec![0; region.len().min(CHUNK) as usize];
    let mut done = 0;
    while done < region.len() {
        let n = (region.len() - done).min(CHUNK) as usize;
        region.read_exact_at(done, &mut buf[..n])?;
        out.write_all(&buf[..n]).await?;
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::send_region;
    use crate::log::storage::memory::MemorySegment;
    use crate::log::{Region, SegmentData};

    /// A region is sent byte for byte, from a descriptor (disk) or by reading (memory).
    #[tokio::test]
    async fn regions_arrive_whole_from_either_medium() {
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&content).unwrap();
        let disk: Arc<dyn SegmentData> = Arc::new(file);
        let memory: Arc<dyn SegmentData> = Arc::new(MemorySegment::from(content.clone()));
        assert!(disk.fd().is_some() && memory.fd().is_none());
        for data in [disk, memory] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap());
            let (client, accepted) = tokio::join!(client, listener.accept());
            let (mut client, (server, _)) = (client.unwrap(), accepted.unwrap());
            let region = Region::new(data, 1_000, 150_000, 0);
            let reader = async {
                let mut got = vec![0; 150_000];
                client.read_exact(&mut got).await.unwrap();
                got
            };
            let (sent, got) = tokio::join!(send_region(&server, &region), reader);
            sent.unwrap();
            assert_eq!(got, content[1_000..151_000]);
            // The copying path (TLS) sends the same bytes.
            let mut copied = Vec::new();
            super::copy_region(&mut copied, &region).await.unwrap();
            assert_eq!(copied, content[1_000..151_000]);
        }
    }
}
