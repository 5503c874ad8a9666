//! Share groups on /metrics: per share partition what waits (available: never delivered or
//! released again), what is in flight (acquired), what waits for the dead-letter topic, the
//! records given up on and dead-lettered since start-up, and the age of the oldest record the
//! group is not done with — the view of unprocessed work a queue's users watch.

use crate::api::Services;
use crate::log::batch;
use crate::metrics::exposition::{Encoder, Kind};
use crate::shares::SharePartitionSummary;

const RECORDS: &str = "gregor_share_partition_records";
const ARCHIVED: &str = "gregor_share_records_archived_total";
const DEAD_LETTERED: &str = "gregor_share_records_dead_lettered_total";
const OLDEST: &str = "gregor_share_oldest_unacknowledged_age_seconds";

/// One share partition's numbers, read now.
struct Row {
    group: String,
    topic: String,
    partition: String,
    available: i64,
    acquired: i64,
    archiving: i64,
    archived_total: u64,
    dead_lettered_total: u64,
    /// Seconds since the oldest record not done with was written (None: nothing waits).
    oldest_age: Option<f64>,
}

impl Row {
    fn labels(&self) -> [(&'static str, &str); 3] {
        [
            ("group", &self.group),
            ("topic", &self.topic),
            ("partition", &self.partition),
        ]
    }
}

/// `partitions`: the share-partitions led here, by group.
pub(super) fn share_groups(
    e: &mut Encoder,
    services: &Services,
    partitions: &[(String, SharePartitionSummary)],
) {
    let now = crate::clock::now_ms();
    let mut rows = Vec::new();
    for (group, s) in partitions {
        let (topic_id, index) = s.partition;
        let Some(topic) = services.topics.by_id(&topic_id) else {
            continue; // deleted since
        };
        let Some(partition) = topic.partition(index).filter(|p| p.is_led()) else {
            continue;
        };
        let high_watermark = partition.high_watermark();
        // Records past the share window have never been delivered: they wait too.
        let unread = (high_watermark - s.end_offset.max(s.start_offset)).max(0);
        let oldest_age = (s.start_offset < high_watermark)
            .then(|| partition.read(s.start_offset, 1, true).ok())
            .flatten()
            .and_then(|data| batch::headers(&data).next().map(|(_, h)| h.base_timestamp))
            .map(|written| (now - written).max(0) as f64 / 1000.0);
        rows.push(Row {
            group: group.clone(),
            topic: topic.name.clone(),
            partition: index.to_string(),
            available: s.counts.available + unread,
            acquired: s.counts.acquired,
            archiving: s.counts.archiving,
            archived_total: s.archived_total,
            dead_lettered_total: s.dead_lettered_total,
            oldest_age,
        });
    }
    e.family(
        RECORDS,
        "Records of the share partition by state: available (waiting for a consumer), acquired (in flight), archiving (waiting for the dead-letter topic).",
        Kind::Gauge,
    );
    for r in &rows {
        for (state, value) in [
            ("available", r.available),
            ("acquired", r.acquired),
            ("archiving", r.archiving),
        ] {
            let [g, t, p] = r.labels();
            e.sample(RECORDS, &[g, t, p, ("state", state)], value as f64);
        }
    }
    for (name, help, read) in [
        (
            ARCHIVED,
            "Records the share group gave up on (rejected, or out of deliveries) since start-up.",
            (|r: &Row| r.archived_total as f64) as fn(&Row) -> f64,
        ),
        (
            DEAD_LETTERED,
            "Records written to the share group's dead-letter topic since start-up.",
            |r: &Row| r.dead_lettered_total as f64,
        ),
    ] {
        e.family(name, help, Kind::Counter);
        for r in &rows {
            e.sample(name, &r.labels(), read(r));
        }
    }
    e.family(
        OLDEST,
        "Age of the oldest record the share group is not done with (absent when nothing waits).",
        Kind::Gauge,
    );
    for r in &rows {
        if let Some(age) = r.oldest_age {
            e.sample(OLDEST, &r.labels(), age);
        }
    }
}
