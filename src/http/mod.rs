//! The HTTP listener (`--http-listen`, also `--metrics-listen`): one HTTP stack (axum on
//! hyper) for everything gregor serves over HTTP — Prometheus `/metrics`, `/health`, the REST
//! Proxy API (v2 produce and consumer instances, v3 admin and produce) and its OpenAPI
//! document.
//!
//! The REST API is a Kafka client inside the broker: every call is translated into Kafka
//! requests that go through `api::dispatch_from`, the path a Kafka connection's requests take
//! (`kafka.rs`), so produce appends, validation, authorization, quotas and durability (a
//! produce is answered once the append is durable, as acks=all) are the Kafka handlers' own.

mod admin_v3;
mod auth;
pub mod client;
mod consumers_v2;
mod content_type;
pub mod error;
mod groups_v3;
mod kafka;
mod openapi;
mod partitioner;
mod produce_v2;
pub mod records;
mod records_v3;
mod router;
pub mod scrape;
mod scrape_share;
mod topics_v2;

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::api::{ListenerInfo, Services};
use crate::security::Session;

/// A client that sends no complete request head in this time is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 1024;
/// How long shutdown lets a connection finish the request it is answering.
const DRAIN: Duration = Duration::from_secs(5);

/// The state every handler gets.
pub type Gw = Arc<Gateway>;

/// What every HTTP request's handler shares.
pub struct Gateway {
    services: Arc<Services>,
    /// The Kafka listener whose address in-process requests see as theirs (brokers' hosts in
    /// Metadata answers).
    listener: Arc<ListenerInfo>,
    /// Where a keyless record goes next (round robin over a topic's partitions).
    next_partition: Arc<AtomicUsize>,
    /// REST Proxy v2 consumer instances.
    consumers: Arc<consumers_v2::Consumers>,
    /// Who the requests are from; None: anonymous, from the caller's peer address.
    session: Option<Arc<Session>>,
}

impl Gateway {
    /// A gateway of its own for another in-broker client (the MQTT listener): the same
    /// Kafka requests through the same dispatch.
    pub fn new(services: Arc<Services>, kafka_listener: ListenerInfo) -> Self {
        Self {
            services,
            listener: Arc::new(kafka_listener),
            next_partition: Arc::new(AtomicUsize::new(0)),
            consumers: Arc::default(),
            session: None,
        }
    }

    /// The same gateway (its consumer instances too) making its requests as `session` (an
    /// HTTP request's or an MQTT client's user; the broker's own principal), so the Kafka
    /// handlers authorize them as that principal's.
    pub fn acting_as(&self, session: Arc<Session>) -> Self {
        self.acting_for(Some(session))
    }

    /// The same gateway acting as `session`, or anonymously.
    fn acting_for(&self, session: Option<Arc<Session>>) -> Self {
        Self {
            services: self.services.clone(),
            listener: self.listener.clone(),
            next_partition: self.next_partition.clone(),
            consumers: self.consumers.clone(),
            session,
        }
    }
}

/// The client's address, put on each request by the connection that read it.
#[derive(Clone, Copy)]
struct Peer(SocketAddr);

/// A TLS acceptor for each new HTTPS connection (the broker's current certificates).
pub type Acceptor = Arc<dyn Fn() -> TlsAcceptor + Send + Sync>;

/// The HTTP listeners: plain, and HTTPS with its acceptor. They serve the same routes, one
/// gateway (consumer instances included) and one connection limit.
pub struct Listeners {
    pub http: Option<TcpListener>,
    pub https: Option<(TcpListener, Acceptor)>,
}

/// Accept HTTP and HTTPS connections until shutdown.
pub async fn serve(
    listeners: Listeners,
    services: Arc<Services>,
    kafka_listener: ListenerInfo,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let gateway = Arc::new(Gateway::new(services, kafka_listener));
    let app = router::router(gateway);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    if let Some(listener) = listeners.http {
        let (app, slots, shutdown) = (app.clone(), slots.clone(), shutdown.clone());
        tasks.spawn(accept(listener, None, app, slots, shutdown, tasks.clone()));
    }
    if let Some((listener, tls)) = listeners.https {
        tasks.spawn(accept(
            listener,
            Some(tls),
            app,
            slots,
            shutdown,
            tasks.clone(),
        ));
    }
}

/// One listener's accept loop.
async fn accept(
    listener: TcpListener,
    tls: Option<Acceptor>,
    app: axum::Router,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "http: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (app, shutdown, tls) = (app.clone(), shutdown.clone(), tls.clone());
        tasks.spawn(async move {
            match tls {
                None => serve_connection(stream, app, peer, shutdown).await,
                // The handshake is bounded as a request head is: a silent client holds no slot.
                Some(tls) => match tokio::time::timeout(HEADER_TIMEOUT, tls().accept(stream)).await
                {
                    Ok(Ok(stream)) => serve_connection(stream, app, peer, shutdown).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, %peer, "https: TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "https: TLS handshake timed out"),
                },
            }
            drop(permit);
        });
    }
}

/// Serve one connection's requests (HTTP/1.1) until it closes or shutdown drains it.
async fn serve_connection<S>(
    stream: S,
    app: axum::Router,
    peer: SocketAddr,
    shutdown: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
        req.extensions_mut().insert(Peer(peer));
        app.clone().oneshot(req.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::time::timeout(DRAIN, conn.as_mut()).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "http: connection ended");
    }
}
