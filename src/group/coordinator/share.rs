//! Share groups (KIP-932) on the coordinator's thread: membership (ShareGroupHeartbeat,
//! ShareGroupDescribe), share sessions and the share partitions' records (ShareFetch,
//! ShareAcknowledge). A share partition's state is stored with the group
//! (`record::share_state_key`) in the batch that changed it, before the answer.

use std::collections::HashSet;

use kafka_protocol::ResponseError as E;

use super::super::classic::{Group, State};
use super::super::configs::ShareSettings;
use super::super::consumer::TopicLookup;
use super::super::record;
use super::super::share::partition::{
    Ack, AcquireMode, Acquired, DeadLetter, SharePartition, Span, StateRecord,
};
use super::super::share::{ShareAnswer, ShareDescription, ShareGroup, ShareHeartbeat};
use super::share_session::{
    DeadLetterJob, DeadLetterSink, ShareKey, ShareSession, FINAL_EPOCH, OPEN_EPOCH,
};
use super::state::{Coordinator, Entry};
use super::GroupCoordinator;
use crate::store::WriteOp;

/// The session part of a ShareFetch or ShareAcknowledge.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    pub group_id: String,
    pub member_id: String,
    pub epoch: i32,
    /// The connection the request came on.
    pub connection: u64,
    /// ShareFetch: partitions to add to the session (None: a ShareAcknowledge).
    pub fetch: Option<Vec<ShareKey>>,
    pub forgotten: Vec<ShareKey>,
    pub acks: Vec<(ShareKey, Vec<Ack>)>,
}

/// What the session step did: each acknowledged partition's outcome, and the partitions to
/// fetch (none when the session closed).
#[derive(Debug, Clone, Default)]
pub struct SessionOutcome {
    pub acks: Vec<(ShareKey, Result<(), E>)>,
    pub fetch: Vec<ShareKey>,
}

/// How much one ShareFetch acquires: MaxRecords over all its partitions, counted by the
/// request's ShareAcquireMode.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimit {
    pub max_records: usize,
    pub mode: AcquireMode,
}

/// A partition about to be fetched: where the log starts and ends (for initialising its
/// share state), and where the fetch should read.
#[derive(Debug, Clone, Copy)]
pub struct LogBounds {
    pub log_start: i64,
    pub high_watermark: i64,
}

impl Coordinator {
    /// ShareGroupHeartbeat: a member joining (epoch 0) creates the group; a group of
    /// another type answers GROUP_ID_NOT_FOUND (Kafka: "Group X is not a share group").
    pub(super) fn share_heartbeat(
        &mut self,
        group_id: &str,
        req: ShareHeartbeat,
        lookup: &TopicLookup,
        now: i64,
    ) -> Result<ShareAnswer, E> {
        let mut created = false;
        match self.groups.get_mut(group_id) {
            None if req.epoch != 0 => return Err(E::GroupIdNotFound),
            None => {
                let mut entry = Entry::classic(Group::new(group_id, now));
                entry.share = Some(ShareGroup::default());
                self.groups.insert(group_id.to_string(), entry);
                created = true;
            }
            Some(e) if e.share.is_some() => {}
            Some(e) => {
                let unused = e.consumer.is_none()
                    && e.streams.is_none()
                    && e.offsets.is_empty()
                    && matches!(e.group.state(), State::Empty | State::Dead)
                    && !e.group.has_pending_members();
                if !(unused && req.epoch == 0) {
                    return Err(E::GroupIdNotFound);
                }
                e.share = Some(ShareGroup::default());
                created = true;
            }
        }
        let member_id = req.member_id.clone();
        let leaving = req.epoch == FINAL_EPOCH;
        let Some(group) = self.groups.get_mut(group_id).and_then(|e| e.share.as_mut()) else {
            return Err(E::GroupIdNotFound);
        };
        group.set_timeouts(self.configs.member_timeouts(group_id, true));
        let result = match group.check_room(&member_id, self.cfg.share_max_size) {
            Err(e) if !leaving => Err(e),
            _ => group.heartbeat(req, &|name: &str| lookup.lookup(name), now),
        };
        match &result {
            Ok((_, changed)) => {
                if *changed {
                    self.persist_group(group_id);
                }
                if leaving {
                    self.share_member_gone(group_id, &member_id);
                }
            }
            Err(_) if created => {
                if let Some(e) = self.groups.get_mut(group_id) {
                    e.share = None;
                    if e.offsets.is_empty() && e.share_partitions.is_empty() {
                        self.groups.remove(group_id);
                    }
                }
            }
            Err(_) => {}
        }
        self.reschedule(group_id);
        result.map(|(answer, _)| answer)
    }

