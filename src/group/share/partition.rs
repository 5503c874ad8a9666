//! One share partition's records (Kafka's `SharePartition`): the start offset (everything
//! below it is done with), the end offset (the first offset never acquired), and between
//! them each record's state and delivery count.
//!
//! A fetch acquires available records for a member under a lock that expires after
//! `group.share.record.lock.duration.ms`; each acquisition counts a delivery. The member then
//! accepts (done), releases (available again) or rejects (archived) them; a lock that
//! expires releases them. A record released with `group.share.delivery.count.limit`
//! deliveries is archived instead. The start offset moves past records that are done.
//!
//! When the group has a dead-letter topic (KIP-1191), a rejected record, or one that used up
//! its deliveries, is `Archiving` until its copy is on that topic: it is handed out as a
//! [`DeadLetter`] and only [`SharePartition::dead_lettered`] archives it.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError as E;

pub use super::acquire_mode::AcquireMode;
pub use super::partition_types::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct InFlight {
    state: RecordState,
    delivery_count: i16,
    /// The member holding it, while acquired.
    member: Option<String>,
    /// When its acquisition lock expires, while acquired.
    deadline: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePartition {
    start_offset: i64,
    end_offset: i64,
    records: BTreeMap<i64, InFlight>,
    /// Records given up on: those that became `Archiving` since
    /// [`Self::take_dead_letters`] last ran, and counts.
    tally: Tally,
}

impl SharePartition {
    /// A partition whose records start at `offset` (the auto offset reset's choice).
    pub fn new(offset: i64) -> Self {
        Self {
            start_offset: offset,
            end_offset: offset,
            records: BTreeMap::new(),
            tally: Tally::default(),
        }
    }

    pub fn start_offset(&self) -> i64 {
        self.start_offset
    }

    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// Records at or past the start offset that are done with (acknowledged or archived):
    /// Kafka's `deliveryCompleteCount`, which the lag leaves out.
    pub fn delivery_complete_count(&self) -> i64 {
        self.records
            .range(self.start_offset..)
            .filter(|(_, r)| matches!(r.state, RecordState::Acknowledged | RecordState::Archived))
            .count() as i64
    }

    /// Where a fetch should read from: the first available record, else the end offset.
    pub fn next_fetch_offset(&self) -> i64 {
        self.records
            .iter()
            .find(|(_, r)| r.state == RecordState::Available)
            .map_or(self.end_offset, |(o, _)| *o)
    }

    /// The log no longer holds records below `log_start`: they are skipped.
    pub fn skip_below(&mut self, log_start: i64) -> bool {
        if log_start <= self.start_offset {
            return false;
        }
        self.records = self.records.split_off(&log_start);
        self.start_offset = log_start;
        self.end_offset = self.end_offset.max(log_start);
        true
    }

    /// Acquire for `member` up to `max_records` available records among `spans` (read from
    /// the log at [`Self::next_fetch_offset`]), each delivery counted. In batch-optimized
    /// mode the batch holding the last record allowed is acquired to its end, as Kafka does.
    pub fn acquire(
        &mut self,
        member: &str,
        spans: &[Span],
        max_records: usize,
        mode: AcquireMode,
        now: i64,
        limits: &Limits,
    ) -> Vec<Acquired> {
        let mut got: Vec<Acquired> = Vec::new();
        let mut taken = 0usize;
        let take = |offset: i64, count: i16, got: &mut Vec<Acquired>| match got.last_mut() {
            Some(a) if a.last + 1 == offset && a.delivery_count == count => a.last = offset,
            _ => got.push(Acquired {
                first: offset,
                last: offset,
                delivery_count: count,
            }),
        };
        'spans: for span in spans {
            if taken >= max_records {
                break;
            }
            for offset in span.first.max(self.start_offset)..=span.last {
                if taken >= max_records && mode == AcquireMode::RecordLimit {
                    break 'spans;
                }
                if offset < self.end_offset {
                    if let Some(r) = self.records.get_mut(&offset) {
                        // Released (or restored) records of an aborted transaction, met
                        // again under read_committed, are done with too.
                        if r.state == RecordState::Available && span.skip {
                            *r = done(RecordState::Archived, r.delivery_count);
                        } else if r.state == RecordState::Available {
                            r.state = RecordState::Acquired;
                            r.delivery_count = r.delivery_count.saturating_add(1);
                            r.member = Some(member.to_string());
                            r.deadline = now + limits.lock_ms;
                            take(offset, r.delivery_count, &mut got);
                            taken += 1;
                        }
                    }
                    continue;
                }
                if offset - self.start_offset >= limits.max_in_flight {
                    break 'spans;
                }
                // Offsets the log skips (compaction) are gaps: done with.
                for gap in self.end_offset..offset {
                    self.records.insert(gap, done(RecordState::Archived, 0));
                }
                if span.skip {
                    self.records.insert(offset, done(RecordState::Archived, 0));
                } else {
                    self.records.insert(
                        offset,
                        InFlight {
                            state: RecordState::Acquired,
                            delivery_count: 1,
                            member: Some(member.to_string()),
                            deadline: now + limits.lock_ms,
                        },
                    );
                    take(offset, 1, &mut got);
                    taken += 1;
                }
                self.end_offset = offset + 1;
            }
        }
        self.advance();
        got
    }

    /// Apply `member`'s acknowledgements: all or nothing. INVALID_REQUEST for malformed
    /// batches (overlapping or descending ranges, wrong type counts, unknown types),
    /// INVALID_RECORD_STATE when a record is not acquired by the member, or is renewed in a
    /// group that does not allow it. A renewed record keeps its member and delivery count; its
    /// lock runs from `now` again.
    pub fn acknowledge(
        &mut self,
        member: &str,
        acks: &[Ack],
        now: i64,
        limits: &Limits,
    ) -> Result<(), E> {
        let mut previous: Option<i64> = None;
        for ack in acks {
            let len = ack
                .last
                .checked_sub(ack.first)
                .and_then(|d| d.checked_add(1));
            let Some(len) = len.filter(|l| *l > 0) else {
                return Err(E::InvalidRequest);
            };
            if previous.is_some_and(|p| ack.first <= p)
                || !(ack.types.len() == 1 || ack.types.len() as i64 == len)
                || ack.types.iter().any(|t| !(GAP..=RENEW).contains(t))
            {
                return Err(E::InvalidRequest);
            }
            previous = Some(ack.last);
            if ack.first < self.start_offset || ack.last >= self.end_offset {
                return Err(E::InvalidRecordState);
            }
            let held = self.records.range(ack.first..=ack.last);
            if held.clone().count() as i64 != len
                || held.into_iter().any(|(_, r)| {
                    r.state != RecordState::Acquired || r.member.as_deref() != Some(member)
                })
            {
                return Err(E::InvalidRecordState);
            }
            if !limits.renew && ack.types.contains(&RENEW) {
                return Err(E::InvalidRecordState);
            }
        }
        for ack in acks {
            for offset in ack.first..=ack.last {
                let kind = if ack.types.len() == 1 {
                    ack.types[0]
                } else {
                    ack.types[(offset - ack.first) as usize]
                };
                let Some(r) = self.records.get_mut(&offset) else {
                    continue;
                };
                let outcome = match kind {
                    GAP | ACCEPT => {
                        *r = done(RecordState::Acknowledged, r.delivery_count);
                        Outcome::Kept
                    }
                    REJECT => give_up(r, Cause::Rejected, limits),
                    RENEW => {
                        r.deadline = now + limits.lock_ms;
                        Outcome::Kept
                    }
                    _ => release(r, limits),
                };
                self.tally.note(offset, outcome);
            }
        }
        self.advance();
        Ok(())
    }

    /// Locks that expired by `now` release their records. True if any did.
    pub fn expire(&mut self, now: i64, limits: &Limits) -> bool {
        let mut changed = false;
        for (offset, r) in self.records.iter_mut() {
            if r.state == RecordState::Acquired && r.deadline <= now {
                let outcome = release(r, limits);
                self.tally.note(*offset, outcome);
                changed = true;
            }
        }
        if changed {
            self.advance();
        }
        changed
    }

    /// The member is gone (closed its session or left): its records are released.
    pub fn release_member(&mut self, member: &str, limits: &Limits) -> bool {
        let mut changed = false;
        for (offset, r) in self.records.iter_mut() {
            if r.state == RecordState::Acquired && r.member.as_deref() == Some(member) {
                let outcome = release(r, limits);
                self.tally.note(*offset, outcome);
                changed = true;
            }
        }
        if changed {
            self.advance();
        }
        changed
    }

    /// The earliest lock deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        self.records
            .values()
            .filter(|r| r.state == RecordState::Acquired)
            .map(|r| r.deadline)
            .min()
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in self.records.values() {
            match r.state {
                RecordState::Available => c.available += 1,
                RecordState::Acquired => c.acquired += 1,
                RecordState::Archiving => c.archiving += 1,
                RecordState::Archived => c.archived += 1,
                RecordState::Acknowledged => {}
            }
        }
        c
    }

    /// Records archived, and of them written to the dead-letter topic, since loaded.
    pub fn given_up(&self) -> (u64, u64) {
        (self.tally.archived, self.tally.dead_lettered)
    }

    /// The records given up on since the last call, to write to the dead-letter topic.
    pub fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.tally.fresh)
    }

    /// Every record still waiting for the dead-letter topic (after a restart, or a failed
    /// write), its cause read from its delivery count as Kafka does.
    pub fn pending_dead_letters(&self, limits: &Limits) -> Vec<DeadLetter> {
        let mut out = Vec::new();
        for (offset, r) in &self.records {
            if r.state == RecordState::Archiving {
                let cause = Cause::of(r.delivery_count, limits);
                join(&mut out, *offset, r.delivery_count, cause);
            }
        }
        out
    }

    /// The records `first..=last` are on the dead-letter topic (`written`), or given up on:
    /// archived. True if any was waiting.
    pub fn dead_lettered(&mut self, first: i64, last: i64, written: bool) -> bool {
        let mut changed = false;
        for (_, r) in self.records.range_mut(first..=last.max(first)) {
            if r.state == RecordState::Archiving {
                r.state = RecordState::Archived;
                self.tally.archived += 1;
                self.tally.dead_lettered += u64::from(written);
                changed = true;
            }
        }
        if changed {
            self.advance();
        }
        changed
    }

    /// Move the start offset past records that are done with.
    fn advance(&mut self) {
        while let Some(entry) = self.records.first_entry() {
            let state = entry.get().state;
            if *entry.key() != self.start_offset
                || !matches!(state, RecordState::Acknowledged | RecordState::Archived)
            {
                break;
            }
            entry.remove();
            self.start_offset += 1;
        }
        if self.records.is_empty() {
            self.start_offset = self.start_offset.max(self.end_offset);
            self.end_offset = self.start_offset;
        }
    }

    pub fn to_record(&self) -> StateRecord {
        let mut runs: Vec<(i64, i64, RecordState, i16)> = Vec::new();
        for (offset, r) in &self.records {
            let state = match r.state {
                RecordState::Acquired => RecordState::Available,
                s => s,
            };
            match runs.last_mut() {
                Some(run)
                    if run.1 + 1 == *offset && run.2 == state && run.3 == r.delivery_count =>
                {
                    run.1 = *offset
                }
                _ => runs.push((*offset, *offset, state, r.delivery_count)),
            }
        }
        StateRecord {
            start_offset: self.start_offset,
            end_offset: self.end_offset,
            runs,
        }
    }

    /// Back from the store (bad runs are skipped; a run is at most the end offset's span).
    pub fn from_record(r: &StateRecord) -> Self {
        let mut p = Self::new(r.start_offset);
        p.end_offset = r.end_offset.max(r.start_offset);
        for (first, last, state, count) in &r.runs {
            let from = (*first).max(p.start_offset);
            let to = (*last).min(p.end_offset - 1);
            for offset in from..=to {
                let state = match state {
                    RecordState::Acquired => RecordState::Available,
                    s => *s,
                };
                p.records.insert(offset, done(state, *count));
            }
        }
        // Offsets the record does not cover were never fetched: start again from the first.
        let covered = p.records.len() as i64;
        if covered != p.end_offset - p.start_offset {
            let mut expected = p.start_offset;
            for offset in p.records.keys() {
                if *offset != expected {
                    break;
                }
                expected += 1;
            }
            p.records.split_off(&expected);
            p.end_offset = expected;
        }
        p.advance();
        p
    }
}

