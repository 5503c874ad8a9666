//! What each request does to the coordinator's state (on its thread).

use kafka_protocol::ResponseError as E;
use tokio::sync::oneshot;

use super::super::classic::{
    Group, JoinRequest, JoinResponse, Outbox, State, SyncRequest, SyncResponse,
    CONSUMER_PROTOCOL_TYPE,
};
use super::super::consumer;
use super::super::offsets::{self, CommittedOffset};
use super::super::record;
use super::super::share;
use super::super::streams;
use super::state::{Coordinator, Entry, Parked};
use super::{CommitRequest, DeletedOffsets, FetchedOffsets, ListedGroup};
use crate::store::WriteOp;

/// ListGroups' type of a classic group.
const CLASSIC_GROUP_TYPE: &str = "classic";

impl Coordinator {
    pub(super) fn is_consumer_group(&self, id: &str) -> bool {
        self.groups.get(id).is_some_and(|e| e.consumer.is_some())
    }

    pub(super) fn join(
        &mut self,
        group_id: String,
        req: JoinRequest,
        lookup: &consumer::TopicLookup,
        tx: oneshot::Sender<JoinResponse>,
        now: i64,
    ) {
        if self.unloaded {
            return self.reply(tx, JoinResponse::error(E::NotCoordinator, &req.member_id));
        }
        let mut created = false;
        if !self.groups.contains_key(&group_id) {
            // A member id for a group that does not exist: the member must start over.
            if !req.member_id.is_empty() {
                return self.reply(tx, JoinResponse::error(E::UnknownMemberId, &req.member_id));
            }
            self.groups
                .insert(group_id.clone(), Entry::classic(Group::new(&group_id, now)));
            created = true;
        }
        if let Some(entry) = self.groups.get_mut(&group_id) {
            if entry.share.is_some() || entry.streams.as_ref().is_some_and(|s| !s.is_empty()) {
                return self.reply(
                    tx,
                    JoinResponse::error(E::InconsistentGroupProtocol, &req.member_id),
                );
            }
            if entry.streams.is_some() {
                // Kafka: an empty streams group gives way to the classic group (offsets stay).
                entry.streams = None;
                entry.group = Group::new(&group_id, now);
                created = true;
            }
            match &entry.consumer {
                // A classic member joins a consumer group that has members (online
                // migration): the group's assignor gives it its partitions.
                Some(c) if !c.is_empty() => {
                    let max = self.cfg.consumer_max_size;
                    let answer = self
                        .with_consumer(&group_id, |c| {
                            c.classic_join(&req, lookup.as_ref(), max, now)
                        })
                        .unwrap_or_else(|| JoinResponse::error(E::UnknownMemberId, &req.member_id));
                    return self.reply(tx, answer);
                }
                // An empty consumer group becomes a classic group (its offsets stay).
                Some(_) => {
                    entry.consumer = None;
                    entry.group = Group::new(&group_id, now);
                    created = true;
                }
                None => {}
            }
        }
        let waiter = self.park(Parked::Join(tx));
        self.with_group(&group_id, |g, cfg, out| {
            g.join(req, waiter, now, cfg, out);
            out.persist |= created;
        });
    }

    pub(super) fn sync(
        &mut self,
        group_id: String,
        req: SyncRequest,
        tx: oneshot::Sender<SyncResponse>,
        now: i64,
    ) {
        if self.unloaded {
            return self.reply(tx, SyncResponse::error(E::NotCoordinator));
        }
        if self.is_consumer_group(&group_id) {
            let answer = self
                .with_consumer(&group_id, |c| (c.classic_sync(&req, now), false))
                .unwrap_or_else(|| SyncResponse::error(E::UnknownMemberId));
            return self.reply(tx, answer);
        }
        if !self.groups.contains_key(&group_id) {
            return self.reply(tx, SyncResponse::error(E::UnknownMemberId));
        }
        let waiter = self.park(Parked::Sync(tx));
        self.with_group(&group_id, |g, _, out| g.sync(req, waiter, now, out));
    }

