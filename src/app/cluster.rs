//! Cluster mode's tick: every broker, on a thread of its own, moves partitions off brokers
//! that died and back to preferred leaders (`pg::placement`), takes in topic changes other
//! brokers made, opens the partitions placed on it and lets go of the others, takes the
//! coordinator's lease when no live broker holds it (then loads the groups and
//! transactions), and refreshes the cluster view the handlers answer from. The share leader
//! follows: it loads the share-partition states of partitions newly led here and drops those
//! of partitions led elsewhere now.

use std::sync::Arc;
use std::time::Duration;

use crate::api::{ListenerInfo, Services};
use crate::cluster::{ClusterView, SharedView};
use crate::config::Config;
use crate::pg::membership::Membership;
use crate::pg::notify;
use crate::pg::placement::{self, Endpoint};
use crate::store::KvStore;

/// The longest between two ticks (shorter with a short session).
const MAX_TICK: Duration = Duration::from_secs(1);

pub(super) struct Member {
    services: Arc<Services>,
    membership: Arc<Membership>,
    view: Arc<SharedView>,
    /// The shared store (`gregor_kv`), for the legacy share states moved at a takeover.
    store: Arc<dyn KvStore>,
}

impl Member {
    pub(super) fn new(
        services: Arc<Services>,
        membership: Arc<Membership>,
        view: Arc<SharedView>,
        store: Arc<dyn KvStore>,
    ) -> Self {
        Self {
            services,
            membership,
            view,
            store,
        }
    }

    /// One round (blocks on the database).
    pub(super) fn tick(&self) -> anyhow::Result<()> {
        let db = self.membership.db();
        let me = self.membership.node_id();
        for (log, from, to) in placement::rebalance(db, self.membership.session())? {
            tracing::info!(log, from, to, "moved a partition's leadership");
        }
        self.services.topics.sync_catalog()?;
        // What every broker keeps in memory from the shared store: other brokers change it.
        self.services.quotas.reload()?;
        self.services.credentials.reload()?;
        self.services.tokens.reload()?;
        self.services.topics.reload_broker_configs()?;
        self.services.groups.group_configs().reload()?;
        self.services.telemetry.subscriptions().reload()?;
        self.services.features.reload()?;
        if let Some(authorizer) = &self.services.authorizer {
            authorizer.reload()?;
        }
        let mut snapshot = placement::snapshot(db)?;
        self.services.topics.follow_leaders(&mut snapshot.leaders);
        // The share-partitions of the partitions led here now (a failure: next tick).
        let led = super::led_partitions(&self.services.topics);
        if let Err(e) = self.services.shares.follow(led) {
            tracing::warn!(error = %format!("{e:#}"), "could not load share-partition states");
        }
        if snapshot.coordinator.is_none_or(|c| c == me) && !self.membership.is_coordinator() {
            if self.membership.try_coordinate()? {
                tracing::info!("taking over as the group and transaction coordinator");
                // Holding the lease without serving would stall every group: stop instead.
                let topics = &self.services.topics;
                if let Err(e) = super::share_import::import_legacy(db, &self.store, topics)
                    .and_then(|()| self.services.groups.take_over())
                    .and_then(|()| self.services.txns.take_over())
                {
                    tracing::error!(error = %format!("{e:#}"), "could not load the coordinators' state: stopping");
                    std::process::exit(1);
                }
                snapshot.coordinator = Some(me);
            }
        } else if self.membership.is_coordinator() {
            snapshot.coordinator = Some(me);
        }
        self.view.update(snapshot);
        Ok(())
    }

    /// Tick until the broker leaves the cluster; a broker that changed the catalog says so
    /// (`NOTIFY gregor_catalog`), and the others catch up at once.
    pub(super) fn spawn(self) {
        let every = (self.membership.session() / 6).min(MAX_TICK);
        let membership = self.membership.clone();
        let spawned = super::on_notices(
            "gregor-cluster",
            membership,
            notify::CATALOG,
            every,
            move || {
                let ticks = self.view.ticks();
                ticks.inspect(|t| t.begin());
                if let Err(e) = self.tick() {
                    tracing::warn!(error = %format!("{e:#}"), "cluster tick failed");
                }
                ticks.inspect(|t| t.end());
            },
        );
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the cluster thread: stopping");
            std::process::exit(1);
        }
    }
}

/// The listeners as the configuration advertises them (a port 0 until bound).
pub(super) fn configured_endpoints(config: &Config) -> anyhow::Result<Vec<Endpoint>> {
    Ok(config
        .listeners()?
        .into_iter()
        .map(|spec| {
            let (host, port) = spec.advertised.clone().unwrap_or_else(|| {
                let bind = spec.bind.rsplit_once(':');
                let host = bind.map_or("localhost", |(h, _)| h);
                let host = match host.trim_matches(['[', ']']) {
                    "0.0.0.0" | "::" | "" => "localhost".to_string(),
                    h => h.to_string(),
                };
                let port = bind.and_then(|(_, p)| p.parse().ok()).unwrap_or(0);
                (host, port)
            });
            Endpoint {
                name: spec.name,
                host,
                port,
            }
        })
        .collect())
}

/// The listeners as bound.
pub(super) fn endpoints(listeners: &[ListenerInfo]) -> Vec<Endpoint> {
    listeners
        .iter()
        .map(|l| Endpoint {
            name: l.name.clone(),
            host: l.host.clone(),
            port: l.port,
        })
        .collect()
}