    /// Member session expiries, and acquisition locks that ran out (their records are
    /// released, or given up on at the delivery limit, though no consumer touches the
    /// partition).
    pub(super) fn share_tick(&mut self, group_id: &str, now: i64) {
        let limits = self.configs.share_settings(group_id).limits;
        let Some(entry) = self.groups.get_mut(group_id) else {
            return;
        };
        let expired: Vec<ShareKey> = entry
            .share_partitions
            .iter_mut()
            .filter_map(|(k, p)| p.expire(now, &limits).then_some(*k))
            .collect();
        for key in expired {
            self.persist_share_partition(group_id, key);
        }
        let Some(group) = self.groups.get_mut(group_id).and_then(|e| e.share.as_mut()) else {
            return;
        };
        let gone = group.tick(now);
        if !gone.is_empty() {
            tracing::info!(group = group_id, members = ?gone, "share group members' sessions expired");
            self.persist_group(group_id);
            for member in gone {
                self.share_member_gone(group_id, &member);
            }
        }
        self.reschedule(group_id);
    }

    /// The member left or its session ended: its share session goes, its records are
    /// released.
    fn share_member_gone(&mut self, group_id: &str, member_id: &str) {
        self.share_sessions
            .remove(&(group_id.to_string(), member_id.to_string()));
        self.release_member(group_id, member_id);
    }

    fn release_member(&mut self, group_id: &str, member_id: &str) {
        let limits = &self.configs.share_settings(group_id).limits;
        let Some(entry) = self.groups.get_mut(group_id) else {
            return;
        };
        let changed: Vec<ShareKey> = entry
            .share_partitions
            .iter_mut()
            .filter_map(|(k, p)| p.release_member(member_id, limits).then_some(*k))
            .collect();
        for key in changed {
            self.persist_share_partition(group_id, key);
        }
    }

    pub(super) fn share_describe(&self, group_id: &str) -> Result<ShareDescription, E> {
        self.groups
            .get(group_id)
            .and_then(|e| e.share.as_ref())
            .map(ShareGroup::describe)
            .ok_or(E::GroupIdNotFound)
    }

    /// The session step of a ShareFetch or ShareAcknowledge (Kafka's `ShareSessionCache`):
    /// epoch 0 opens a new session (no acknowledgements allowed), -1 closes it after the
    /// acknowledgements (the member's other records are released), any other epoch must be
    /// the session's next one.
    pub(super) fn share_session(
        &mut self,
        req: SessionRequest,
        settings: &ShareSettings,
        now: i64,
    ) -> Result<SessionOutcome, E> {
        let key = (req.group_id.clone(), req.member_id.clone());
        let is_fetch = req.fetch.is_some();
        match req.epoch {
            OPEN_EPOCH if !is_fetch => return Err(E::InvalidShareSessionEpoch),
            OPEN_EPOCH if !req.acks.is_empty() => return Err(E::InvalidRequest),
            OPEN_EPOCH => {
                self.share_sessions.insert(
                    key.clone(),
                    ShareSession {
                        next_epoch: 1,
                        partitions: Vec::new(),
                        connection: req.connection,
                    },
                );
            }
            epoch => {
                let session = self
                    .share_sessions
                    .get(&key)
                    .ok_or(E::ShareSessionNotFound)?;
                if epoch != FINAL_EPOCH && epoch != session.next_epoch {
                    return Err(E::InvalidShareSessionEpoch);
                }
            }
        }
        let mut outcome = SessionOutcome::default();
        for (tp, acks) in &req.acks {
            let result =
                self.share_acknowledge(&req.group_id, &req.member_id, *tp, acks, settings, now);
            outcome.acks.push((*tp, result));
        }
        if req.epoch == FINAL_EPOCH {
            self.share_sessions.remove(&key);
            self.release_member(&req.group_id, &req.member_id);
            return Ok(outcome);
        }
        if let Some(session) = self.share_sessions.get_mut(&key) {
            if req.epoch != OPEN_EPOCH {
                session.next_epoch = session.next_epoch.checked_add(1).unwrap_or(1);
            }
            let forgotten: HashSet<ShareKey> = req.forgotten.iter().copied().collect();
            session.partitions.retain(|p| !forgotten.contains(p));
            for p in req.fetch.into_iter().flatten() {
                if !session.partitions.contains(&p) {
                    session.partitions.push(p);
                }
            }
            if is_fetch {
                outcome.fetch = session.partitions.clone();
            }
        }
        Ok(outcome)
    }

