//! The network side: listeners, connections, graceful shutdown.

mod budget;
mod connection;
pub mod frame;

mod sasl;
mod sendfile;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::api::{ListenerInfo, Services};
use crate::app;
use crate::config::Config;
use crate::security::oauth::OAuth;
use connection::Security;
use tls::Tls;

/// How long shutdown waits for connections to finish their in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker that is serving; [`RunningBroker::shutdown`] stops it cleanly.
pub struct RunningBroker {
    pub services: Arc<Services>,
    /// Each listener's advertised address and the address it is bound to.
    pub listeners: Vec<(ListenerInfo, SocketAddr)>,
    /// Where the HTTP listener (`http_listen`, alias `metrics_listen`: /metrics, /health, the
    /// REST API) is bound, if anywhere.
    pub http_addr: Option<SocketAddr>,
    /// Where the HTTPS listener (`https_listen`: the same endpoints over TLS) is bound.
    pub https_addr: Option<SocketAddr>,
    /// Where the MQTT listener (`mqtt_listen`) is bound, if anywhere.
    pub mqtt_addr: Option<SocketAddr>,
    /// Where the MQTT TLS listener (`mqtt_tls_listen`) is bound, if anywhere.
    pub mqtt_tls_addr: Option<SocketAddr>,
    /// The TLS certificates, when configured ([`RunningBroker::reload`]).
    tls: Option<Arc<Tls>>,
    /// The OAUTHBEARER validator and its JWKS, when that mechanism is enabled.
    oauth: Option<Arc<OAuth>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl RunningBroker {
    /// Re-read the TLS certificate, key and client CA files and the OAUTHBEARER JWKS file
    /// (SIGHUP); new connections (and OAUTHBEARER exchanges) use them. On an error the old
    /// ones stay (each file set on its own).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let (tls, oauth) = (self.tls.clone(), self.oauth.clone());
        tokio::task::spawn_blocking(move || {
            let tls = tls.map_or(Ok(()), |t| t.reload());
            let oauth = oauth.map_or(Ok(()), |o| o.reload());
            tls.and(oauth)
        })
        .await?
    }

    /// The bound address of the first listener.
    pub fn addr(&self) -> SocketAddr {
        self.listeners[0].1
    }

    /// Stop accepting, let connections answer what they have read, make data durable.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        // Parked JoinGroup/SyncGroup requests would hold their connections open.
        app::begin_shutdown(&self.services);
        self.tasks.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still busy after {DRAIN_TIMEOUT:?}; closing anyway");
        }
        app::close(&self.services).await;
    }
}

/// Open the broker and bind every listener (port 0 picks a free port).
pub async fn start(config: Config) -> anyhow::Result<RunningBroker> {
    let specs = config.listeners()?;
    let services = tokio::task::spawn_blocking(move || app::open(config)).await??;
    let config = services.config.clone();
    let tls = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || Tls::load(config)).await??
    }
    .map(Arc::new);
    let oauth = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || OAuth::load(&config)).await??
    }
    .map(Arc::new);
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let limits = Limits {
        connections: Arc::new(Semaphore::new(config.max_connections)),
        queued: Arc::new(Semaphore::new(config.queued_max_request_bytes as usize)),
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
        tracing::info!(listener = %info.name, protocol = spec.protocol.name(), bind = %bound, advertised = %format!("{}:{}", info.host, info.port), "listening");
        let security = Arc::new(Security {
            protocol: spec.protocol,
            tls: tls.clone(),
            oauth: oauth.clone(),
        });
        listeners.push((info.clone(), bound));
        tasks.spawn(accept_loop(
            listener,
            Arc::new(info),
            security,
            services.clone(),
            limits.clone(),
            shutdown.clone(),
            tasks.clone(),
        ));
    }
    if services.membership.is_some() {
        let (services, infos) = (
            services.clone(),
            listeners.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(),
        );
        tokio::task::spawn_blocking(move || app::advertise(&services, &infos)).await?;
    }
    app::start_timers(&services, &shutdown, &tasks);
    // Last, so that /health answering means every Kafka listener accepts connections.
    let (http_addr, https_addr) = start_http(
        &config,
        &services,
        &listeners,
        tls.as_ref(),
        &shutdown,
        &tasks,
    )
    .await?;
    let (mqtt_addr, mqtt_tls_addr) = start_mqtt(
        &config,
        &services,
        &listeners,
        tls.as_ref(),
        &shutdown,
        &tasks,
    )
    .await?;
    Ok(RunningBroker {
        services,
        listeners,
        http_addr,
        https_addr,
        mqtt_addr,
        mqtt_tls_addr,
        tls,
        oauth,
        shutdown,
        tasks,
    })
}

