//! Sending a segment file region to a socket without copying it through user space.

use std::io;

use tokio::net::TcpStream;

use crate::log::FileRegion;

/// Write the whole region to `stream`. A file shorter than the region is an error (the frame
/// would be cut short, so the caller closes the connection).
#[cfg(target_os = "linux")]
pub async fn send_region(stream: &TcpStream, region: &FileRegion) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;

    let end = region.pos + region.len;
    let mut offset = libc::off_t::try_from(region.pos).map_err(io::Error::other)?;
    while (offset as u64) < end {
        stream.writable().await?;
        let count = (end - offset as u64).min(1 << 30) as usize;
        let sent = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors stay open for the call (the stream and the file are
            // borrowed), and `offset` is a valid off_t that the kernel advances.
            let n = unsafe {
                libc::sendfile(
                    stream.as_raw_fd(),
                    region.file.as_raw_fd(),
                    &mut offset,
                    count,
                )
            };
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

/// Elsewhere: read the region and write it.
#[cfg(not(target_os = "linux"))]
pub async fn send_region(stream: &TcpStream, region: &FileRegion) -> io::Result<()> {
    use std::os::unix::fs::FileExt;

    let mut buf = vec![0; region.len as usize];
    region.file.read_exact_at(&mut buf, region.pos)?;
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
