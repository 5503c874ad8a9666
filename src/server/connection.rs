//! One client connection: the reader task frames and dispatches requests in order; the
//! writer task awaits their responses in the same order and writes them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::budget::{Budgets, Held};
use super::frame::{read_length, FrameError};
use super::sendfile::send_region;
use crate::api::zero_copy::{Frame, Part};
use crate::api::{dispatch_from, Dispatch, ListenerInfo, ResponseFuture, Services};
use crate::quota::Throttle;
use crate::security::{SecurityProtocol, Session};

/// Requests read ahead of their responses (pipelining) before the reader waits.
const MAX_IN_FLIGHT: usize = 64;
/// Request bodies are read (and their bytes counted in the budgets) this much at a time.
const CHUNK: usize = 64 * 1024;

/// A response on its way to the writer, with the request bytes it keeps accounted for.
type Pending = (ResponseFuture, Held);

pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    services: Arc<Services>,
    listener: Arc<ListenerInfo>,
    queued: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Pending>(MAX_IN_FLIGHT);
    let writer = tokio::spawn(write_responses(rx, BufWriter::new(write_half)).in_current_span());
    let mut reader = BufReader::new(read_half);
    let config = &services.config;
    let budgets = Budgets::new(
        queued,
        config.queued_max_request_bytes,
        config.connection_max_queued_bytes,
    );
    let idle = Duration::from_millis(config.connections_max_idle_ms);
    let max = config.max_request_bytes as usize;
    let session = Arc::new(Session::anonymous(Some(peer), SecurityProtocol::Plaintext));
    let throttle = Arc::new(Throttle::default());
    loop {
        // A throttled client's connection is muted: nothing more is read from it until its
        // throttle time has passed (its response has gone out already).
        if !wait_out_throttle(&throttle, &shutdown).await {
            break;
        }
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = read_request(&mut reader, max, &budgets, idle) => next,
        };
        let (frame, held) = match next {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(Closed::Idle) => {
                tracing::debug!(%peer, "closing connection: idle for {idle:?}");
                break;
            }
            Err(Closed::Frame(e)) => {
                tracing::info!(%peer, error = %e, "closing connection: bad frame");
                break;
            }
        };
        // A response finished while this frame was being read may have muted the connection.
        if !wait_out_throttle(&throttle, &shutdown).await {
            break;
        }
        match dispatch_from(&services, &listener, &session, &throttle, frame) {
            Dispatch::Respond(response) => {
                if tx.send((response, held)).await.is_err() {
                    break;
                }
            }
            Dispatch::Close(why) => {
                tracing::info!(%peer, "closing connection: {why}");
                break;
            }
        }
    }
    // Answer what was already read, then close.
    drop(tx);
    let _ = writer.await;
}

/// Sleep while the connection is muted; false when shutdown began meanwhile.
async fn wait_out_throttle(throttle: &Throttle, shutdown: &CancellationToken) -> bool {
    while let Some(until) = throttle.muted_until() {
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep_until(until.into()) => {}
        }
    }
    true
}

enum Closed {
    /// Nothing sent and nothing awaiting an answer for `connections_max_idle_ms` (or a frame
    /// that took that long to arrive).
    Idle,
    Frame(FrameError),
}

/// The next request frame with its share of the byte budgets; `Ok(None)` when the peer closed
/// the connection between frames.
async fn read_request(
    reader: &mut BufReader<OwnedReadHalf>,
    max: usize,
    budgets: &Budgets,
    idle: Duration,
) -> Result<Option<(bytes::Bytes, Held)>, Closed> {
    // Waiting for the next request is idleness only while nothing awaits an answer (a long
    // poll is not idle). The same future is polled on, so no partly read prefix is lost.
    let len = {
        let length = read_length(reader, max);
        tokio::pin!(length);
        loop {
            tokio::select! {
                len = &mut length => break len.map_err(Closed::Frame)?,
                _ = tokio::time::sleep(idle) => {
                    if budgets.all_answered() {
                        return Err(Closed::Idle);
                    }
                }
            }
        }
    };
    let Some(len) = len else { return Ok(None) };
    // The body grows with the bytes that arrive, and they are counted in the budgets as they
    // do: a frame announced but not sent holds nothing, and once a budget is spent this
    // connection stops reading (at most one more read of CHUNK bytes is buffered uncounted).
    let mut held = Held::default();
    let mut body = Vec::new();
    while body.len() < len {
        let want = (len - body.len()).min(CHUNK);
        body.reserve(want);
        let mut limited = (&mut *reader).take(want as u64);
        match tokio::time::timeout(idle, limited.read_buf(&mut body)).await {
            Ok(Ok(0)) => return Err(Closed::Frame(FrameError::Truncated)),
            Ok(Ok(n)) => budgets.take(&mut held, len, n).await,
            Ok(Err(e)) => return Err(Closed::Frame(e.into())),
            Err(_) => return Err(Closed::Idle),
        }
    }
    Ok(Some((bytes::Bytes::from(body), held)))
}

async fn write_responses(
    mut rx: mpsc::Receiver<Pending>,
    mut out: BufWriter<tokio::net::tcp::OwnedWriteHalf>,
) {
    // Each request's bytes stay accounted for (`_held`) until its response is written.
    while let Some((response, _held)) = rx.recv().await {
        let result = response.await;
        match result {
            Ok(Some(frame)) => {
                if let Err(e) = write_frame(&mut out, frame).await {
                    tracing::debug!(error = %e, "closing connection: write failed");
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "closing connection: could not encode a response");
                return;
            }
        }
        // Coalesce writes while more responses are ready; flush when the queue drains.
        if rx.is_empty() && out.flush().await.is_err() {
            return;
        }
    }
    let _ = out.shutdown().await;
}

/// Encoded parts go through the buffer; file regions go from the file to the socket
/// (sendfile) once what precedes them is flushed, so the bytes stay in frame order.
async fn write_frame(
    out: &mut BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    frame: Frame,
) -> std::io::Result<()> {
    match frame {
        Frame::Encoded(bytes) => out.write_all(&bytes).await,
        Frame::Spliced(parts) => {
            for part in parts {
                match part {
                    Part::Bytes(bytes) => out.write_all(&bytes).await?,
                    Part::Region(region) => {
                        out.flush().await?;
                        send_region(out.get_ref().as_ref(), &region).await?;
                    }
                }
            }
            Ok(())
        }
    }
}
