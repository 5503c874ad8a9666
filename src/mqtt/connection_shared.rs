//! A connection's shared subscriptions (`shared.rs`): one `Delivery` per share group, beside
//! the session's own, reading the partitions the connection owns in the group. The connection
//! fetches once for all of them (each partition from the lowest position any delivery has)
//! and sends their messages under one receive window, with packet ids unique across them.

use std::collections::{BTreeMap, HashSet};

use super::{Conn, MAX_SUBSCRIPTIONS};
use crate::mqtt::codec::{self, Message};
use crate::mqtt::delivery::Delivery;
use crate::mqtt::kafka::{self, Fetched, Tp};
use crate::mqtt::shared::kafka_group;
use crate::mqtt::{auth, topic::valid_filter};

impl Conn {
    /// SUBSCRIBE's code for `$share/GROUP/FILTER`: the granted QoS or a refusal (5's reason).
    pub(super) fn subscribe_shared(&mut self, group: &str, filter: &str, qos: u8) -> u8 {
        if group.is_empty() || group.contains(['+', '#']) || !valid_filter(filter) {
            return 0x8F;
        }
        let kafka_group = kafka_group(group);
        if !auth::may_subscribe(&self.broker, &self.session, filter, Some(&kafka_group)) {
            return codec::NOT_AUTHORIZED;
        }
        let held: usize = self.shares.values().map(|d| d.subs.len()).sum();
        let known = self
            .shares
            .get(group)
            .is_some_and(|d| d.subs.contains_key(filter));
        if held >= MAX_SUBSCRIPTIONS && !known {
            return 0x97; // quota exceeded, as for the session's own filters
        }
        let window = self.delivery.max_inflight;
        let granted = qos.min(2);
        self.shares
            .entry(group.to_string())
            .or_insert_with(|| Delivery::new(window))
            .subs
            .insert(filter.to_string(), granted);
        granted
    }

    /// Take the partitions of every share group that nobody owns and that its filters read;
    /// each starts at the group's committed offset, else at `timestamp` (-1: the end, for a
    /// new subscription; -2: the start, for partitions that appeared since).
    pub(super) async fn claim_shared(&mut self, timestamp: i64) -> Result<(), String> {
        if self.shares.is_empty() {
            return Ok(());
        }
        let topics = self.broker.topics();
        let groups: Vec<String> = self.shares.keys().cloned().collect();
        for group in groups {
            let wanted: Vec<Tp> = match self.shares.get(&group) {
                Some(d) => d.missing(&self.broker.settings.map, &topics),
                None => continue,
            };
            let wanted = self.readable(wanted);
            let claimed = self.broker.owners.claim(&group, self.id, wanted);
            let reset = match self.shares.get_mut(&group) {
                Some(d) => std::mem::take(&mut d.to_reset),
                None => continue,
            };
            if !reset.is_empty() {
                let offsets = kafka::list_offsets(&self.gw, &reset, -2).await?;
                if let Some(d) = self.shares.get_mut(&group) {
                    d.start(offsets);
                }
            }
            if claimed.is_empty() {
                continue;
            }
            let committed = kafka::committed(&self.gw, &kafka_group(&group)).await?;
            let (known, fresh): (Vec<Tp>, Vec<Tp>) = claimed
                .into_iter()
                .partition(|tp| committed.contains_key(tp));
            let mut start: Vec<(Tp, i64)> = known
                .into_iter()
                .filter_map(|tp| Some((tp.clone(), *committed.get(&tp)?)))
                .collect();
            if !fresh.is_empty() {
                start.extend(kafka::list_offsets(&self.gw, &fresh, timestamp).await?);
            }
            if let Some(d) = self.shares.get_mut(&group) {
                d.start(start);
            }
        }
        Ok(())
    }

    /// Commit each share group's positions that moved.
    pub(super) async fn commit_shared(&mut self) {
        for (group, d) in self.shares.iter_mut().filter(|(_, d)| d.dirty) {
            let offsets = d.commit_offsets();
            match kafka::commit(&self.gw, &kafka_group(group), &offsets).await {
                Ok(()) => d.dirty = false,
                Err(e) => tracing::debug!(group, error = %e, "mqtt: shared commit"),
            }
        }
    }

    /// UNSUBSCRIBE from `$share/GROUP/FILTER`: the group's last filter gone, the connection
    /// commits and leaves it.
    pub(super) async fn unsubscribe_shared(&mut self, group: &str, filter: &str) {
        let Some(d) = self.shares.get_mut(group) else {
            return;
        };
        d.subs.remove(filter);
        if d.subs.is_empty() {
            self.commit_shared().await;
            self.shares.remove(group);
            self.broker.owners.release(group, self.id);
        }
    }

    /// The connection ends: commit, and give the partitions up.
    pub(super) async fn leave_shared(&mut self) {
        self.commit_shared().await;
        for group in std::mem::take(&mut self.shares).into_keys() {
            self.broker.owners.release(&group, self.id);
        }
    }

    /// The next message of any delivery, while the connection's window allows.
    pub(super) fn next_message(&mut self) -> Option<Message> {
        if self.shares.is_empty() {
            return self.delivery.next_to_send();
        }
        let mut taken: HashSet<u16> = self.delivery.inflight_ids().collect();
        for d in self.shares.values() {
            taken.extend(d.inflight_ids());
        }
        if taken.len() >= self.delivery.max_inflight {
            return None;
        }
        let own = self.delivery.next_to_send_avoiding(&taken);
        own.or_else(|| {
            self.shares
                .values_mut()
                .find_map(|d| d.next_to_send_avoiding(&taken))
        })
    }

    /// A PUBACK or PUBCOMP: whichever delivery sent it.
    pub(super) fn acked(&mut self, pkid: u16) {
        self.delivery.acked(pkid);
        for d in self.shares.values_mut() {
            d.acked(pkid);
        }
    }

    /// What to fetch for every delivery: each partition from the lowest position.
    pub(super) fn fetch_set(&self) -> Option<BTreeMap<Tp, i64>> {
        let mut from = self.delivery.fetch_set();
        for d in self.shares.values() {
            for (tp, offset) in d.fetch_set().into_iter().flatten() {
                let merged = from.get_or_insert_with(BTreeMap::new);
                let at = merged.entry(tp).or_insert(offset);
                *at = (*at).min(offset);
            }
        }
        from
    }

    /// A fetch's records, to every delivery (each takes what is at or past its positions).
    pub(super) fn take(&mut self, fetched: Vec<Fetched>) {
        let map = &self.broker.settings.map;
        self.delivery.take(map, &fetched);
        for d in self.shares.values_mut() {
            d.take(map, &fetched);
        }
    }
}
