//! The composition root: opens the stores, builds every service once, wires them together
//! and starts their timers. Nothing else constructs services; the server takes them from
//! here and hands them to the API handlers.

mod cluster;
mod dead_letters;
mod markers;
mod scrub;
mod share_import;
mod timers;
mod txn_adds;
mod txn_io;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::api::{FetchSessions, ListenerInfo, Services};
use crate::cluster::{ClusterView, SharedView, SingleNode};
use crate::config::{AuthorizerKind, Config, StorageKind};
use crate::features::Features;
use crate::group::{GroupConfig, GroupCoordinator};
use crate::log::storage::postgres::PgLogs;
use crate::log_levels::LogLevels;
use crate::metrics::Metrics;
use crate::pg::membership::Membership;
use crate::pg::Db;
use crate::quota::ClientQuotas;
use crate::security::credentials::Credentials;
use crate::security::tokens::{DelegationTokens, TokenSettings};
use crate::security::Authorizer;
use crate::shares::{notices, Shares};
use crate::store::{
    self, KvShareStates, KvStore, MemoryStore, PgShareStates, PgStore, ShareStates,
};
use crate::telemetry::Telemetry;
use crate::topics::{LogMedia, Topics};
use crate::txn::coordinator::TxnCoordinator;

const CLUSTER_ID_KEY: &[u8] = b"cluster/id";

/// Open the store, load every topic (recovering its logs), the groups and the transactions.
/// In cluster mode join the cluster first and open the partitions placed here.
/// Blocks on files and the store: async callers run it on the blocking pool.
pub fn open(config: Config) -> anyhow::Result<Arc<Services>> {
    let mut config = config;
    let (store, media, membership) = open_store(&mut config)?;
    let config = Arc::new(config);
    let cluster_id = cluster_id(store.as_ref(), config.cluster_id.as_deref())?;
    let metrics = Arc::new(Metrics::new(
        crate::api::APIS
            .iter()
            .filter(|a| a.enabled(&config))
            .map(|a| a.key),
    ));
    let topics = Arc::new(Topics::open(
        config.clone(),
        store.clone(),
        media,
        metrics.fsync.clone(),
    )?);
    // In cluster mode the coordinators serve on the broker holding the coordinator's lease;
    // the others hold nothing until they take it over.
    let coordinating = match &membership {
        Some(m) => m.try_coordinate()?,
        None => true,
    };
    let group_config = GroupConfig::from_config(&config);
    // Share-partition states: in cluster mode in their own table, each written by its
    // partition's leader under the log's fence; on one node beside the groups.
    let share_states: Arc<dyn ShareStates> = match &membership {
        Some(m) => Arc::new(PgShareStates::new(m.db().clone()).fenced_by(m.coordinator_holder())),
        None => Arc::new(KvShareStates::new(store.clone())),
    };
    if let (Some(m), true) = (&membership, coordinating) {
        share_import::import_legacy(m.db(), &store, &topics)?;
    }
    let groups = Arc::new(if coordinating {
        GroupCoordinator::open(store.clone(), group_config, share_states.clone())?
    } else {
        GroupCoordinator::standby(store.clone(), group_config, share_states.clone())?
    });
    let shares = Arc::new(Shares::open(
        share_states,
        store.clone(),
        groups.group_configs().clone(),
        usize::try_from(config.group_share_max_share_sessions).unwrap_or(1),
    )?);
    match &membership {
        // Every broker serves the share-partitions of the partitions it leads: the cluster
        // tick adopts them as it opens them, and the coordinator's news comes as notices.
        Some(m) => {
            groups.set_share_events(Arc::new(notices::Announcer::new(m.db().clone())));
            let left = m.clone();
            notices::listen(m.db().clone(), shares.clone(), move || left.has_left())?;
        }
        None => {
            shares.adopt(led_partitions(&topics))?;
            groups.set_share_events(shares.clone());
        }
    }
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
    let tokens = Arc::new(DelegationTokens::open(
        store.clone(),
        TokenSettings {
            secret: config.delegation_token_secret_key.clone(),
            max_lifetime_ms: config.delegation_token_max_lifetime_ms.min(i64::MAX as u64) as i64,
            expiry_time_ms: config.delegation_token_expiry_time_ms.min(i64::MAX as u64) as i64,
        },
    )?);
    let telemetry = Arc::new(Telemetry::open(store.clone())?);
    let features = Arc::new(Features::open(store.clone(), config.node_id())?);
    let users = config.users()?;
    for user in credentials.bootstrap(&users)? {
        tracing::info!(user = %user, "created SASL user (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN)");
    }
    let kv = store.clone();
    let txns = TxnCoordinator::open(
        store,
        config.transaction_max_timeout_ms,
        config.transactional_id_expiration_ms,
        coordinating,
    )?;
    let marker_queue = membership.as_ref().map(|m| m.db().clone());
    txns.attach(Arc::new(txn_io::LocalTxnIo::new(
        &topics,
        groups.clone(),
        marker_queue,
    )));
    let (view, shared): (Arc<dyn ClusterView>, _) = match &membership {
        None => (
            Arc::new(SingleNode::new(config.node_id(), cluster_id)),
            None,
        ),
        Some(m) => {
            let view = Arc::new(SharedView::new(m.node_id(), cluster_id, Default::default()));
            (view.clone(), Some(view))
        }
    };
    let fetch_sessions = Arc::new(FetchSessions::new(
        config.max_incremental_fetch_session_cache_slots,
    ));
    let services = Arc::new(Services {
        log_levels: Arc::new(LogLevels::new(&config.log)),
        cluster: view,
        config,
        topics,
        groups,
        shares,
        txns,
        quotas,
        fetch_sessions,
        metrics,
        telemetry,
        authorizer,
        credentials,
        tokens,
        membership,
        features,
    });
    if let (Some(m), Some(view)) = (services.membership.clone(), shared) {
        let member = cluster::Member::new(services.clone(), m.clone(), view, kv);
        // Before the listeners open: the partitions placed here are served from the start.
        member.tick()?;
        member.spawn();
        txn_adds::spawn(services.txns.clone(), m.clone());
        markers::spawn(&services.topics, m);
    }
    Ok(services)
}

