//! Share groups (KIP-932) on the coordinator's thread: membership (ShareGroupHeartbeat,
//! ShareGroupDescribe). The share-partitions' records live on their leaders (`crate::shares`),
//! which hear through [`ShareEvents`] when a member leaves or its session expires.

use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::super::classic::{Group, State};
use super::super::consumer::{TopicLookup, LEAVE_EPOCH};
use super::super::share::{ShareAnswer, ShareDescription, ShareGroup, ShareHeartbeat};
use super::state::{Coordinator, Entry};
use super::GroupCoordinator;

/// A share group's membership news for the share-partitions' leaders (hints: a missed one
/// costs a lock duration, as in Kafka, which has no such news).
pub trait ShareEvents: Send + Sync {
    /// The member left, or its session expired: its records are released.
    fn member_left(&self, group_id: &str, member_id: &str);
    /// The group's states (of these topics, or all) were reset or deleted: copies go.
    fn forget_group(&self, group_id: &str, topics: Option<&[Uuid]>);
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
        let leaving = req.epoch == LEAVE_EPOCH;
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
                    if e.offsets.is_empty() {
                        self.groups.remove(group_id);
                    }
                }
            }
            Err(_) => {}
        }
        self.reschedule(group_id);
        result.map(|(answer, _)| answer)
    }

    /// Member session expiries.
    pub(super) fn share_tick(&mut self, group_id: &str, now: i64) {
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

    /// The member left or its session ended: once that is durable, the leaders end its
    /// share sessions and release its records.
    fn share_member_gone(&mut self, group_id: &str, member_id: &str) {
        let Some(events) = self.share_events.clone() else {
            return;
        };
        let (group_id, member_id) = (group_id.to_string(), member_id.to_string());
        self.batch.after_write(move |durable| {
            if durable {
                events.member_left(&group_id, &member_id);
            }
        });
    }

    pub(super) fn share_describe(&self, group_id: &str) -> Result<ShareDescription, E> {
        self.groups
            .get(group_id)
            .and_then(|e| e.share.as_ref())
            .map(ShareGroup::describe)
            .ok_or(E::GroupIdNotFound)
    }
}

impl GroupCoordinator {
    /// Where members that left are announced (the share leaders).
    pub fn set_share_events(&self, events: std::sync::Arc<dyn ShareEvents>) {
        self.send(move |c, _| c.share_events = Some(events));
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
}
