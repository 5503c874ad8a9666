//! One client connection: after the TLS handshake (SSL, SASL_SSL) and the SASL exchange
//! (SASL_PLAINTEXT, SASL_SSL), the reader task frames and dispatches requests in order; the
//! writer task awaits their responses in the same order and writes them.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::budget::{Budgets, Held};
use super::frame::{read_length, FrameError};
use super::sasl::{Authenticated, Authenticator, Step, MAX_RECEIVE};
use super::sendfile::{copy_region, send_region};
use super::tls::Tls;
use crate::api::zero_copy::{Frame, Part};
use crate::api::{dispatch_from, Connection, Dispatch, ListenerInfo, ResponseFuture, Services};
use crate::quota::Throttle;
use crate::security::oauth::OAuth;
use crate::security::{x509, Principal, SecurityProtocol, Session};

/// Requests read ahead of their responses (pipelining) before the reader waits.
const MAX_IN_FLIGHT: usize = 64;
/// Request bodies are read (and their bytes counted in the budgets) this much at a time.
const CHUNK: usize = 64 * 1024;
/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Kafka re-authenticates a connection at most once a second; a SaslHandshake sooner is an
/// ordinary request (answered ILLEGAL_SASL_STATE).
const MIN_REAUTH_INTERVAL: Duration = Duration::from_secs(1);
/// The api key of SaslHandshake.
const SASL_HANDSHAKE: i16 = 17;

/// A response on its way to the writer, with the request bytes it keeps accounted for.
type Pending = (ResponseFuture, Held);

type Reader = BufReader<Box<dyn AsyncRead + Send + Unpin>>;
type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// Where responses go: a plain socket (file regions by sendfile) or a TLS stream (copied).
enum Out {
    Tcp(BufWriter<tokio::net::tcp::OwnedWriteHalf>),
    Tls(BufWriter<tokio::io::WriteHalf<TlsStream>>),
}

/// How a connection on one listener is secured.
pub struct Security {
    pub protocol: SecurityProtocol,
    pub tls: Option<Arc<Tls>>,
    /// The OAUTHBEARER validator, when that mechanism is enabled.
    pub oauth: Option<Arc<OAuth>>,
}

