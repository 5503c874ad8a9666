//! What ShareFetch and ShareAcknowledge do on the partitions' leader (Kafka's
//! `SharePartitionManager`): the session step with its acknowledgements, where each fetch
//! reads, acquiring what it read, and releasing a member's records when it goes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexSet;
use kafka_protocol::ResponseError as E;

use super::sessions::{
    DeadLetterJob, FetchLimit, LogBounds, SessionOutcome, SessionRequest, ShareKey,
    SharePartitionSummary, ShareSession, FINAL_EPOCH, OPEN_EPOCH,
};
use super::state::{Leader, SlotKey};
use crate::group::configs::ShareSettings;
use crate::group::share::partition::{Ack, Acquired, Span};
use crate::meta::Partition;

impl Leader {
    /// The session step of a ShareFetch or ShareAcknowledge (Kafka's `ShareSessionCache`):
    /// epoch 0 opens a new session (no acknowledgements allowed), -1 closes it after the
    /// acknowledgements (the member's other records are released), any other epoch must be
    /// the session's next one. `led`: the acknowledged partitions, led here.
    pub(super) fn session(
        &mut self,
        req: SessionRequest,
        led: &HashMap<ShareKey, Arc<Partition>>,
        settings: &ShareSettings,
        now: i64,
    ) -> Result<SessionOutcome, E> {
        let key = (req.group_id.clone(), req.member_id.clone());
        let is_fetch = req.fetch.is_some();
        match req.epoch {
            OPEN_EPOCH if !is_fetch => return Err(E::InvalidShareSessionEpoch),
            OPEN_EPOCH if !req.acks.is_empty() => return Err(E::InvalidRequest),
            OPEN_EPOCH => {
                // A member reopening its session replaces it; a new one must fit.
                if !self.sessions.contains_key(&key) && self.sessions.len() >= self.max_sessions {
                    return Err(E::ShareSessionLimitReached);
                }
                self.sessions.insert(
                    key.clone(),
                    ShareSession {
                        next_epoch: 1,
                        partitions: IndexSet::new(),
                        connection: req.connection,
                    },
                );
            }
            epoch => {
                let session = self.sessions.get(&key).ok_or(E::ShareSessionNotFound)?;
                if epoch != FINAL_EPOCH && epoch != session.next_epoch {
                    return Err(E::InvalidShareSessionEpoch);
                }
            }
        }
        let mut outcome = SessionOutcome::default();
        for (tp, acks) in &req.acks {
            let result = match led.get(tp) {
                Some(p) => {
                    let slot = (req.group_id.clone(), *tp);
                    self.acknowledge(&slot, p, &req.member_id, acks, settings, now)
                }
                None => Err(E::UnknownTopicOrPartition),
            };
            outcome.acks.push((*tp, result));
        }
        if req.epoch == FINAL_EPOCH {
            self.sessions.remove(&key);
            self.release_member(&req.group_id, &req.member_id);
            return Ok(outcome);
        }
        if let Some(session) = self.sessions.get_mut(&key) {
            if req.epoch != OPEN_EPOCH {
                session.next_epoch = session.next_epoch.checked_add(1).unwrap_or(1);
            }
            let forgotten: HashSet<ShareKey> = req.forgotten.iter().copied().collect();
            session.partitions.retain(|p| !forgotten.contains(p));
            session.partitions.extend(req.fetch.into_iter().flatten());
            if is_fetch {
                outcome.fetch = session.partitions.iter().copied().collect();
            }
        }
        Ok(outcome)
    }

    fn acknowledge(
        &mut self,
        key: &SlotKey,
        partition: &Arc<Partition>,
        member_id: &str,
        acks: &[Ack],
        settings: &ShareSettings,
        now: i64,
    ) -> Result<(), E> {
        let slot = self.held(key, partition)?.ok_or(E::InvalidRecordState)?;
        let expired = slot.sp.expire(now, &settings.limits);
        let acked = slot.sp.acknowledge(member_id, acks, now, &settings.limits);
        if expired || acked.is_ok() {
            self.touch(key);
            self.reindex(key);
        }
        acked
    }

    /// Where each partition's fetch reads from, initialising share-partitions first seen
    /// (share.auto.offset.reset) and releasing expired locks. A group that is not a share
    /// group gets no share-partitions: GROUP_ID_NOT_FOUND for the whole fetch.
    pub(super) fn prepare(
        &mut self,
        group_id: &str,
        parts: &[(ShareKey, Arc<Partition>, LogBounds)],
        settings: &ShareSettings,
        now: i64,
    ) -> Result<Vec<Result<i64, E>>, E> {
        let mut offsets = Vec::with_capacity(parts.len());
        for (tp, partition, bounds) in parts {
            let key = (group_id.to_string(), *tp);
            let held = self.held(&key, partition).map(|s| s.is_some());
            let slot = match held {
                Ok(true) => self.slots.get_mut(&key).ok_or(E::UnknownServerError),
                Ok(false) => {
                    let start = match settings.earliest {
                        true => bounds.log_start,
                        false => bounds.high_watermark,
                    };
                    self.create(&key, partition, start)
                }
                Err(e) => Err(e),
            };
            let slot = match slot {
                Ok(slot) => slot,
                Err(E::GroupIdNotFound) => return Err(E::GroupIdNotFound),
                Err(e) => {
                    offsets.push(Err(e));
                    continue;
                }
            };
            let changed =
                slot.sp.skip_below(bounds.log_start) | slot.sp.expire(now, &settings.limits);
            offsets.push(Ok(slot.sp.next_fetch_offset()));
            if changed {
                self.touch(&key);
                self.reindex(&key);
            }
        }
        Ok(offsets)
    }

