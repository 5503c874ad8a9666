//! Start-up: a partition's producer and transaction state from its snapshot plus the log
//! after it (see `snapshot.rs`).

use crate::error::Result;
use crate::log::{batch, LogError, PartitionLog};

use super::marker;
use super::producers::ProducerStates;
use super::snapshot;
use super::txns::PartitionTxns;

/// Segments replayed when no usable snapshot is stored (a log written before snapshots, or a
/// damaged one): the newest ones, where a producer retrying after a restart finds its batches.
const SEGMENTS_WITHOUT_SNAPSHOT: usize = 2;

/// The state as of the log end: the stored snapshot, if it is sound and not beyond the log
/// end (the log lost data it covered), then every batch after it.
pub fn producer_state(
    log: &PartitionLog,
    topic: &str,
    partition: i32,
) -> Result<(ProducerStates, PartitionTxns)> {
    let end = log.log_end_offset();
    let stored = match log.read_state_snapshot()?.map(|b| snapshot::decode(&b)) {
        Some(Ok(s)) if s.offset <= end => Some(s),
        Some(Ok(s)) => {
            tracing::warn!(topic, partition, snapshot_offset = s.offset, log_end_offset = end,
                "producer-state snapshot is beyond the log end; replaying the newest segments instead");
            None
        }
        Some(Err(e)) => {
            tracing::warn!(topic, partition, error = %e,
                "producer-state snapshot unusable; replaying the newest segments instead");
            None
        }
        None => None,
    };
    let (from, mut producers, mut txns) = match stored {
        Some(s) => (s.offset, s.producers, s.txns),
        None => {
            let bases = log.segment_base_offsets();
            let newest = bases[bases.len().saturating_sub(SEGMENTS_WITHOUT_SNAPSHOT)..]
                .first()
                .copied()
                .unwrap_or(0);
            (newest, ProducerStates::default(), PartitionTxns::default())
        }
    };
    let start = log.log_start_offset();
    replay(log, from.max(start), &mut producers, &mut txns)?;
    txns.forget_aborted_before(start);
    Ok((producers, txns))
}

/// Replay the batch headers from `offset` to the log end into producer state, and the
/// transactional batches and markers among them into the transaction state.
fn replay(
    log: &PartitionLog,
    mut offset: i64,
    producers: &mut ProducerStates,
    txns: &mut PartitionTxns,
) -> Result<()> {
    while offset < log.log_end_offset() {
        let chunk = match log.read(offset, 1 << 20, true) {
            Ok(read) => read.records,
            // Damaged batches tell nothing reliable: go on after them.
            Err(LogError::Damaged { end_offset, .. }) => {
                offset = end_offset;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut last = None;
        for (pos, h) in batch::headers(&chunk) {
            if h.is_control() {
                // Markers carry no sequence: they move the epoch, keep the coordinator epoch
                // and end transactions.
                if let Some(m) = marker::marker_kind(&h, &chunk[pos..pos + h.total_size()]) {
                    producers.record_marker(
                        h.producer_id,
                        h.producer_epoch,
                        m.coordinator_epoch,
                        h.max_timestamp,
                    );
                    txns.on_marker(h.producer_id, m.commit, h.base_offset);
                }
            } else {
                producers.record(&h, h.base_offset, h.last_offset());
                if h.is_transactional() {
                    txns.on_data(h.producer_id, h.base_offset);
                }
            }
            last = Some(h.last_offset());
        }
        match last {
            Some(l) => offset = l + 1,
            None => break,
        }
    }
    Ok(())
}
