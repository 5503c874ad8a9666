//! Cluster mode: the topics of brokers sharing one database. Each broker holds every topic
//! (the records in the shared store) but opens only the partitions placed on it; the others
//! are stand-ins answering NOT_LEADER_OR_FOLLOWER. On its tick the broker takes in topics
//! other brokers created, grew, altered or deleted ([`Topics::sync_catalog`]), then opens the
//! partitions it leads now and lets go of those it no longer leads
//! ([`Topics::follow_leaders`]).

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use super::{lock, log_name, LogMedia, TopicRecord, Topics};
use crate::error::Result;
use crate::meta::{self, Partition, Topic, TopicConfig};
use crate::pg::placement::{self, Leader};
use crate::pg::{catalog, notify};

impl Topics {
    /// Cluster mode: give partitions `range` of `topic` leaders (those without one yet) and
    /// answer the epoch of each placed on this broker. Empty elsewhere.
    pub(super) fn place(&self, topic: &str, range: Range<i32>) -> Result<HashMap<i32, i32>> {
        let LogMedia::Postgres(logs) = &self.media else {
            return Ok(HashMap::new());
        };
        let names: Vec<String> = range.clone().map(|i| log_name(topic, i)).collect();
        let placed = placement::place(logs.db(), &names, logs.node_id())
            .map_err(|e| crate::error::BrokerError::UnknownServer(format!("{e:#}")))?;
        Ok(range
            .filter_map(|i| {
                let leader = placed.get(&log_name(topic, i))?;
                (leader.node_id == logs.node_id()).then_some((i, leader.epoch))
            })
            .collect())
    }

    /// The partitions this broker leads, as (log, topic, index).
    pub fn led_logs(&self) -> Vec<(String, String, i32)> {
        let led = lock(&self.led);
        self.registry
            .all()
            .iter()
            .flat_map(|t| (0..t.partition_count()).map(move |i| (t.name.clone(), i)))
            .filter_map(|(topic, i)| {
                let log = log_name(&topic, i);
                led.contains_key(&log).then_some((log, topic, i))
            })
            .collect()
    }

    /// Cluster mode: make the topics held here those of the store's records.
    /// Cluster mode: whether a topic of `names` is not held here, so another broker may have
    /// created it since the last [`Self::sync_catalog`] (a request naming it catches up first,
    /// see [`Self::catch_up`]).
    pub fn may_lag<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> bool {
        matches!(self.media, LogMedia::Postgres(_)) && names.any(|n| self.registry.get(n).is_none())
    }