    fn share_acknowledge(
        &mut self,
        group_id: &str,
        member_id: &str,
        tp: ShareKey,
        acks: &[Ack],
        settings: &ShareSettings,
        now: i64,
    ) -> Result<(), E> {
        let partition = self
            .groups
            .get_mut(group_id)
            .and_then(|e| e.share_partitions.get_mut(&tp))
            .ok_or(E::InvalidRecordState)?;
        if partition.expire(now, &settings.limits) {
            self.persist_share_partition(group_id, tp);
        }
        let partition = self
            .groups
            .get_mut(group_id)
            .and_then(|e| e.share_partitions.get_mut(&tp))
            .ok_or(E::InvalidRecordState)?;
        partition.acknowledge(member_id, acks, now, &settings.limits)?;
        self.persist_share_partition(group_id, tp);
        Ok(())
    }

    /// Where each partition's fetch reads from, initialising share partitions first seen
    /// (share.auto.offset.reset) and releasing expired locks. A group that is not a share
    /// group has no share partitions: GROUP_ID_NOT_FOUND.
    pub(super) fn share_prepare(
        &mut self,
        group_id: &str,
        parts: &[(ShareKey, LogBounds)],
        settings: &ShareSettings,
        now: i64,
    ) -> Result<Vec<i64>, E> {
        let entry = self.groups.get_mut(group_id).ok_or(E::GroupIdNotFound)?;
        if entry.share.is_none() {
            return Err(E::GroupIdNotFound);
        }
        let mut changed = Vec::new();
        let mut offsets = Vec::with_capacity(parts.len());
        for (tp, bounds) in parts {
            let partition = entry.share_partitions.entry(*tp).or_insert_with(|| {
                changed.push(*tp);
                SharePartition::new(if settings.earliest {
                    bounds.log_start
                } else {
                    bounds.high_watermark
                })
            });
            if partition.skip_below(bounds.log_start) | partition.expire(now, &settings.limits) {
                changed.push(*tp);
            }
            offsets.push(partition.next_fetch_offset());
        }
        for tp in changed {
            self.persist_share_partition(group_id, tp);
        }
        Ok(offsets)
    }

    /// Acquire for the member what the fetch read, up to `limit` in all.
    pub(super) fn share_acquire(
        &mut self,
        group_id: &str,
        member_id: &str,
        read: Vec<(ShareKey, Vec<Span>)>,
        limit: FetchLimit,
        settings: &ShareSettings,
        now: i64,
    ) -> Vec<Vec<Acquired>> {
        let mut left = limit.max_records;
        let mut acquired_any = false;
        let mut out = Vec::with_capacity(read.len());
        for (tp, spans) in read {
            let Some(partition) = self
                .groups
                .get_mut(group_id)
                .and_then(|e| e.share_partitions.get_mut(&tp))
            else {
                out.push(Vec::new());
                continue;
            };
            let got = partition.acquire(member_id, &spans, left, limit.mode, now, &settings.limits);
            let count: i64 = got.iter().map(|a| a.last - a.first + 1).sum();
            left = left.saturating_sub(count as usize);
            if !got.is_empty() {
                acquired_any = true;
                self.persist_share_partition(group_id, tp);
            }
            out.push(got);
        }
        if acquired_any {
            // The new locks run out at now + the lock duration.
            self.schedule_by(group_id, now + settings.limits.lock_ms);
        }
        out
    }

