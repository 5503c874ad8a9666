//! A share group's start offsets for the admin tools (DescribeShareGroupOffsets,
//! AlterShareGroupOffsets, DeleteShareGroupOffsets; `kafka-share-groups`), on the
//! coordinator's thread.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::super::record;
use super::super::share::partition::SharePartition;
use super::share_session::ShareKey;
use super::state::Coordinator;
use super::GroupCoordinator;
use crate::store::WriteOp;

impl Coordinator {
    /// Every share partition's start offset and count of records past it done with:
    /// GROUP_ID_NOT_FOUND unless a share group.
    fn share_offsets(&self, group_id: &str) -> Result<BTreeMap<ShareKey, (i64, i64)>, E> {
        let entry = self
            .groups
            .get(group_id)
            .filter(|e| e.share.is_some())
            .ok_or(E::GroupIdNotFound)?;
        Ok(entry
            .share_partitions
            .iter()
            .map(|(k, p)| (*k, (p.start_offset(), p.delivery_complete_count())))
            .collect())
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
    fn share_alter_offsets(
        &mut self,
        group_id: &str,
        offsets: Vec<(ShareKey, i64)>,
    ) -> Result<(), E> {
        self.empty_share_group(group_id)?;
        for (tp, offset) in offsets {
            if let Some(entry) = self.groups.get_mut(group_id) {
                entry
                    .share_partitions
                    .insert(tp, SharePartition::new(offset));
            }
            self.persist_share_partition(group_id, tp);
        }
        Ok(())
    }

    /// Forget the share state of these topics: they start again by share.auto.offset.reset.
    fn share_delete_offsets(&mut self, group_id: &str, topics: &[Uuid]) -> Result<(), E> {
        self.empty_share_group(group_id)?;
        let Some(entry) = self.groups.get_mut(group_id) else {
            return Err(E::GroupIdNotFound);
        };
        let gone: Vec<ShareKey> = entry
            .share_partitions
            .keys()
            .filter(|(t, _)| topics.contains(t))
            .copied()
            .collect();
        for tp in gone {
            entry.share_partitions.remove(&tp);
            self.shares_touched.insert((group_id.to_string(), tp));
            self.batch.write(WriteOp::Delete(record::share_state_key(
                group_id, &tp.0, tp.1,
            )));
        }
        Ok(())
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

    /// AlterShareGroupOffsets (of an empty share group).
    pub async fn share_alter_offsets(
        &self,
        group_id: String,
        offsets: Vec<(ShareKey, i64)>,
    ) -> Result<(), E> {
        self.query_durable(move |c, _| c.share_alter_offsets(&group_id, offsets))
            .await
    }

    /// DeleteShareGroupOffsets (of an empty share group).
    pub async fn share_delete_offsets(&self, group_id: String, topics: Vec<Uuid>) -> Result<(), E> {
        self.query_durable(move |c, _| c.share_delete_offsets(&group_id, &topics))
            .await
    }
}
