//! A share group's start offsets for the admin tools (DescribeShareGroupOffsets,
//! AlterShareGroupOffsets, DeleteShareGroupOffsets; `kafka-share-groups`): the group checks on
//! the coordinator's thread, the share-partition states in [`crate::store::ShareStates`]
//! (Kafka: the persister, through the share coordinator). A reset or delete fences the
//! leaders' copies (a new state epoch, or no row) and tells them to drop theirs
//! ([`super::ShareEvents::forget_group`]).

use std::collections::BTreeMap;

use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::super::share::partition::{SharePartition, StateRecord};
use super::super::share::ShareKey;
use super::state::Coordinator;
use super::GroupCoordinator;
use crate::store::ShareStateKey;

impl Coordinator {
    /// Every share partition's start offset and count of records past it done with:
    /// GROUP_ID_NOT_FOUND unless a share group.
    fn share_offsets(&self, group_id: &str) -> Result<BTreeMap<ShareKey, (i64, i64)>, E> {
        if self.groups.get(group_id).is_none_or(|e| e.share.is_none()) {
            return Err(E::GroupIdNotFound);
        }
        let stored = self.share_states.group(group_id).map_err(|e| {
            tracing::error!(group = group_id, error = %e, "could not read share states");
            E::CoordinatorNotAvailable
        })?;
        let mut out = BTreeMap::new();
        for (key, state) in stored {
            match serde_json::from_slice::<StateRecord>(&state.state) {
                Ok(record) => {
                    let p = SharePartition::from_record(&record);
                    let done = (p.start_offset(), p.delivery_complete_count());
                    out.insert((key.topic_id, key.partition), done);
                }
                Err(e) => tracing::warn!(group = group_id, error = %e, "unreadable share state"),
            }
        }
        Ok(out)
    }

    /// Only an empty share group's offsets may change (NON_EMPTY_GROUP).
    fn empty_share_group(&self, group_id: &str) -> Result<(), E> {
        let share = self
            .groups
            .get(group_id)
            .and_then(|e| e.share.as_ref())
            .ok_or(E::GroupIdNotFound)?;
        if share.is_empty() {
            Ok(())
        } else {
            Err(E::NonEmptyGroup)
        }
    }

    /// Start the partitions again at the given offsets (their in-flight records forgotten).
    /// `logs`: each partition's log name.
    fn share_alter_offsets(
        &mut self,
        group_id: &str,
        offsets: Vec<(ShareKey, String, i64)>,
    ) -> Result<(), E> {
        self.empty_share_group(group_id)?;
        let mut topics = Vec::new();
        for ((topic, partition), log, offset) in offsets {
            let state = serde_json::to_vec(&SharePartition::new(offset).to_record())
                .map_err(|_| E::UnknownServerError)?;
            let key = ShareStateKey::new(group_id, topic, partition);
            let reset = self.share_states.reset(&key, &log, offset, state);
            if let Err(e) = reset {
                tracing::error!(group = group_id, error = %e, "could not reset a share state");
                self.forget(group_id, Some(&topics));
                return Err(E::CoordinatorNotAvailable);
            }
            topics.push(topic);
        }
        self.forget(group_id, Some(&topics));
        Ok(())
    }

    /// Forget the share state of these topics: they start again by share.auto.offset.reset.
    fn share_delete_offsets(&mut self, group_id: &str, topics: &[Uuid]) -> Result<(), E> {
        self.empty_share_group(group_id)?;
        if self.delete_share_states(group_id, Some(topics)) {
            Ok(())
        } else {
            Err(E::CoordinatorNotAvailable)
        }
    }

    /// Delete the group's share states (of these topics, or all); false if that failed.
    pub(super) fn delete_share_states(&mut self, group_id: &str, topics: Option<&[Uuid]>) -> bool {
        let deleted = self.share_states.delete(group_id, topics);
        if let Err(e) = &deleted {
            tracing::error!(group = group_id, error = %e, "could not delete share states");
        }
        self.forget(group_id, topics);
        deleted.is_ok()
    }

    /// The leaders drop their copies of what was reset or deleted.
    fn forget(&self, group_id: &str, topics: Option<&[Uuid]>) {
        if let Some(events) = &self.share_events {
            events.forget_group(group_id, topics);
        }
    }
}

impl GroupCoordinator {
    /// DescribeShareGroupOffsets: each share partition's start offset and count of records
    /// past it done with.
    pub async fn share_offsets(
        &self,
        group_id: String,
    ) -> Result<BTreeMap<ShareKey, (i64, i64)>, E> {
        self.query(move |c, _| c.share_offsets(&group_id)).await?
    }

    /// AlterShareGroupOffsets (of an empty share group): (partition, its log, offset).
    pub async fn share_alter_offsets(
        &self,
        group_id: String,
        offsets: Vec<(ShareKey, String, i64)>,
    ) -> Result<(), E> {
        self.query(move |c, _| c.share_alter_offsets(&group_id, offsets))
            .await?
    }

    /// DeleteShareGroupOffsets (of an empty share group).
    pub async fn share_delete_offsets(&self, group_id: String, topics: Vec<Uuid>) -> Result<(), E> {
        self.query(move |c, _| c.share_delete_offsets(&group_id, &topics))
            .await?
    }
}
