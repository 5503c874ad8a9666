//! The network side: listeners, connections, graceful shutdown.

mod budget;
mod connection;
pub mod frame;
mod scrub;
mod sendfile;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::api::ListenerInfo;
use crate::broker::Broker;
use crate::config::{Config, FsyncPolicy};

/// How long shutdown waits for connections to finish their in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker that is serving; [`RunningBroker::shutdown`] stops it cleanly.
pub struct RunningBroker {
    pub broker: Arc<Broker>,
    /// Each listener's advertised address and the address it is bound to.
    pub listeners: Vec<(ListenerInfo, SocketAddr)>,
    /// Where /metrics and /health are served (`metrics_listen`), if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl RunningBroker {
    /// The bound address of the first listener.
    pub fn addr(&self) -> SocketAddr {
        self.listeners[0].1
    }

    /// Stop accepting, let connections answer what they have read, make data durable.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        // Parked JoinGroup/SyncGroup requests would hold their connections open.
        self.broker.groups.begin_shutdown();
        self.tasks.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still busy after {DRAIN_TIMEOUT:?}; closing anyway");
        }
        self.broker.close().await;
    }
}

/// Open the broker and bind every listener (port 0 picks a free port).
pub async fn start(config: Config) -> anyhow::Result<RunningBroker> {
    let specs = config.listeners()?;
    let broker = tokio::task::spawn_blocking(move || Broker::open(config)).await??;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let limits = Limits {
        connections: Arc::new(Semaphore::new(broker.config.max_connections)),
        queued: Arc::new(Semaphore::new(
            broker.config.queued_max_request_bytes as usize,
        )),
    };
    let mut listeners = Vec::new();
    for spec in specs {
        let listener = TcpListener::bind(&spec.bind)
            .await
            .with_context(|| format!("binding listener {} to {}", spec.name, spec.bind))?;
        let bound = listener.local_addr()?;
        let (host, port) = spec.advertised.clone().unwrap_or_else(|| {
            let ip = bound.ip();
            let host = if ip.is_unspecified() {
                "localhost".to_string()
            } else {
                ip.to_string()
            };
            (host, bound.port())
        });
        let info = ListenerInfo {
            name: spec.name.clone(),
            host,
            port,
        };
        tracing::info!(listener = %info.name, bind = %bound, advertised = %format!("{}:{}", info.host, info.port), "listening");
        listeners.push((info.clone(), bound));
        tasks.spawn(accept_loop(
            listener,
            Arc::new(info),
            broker.clone(),
            limits.clone(),
            shutdown.clone(),
            tasks.clone(),
        ));
    }
    tasks.spawn(crate::txn::coordinator::run_driver(
        broker.txns.clone(),
        broker.config.producer_id_expiration_ms,
        shutdown.clone(),
    ));
    // Last, so that /health answering means every Kafka listener accepts connections.
    let metrics_addr = match &broker.config.metrics_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener to {addr}"))?;
            let bound = listener.local_addr()?;
            tracing::info!(bind = %bound, "serving /metrics and /health");
            tasks.spawn(crate::metrics::http::serve(
                listener,
                broker.clone(),
                shutdown.clone(),
                tasks.clone(),
            ));
            Some(bound)
        }
        None => None,
    };
    if let FsyncPolicy::Interval(ms) = broker.config.fsync {
        tasks.spawn(flush_periodically(
            broker.clone(),
            Duration::from_millis(ms.max(1)),
            shutdown.clone(),
        ));
    }
    tasks.spawn(maintain_logs(broker.clone(), shutdown.clone()));
    scrub::spawn(&broker, &shutdown, &tasks);
    Ok(RunningBroker {
        broker,
        listeners,
        metrics_addr,
        shutdown,
        tasks,
    })
}

/// Run until SIGINT or SIGTERM, then shut down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let running = start(config).await?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, node_id = running.broker.node_id, cluster_id = %running.broker.cluster_id, "gregor started");
    wait_for_signal().await?;
    tracing::info!("shutting down");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// What every listener's connections share.
#[derive(Clone)]
struct Limits {
    /// One permit a connection (`max_connections`).
    connections: Arc<Semaphore>,
    /// One permit a byte of requests read and not yet answered (`queued_max_request_bytes`).
    queued: Arc<Semaphore>,
}

async fn accept_loop(
    listener: TcpListener,
    info: Arc<ListenerInfo>,
    broker: Arc<Broker>,
    limits: Limits,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        // Wait for a free connection slot before accepting (the cap on connections).
        if limits.connections.available_permits() == 0 {
            broker
                .metrics
                .connections
                .cap_reached
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = limits.connections.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let span = tracing::debug_span!("connection", %peer, listener = %info.name);
        tasks.spawn(
            {
                let (broker, info, shutdown) = (broker.clone(), info.clone(), shutdown.clone());
                let queued = limits.queued.clone();
                let open = broker.metrics.connections.accepted();
                async move {
                    connection::serve(stream, peer, broker, info, queued, shutdown).await;
                    drop(open);
                    drop(permit);
                }
            }
            .instrument(span),
        );
    }
}

/// Retention every `log_retention_check_interval_ms`, the log cleaner every
/// `log_cleaner_backoff_ms`; both do file I/O, so they run on the blocking pool.
async fn maintain_logs(broker: Arc<Broker>, shutdown: CancellationToken) {
    // The first runs come one period after start-up (Kafka also delays its first retention
    // check), not at once.
    let every = |ms: u64| {
        let period = Duration::from_millis(ms.max(1));
        tokio::time::interval_at(tokio::time::Instant::now() + period, period)
    };
    let mut retention = every(broker.config.log_retention_check_interval_ms);
    let mut cleaner = every(broker.config.log_cleaner_backoff_ms);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    cleaner.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let b = broker.clone();
        let job: Box<dyn FnOnce() + Send> = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = retention.tick() => Box::new(move || b.enforce_retention(crate::clock::now_ms())),
            _ = cleaner.tick() => Box::new(move || b.clean_logs(crate::clock::now_ms())),
        };
        let _ = tokio::task::spawn_blocking(job).await;
    }
}

async fn flush_periodically(broker: Arc<Broker>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => broker.flush_all().await,
        }
    }
}