    /// Store the partition's state in this batch; records it gave up on go to the
    /// dead-letter sink once that write is durable.
    pub(super) fn persist_share_partition(&mut self, group_id: &str, tp: ShareKey) {
        self.shares_touched.insert((group_id.to_string(), tp));
        let Some(p) = self
            .groups
            .get_mut(group_id)
            .and_then(|e| e.share_partitions.get_mut(&tp))
        else {
            return;
        };
        let letters = p.take_dead_letters();
        let record = p.to_record();
        self.send_dead_letters(group_id, tp, letters);
        match serde_json::to_vec(&record) {
            Ok(value) => self.batch.write(WriteOp::Put(
                record::share_state_key(group_id, &tp.0, tp.1),
                value,
            )),
            Err(e) => tracing::error!(group = group_id, error = %e, "could not encode share state"),
        }
    }

    fn send_dead_letters(&mut self, group_id: &str, tp: ShareKey, letters: Vec<DeadLetter>) {
        let Some(sink) = self.dead_letters.clone() else {
            return; // none attached yet: sent by attach_dead_letters
        };
        if letters.is_empty() {
            return;
        }
        let group_id = group_id.to_string();
        self.batch.after_write(move |durable| {
            if !durable {
                return; // the state is reloaded; nothing was given up on
            }
            for letter in letters {
                let job = DeadLetterJob {
                    group_id: group_id.clone(),
                    partition: tp,
                    letter,
                };
                let _ = sink.send(job);
            }
        });
    }

    /// Hand dead letters to `sink` from now on, and every record already waiting for one
    /// (given up on before a restart or a failed write).
    pub(super) fn attach_dead_letters(&mut self, sink: DeadLetterSink) {
        self.dead_letters = Some(sink.clone());
        for (group_id, entry) in &self.groups {
            let limits = self.configs.share_settings(group_id).limits;
            for (tp, p) in &entry.share_partitions {
                for letter in p.pending_dead_letters(&limits) {
                    let job = DeadLetterJob {
                        group_id: group_id.clone(),
                        partition: *tp,
                        letter,
                    };
                    let _ = sink.send(job);
                }
            }
        }
    }

    /// The connection that opened the member's share session closed: the session ends and
    /// the member's records are released (unless a newer connection opened it again).
    pub(super) fn share_connection_closed(
        &mut self,
        group_id: &str,
        member_id: &str,
        connection: u64,
    ) {
        let key = (group_id.to_string(), member_id.to_string());
        if self
            .share_sessions
            .get(&key)
            .is_some_and(|s| s.connection == connection)
        {
            self.share_sessions.remove(&key);
            self.release_member(group_id, member_id);
        }
    }

    /// The records are on the dead-letter topic (`written`), or given up on: archived.
    pub(super) fn share_dead_lettered(&mut self, job: &DeadLetterJob, written: bool) {
        let Some(p) = self
            .groups
            .get_mut(&job.group_id)
            .and_then(|e| e.share_partitions.get_mut(&job.partition))
        else {
            return; // the group or its partition was deleted meanwhile
        };
        if p.dead_lettered(job.letter.first, job.letter.last, written) {
            self.persist_share_partition(&job.group_id, job.partition);
        }
    }

    /// Delete every share partition state of a group (it is being deleted).
    pub(super) fn delete_share_state(&mut self, group_id: &str, entry: &Entry) {
        for (topic, partition) in entry.share_partitions.keys() {
            self.batch.write(WriteOp::Delete(record::share_state_key(
                group_id, topic, *partition,
            )));
        }
    }

