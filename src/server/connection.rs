//! One client connection: the reader task frames and dispatches requests in order; the
//! writer task awaits their responses in the same order and writes them.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::frame::read_frame;
use super::sendfile::send_region;
use crate::api::zero_copy::{Frame, Part};
use crate::api::{dispatch_from, Dispatch, ListenerInfo, ResponseFuture};
use crate::broker::Broker;

/// Requests read ahead of their responses (pipelining) before the reader waits.
const MAX_IN_FLIGHT: usize = 64;

pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    listener: Arc<ListenerInfo>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    let (tx, rx) = mpsc::channel::<ResponseFuture>(MAX_IN_FLIGHT);
    let writer = tokio::spawn(write_responses(rx, BufWriter::new(write_half)).in_current_span());
    let mut reader = BufReader::new(read_half);
    let max = broker.config.max_request_bytes as usize;
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => break,
            frame = read_frame(&mut reader, max) => frame,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::info!(%peer, error = %e, "closing connection: bad frame");
                break;
            }
        };
        match dispatch_from(&broker, &listener, Some(peer), frame) {
            Dispatch::Respond(response) => {
                if tx.send(response).await.is_err() {
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

async fn write_responses(
    mut rx: mpsc::Receiver<ResponseFuture>,
    mut out: BufWriter<tokio::net::tcp::OwnedWriteHalf>,
) {
    while let Some(response) = rx.recv().await {
        match response.await {
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
                    Part::File(region) => {
                        out.flush().await?;
                        send_region(out.get_ref().as_ref(), &region).await?;
                    }
                }
            }
            Ok(())
        }
    }
}