    /// Acquire for the member what the fetch read, up to `limit` in all.
    pub(super) fn acquire(
        &mut self,
        group_id: &str,
        member_id: &str,
        read: Vec<(ShareKey, Vec<Span>)>,
        limit: FetchLimit,
        settings: &ShareSettings,
        now: i64,
    ) -> Vec<Vec<Acquired>> {
        let mut left = limit.max_records;
        let mut out = Vec::with_capacity(read.len());
        for (tp, spans) in read {
            let key = (group_id.to_string(), tp);
            let Some(slot) = self.slots.get_mut(&key) else {
                out.push(Vec::new());
                continue;
            };
            let got = slot
                .sp
                .acquire(member_id, &spans, left, limit.mode, now, &settings.limits);
            let count: i64 = got.iter().map(|a| a.last - a.first + 1).sum();
            left = left.saturating_sub(count as usize);
            if !got.is_empty() {
                self.touch(&key);
                // The new locks run out at now + the lock duration.
                self.schedule_by(&key, now + settings.limits.lock_ms);
            }
            out.push(got);
        }
        out
    }

    /// The member's records are released (it left, or its session here ended).
    pub(super) fn release_member(&mut self, group_id: &str, member_id: &str) {
        let limits = self.configs.share_settings(group_id).limits;
        let changed: Vec<SlotKey> = self
            .slots
            .iter_mut()
            .filter(|(k, _)| k.0 == group_id)
            .filter_map(|(k, s)| s.sp.release_member(member_id, &limits).then(|| k.clone()))
            .collect();
        for key in changed {
            self.touch(&key);
            self.reindex(&key);
        }
    }

    /// The member left the group or its group session expired (the coordinator's hint).
    pub(super) fn member_left(&mut self, group_id: &str, member_id: &str) {
        self.sessions
            .remove(&(group_id.to_string(), member_id.to_string()));
        self.release_member(group_id, member_id);
    }

    /// The connection that opened the member's share session closed: the session ends and
    /// the member's records are released (unless a newer connection opened it again).
    pub(super) fn connection_closed(&mut self, group_id: &str, member_id: &str, connection: u64) {
        let key = (group_id.to_string(), member_id.to_string());
        if self
            .sessions
            .get(&key)
            .is_some_and(|s| s.connection == connection)
        {
            self.sessions.remove(&key);
            self.release_member(group_id, member_id);
        }
    }

    /// The group's state was reset or deleted (of these topics, or all of it): the copies
    /// here go (the next fetch loads what the store holds); a deleted group's sessions too.
    pub(super) fn forget_group(&mut self, group_id: &str, topics: Option<&[uuid::Uuid]>) {
        let gone: Vec<SlotKey> = self
            .slots
            .keys()
            .filter(|(g, (t, _))| g == group_id && topics.is_none_or(|ts| ts.contains(t)))
            .cloned()
            .collect();
        for key in gone {
            self.drop_slot(&key);
        }
        if topics.is_none() {
            self.sessions.retain(|(g, _), _| g != group_id);
        }
    }

    /// The records are on the dead-letter topic (`written`), or given up on: archived.
    pub(super) fn dead_lettered(&mut self, job: &DeadLetterJob, written: bool) {
        let key = (job.group_id.clone(), job.partition);
        let Some(slot) = self.slots.get_mut(&key) else {
            return; // the group or its partition was deleted (or moved) meanwhile
        };
        if slot
            .sp
            .dead_lettered(job.letter.first, job.letter.last, written)
        {
            self.touch(&key);
        }
    }

    /// Every share-partition held here, by group.
    pub(super) fn summaries(&self) -> Vec<(String, SharePartitionSummary)> {
        self.slots
            .iter()
            .map(|((group, key), slot)| {
                let p = &slot.sp;
                let (archived_total, dead_lettered_total) = p.given_up();
                let summary = SharePartitionSummary {
                    partition: *key,
                    start_offset: p.start_offset(),
                    end_offset: p.end_offset(),
                    counts: p.counts(),
                    archived_total,
                    dead_lettered_total,
                };
                (group.clone(), summary)
            })
            .collect()
    }
}