    /// [`Self::may_lag`] for topic ids.
    pub fn may_lag_ids<'a>(&self, mut ids: impl Iterator<Item = &'a uuid::Uuid>) -> bool {
        matches!(self.media, LogMedia::Postgres(_))
            && ids.any(|id| self.registry.by_id(id).is_none())
    }

    /// Cluster mode: tell the other brokers that the catalog changed, so they take it in now
    /// rather than at their next tick (a hint: failing to send it only delays them).
    pub(super) fn announce(&self) {
        if let LogMedia::Postgres(logs) = &self.media {
            self.announced
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // What this broker changed is read back too, whatever the version says.
            *lock(&self.catalog_seen) = None;
            if let Err(e) = notify::announce(logs.db(), notify::CATALOG) {
                tracing::debug!(error = %format!("{e:#}"), "could not announce a catalog change");
            }
        }
    }

    /// Cluster mode: how many catalog changes this broker has announced.
    pub fn announced(&self) -> u64 {
        self.announced.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Take in the topics other brokers created since the last tick now, and if there were
    /// any, have the ticks (this broker's, which opens what was placed here) run at once
    /// (blocks on the database). Leadership is left
    /// to the tick: only its thread opens and drops partitions, from snapshots in the order it
    /// read them (a snapshot read here could be older than one the tick already applied, and
    /// reopening a partition at the epoch it is held at would make two writers at one epoch).
    /// Returns whether something was new (then wait for a tick begun after the catch-up
    /// began: it has the new partitions' leaders).
    pub fn catch_up(&self) -> anyhow::Result<bool> {
        if !matches!(self.media, LogMedia::Postgres(_)) {
            return Ok(false);
        }
        // Only when something was new: a client naming topics that do not exist must not
        // make every broker of the cluster tick on each request.
        let changed = self.sync_catalog()? > 0;
        if changed {
            self.announce();
        }
        Ok(changed)
    }

    /// Cluster mode: whether a request for every topic must catch up first (it cannot tell
    /// which topics it is missing).
    pub fn is_shared(&self) -> bool {
        matches!(self.media, LogMedia::Postgres(_))
    }

    /// Returns how many topics it took in or let go of. One small query when the catalog's
    /// version has not moved since the last time.
    pub fn sync_catalog(&self) -> anyhow::Result<usize> {
        let LogMedia::Postgres(logs) = &self.media else {
            return Ok(0);
        };
        let _admin = self.admin_lock();
        // Read before the records: a change committed in between is read again next time.
        let version = catalog::version(logs.db())?;
        if *lock(&self.catalog_seen) == Some(version) {
            return Ok(0);
        }
        let records = self.records()?;
        let mut changed = 0;
        for (name, record) in &records {
            match self.registry.get(name) {
                Some(topic) if topic.id == record.id => self.follow_record(&topic, record)?,
                held => {
                    if let Some(old) = held {
                        self.forget(&old);
                    }
                    let topic = self.topic_from(name.clone(), record.clone())?;
                    tracing::info!(topic = %name, partitions = record.partitions, "topic created by another broker");
                    self.registry.insert(Arc::new(topic));
                    changed += 1;
                }
            }
        }
        for topic in self.registry.all() {
            if !records.contains_key(&topic.name) {
                tracing::info!(topic = %topic.name, "topic deleted by another broker");
                self.forget(&topic);
                changed += 1;
            }
        }
        *lock(&self.catalog_seen) = Some(version);
        Ok(changed)
    }

    /// A held topic whose record another broker may have changed: more partitions, configs.
    fn follow_record(&self, topic: &Topic, record: &TopicRecord) -> anyhow::Result<()> {
        let count = topic.partition_count();
        if record.partitions > count {
            let config = topic.config();
            let added = (count..record.partitions)
                .map(|i| self.open_partition(&topic.name, i, &config, None))
                .collect::<Result<Vec<_>>>()?;
            meta::write(&topic.partitions).extend(added);
        }
        if topic.config().0 != record.configs {
            let config = TopicConfig(record.configs.clone());
            let log_config = self.log_config_of(&config);
            *meta::write(&topic.config) = config;
            for partition in topic.partitions() {
                partition.set_config(log_config.clone());
            }
        }
        Ok(())
    }

    /// Drop a topic from this broker only (its records and rows are gone, or another
    /// broker's): its cached logs go with it.
    fn forget(&self, topic: &Topic) {
        self.registry.remove(&topic.name);
        // A holder of a partition's `Arc` (a waiting fetch) must not read on from a cache
        // removed below: from now on its copy answers as a stand-in.
        for partition in topic.partitions() {
            partition.set_not_led();
        }
        if let LogMedia::Postgres(logs) = &self.media {
            for index in 0..topic.partition_count() {
                let log = log_name(&topic.name, index);
                if lock(&self.led).remove(&log).is_some() {
                    if let Err(e) = logs.drop_cache(&log) {
                        tracing::warn!(log, error = %e, "could not remove a cached log");
                    }
                }
            }
        }
    }

    /// Cluster mode: open the partitions `leaders` places on this broker (at their epochs),
    /// turn those led elsewhere now into stand-ins, and place partitions that have no leader
    /// yet (a creation cut short). `leaders` gains what was placed, and keeps only the
    /// partitions of the topics held when this began: a topic a request's catch-up takes in
    /// meanwhile has leaders in the store but no partition opened here yet, and a view that
    /// placed it would have that request answered NOT_LEADER_OR_FOLLOWER instead of waiting
    /// for the next tick (`api::catalog::lagging`).
    pub fn follow_leaders(&self, leaders: &mut HashMap<String, Leader>) {
        let LogMedia::Postgres(logs) = &self.media else {
            return;
        };
        let me = logs.node_id();
        let _admin = self.admin_lock();
        let topics = self.registry.all();
        let unplaced: Vec<String> = topics
            .iter()
            .flat_map(|t| (0..t.partition_count()).map(|i| log_name(&t.name, i)))
            .filter(|log| !leaders.contains_key(log))
            .collect();
        if !unplaced.is_empty() {
            match placement::place(logs.db(), &unplaced, me) {
                Ok(placed) => leaders.extend(placed),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "could not place partitions"),
            }
        }
        let mut keep = HashSet::new();
        let mut in_catalog = HashSet::new();
        for topic in topics {
            let config = topic.config();
            for index in 0..topic.partition_count() {
                let log = log_name(&topic.name, index);
                in_catalog.insert(log.clone());
                let lead = leaders
                    .get(&log)
                    .filter(|l| l.node_id == me)
                    .map(|l| l.epoch);
                let held = lock(&self.led).get(&log).copied();
                if lead.is_some() {
                    keep.insert(log.clone());
                }
                if lead == held {
                    continue;
                }
                // The copy being replaced (led at an older epoch, or a stand-in) answers as a
                // stand-in from now on: a holder of its `Arc` (a waiting fetch) must not read
                // on from a cache removed below, nor take it as led.
                if let Some(old) = topic.partition(index) {
                    old.set_not_led();
                }
                let replacement = match lead {
                    Some(epoch) => {
                        let opened = self.open_partition(&topic.name, index, &config, Some(epoch));
                        if let Ok(p) = &opened {
                            let end = p.log_end_offset();
                            tracing::info!(log, epoch, end, "leading partition");
                        }
                        opened
                    }
                    None => {
                        lock(&self.led).remove(&log);
                        tracing::info!(log, "partition led by another broker now");
                        if let Err(e) = logs.drop_cache(&log) {
                            tracing::warn!(log, error = %e, "could not remove a cached log");
                        }
                        Partition::led_elsewhere(&topic.name, index, self.fsync_latency.clone())
                            .map(Arc::new)
                    }
                };
                match replacement {
                    Ok(p) => {
                        if let Some(slot) = meta::write(&topic.partitions).get_mut(index as usize) {
                            *slot = p;
                        }
                    }
                    Err(e) => {
                        lock(&self.led).remove(&log);
                        tracing::warn!(log, error = %e, "could not open a partition placed here");
                    }
                }
            }
        }
        lock(&self.led).retain(|log, _| keep.contains(log));
        leaders.retain(|log, _| in_catalog.contains(log));
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
