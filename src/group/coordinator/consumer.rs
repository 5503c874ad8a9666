//! What the consumer group APIs (KIP-848) do to the coordinator's state (on its thread).

use kafka_protocol::ResponseError as E;

use super::super::classic::{Group, Outbox, State, CONSUMER_PROTOCOL_TYPE};
use super::super::consumer::{self, ConsumerGroup, Description, Heartbeat, HeartbeatAnswer};
use super::state::{Coordinator, Entry};

impl Coordinator {
    /// ConsumerGroupHeartbeat. A member joining (epoch 0) creates the group, replaces an
    /// empty classic group (its offsets stay), or converts a classic group of consumers that
    /// has members (Kafka's online upgrade); any other classic group answers
    /// GROUP_ID_NOT_FOUND. The last consumer-protocol member leaving a group of classic
    /// members turns it back into a classic group (the online downgrade).
    pub(super) fn consumer_heartbeat(
        &mut self,
        group_id: &str,
        req: Heartbeat,
        lookup: &consumer::TopicLookup,
        now: i64,
    ) -> Result<HeartbeatAnswer, E> {
        let create = req.epoch == 0;
        let leaving = req.epoch == consumer::LEAVE_EPOCH;
        let mut created = false;
        let mut upgraded_from = None;
        if create && self.is_upgradable(group_id) {
            upgraded_from = Some(self.upgrade(group_id, lookup, now)?);
        }
        match self.groups.get_mut(group_id) {
            None if !create => return Err(E::GroupIdNotFound),
            None => {
                let mut entry = Entry::classic(Group::new(group_id, now));
                entry.consumer = Some(ConsumerGroup::default());
                self.groups.insert(group_id.to_string(), entry);
                created = true;
            }
            // Kafka: "Group X is not a consumer group."
            Some(e) if e.share.is_some() || e.streams.is_some() => return Err(E::GroupIdNotFound),
            Some(e) if e.consumer.is_none() => {
                let empty = matches!(e.group.state(), State::Empty | State::Dead)
                    && !e.group.has_pending_members();
                if !(create && empty) {
                    return Err(E::GroupIdNotFound);
                }
                e.consumer = Some(ConsumerGroup::default());
                created = true;
            }
            Some(_) => {}
        }
        let timeouts = self.configs.member_timeouts(group_id, false);
        let max = self.cfg.consumer_max_size;
        let result = self
            .with_consumer(group_id, |c| {
                c.set_timeouts(timeouts);
                if !leaving && req.epoch != consumer::STATIC_LEAVE_EPOCH {
                    let room = c.check_room(&req.member_id, req.instance_id.as_deref(), max);
                    if let Err(e) = room {
                        return (Err(e), false);
                    }
                }
                match c.heartbeat(req, lookup.as_ref(), now) {
                    Ok((answer, changed)) => (Ok(answer), changed),
                    Err(e) => (Err(e), false),
                }
            })
            .unwrap_or(Err(E::GroupIdNotFound));
        if let (Err(_), Some(classic)) = (&result, upgraded_from) {
            // The joining member was refused: the group stays what it was.
            if let Some(e) = self.groups.get_mut(group_id) {
                e.consumer = None;
                e.group = classic;
            }
            self.reschedule(group_id);
        }
        if result.is_ok() && leaving {
            self.maybe_downgrade(group_id, now);
        }
        if result.is_err() && created {
            // Nothing was written: forget the group again (a classic one it replaced stays
            // replaced only in memory until its next write; both are empty).
            if let Some(e) = self.groups.get_mut(group_id) {
                if e.consumer.as_ref().is_some_and(ConsumerGroup::is_empty) {
                    e.consumer = None;
                    if e.offsets.is_empty() {
                        self.groups.remove(group_id);
                    }
                }
            }
            self.reschedule(group_id);
        }
        result
    }