#[allow(clippy::too_many_arguments)]
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    services: Arc<Services>,
    listener: Arc<ListenerInfo>,
    security: Arc<Security>,
    queued: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let protocol = security.protocol;
    let mut principal = Principal::anonymous();
    let (reader, out): (Reader, Out) = match (&security.tls, protocol.tls()) {
        (Some(tls), true) => {
            let accept = tls.acceptor(protocol).accept(stream);
            let stream = tokio::select! {
                _ = shutdown.cancelled() => return,
                s = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept) => match s {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(%peer, error = %e, "closing connection: TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%peer, "closing connection: TLS handshake timed out");
                        return;
                    }
                },
            };
            if protocol == SecurityProtocol::Ssl {
                if let Some(name) = x509::client_principal_name(stream.get_ref().1) {
                    principal = Principal::user(name);
                }
            }
            let (r, w) = tokio::io::split(stream);
            (
                BufReader::new(Box::new(r) as Box<dyn AsyncRead + Send + Unpin>),
                Out::Tls(BufWriter::new(w)),
            )
        }
        (None, true) => {
            tracing::error!(%peer, "closing connection: TLS listener without certificates");
            return;
        }
        _ => {
            let (r, w) = stream.into_split();
            (
                BufReader::new(Box::new(r) as Box<dyn AsyncRead + Send + Unpin>),
                Out::Tcp(BufWriter::new(w)),
            )
        }
    };
    let mut reader = reader;
    let (tx, rx) = mpsc::channel::<Pending>(MAX_IN_FLIGHT);
    let writer = tokio::spawn(write_responses(rx, out).in_current_span());
    let config = &services.config;
    let budgets = Budgets::new(
        queued,
        config.queued_max_request_bytes,
        config.connection_max_queued_bytes,
    );
    let idle = Duration::from_millis(config.connections_max_idle_ms);
    let max = config.max_request_bytes as usize;
    let mut session = Arc::new(Session {
        principal,
        peer: Some(peer),
        security_protocol: protocol,
        token_authenticated: false,
    });
    let mut authenticator = protocol
        .sasl()
        .then(|| Authenticator::new(services.clone(), security.oauth.clone()));
    let connection = Arc::new(Connection::new(&services.shares));
    let throttle = connection.throttle().clone();
    // The SASL session: its mechanism and end (KIP-368), when the last re-authentication began.
    let mut sasl: Option<Authenticated> = None;
    let mut last_reauth: Option<Instant> = None;
    let counters = &services.metrics.connections;
    loop {
        // A throttled client's connection is muted: nothing more is read from it until its
        // throttle time has passed (its response has gone out already).
        if !wait_out_throttle(&throttle, &shutdown).await {
            break;
        }
        // Before authentication frames are bounded by Kafka's sasl.server.max.receive.size.
        let limit = if authenticator.is_some() {
            max.min(MAX_RECEIVE)
        } else {
            max
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = read_request(&mut reader, limit, &budgets, idle) => next,
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
        // An authenticated SASL session with an end: SaslHandshake re-authenticates; any
        // other request after the end closes the connection (Kafka's SocketServer).
        if let (None, Some(s)) = (&authenticator, &sasl) {
            if let Some(expires) = s.expires {
                let now = Instant::now();
                let handshake = frame.get(..2) == Some(&SASL_HANDSHAKE.to_be_bytes()[..]);
                if handshake && last_reauth.is_none_or(|t| now - t >= MIN_REAUTH_INTERVAL) {
                    last_reauth = Some(now);
                    authenticator = Some(Authenticator::reauthenticate(
                        services.clone(),
                        security.oauth.clone(),
                        s.mechanism.clone(),
                        s.principal.clone(),
                    ));
                } else if now > expires {
                    counters.expired_sessions.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%peer, principal = %s.principal, "closing connection: SASL session expired (connections_max_reauth_ms or the credential's end) and the client did not re-authenticate");
                    break;
                }
            }
        }
        let frame = match authenticator.as_mut() {
            None => frame,
            Some(auth) => match auth.on_frame(frame).await {
                Step::Dispatch(frame) => frame,
                Step::Reply(bytes) => {
                    if tx.send((ready(bytes), held)).await.is_err() {
                        break;
                    }
                    continue;
                }
                Step::Done(done, bytes) => {
                    if auth.reauthenticating() {
                        counters.reauthentications.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, principal = %done.principal, "re-authenticated");
                    } else {
                        tracing::debug!(%peer, principal = %done.principal, "authenticated");
                    }
                    session = Arc::new(Session {
                        principal: done.principal.clone(),
                        peer: Some(peer),
                        security_protocol: protocol,
                        token_authenticated: done.token_authenticated,
                    });
                    sasl = Some(done);
                    authenticator = None;
                    if tx.send((ready(bytes), held)).await.is_err() {
                        break;
                    }
                    continue;
                }
                Step::Fail(answer, why) => {
                    if auth.reauthenticating() {
                        counters
                            .reauthentication_failures
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::info!(%peer, "closing connection: {why}");
                    if let Some(bytes) = answer {
                        let _ = tx.send((ready(bytes), held)).await;
                    }
                    break;
                }
            },
        };
        // A response finished while this frame was being read may have muted the connection.
        if !wait_out_throttle(&throttle, &shutdown).await {
            break;
        }
        match dispatch_from(&services, &listener, &session, &connection, frame) {
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

/// A response that is already encoded.
fn ready(bytes: bytes::Bytes) -> ResponseFuture {
    Box::pin(std::future::ready(Ok(Some(Frame::Encoded(bytes)))))
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
    reader: &mut Reader,
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
        if body.capacity() - body.len() < want {
            body.reserve_exact(growth(body.len(), len));
        }
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

/// Room to reserve (`Vec::reserve_exact`) beyond the `filled` bytes of a frame of `len` bytes:
/// doubling, so each byte is moved O(1) times, but never past the frame, so the buffer ends
/// the frame's exact size (`Vec::reserve` could leave it almost twice that).
fn growth(filled: usize, len: usize) -> usize {
    filled.max(CHUNK).min(len.saturating_sub(filled))
}

async fn write_responses(mut rx: mpsc::Receiver<Pending>, mut out: Out) {
    // Each request's bytes stay accounted for (`_held`) until its response is written.
    while let Some((response, _held)) = rx.recv().await {
        let result = response.await;
        match result {
            Ok(Some(frame)) => {
                if let Err(e) = out.write_frame(frame).await {
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
    out.shutdown().await;
}

impl Out {
    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Out::Tcp(w) => w.write_all(bytes).await,
            Out::Tls(w) => w.write_all(bytes).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Tcp(w) => w.flush().await,
            Out::Tls(w) => w.flush().await,
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Out::Tcp(w) => w.shutdown().await,
            Out::Tls(w) => w.shutdown().await,
        };
    }

    /// Encoded parts go through the buffer; file regions go from the file to the socket
    /// (sendfile) once what precedes them is flushed, so the bytes stay in frame order. Over
    /// TLS the region is read and encrypted like any other bytes.
    async fn write_frame(&mut self, frame: Frame) -> std::io::Result<()> {
        match frame {
            Frame::Encoded(bytes) => self.write_all(&bytes).await,
            Frame::Spliced(parts) => {
                for part in parts {
                    match (part, &mut *self) {
                        (Part::Bytes(bytes), out) => out.write_all(&bytes).await?,
                        (Part::Region(region), Out::Tcp(w)) => {
                            w.flush().await?;
                            send_region(w.get_ref().as_ref(), &region).await?;
                        }
                        (Part::Region(region), Out::Tls(w)) => copy_region(w, &region).await?,
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_buffer_doubles_and_ends_the_frame_size() {
        for len in [1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5, 8 << 20 | 77] {
            let (mut cap, mut steps) = (0, 0);
            while cap < len {
                let grow = growth(cap, len);
                assert!(
                    grow > 0 && (cap == 0 || grow <= cap.max(CHUNK)),
                    "{len}: {cap}+{grow}"
                );
                cap += grow;
                steps += 1;
            }
            assert_eq!(cap, len);
            assert!(
                steps <= 2 + (len / CHUNK).max(1).ilog2() as usize,
                "{len}: {steps}"
            );
        }
    }
}