/// Run `round` on a thread of its own named `name` until the broker leaves the cluster: at
/// once when a notice comes on `channel`, and at the latest every `every` (notices are only
/// hints: one is lost to a reconnection, or came before this broker listened).
fn on_notices(
    name: &str,
    membership: Arc<Membership>,
    channel: &'static str,
    every: Duration,
    mut round: impl FnMut() + Send + 'static,
) -> std::io::Result<()> {
    let mut notices = crate::pg::notify::Listener::new(membership.db().clone(), channel);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !membership.has_left() {
                notices.wait(every);
                if membership.has_left() {
                    break;
                }
                round();
            }
        })
        .map(drop)
}

/// Every partition led here, as the share leader adopts them: (log, topic id, partition, it).
pub(super) fn led_partitions(
    topics: &Topics,
) -> Vec<(String, uuid::Uuid, i32, Arc<crate::meta::Partition>)> {
    let mut led = Vec::new();
    for topic in topics.all() {
        for (index, p) in (0..).zip(topic.partitions()) {
            if p.is_led() {
                let log = crate::pg::placement::log_name(&topic.name, index);
                led.push((log, topic.id, index, p));
            }
        }
    }
    led
}

/// The metadata store and where partition logs live. In cluster mode this broker's node id
/// is settled here too (given, kept in the data directory, or new from the database) and it
/// joins the cluster.
type Opened = (Arc<dyn KvStore>, LogMedia, Option<Arc<Membership>>);

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
            let endpoints = cluster::configured_endpoints(config)?;
            let membership = Membership::join(db.clone(), node_id, session, &endpoints, stop)?;
            let cache = config.data_dir.join("cache");
            let logs = PgLogs::new(db.clone(), node_id, cache.clone())
                .with_context(|| format!("preparing the log cache {}", cache.display()))?;
            tracing::info!(storage = ?db, node_id, "cluster mode: data in PostgreSQL");
            let store = Arc::new(PgStore::new(db));
            Ok((store, LogMedia::Postgres(logs), Some(membership)))
        }
    }
}

/// A lease lost: other brokers may have taken over what this one held, so serving on would
/// only answer errors (every commit is fenced). A supervisor restarts the broker.
fn stop(why: String) {
    tracing::error!(why, "lost a lease of the cluster: stopping");
    std::process::exit(1);
}

/// Cluster mode: register the listeners as bound (their ports are known now).
pub fn advertise(services: &Services, listeners: &[ListenerInfo]) {
    if let Some(m) = &services.membership {
        let endpoints = cluster::endpoints(listeners);
        if let Err(e) = m.advertise(&endpoints) {
            tracing::warn!(error = %format!("{e:#}"), "could not register the listeners");
        }
    }
}

/// Start the services' timers: transaction timeouts and producer expiry, the interval
/// flusher, retention and the log cleaner, the background scrub; and the share groups'
/// dead-letter writer.
pub fn start_timers(services: &Arc<Services>, shutdown: &CancellationToken, tasks: &TaskTracker) {
    tasks.spawn(crate::txn::coordinator::run_driver(
        services.txns.clone(),
        services.config.producer_id_expiration_ms,
        shutdown.clone(),
    ));
    timers::spawn(services, shutdown, tasks);
    scrub::spawn(services, shutdown, tasks);
    dead_letters::spawn(services, shutdown, tasks);
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
    services.shares.shutdown();
    services.topics.close().await;
    if let Some(membership) = services.membership.clone() {
        // Other brokers take over at once instead of after the session timeout.
        let _ = tokio::task::spawn_blocking(move || membership.leave()).await;
    }
}

/// The persisted cluster id, generated (Kafka-style: base64url of a random UUID) on first start.
/// Claimed with a compare-and-swap: brokers of one cluster started at once on an empty
/// database each find no id, and all but the first must take the one that won (with a plain
/// put each kept its own, and clients that check the cluster id, franz-go's ApiVersions v5,
/// refused the brokers that disagreed with the metadata they had).
fn cluster_id(store: &dyn KvStore, configured: Option<&str>) -> anyhow::Result<String> {
    if let Some(id) = store.get(CLUSTER_ID_KEY)? {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    let id = match configured {
        Some(id) => id.to_string(),
        None => base64url(Uuid::new_v4().as_bytes()),
    };
    if store.compare_and_swap(CLUSTER_ID_KEY, None, id.as_bytes())? {
        return Ok(id);
    }
    match store.get(CLUSTER_ID_KEY)? {
        Some(won) => Ok(String::from_utf8_lossy(&won).into_owned()),
        None => anyhow::bail!("the cluster id was claimed and then removed from the store"),
    }
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
    use crate::store::flaky::Flaky;

    #[test]
    fn a_broker_that_loses_the_race_takes_the_cluster_id_that_won() {
        // The second broker's first read misses the id the first one just wrote.
        let store = Flaky::default();
        let won = super::cluster_id(&store, None).unwrap();
        store.miss_next_get();
        assert_eq!(super::cluster_id(&store, None).unwrap(), won);
        assert_eq!(super::cluster_id(&store, Some("other")).unwrap(), won);
    }

    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = super::base64url(&[0xff; 16]);
        assert_eq!(id.len(), 22);
        assert_eq!(id, "_____________________w");
    }
}