/// Bind the HTTP listeners (`http_listen`, `https_listen` with the Kafka SSL listeners'
/// certificates) and serve them; their bound addresses.
async fn start_http(
    config: &Config,
    services: &Arc<Services>,
    listeners: &[(ListenerInfo, SocketAddr)],
    tls: Option<&Arc<Tls>>,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<(Option<SocketAddr>, Option<SocketAddr>)> {
    let mut http = crate::http::Listeners {
        http: None,
        https: None,
    };
    if let Some(addr) = config.http_address() {
        http.http =
            Some(bind_gateway(addr, "HTTP", "HTTP: /metrics, /health, the REST API").await?);
    }
    if let Some(addr) = &config.https_listen {
        let tls = tls
            .cloned()
            .context("https_listen needs ssl_cert and ssl_key")?;
        let tcp = bind_gateway(addr, "HTTPS", "HTTPS: /metrics, /health, the REST API").await?;
        // As a SASL_SSL listener: no client certificate; callers use HTTP Basic.
        let acceptor: crate::http::Acceptor =
            Arc::new(move || tls.acceptor(crate::config::SecurityProtocol::SaslSsl));
        http.https = Some((tcp, acceptor));
    }
    let bound = (
        http.http
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?,
        http.https
            .as_ref()
            .map(|(l, _)| l.local_addr())
            .transpose()?,
    );
    if bound != (None, None) {
        tasks.spawn(crate::http::serve(
            http,
            services.clone(),
            listeners[0].0.clone(),
            shutdown.clone(),
            tasks.clone(),
        ));
    }
    Ok(bound)
}

/// Bind a gateway's listener (`kind`: HTTP, MQTT, ...), logging what it serves.
async fn bind_gateway(addr: &str, kind: &str, serves: &str) -> anyhow::Result<TcpListener> {
    let tcp = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {kind} listener to {addr}"))?;
    tracing::info!(bind = %tcp.local_addr()?, "serving {serves}");
    Ok(tcp)
}

/// Bind the MQTT listeners (`mqtt_listen`, `mqtt_tls_listen` with the Kafka SSL listeners'
/// certificates and client CA) and serve them; their bound addresses.
async fn start_mqtt(
    config: &Config,
    services: &Arc<Services>,
    listeners: &[(ListenerInfo, SocketAddr)],
    tls: Option<&Arc<Tls>>,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<(Option<SocketAddr>, Option<SocketAddr>)> {
    if config.mqtt_listen.is_none() && config.mqtt_tls_listen.is_none() {
        return Ok((None, None));
    }
    let map = crate::mqtt::TopicMap::parse(&config.mqtt_topic_map)
        .map_err(|e| anyhow::anyhow!("mqtt_topic_map {e}"))?;
    let settings = crate::mqtt::Settings {
        map,
        max_packet_bytes: usize::try_from(config.mqtt_max_packet_bytes)?,
        max_inflight: usize::try_from(config.mqtt_max_inflight)?,
        allow_anonymous: config.mqtt_allow_anonymous,
    };
    let mut bound = (None, None);
    let mut mqtt_listeners = Vec::new();
    if let Some(addr) = &config.mqtt_listen {
        let tcp = bind_gateway(addr, "MQTT", "MQTT").await?;
        bound.0 = Some(tcp.local_addr()?);
        mqtt_listeners.push(crate::mqtt::Listener { tcp, tls: None });
    }
    if let Some(addr) = &config.mqtt_tls_listen {
        let tls = tls
            .cloned()
            .context("mqtt_tls_listen needs ssl_cert and ssl_key")?;
        let tcp = bind_gateway(addr, "MQTT TLS", "MQTT over TLS").await?;
        bound.1 = Some(tcp.local_addr()?);
        // As a Kafka SSL listener: client certificates required when ssl_client_ca is set.
        let acceptor: crate::mqtt::Acceptor =
            Arc::new(move || tls.acceptor(crate::config::SecurityProtocol::Ssl));
        mqtt_listeners.push(crate::mqtt::Listener {
            tcp,
            tls: Some(acceptor),
        });
    }
    tasks.spawn(crate::mqtt::serve(
        mqtt_listeners,
        services.clone(),
        listeners[0].0.clone(),
        settings,
        shutdown.clone(),
        tasks.clone(),
    ));
    Ok(bound)
}

/// Run until SIGINT or SIGTERM, then shut down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // The handlers go in before start-up: a SIGTERM that arrives while the listeners are
    // bound (a supervisor stopping a broker it just started) is then a clean stop once
    // start-up is done, not the default action's death by signal.
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut interrupt) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
    );
    let mut hangup = signal(SignalKind::hangup())?;
    let running = start(config).await?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, node_id = running.services.cluster.this_node(), cluster_id = %running.services.cluster.cluster_id(), "gregor started");
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => match running.reload().await {
                Ok(()) => tracing::info!("SIGHUP: TLS certificates and JWKS reloaded"),
                Err(e) => tracing::error!(error = %e, "SIGHUP: not reloaded; the old certificates or keys stay"),
            },
        }
    }
    tracing::info!("shutting down");
    running.shutdown().await;
    tracing::info!("stopped");
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
    security: Arc<Security>,
    services: Arc<Services>,
    limits: Limits,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        // Wait for a free connection slot before accepting (the cap on connections).
        if limits.connections.available_permits() == 0 {
            services
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
                let (services, info, shutdown) = (services.clone(), info.clone(), shutdown.clone());
                let security = security.clone();
                let queued = limits.queued.clone();
                let open = services.metrics.connections.accepted();
                async move {
                    connection::serve(stream, peer, services, info, security, queued, shutdown)
                        .await;
                    drop(open);
                    drop(permit);
                }
            }
            .instrument(span),
        );
    }
}
