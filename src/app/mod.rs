//! The composition root: opens the stores, builds every service once, wires them together
//! and starts their timers. Nothing else constructs services; the server takes them from
//! here and hands them to the API handlers.

mod scrub;
mod timers;
mod txn_io;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::api::{FetchSessions, Services};
use crate::cluster::SingleNode;
use crate::config::{AuthorizerKind, Config, StorageKind};
use crate::group::{GroupConfig, GroupCoordinator};
use crate::log::storage::postgres::PgLogs;
use crate::metrics::Metrics;
use crate::pg::lease::Lease;
use crate::pg::Db;
use crate::quota::ClientQuotas;
use crate::security::credentials::Credentials;
use crate::security::Authorizer;
use crate::store::{self, KvStore, MemoryStore, PgStore};
use crate::topics::{LogMedia, Topics};
use crate::txn::coordinator::TxnCoordinator;

const CLUSTER_ID_KEY: &[u8] = b"cluster/id";

/// Open the store, load every topic (recovering its logs), the groups and the transactions.
/// Blocks on files and the store: async callers run it on the blocking pool.
pub fn open(config: Config) -> anyhow::Result<Arc<Services>> {
    let mut config = config;
    let (store, media, lease) = open_store(&mut config)?;
    let config = Arc::new(config);
    let cluster_id = cluster_id(store.as_ref(), config.cluster_id.as_deref())?;
    let metrics = Arc::new(Metrics::new(crate::api::APIS.iter().map(|a| a.key)));
    let topics = Arc::new(Topics::open(
        config.clone(),
        store.clone(),
        media,
        metrics.fsync.clone(),
    )?);
    let groups = Arc::new(GroupCoordinator::open(
        store.clone(),
        GroupConfig::from_config(&config),
    )?);
    let quotas = Arc::new(ClientQuotas::open(store.clone())?);
    let authorizer = match config.authorizer {
        AuthorizerKind::None => None,
        AuthorizerKind::Acl => Some(Arc::new(Authorizer::open(
            store.clone(),
            &config.super_user,
            config.allow_everyone_if_no_acl_found,
        )?)),
    };
    let credentials = Arc::new(Credentials::open(store.clone())?);
    let users = config.users()?;
    for user in credentials.bootstrap(&users)? {
        tracing::info!(user = %user, "created SASL user (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN)");
    }
    let txns = TxnCoordinator::open(
        store,
        config.transaction_max_timeout_ms,
        config.transactional_id_expiration_ms,
    )?;
    txns.attach(Arc::new(txn_io::LocalTxnIo::new(&topics, groups.clone())));
    let fetch_sessions = Arc::new(FetchSessions::new(
        config.max_incremental_fetch_session_cache_slots,
    ));
    Ok(Arc::new(Services {
        cluster: Arc::new(SingleNode::new(config.node_id(), cluster_id)),
        config,
        topics,
        groups,
        txns,
        quotas,
        fetch_sessions,
        metrics,
        authorizer,
        credentials,
        lease,
    }))
}

/// The metadata store and where partition logs live. In cluster mode this broker's node id
/// is settled here too (given, kept in the data directory, or new from the database).
type Opened = (Arc<dyn KvStore>, LogMedia, Option<Arc<Lease>>);

fn open_store(config: &mut Config) -> anyhow::Result<Opened> {
    match &config.storage {
        StorageKind::Memory => Ok((Arc::new(MemoryStore::new()), LogMedia::Memory, None)),
        StorageKind::Disk => {
            let meta = config.data_dir.join("meta");
            let logs = config.data_dir.join("logs");
            std::fs::create_dir_all(&meta)
                .with_context(|| format!("creating {}", meta.display()))?;
            std::fs::create_dir_all(&logs)
                .with_context(|| format!("creating {}", logs.display()))?;
            Ok((store::open_disk(&meta)?, LogMedia::Disk(logs), None))
        }
        StorageKind::Postgres(url) => {
            let session = Duration::from_millis(config.broker_session_timeout_ms);
            let db = Db::open(url, session)?;
            let node_id = db.node_id(config.node_id, &config.data_dir)?;
            config.node_id = Some(node_id);
            // Before any state is read: what the previous active broker wrote is final then.
            let lease = Arc::new(Lease::new(db.clone(), node_id, session));
            lease.acquire()?;
            lease.clone().keep(|why| {
                // Another broker may be active by now: serving on would only answer errors
                // (every commit is fenced); a supervisor restarts this one as a standby.
                tracing::error!(why, "lost the active broker's lease: stopping");
                std::process::exit(1);
            });
            let cache = config.data_dir.join("cache");
            let logs = PgLogs::new(db.clone(), node_id, cache.clone())
                .with_context(|| format!("preparing the log cache {}", cache.display()))?;
            tracing::info!(storage = ?db, node_id, "cluster mode: data in PostgreSQL");
            let store = Arc::new(PgStore::new(db));
            Ok((store, LogMedia::Postgres(logs), Some(lease)))
        }
    }
}

/// Start the services' timers: transaction timeouts and producer expiry, the interval
/// flusher, retention and the log cleaner, the background scrub.
pub fn start_timers(services: &Arc<Services>, shutdown: &CancellationToken, tasks: &TaskTracker) {
    tasks.spawn(crate::txn::coordinator::run_driver(
        services.txns.clone(),
        services.config.producer_id_expiration_ms,
        shutdown.clone(),
    ));
    timers::spawn(services, shutdown, tasks);
    scrub::spawn(services, shutdown, tasks);
}

/// Shutdown has begun: answer parked JoinGroup/SyncGroup requests so that their
/// connections can finish.
pub fn begin_shutdown(services: &Services) {
    services.groups.begin_shutdown();
}

/// Stop the coordinators, make everything durable and mark logs cleanly closed.
pub async fn close(services: &Services) {
    services.txns.shutdown();
    services.groups.shutdown();
    services.topics.close().await;
    if let Some(lease) = services.lease.clone() {
        // A standby takes over at once instead of after the session timeout.
        let _ = tokio::task::spawn_blocking(move || lease.release()).await;
    }
}

/// The persisted cluster id, generated (Kafka-style: base64url of a random UUID) on first start.
fn cluster_id(store: &dyn KvStore, configured: Option<&str>) -> anyhow::Result<String> {
    if let Some(id) = store.get(CLUSTER_ID_KEY)? {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    let id = match configured {
        Some(id) => id.to_string(),
        None => base64url(Uuid::new_v4().as_bytes()),
    };
    store.put(CLUSTER_ID_KEY, id.as_bytes())?;
    Ok(id)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = super::base64url(&[0xff; 16]);
        assert_eq!(id.len(), 22);
        assert_eq!(id, "_____________________w");
    }
}
