//! read_committed reads: batches below the last stable offset and the aborted transactions
//! among them (what a read_committed Fetch, and a read_committed share group, are given).

use bytes::Bytes;

use super::txns::AbortedTxn;
use super::{cut_at_offset, Partition, Records, State};
use crate::error::Result;
use crate::log::batch;

impl Partition {
    /// read_committed: batches from `offset` below the last stable offset (as regions where
    /// the medium can send them, as [`Partition::read_records`]), that offset, and the aborted
    /// transactions overlapping what is returned.
    pub fn read_committed(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<(Records, i64, Vec<AbortedTxn>)> {
        let lso = self.last_stable_offset();
        if offset >= lso {
            return Ok((Records::Bytes(Bytes::new()), lso, Vec::new()));
        }
        let state = self.state();
        let (records, end) = match state
            .log
            .read_regions(offset, max_bytes, min_one_batch, lso)?
        {
            Some((regions, end)) => (Records::Regions(regions), end),
            None => {
                let (records, end) = state.read_below(offset, max_bytes, min_one_batch, lso)?;
                (Records::Bytes(records), end)
            }
        };
        let aborted = state.txns.aborted_between(offset, end);
        Ok((records, lso, aborted))
    }

    /// As [`Partition::read_committed`], always in memory (share groups look into the
    /// batches they hand out).
    pub fn read_committed_bytes(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<(Bytes, i64, Vec<AbortedTxn>)> {
        let lso = self.last_stable_offset();
        if offset >= lso {
            return Ok((Bytes::new(), lso, Vec::new()));
        }
        let state = self.state();
        let (records, end) = state.read_below(offset, max_bytes, min_one_batch, lso)?;
        let aborted = state.txns.aborted_between(offset, end);
        Ok((records, lso, aborted))
    }
}

impl State {
    /// The batches from `offset` up to (not including) `limit` in memory, and the offset
    /// after the last one.
    fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        limit: i64,
    ) -> Result<(Bytes, i64)> {
        let read = self.log.read(offset, max_bytes, min_one_batch)?.records;
        let records = cut_at_offset(read, limit);
        let end = batch::headers(&records)
            .last()
            .map_or(offset, |(_, h)| h.last_offset() + 1);
        Ok((records, end))
    }
}