fn done(state: RecordState, delivery_count: i16) -> InFlight {
    InFlight {
        state,
        delivery_count,
        member: None,
        deadline: 0,
    }
}

/// What became of a record a member let go of.
enum Outcome {
    /// Acknowledged, or available again.
    Kept,
    Archived,
    /// Waiting for the dead-letter topic: (delivery count, why).
    Archiving(i16, Cause),
}

/// Records given up on since the partition was loaded: the fresh dead letters, and counts
/// for metrics (in memory: Prometheus counters start again with the process).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tally {
    fresh: Vec<DeadLetter>,
    archived: u64,
    dead_lettered: u64,
}

impl Tally {
    fn note(&mut self, offset: i64, outcome: Outcome) {
        match outcome {
            Outcome::Kept => {}
            Outcome::Archived => self.archived += 1,
            Outcome::Archiving(count, cause) => join(&mut self.fresh, offset, count, cause),
        }
    }
}

/// Available again, or given up on once it has had its deliveries.
fn release(r: &mut InFlight, limits: &Limits) -> Outcome {
    if r.delivery_count >= limits.delivery_limit {
        give_up(r, Cause::DeliveryLimit, limits)
    } else {
        *r = done(RecordState::Available, r.delivery_count);
        Outcome::Kept
    }
}

/// Archived, or archiving first when the group has a dead-letter topic.
fn give_up(r: &mut InFlight, cause: Cause, limits: &Limits) -> Outcome {
    if limits.dead_letters {
        *r = done(RecordState::Archiving, r.delivery_count);
        Outcome::Archiving(r.delivery_count, cause)
    } else {
        *r = done(RecordState::Archived, r.delivery_count);
        Outcome::Archived
    }
}

/// Add a record given up on to `out`, joining the previous run when it continues it.
fn join(out: &mut Vec<DeadLetter>, offset: i64, delivery_count: i16, cause: Cause) {
    match out.last_mut() {
        Some(d)
            if d.last + 1 == offset && d.delivery_count == delivery_count && d.cause == cause =>
        {
            d.last = offset
        }
        _ => out.push(DeadLetter {
            first: offset,
            last: offset,
            delivery_count,
            cause,
        }),
    }
}
