//! What the streams group APIs (KIP-1071) do to the coordinator's state (on its thread):
//! which group a heartbeat is for (created, converted from an empty classic group, or
//! refused as another type), the group's settings, persistence and timers.

use kafka_protocol::ResponseError as E;

use super::super::classic::{Group, State};
use super::super::consumer::TopicLookup;
use super::super::streams::group::{
    Answer, Description, GroupState, Heartbeat, Settings, StreamsGroup, LEAVE_EPOCH,
    STATIC_LEAVE_EPOCH,
};
use super::super::streams::topology::Refusal;
use super::state::{Coordinator, Entry};
use super::GroupCoordinator;

impl Coordinator {
    /// A streams group's settings: its group configs over Kafka's defaults.
    pub(super) fn streams_settings(&self, group_id: &str) -> Settings {
        self.configs.streams_settings(group_id, usize::MAX)
    }

    /// StreamsGroupHeartbeat (after the handler's checks). Joining (epoch 0) creates the
    /// group or replaces an empty classic group (its offsets stay); any other group type,
    /// or no group for a member that is not joining, is GROUP_ID_NOT_FOUND with Kafka's
    /// message. A refused heartbeat changes nothing.
    pub(super) fn streams_heartbeat(
        &mut self,
        group_id: &str,
        req: Heartbeat,
        lookup: &TopicLookup,
        now: i64,
    ) -> Result<Answer, Refusal> {
        let leaving = req.epoch == LEAVE_EPOCH || req.epoch == STATIC_LEAVE_EPOCH;
        let not_streams = || {
            (
                E::GroupIdNotFound,
                format!("Group {group_id} is not a streams group."),
            )
        };
        let mut created = false;
        let mut inserted = false;
        match self.groups.get_mut(group_id) {
            None if leaving => {
                return Err((E::GroupIdNotFound, format!("Group {group_id} not found.")))
            }
            None if req.epoch != 0 => {
                return Err((
                    E::GroupIdNotFound,
                    format!("Streams group {group_id} not found."),
                ))
            }
            None => {
                let mut entry = Entry::classic(Group::new(group_id, now));
                entry.streams = Some(StreamsGroup::default());
                self.groups.insert(group_id.to_string(), entry);
                created = true;
                inserted = true;
            }
            Some(e) if e.streams.is_some() => {}
            Some(e) => {
                let empty_classic = e.consumer.is_none()
                    && e.share.is_none()
                    && matches!(e.group.state(), State::Empty | State::Dead)
                    && !e.group.has_pending_members();
                if !(empty_classic && req.epoch == 0) {
                    return Err(not_streams());
                }
                tracing::info!(
                    group = group_id,
                    "converted the empty classic group to a streams group"
                );
                e.streams = Some(StreamsGroup::default());
                created = true;
            }
        }
        let settings = self.streams_settings(group_id);
        let Some(group) = self
            .groups
            .get_mut(group_id)
            .and_then(|e| e.streams.as_mut())
        else {
            return Err(not_streams());
        };
        let before = group.clone();
        let state_before = group.state();
        let topics = |name: &str| lookup.lookup(name);
        let result = group.heartbeat(group_id, req, &topics, &settings, created, now);
        match result {
            Ok((answer, changed)) => {
                let after = group.state();
                if after != state_before {
                    tracing::info!(
                        group = group_id,
                        from = state_before.name(),
                        to = after.name(),
                        epoch = group.epoch,
                        members = group.members.len(),
                        "streams group state"
                    );
                }
                if changed || created {
                    self.persist_group(group_id);
                }
                self.reschedule(group_id);
                Ok(answer)
            }
            Err(refusal) => {
                *group = before;
                // Nothing was written: no group, or the empty classic group it replaced.
                if inserted {
                    self.groups.remove(group_id);
                } else if let (true, Some(e)) = (created, self.groups.get_mut(group_id)) {
                    e.streams = None;
                }
                self.reschedule(group_id);
                Err(refusal)
            }
        }
    }

    /// A streams group's timers: sessions, revocations, the initial rebalance delay.
    pub(super) fn streams_tick(&mut self, group_id: &str, now: i64) {
        let settings = self.streams_settings(group_id);
        let changed = self
            .groups
            .get_mut(group_id)
            .and_then(|e| e.streams.as_mut())
            .is_some_and(|s| s.tick(now, &settings));
        if changed {
            self.persist_group(group_id);
        }
        self.reschedule(group_id);
    }

    /// StreamsGroupDescribe of one group, or GROUP_ID_NOT_FOUND with Kafka's message.
    pub(super) fn streams_describe(
        &self,
        group_id: &str,
        lookup: &TopicLookup,
    ) -> Result<Description, Refusal> {
        let entry = self
            .groups
            .get(group_id)
            .ok_or_else(|| (E::GroupIdNotFound, format!("Group {group_id} not found.")))?;
        match &entry.streams {
            Some(s) => Ok(s.describe(&|name: &str| lookup.lookup(name))),
            None => Err((
                E::GroupIdNotFound,
                format!("Group {group_id} is not a streams group."),
            )),
        }
    }
}

/// The /metrics view of a streams group's state, in the classic states' terms.
pub(super) fn summary_state(entry: &Entry) -> State {
    match entry.streams.as_ref().map(StreamsGroup::state) {
        None | Some(GroupState::Empty) => State::Empty,
        Some(GroupState::NotReady | GroupState::Assigning) => State::PreparingRebalance,
        Some(GroupState::Reconciling) => State::CompletingRebalance,
        Some(GroupState::Stable) => State::Stable,
    }
}

impl GroupCoordinator {
    /// StreamsGroupHeartbeat (KIP-1071): `lookup` resolves the topology's topic names.
    pub async fn streams_heartbeat(
        &self,
        group_id: String,
        req: Heartbeat,
        lookup: TopicLookup,
    ) -> Result<Result<Answer, Refusal>, E> {
        self.query(move |c, now| c.streams_heartbeat(&group_id, req, &lookup, now))
            .await
    }

    /// StreamsGroupDescribe: each group's description or its error, in order.
    pub async fn streams_describe(
        &self,
        ids: Vec<String>,
        lookup: TopicLookup,
    ) -> Result<Vec<Result<Description, Refusal>>, E> {
        self.query(move |c, _| {
            ids.iter()
                .map(|id| c.streams_describe(id, &lookup))
                .collect()
        })
        .await
    }
}