    pub(super) fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), E> {
        if self.is_consumer_group(group_id) {
            return self
                .with_consumer(group_id, |c| {
                    (
                        c.classic_heartbeat(member_id, instance_id, generation, now),
                        false,
                    )
                })
                .unwrap_or(Err(E::UnknownMemberId));
        }
        self.with_group(group_id, |g, _, _| {
            g.heartbeat(member_id, instance_id, generation, now)
        })
        .unwrap_or(Err(E::UnknownMemberId))
    }

    pub(super) fn leave(
        &mut self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now: i64,
    ) -> Result<Vec<Result<(), E>>, E> {
        if self.is_consumer_group(group_id) {
            let results = self
                .with_consumer(group_id, |c| {
                    let results = c.classic_leave(members);
                    let changed = results.iter().any(Result::is_ok);
                    (results, changed)
                })
                .unwrap_or_default();
            self.maybe_downgrade(group_id, now);
            return Ok(results);
        }
        match self.with_group(group_id, |g, cfg, out| g.leave(members, now, cfg, out)) {
            Some(result) => result,
            // No such group: every member is unknown.
            None => Ok(members.iter().map(|_| Err(E::UnknownMemberId)).collect()),
        }
    }

    pub(super) fn commit(
        &mut self,
        req: CommitRequest,
        now: i64,
        tx: oneshot::Sender<Result<Vec<Result<(), E>>, E>>,
    ) {
        self.commit_checked(req, now, true, tx)
    }

    pub(super) fn commit_checked(
        &mut self,
        req: CommitRequest,
        now: i64,
        check_member: bool,
        tx: oneshot::Sender<Result<Vec<Result<(), E>>, E>>,
    ) {
        let result = self.apply_commit(&req, now, check_member);
        let Ok(results) = result else {
            return self.reply(tx, result);
        };
        self.batch.after_write(move |ok| {
            let _ = tx.send(if ok {
                Ok(results)
            } else {
                Err(E::CoordinatorNotAvailable)
            });
        });
    }

    pub(super) fn apply_commit(
        &mut self,
        req: &CommitRequest,
        now: i64,
        check_member: bool,
    ) -> Result<Vec<Result<(), E>>, E> {
        if !self.groups.contains_key(&req.group_id) {
            if req.generation >= 0 {
                return Err(if req.version >= 9 {
                    E::GroupIdNotFound
                } else {
                    E::IllegalGeneration
                });
            }
            // Generation -1 from an admin tool or a consumer without group management: a
            // "simple" group (no protocol, no members) holds its offsets.
            let group = Group::new(&req.group_id, now);
            self.groups
                .insert(req.group_id.clone(), Entry::classic(group));
        }
        let max_metadata = self.cfg.offset_metadata_max_bytes;
        let entry = self
            .groups
            .get_mut(&req.group_id)
            .ok_or(E::UnknownServerError)?;
        if let (true, Some(s)) = (check_member, &entry.streams) {
            let partitions: Vec<(String, i32)> = req
                .offsets
                .iter()
                .map(|o| (o.topic.clone(), o.partition))
                .collect();
            s.validate_offset_commit(&req.member_id, req.generation, req.version, &partitions)?;
        } else if let (true, Some(c)) = (check_member, &entry.consumer) {
            c.validate_offset_commit(&req.member_id, req.generation, req.version)?;
        } else if check_member {
            entry.group.validate_offset_commit(
                &req.member_id,
                req.instance_id.as_deref(),
                req.generation,
            )?;
            entry.group.on_offset_commit(&req.member_id, now);
        }
        let expire_timestamp =
            (req.retention_ms != -1).then(|| now.saturating_add(req.retention_ms));
        let mut results = Vec::with_capacity(req.offsets.len());
        for o in &req.offsets {
            let metadata = o.metadata.clone().unwrap_or_default();
            if metadata.len() > max_metadata {
                results.push(Err(E::OffsetMetadataTooLarge));
                continue;
            }
            let committed = CommittedOffset {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata,
                commit_timestamp: now,
                expire_timestamp,
            };
            self.batch.write(WriteOp::Put(
                record::offset_key(&req.group_id, &o.topic, o.partition),
                record::encode_offset(&committed),
            ));
            entry
                .offsets
                .insert((o.topic.clone(), o.partition), committed);
            results.push(Ok(()));
        }
        self.offsets_touched.insert(req.group_id.clone());
        self.reschedule(&req.group_id);
        Ok(results)
    }

    pub(super) fn fetch(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> FetchedOffsets {
        // A Dead or unknown group simply has no offsets.
        let offsets = self
            .groups
            .get(group_id)
            .filter(|e| e.consumer.is_some() || e.group.state() != State::Dead)
            .map(|e| &e.offsets);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let found = partitions
                        .into_iter()
                        .map(|p| (p, offsets.and_then(|o| o.get(&(topic.clone(), p))).cloned()))
                        .collect();
                    (topic, found)
                })
                .collect(),
            None => {
                let mut by_topic: FetchedOffsets = Vec::new();
                for ((topic, partition), o) in offsets.into_iter().flatten() {
                    match by_topic.last_mut() {
                        Some((t, list)) if t == topic => list.push((*partition, Some(o.clone()))),
                        _ => by_topic.push((topic.clone(), vec![(*partition, Some(o.clone()))])),
                    }
                }
                by_topic
            }
        }
    }

    pub(super) fn list(&self) -> Vec<ListedGroup> {
        let mut groups: Vec<ListedGroup> = self
            .groups
            .iter()
            .map(|(id, e)| match (&e.consumer, &e.share) {
                _ if e.streams.is_some() => ListedGroup {
                    group_id: id.clone(),
                    protocol_type: streams::GROUP_TYPE.to_string(),
                    state: e.streams.as_ref().map_or("Empty", |s| s.state().name()),
                    group_type: streams::GROUP_TYPE,
                },
                (Some(c), _) => ListedGroup {
                    group_id: id.clone(),
                    protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
                    state: c.state().name(),
                    group_type: consumer::GROUP_TYPE,
                },
                (None, Some(s)) => ListedGroup {
                    group_id: id.clone(),
                    protocol_type: share::GROUP_TYPE.to_string(),
                    state: s.state(),
                    group_type: share::GROUP_TYPE,
                },
                (None, None) => ListedGroup {
                    group_id: id.clone(),
                    protocol_type: e.group.protocol_type().unwrap_or_default().to_string(),
                    state: e.group.state().name(),
                    group_type: CLASSIC_GROUP_TYPE,
                },
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        groups
    }

    pub(super) fn delete_group(&mut self, id: &str, now: i64) -> Result<(), E> {
        let entry = self.groups.get(id).ok_or(E::GroupIdNotFound)?;
        if let Some(s) = &entry.streams {
            if !s.is_empty() {
                return Err(E::NonEmptyGroup);
            }
            self.remove_group(id, now);
            return Ok(());
        }
        if let Some(s) = &entry.share {
            if !s.is_empty() {
                return Err(E::NonEmptyGroup);
            }
            self.remove_group(id, now);
            return Ok(());
        }
        if let Some(c) = &entry.consumer {
            if !c.is_empty() {
                return Err(E::NonEmptyGroup);
            }
            self.remove_group(id, now);
            return Ok(());
        }
        match entry.group.state() {
            State::Dead => return Err(E::GroupIdNotFound),
            State::Stable | State::PreparingRebalance | State::CompletingRebalance => {
                return Err(E::NonEmptyGroup)
            }
            State::Empty => {}
        }
        self.remove_group(id, now);
        Ok(())
    }

    /// Forget a group and everything stored for it.
    pub(super) fn remove_group(&mut self, id: &str, now: i64) {
        let Some(mut entry) = self.groups.remove(id) else {
            return;
        };
        for (topic, partition) in entry.offsets.keys() {
            self.batch
                .write(WriteOp::Delete(record::offset_key(id, topic, *partition)));
        }
        self.batch.write(WriteOp::Delete(record::group_key(id)));
        if entry.share.is_some() {
            self.delete_share_states(id, None);
        }
        let mut out = Outbox::default();
        entry.group.mark_dead(now, &mut out);
        for reply in out.replies {
            self.route(reply);
        }
        self.reschedule(id);
    }

    pub(super) fn delete_offsets(
        &mut self,
        group_id: &str,
        topics: Vec<(String, Vec<i32>)>,
    ) -> Result<DeletedOffsets, E> {
        let entry = self.groups.get_mut(group_id).ok_or(E::GroupIdNotFound)?;
        let group = &entry.group;
        // A streams group: the source topics of its topology, while it has members.
        let consumer_topics = match &entry.streams {
            Some(s) if s.is_empty() => Some(Default::default()),
            Some(s) => Some(s.subscribed_topics()),
            None => entry.consumer.as_ref().map(|c| c.subscribed_topics()),
        };
        match group.state() {
            // A consumer group may always drop offsets of topics it does not subscribe to.
            _ if consumer_topics.is_some() => {}
            State::Dead => return Err(E::GroupIdNotFound),
            State::Empty => {}
            // A consumer group may drop offsets of topics it no longer subscribes to.
            _ if group.protocol_type() == Some(super::super::classic::CONSUMER_PROTOCOL_TYPE) => {}
            _ => return Err(E::NonEmptyGroup),
        }
        let mut results = Vec::with_capacity(topics.len());
        for (topic, partitions) in topics {
            let subscribed = match &consumer_topics {
                Some(topics) => topics.contains(&topic),
                None => entry.group.is_subscribed_to(&topic),
            };
            if subscribed {
                results.push((
                    topic,
                    partitions
                        .into_iter()
                        .map(|p| (p, Err(E::GroupSubscribedToTopic)))
                        .collect(),
                ));
                continue;
            }
            for p in &partitions {
                if entry.offsets.remove(&(topic.clone(), *p)).is_some() {
                    self.batch
                        .write(WriteOp::Delete(record::offset_key(group_id, &topic, *p)));
                }
            }
            results.push((topic, partitions.into_iter().map(|p| (p, Ok(()))).collect()));
        }
        self.offsets_touched.insert(group_id.to_string());
        Ok(results)
    }

    pub(super) fn topic_deleted(&mut self, topic: &str) {
        for (id, entry) in &mut self.groups {
            let gone: Vec<(String, i32)> = entry
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .cloned()
                .collect();
            for key in gone {
                self.batch
                    .write(WriteOp::Delete(record::offset_key(id, &key.0, key.1)));
                entry.offsets.remove(&key);
            }
        }
    }

    /// Kafka's periodic clean-up: expire offsets by the retention rules, then delete empty
    /// groups that have no offsets left.
    pub(super) fn cleanup(&mut self, now: i64) {
        let retention = self.cfg.offsets_retention_ms;
        let mut doomed = Vec::new();
        for (id, entry) in &mut self.groups {
            if entry.share.is_some() {
                // Kafka never expires a share group (ShareGroup.shouldExpire is false): its
                // progress is its share-partition state, not committed offsets.
                continue;
            }
            // Kafka: a consumer group's offsets expire from their commit, except those of
            // topics it subscribes to; a streams group keeps its source topics' offsets the
            // same way while it has members.
            let modern = match (&entry.streams, &entry.consumer) {
                (Some(s), _) if s.is_empty() => Some((Default::default(), true)),
                (Some(s), _) => Some((s.subscribed_topics(), false)),
                (None, Some(c)) => Some((c.subscribed_topics(), c.is_empty())),
                (None, None) => None,
            };
            if let Some((subscribed, empty)) = modern {
                let subscribed: std::collections::BTreeSet<String> = subscribed;
                let expired = offsets::expired(
                    &entry.offsets,
                    super::super::classic::OffsetExpiry::SinceCommit,
                    |t| subscribed.contains(t),
                    now,
                    retention,
                );
                for key in expired {
                    self.batch
                        .write(WriteOp::Delete(record::offset_key(id, &key.0, key.1)));
                    entry.offsets.remove(&key);
                }
                if entry.offsets.is_empty() && empty {
                    doomed.push(id.clone());
                }
                continue;
            }
            let group = &entry.group;
            let subscribed = group.subscribed_topics();
            let consumer =
                group.protocol_type() == Some(super::super::classic::CONSUMER_PROTOCOL_TYPE);
            let in_use = |t: &str| subscribed.as_ref().map_or(consumer, |s| s.contains(t));
            let expired = offsets::expired(
                &entry.offsets,
                group.offset_expiry(),
                in_use,
                now,
                retention,
            );
            for key in expired {
                self.batch
                    .write(WriteOp::Delete(record::offset_key(id, &key.0, key.1)));
                entry.offsets.remove(&key);
            }
            if entry.offsets.is_empty() && group.is_empty() && !group.has_pending_members() {
                doomed.push(id.clone());
            }
        }
        for id in doomed {
            tracing::debug!(group = %id, "removing an empty group without offsets");
            self.remove_group(&id, now);
        }
    }
}
