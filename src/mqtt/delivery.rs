//! One session's way out: its subscriptions, where it reads each Kafka partition that may hold
//! matching messages, the messages fetched and not yet sent, and those sent at QoS 1/2 and
//! not yet acknowledged (at most `max_inflight`).
//!
//! Every message a subscriber gets comes from the log, whoever produced it (MQTT publishes and
//! Kafka producers alike), in each partition's order. The position a persistent session
//! commits for a partition is its first offset not yet done with (fetched but unsent, or sent
//! and unacknowledged), so a message is delivered again after a reconnect or a broker restart
//! unless it was acknowledged (at least once).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use super::codec::Message;
use super::kafka::{Fetched, Tp};
use super::store::{from_record, Subscriptions};
use super::topic::{matches, TopicMap};

/// Kafka's OFFSET_OUT_OF_RANGE.
const OFFSET_OUT_OF_RANGE: i16 = 1;

#[derive(Default)]
pub struct Delivery {
    pub subs: Subscriptions,
    /// Next offset to fetch, per partition read.
    positions: BTreeMap<Tp, i64>,
    /// Offsets fetched and not done with.
    outstanding: BTreeMap<Tp, BTreeSet<i64>>,
    /// Messages to send (with their record's place; none for retained messages).
    pending: VecDeque<(Option<(Tp, i64)>, Message)>,
    /// Packet id → the place of a message sent at QoS 1/2 and not acknowledged.
    inflight: HashMap<u16, Option<(Tp, i64)>>,
    next_pkid: u16,
    pub max_inflight: usize,
    /// Positions changed since the last commit.
    pub dirty: bool,
    /// Partitions to move to their start (their position fell out of range).
    pub to_reset: Vec<Tp>,
}

impl Delivery {
    pub fn new(max_inflight: usize) -> Self {
        Self {
            max_inflight: max_inflight.max(1),
            next_pkid: 1,
            ..Self::default()
        }
    }

    /// The partitions of `topics` (name → partition count) the subscriptions may need that are
    /// not read yet.
    pub fn missing(&self, map: &TopicMap, topics: &BTreeMap<String, i32>) -> Vec<Tp> {
        let mut out = Vec::new();
        for (topic, &count) in topics {
            if !self.subs.keys().any(|f| map.may_hold(topic, f)) {
                continue;
            }
            for p in 0..count {
                let tp = (topic.clone(), p);
                if !self.positions.contains_key(&tp) {
                    out.push(tp);
                }
            }
        }
        out
    }

    /// Start reading partitions at the given offsets.
    pub fn start(&mut self, at: impl IntoIterator<Item = (Tp, i64)>) {
        for (tp, offset) in at {
            self.positions.insert(tp, offset);
            self.dirty = true;
        }
    }

    /// Stop reading partitions no subscription needs any more.
    pub fn retain_needed(&mut self, map: &TopicMap) {
        let subs = &self.subs;
        self.positions
            .retain(|(topic, _), _| subs.keys().any(|f| map.may_hold(topic, f)));
        let positions = &self.positions;
        self.outstanding.retain(|tp, _| positions.contains_key(tp));
    }

    /// What to fetch next: every partition read, unless messages are still waiting to go.
    pub fn fetch_set(&self) -> Option<BTreeMap<Tp, i64>> {
        (self.pending.is_empty() && !self.positions.is_empty()).then(|| self.positions.clone())
    }

    /// Take a fetch's records: those matching a subscription wait to be sent. (A fetch may
    /// start below this delivery's positions: records before them are passed over.)
    pub fn take(&mut self, map: &TopicMap, fetched: &[Fetched]) {
        for f in fetched {
            let Some(position) = self.positions.get(&f.tp).copied() else {
                continue;
            };
            if f.error == OFFSET_OUT_OF_RANGE {
                self.to_reset.push(f.tp.clone());
                continue;
            }
            let mut next = position;
            for r in f.records.iter().filter(|r| r.offset >= position) {
                next = r.offset + 1;
                let m = from_record(map, &f.tp.0, r);
                let granted = self
                    .subs
                    .iter()
                    .filter(|(filter, _)| matches(&m.topic, filter))
                    .map(|(_, q)| *q)
                    .max();
                let Some(granted) = granted else { continue };
                let qos = m.qos.min(granted);
                self.outstanding
                    .entry(f.tp.clone())
                    .or_default()
                    .insert(r.offset);
                self.pending
                    .push_back((Some((f.tp.clone(), r.offset)), Message { qos, ..m }));
            }
            if next != position {
                self.positions.insert(f.tp.clone(), next);
                self.dirty = true;
            }
        }
    }

