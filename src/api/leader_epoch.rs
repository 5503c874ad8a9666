//! The client's current leader epoch (KIP-320), checked as Kafka's `Partition.getLocalLog`
//! does for Fetch, ListOffsets and OffsetForLeaderEpoch: an epoch older than the
//! partition's is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (the client's
//! metadata and this broker's disagree, one of them is stale), then NOT_LEADER_OR_FOLLOWER
//! where another broker leads.

use std::sync::Arc;

use super::RequestContext;
use crate::error::{BrokerError, Result};
use crate::meta::{Partition, Topic};

/// "No epoch given": -1, as Kafka's RecordBatch.NO_PARTITION_LEADER_EPOCH.
const NONE: i32 = -1;

/// The partition's current leader epoch as this broker knows it: the log's where it leads,
/// else the cluster's (a stand-in holds no log of its own).
pub fn current(ctx: &RequestContext, p: &Partition) -> i32 {
    p.leader_epoch()
        .unwrap_or_else(|| ctx.cluster().leader_epoch(&p.topic, p.index))
}

/// Partition `index` of `topic` if this broker leads it at the epoch the client names.
pub fn led_partition(
    ctx: &RequestContext,
    topic: &Topic,
    index: i32,
    client_epoch: i32,
) -> Result<Arc<Partition>> {
    let p = topic
        .partition(index)
        .ok_or(BrokerError::UnknownTopicOrPartition)?;
    check(current(ctx, &p), client_epoch)?;
    if !p.is_led() {
        return Err(BrokerError::NotLeaderOrFollower);
    }
    Ok(p)
}

fn check(ours: i32, client_epoch: i32) -> Result<()> {
    match client_epoch {
        NONE => Ok(()),
        e if e < ours => Err(BrokerError::FencedLeaderEpoch),
        e if e > ours => Err(BrokerError::UnknownLeaderEpoch),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_is_fenced_newer_unknown_none_passes() {
        assert!(check(5, NONE).is_ok());
        assert!(check(5, 5).is_ok());
        assert!(matches!(check(5, 4), Err(BrokerError::FencedLeaderEpoch)));
        assert!(matches!(check(5, 6), Err(BrokerError::UnknownLeaderEpoch)));
        assert_eq!(BrokerError::FencedLeaderEpoch.code(), 74);
        assert_eq!(BrokerError::UnknownLeaderEpoch.code(), 75);
    }
}