    pub(super) fn load_share_partitions(&mut self, now: i64) -> anyhow::Result<()> {
        for (key, value) in self.store().scan_prefix(record::SHARE_STATE_PREFIX)? {
            let (Some((group, topic, partition)), Ok(state)) = (
                record::parse_share_state_key(&key),
                serde_json::from_slice::<StateRecord>(&value),
            ) else {
                tracing::warn!("skipping an unreadable share partition state");
                continue;
            };
            let entry = self
                .groups
                .entry(group.clone())
                .or_insert_with(|| Entry::classic(Group::new(&group, now)));
            entry
                .share_partitions
                .insert((topic, partition), SharePartition::from_record(&state));
        }
        Ok(())
    }
}

impl GroupCoordinator {
    /// Where dead letters go (the composition root's writer). Also sends what waits already.
    pub fn attach_dead_letters(&self, sink: DeadLetterSink) {
        self.send(move |c, _| c.attach_dead_letters(sink));
    }

    /// A connection with the member's share session closed (see
    /// [`Coordinator::share_connection_closed`]). Does not wait.
    pub fn share_connection_closed(&self, group_id: String, member_id: String, connection: u64) {
        self.send(move |c, _| c.share_connection_closed(&group_id, &member_id, connection));
    }

    /// The dead letter of `job` is written (`written`), or given up on: archive its records.
    pub async fn share_dead_lettered(&self, job: DeadLetterJob, written: bool) -> Result<(), E> {
        self.query(move |c, _| c.share_dead_lettered(&job, written))
            .await
    }

    /// ShareGroupHeartbeat (KIP-932): `lookup` resolves subscribed topic names.
    pub async fn share_heartbeat(
        &self,
        group_id: String,
        req: ShareHeartbeat,
        lookup: TopicLookup,
    ) -> Result<ShareAnswer, E> {
        self.query(move |c, now| c.share_heartbeat(&group_id, req, &lookup, now))
            .await?
    }

    /// ShareGroupDescribe: each group's description or error, in order.
    pub async fn share_describe(
        &self,
        ids: Vec<String>,
    ) -> Result<Vec<Result<ShareDescription, E>>, E> {
        self.query(move |c, _| ids.iter().map(|id| c.share_describe(id)).collect())
            .await
    }

    /// The session step of ShareFetch / ShareAcknowledge, with their acknowledgements (each
    /// COORDINATOR_NOT_AVAILABLE if they could not be stored).
    pub async fn share_session(
        &self,
        req: SessionRequest,
        settings: ShareSettings,
    ) -> Result<SessionOutcome, E> {
        let failed = |r: Result<SessionOutcome, E>| {
            r.map(|mut outcome| {
                for (_, ack) in &mut outcome.acks {
                    *ack = ack.and(Err(E::CoordinatorNotAvailable));
                }
                outcome
            })
        };
        self.query_durable_with(move |c, now| c.share_session(req, &settings, now), failed)
            .await?
    }

    /// Where each partition's fetch reads from (see [`Coordinator::share_prepare`]).
    pub async fn share_prepare(
        &self,
        group_id: String,
        parts: Vec<(ShareKey, LogBounds)>,
        settings: ShareSettings,
    ) -> Result<Vec<i64>, E> {
        self.query_durable(move |c, now| c.share_prepare(&group_id, &parts, &settings, now))
            .await
    }

    /// Acquire what a fetch read; each partition's acquired records, in order
    /// (COORDINATOR_NOT_AVAILABLE, nothing acquired, if they could not be stored).
    pub async fn share_acquire(
        &self,
        group_id: String,
        member_id: String,
        read: Vec<(ShareKey, Vec<Span>)>,
        limit: FetchLimit,
        settings: ShareSettings,
    ) -> Result<Vec<Vec<Acquired>>, E> {
        self.query_durable(move |c, now| {
            Ok(c.share_acquire(&group_id, &member_id, read, limit, &settings, now))
        })
        .await
    }
}