    /// Queue a retained message (sent before what the log holds).
    pub fn push_retained(&mut self, m: Message) {
        self.pending.push_front((None, m));
    }

    /// The next message to send, with its packet id (QoS 1/2), while the window allows.
    pub fn next_to_send(&mut self) -> Option<Message> {
        self.next_to_send_avoiding(&HashSet::new())
    }

    /// [`Self::next_to_send`], with packet ids other deliveries of the connection hold left
    /// alone (shared subscriptions read on their own).
    pub fn next_to_send_avoiding(&mut self, taken: &HashSet<u16>) -> Option<Message> {
        if self.inflight.len() >= self.max_inflight {
            return None;
        }
        let (place, mut m) = self.pending.pop_front()?;
        if m.qos == 0 {
            self.done(place);
            return Some(m);
        }
        let mut pkid = self.next_pkid;
        while pkid == 0 || self.inflight.contains_key(&pkid) || taken.contains(&pkid) {
            pkid = pkid.wrapping_add(1);
        }
        self.next_pkid = pkid.wrapping_add(1);
        m.pkid = pkid;
        self.inflight.insert(pkid, place);
        Some(m)
    }

    /// Packet ids of messages sent and not acknowledged.
    pub fn inflight_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.inflight.keys().copied()
    }

    /// A QoS 1 message acknowledged (PUBACK) or a QoS 2 one completed (PUBCOMP).
    pub fn acked(&mut self, pkid: u16) {
        if let Some(place) = self.inflight.remove(&pkid) {
            self.done(place);
        }
    }

    fn done(&mut self, place: Option<(Tp, i64)>) {
        if let Some((tp, offset)) = place {
            if let Some(set) = self.outstanding.get_mut(&tp) {
                set.remove(&offset);
            }
            self.dirty = true;
        }
    }

    /// The positions to commit: per partition, the first offset not done with.
    pub fn commit_offsets(&self) -> BTreeMap<Tp, i64> {
        self.positions
            .iter()
            .map(|(tp, next)| {
                let first = self.outstanding.get(tp).and_then(|s| s.first().copied());
                (tp.clone(), first.unwrap_or(*next))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::records::{Record, TimestampType};

    use super::*;

    fn record(offset: i64, key: &str) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp: 0,
            key: Some(Bytes::from(key.to_string())),
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        }
    }

    #[test]
    fn commits_stop_at_the_first_unacknowledged_message() {
        let map = TopicMap::default();
        let mut d = Delivery::new(2);
        d.subs.insert("a/#".into(), 1);
        let tp: Tp = ("a".into(), 0);
        assert_eq!(
            d.missing(&map, &BTreeMap::from([("a".into(), 1), ("b".into(), 1)])),
            vec![tp.clone()]
        );
        d.start([(tp.clone(), 10)]);
        let records = vec![
            record(9, "a/x"),
            record(10, "a/x"),
            record(11, "b/x"),
            record(12, "a/y"),
            record(13, "a/z"),
        ];
        d.take(
            &map,
            &[Fetched {
                tp: tp.clone(),
                error: 0,
                high_watermark: 14,
                records,
            }],
        );
        // 9 is before the position; 11 maps elsewhere (its MQTT topic is "a", which a/# matches).
        let first = d.next_to_send().unwrap();
        let second = d.next_to_send().unwrap();
        assert_eq!((first.topic.as_str(), first.pkid), ("a/x", 1));
        assert_eq!(second.topic, "a");
        assert!(d.next_to_send().is_none(), "the window is full");
        assert!(d.fetch_set().is_none(), "messages still wait");
        d.acked(second.pkid);
        assert_eq!(d.commit_offsets()[&tp], 10);
        d.acked(first.pkid);
        assert_eq!(d.commit_offsets()[&tp], 12);
        // Another delivery of the connection holds packet id 3: this one skips it.
        let y = d.next_to_send_avoiding(&HashSet::from([3])).unwrap();
        assert_eq!((y.topic.as_str(), y.pkid), ("a/y", 4));
        assert_eq!(d.inflight_ids().collect::<Vec<_>>(), [4]);
        d.acked(4);
        assert_eq!(d.next_to_send().unwrap().topic, "a/z");
        assert_eq!(d.commit_offsets()[&tp], 13);
        d.subs.clear();
        d.retain_needed(&map);
        assert!(d.fetch_set().is_none());
    }
}
