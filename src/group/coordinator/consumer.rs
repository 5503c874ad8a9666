//! What the consumer group APIs (KIP-848) do to the coordinator's state (on its thread).

use kafka_protocol::ResponseError as E;

use super::super::classic::{Group, State};
use super::super::consumer::{self, ConsumerGroup, Description, Heartbeat, HeartbeatAnswer};
use super::state::{Coordinator, Entry};

impl Coordinator {
    /// ConsumerGroupHeartbeat. A member joining (epoch 0) creates the group, or replaces an
    /// empty classic group (its offsets stay); any other classic group answers
    /// GROUP_ID_NOT_FOUND (online upgrade is not supported).
    pub(super) fn consumer_heartbeat(
        &mut self,
        group_id: &str,
        req: Heartbeat,
        lookup: &consumer::TopicLookup,
        now: i64,
    ) -> Result<HeartbeatAnswer, E> {
        let create = req.epoch == 0;
        let mut created = false;
        match self.groups.get_mut(group_id) {
            None if !create => return Err(E::GroupIdNotFound),
            None => {
                let mut entry = Entry::classic(Group::new(group_id, now));
                entry.consumer = Some(ConsumerGroup::default());
                self.groups.insert(group_id.to_string(), entry);
                created = true;
            }
            // Kafka: "Group X is not a consumer group."
            Some(e) if e.share.is_some() => return Err(E::GroupIdNotFound),
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
        let result = self
            .with_consumer(group_id, |c| {
                c.set_timeouts(timeouts);
                match c.heartbeat(req, lookup.as_ref(), now) {
                    Ok((answer, changed)) => (Ok(answer), changed),
                    Err(e) => (Err(e), false),
                }
            })
            .unwrap_or(Err(E::GroupIdNotFound));
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

    /// ConsumerGroupDescribe: GROUP_ID_NOT_FOUND for a missing or classic group.
    pub(super) fn consumer_describe(&self, group_id: &str) -> Result<Description, E> {
        self.groups
            .get(group_id)
            .and_then(|e| e.consumer.as_ref())
            .map(ConsumerGroup::describe)
            .ok_or(E::GroupIdNotFound)
    }

    /// OffsetFetch v9+: a consumer group checks the member id and epoch.
    pub(super) fn validate_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        epoch: i32,
    ) -> Result<(), E> {
        match self.groups.get(group_id).and_then(|e| e.consumer.as_ref()) {
            Some(c) => c.validate_offset_fetch(member_id, epoch),
            None => Ok(()),
        }
    }
}