    /// A classic group of consumers with members, which a consumer-protocol member may
    /// join by converting it.
    fn is_upgradable(&self, group_id: &str) -> bool {
        self.groups.get(group_id).is_some_and(|e| {
            e.consumer.is_none()
                && e.share.is_none()
                && !e.group.is_empty()
                && e.group.protocol_type() == Some(CONSUMER_PROTOCOL_TYPE)
        })
    }

    /// The online upgrade: the classic group's members become classic members of a consumer
    /// group at its generation; requests they had waiting are told to rejoin. Returns the
    /// classic group as it was.
    fn upgrade(
        &mut self,
        group_id: &str,
        lookup: &consumer::TopicLookup,
        now: i64,
    ) -> Result<Group, E> {
        let entry = self.groups.get_mut(group_id).ok_or(E::GroupIdNotFound)?;
        if entry.group.members().count() > self.cfg.consumer_max_size {
            tracing::info!(group = group_id, "cannot upgrade the classic group to a consumer group: the group size exceeds the consumer group maximum size");
            return Err(E::GroupIdNotFound);
        }
        let Some(converted) = ConsumerGroup::from_classic(&entry.group, lookup.as_ref(), now)
        else {
            tracing::info!(group = group_id, "cannot upgrade the classic group to a consumer group: a member's embedded consumer protocol is malformed");
            return Err(E::GroupIdNotFound);
        };
        let before = entry.group.clone();
        let mut out = Outbox::default();
        entry.group.answer_waiting(E::RebalanceInProgress, &mut out);
        entry.group = Group::new(group_id, now);
        entry.consumer = Some(converted);
        tracing::info!(
            group = group_id,
            members = before.members().count(),
            generation = before.generation(),
            "converted a classic group to a consumer group (online upgrade)"
        );
        for reply in out.replies {
            self.route(reply);
        }
        Ok(before)
    }

    /// The online downgrade: a consumer group left with classic members only becomes a
    /// classic group again, which they rejoin in a rebalance.
    pub(super) fn maybe_downgrade(&mut self, group_id: &str, now: i64) {
        let Some(entry) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(c) = &entry.consumer else { return };
        if !c.only_classic_besides("") {
            return;
        }
        if c.members.len() > self.cfg.classic_max_size {
            // Kafka: it stays a consumer group (of classic members) rather than become a
            // classic group over group.max.size.
            tracing::info!(group = group_id, "cannot downgrade the consumer group to a classic group: its size is greater than the classic group maximum size");
            return;
        }
        entry.group = c.to_classic(group_id, "", now);
        entry.consumer = None;
        tracing::info!(
            group = group_id,
            members = entry.group.members().count(),
            generation = entry.group.generation(),
            "converted a consumer group to a classic group (online downgrade)"
        );
        self.with_group(group_id, |g, cfg, out| {
            g.rebalance(now, cfg, out);
            out.persist = true;
        });
    }

    /// ConsumerGroupDescribe: GROUP_ID_NOT_FOUND for a missing group or one of another type,
    /// with Kafka's message for each.
    pub(super) fn consumer_describe(&self, group_id: &str) -> Result<Description, (E, String)> {
        match self.groups.get(group_id) {
            None => Err((E::GroupIdNotFound, format!("Group {group_id} not found."))),
            Some(e) => match &e.consumer {
                Some(c) => Ok(c.describe()),
                None => Err((
                    E::GroupIdNotFound,
                    format!("Group {group_id} is not a consumer group."),
                )),
            },
        }
    }

    /// OffsetFetch v9+: a consumer group checks the member id and epoch.
    pub(super) fn validate_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        epoch: i32,
    ) -> Result<(), E> {
        let Some(entry) = self.groups.get(group_id) else {
            return Ok(());
        };
        if let Some(s) = &entry.streams {
            return s.validate_offset_fetch(member_id, epoch);
        }
        match &entry.consumer {
            Some(c) => c.validate_offset_fetch(member_id, epoch),
            None => Ok(()),
        }
    }
}
