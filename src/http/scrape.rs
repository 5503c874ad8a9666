//! What one scrape of /metrics shows: the hot-path counters, plus partition offsets, consumer
//! group lag and process stats computed now from the services's state.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::api::Services;
use crate::group::classic::State;
use crate::meta::Partition;
use crate::metrics::exposition::{Encoder, Kind};
use crate::metrics::process;

const GROUP_STATES: [State; 5] = [
    State::Empty,
    State::PreparingRebalance,
    State::CompletingRebalance,
    State::Stable,
    State::Dead,
];

/// (metric name, help, how to read it from one partition's counters or log)
type PartitionMetric<T> = (&'static str, &'static str, fn(&T) -> f64);

pub async fn render(services: &Services) -> String {
    let mut e = Encoder::default();
    requests(&mut e, services);
    connections(&mut e, services);
    e.family(
        "gregor_fsync_duration_seconds",
        "Time of one group-commit fsync of a partition log.",
        Kind::Histogram,
    );
    e.histogram(
        "gregor_fsync_duration_seconds",
        &[],
        &services.metrics.fsync.snapshot(),
    );
    topics(&mut e, services);
    quotas(&mut e, services);
    scrub(&mut e, services);
    fetch_sessions(&mut e, services);
    groups(&mut e, services).await;
    if services.config.client_telemetry {
        // What clients pushed (KIP-714), labelled with their instance, id and software.
        services.telemetry.encode(&mut e, crate::clock::now_ms());
    }
    process::encode(&mut e);
    e.finish()
}

fn requests(e: &mut Encoder, services: &Services) {
    let name = "gregor_request_duration_seconds";
    e.family(
        name,
        "Time from reading a request to its response being ready, by API (rate() of _count is the request rate).",
        Kind::Histogram,
    );
    for (key, h) in services.metrics.requests() {
        e.histogram(name, &[("api", &format!("{key:?}"))], &h.snapshot());
    }
}

fn connections(e: &mut Encoder, services: &Services) {
    let c = &services.metrics.connections;
    let rows = [
        (
            "gregor_connections_open",
            "Client connections open now.",
            Kind::Gauge,
            c.open.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_connections_accepted_total",
            "Client connections accepted.",
            Kind::Counter,
            c.accepted.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_connections_cap_reached_total",
            "Times every max_connections slot was taken, so the next client had to wait to be accepted.",
            Kind::Counter,
            c.cap_reached.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_sasl_reauthentications_total",
            "SASL re-authentications (KIP-368) that succeeded.",
            Kind::Counter,
            c.reauthentications.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_sasl_reauthentication_failures_total",
            "SASL re-authentications that failed (the connection was closed).",
            Kind::Counter,
            c.reauthentication_failures.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_connections_expired_total",
            "Connections closed because a request came after their SASL session expired.",
            Kind::Counter,
            c.expired_sessions.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_connections_max",
            "The max_connections setting.",
            Kind::Gauge,
            services.config.max_connections as f64,
        ),
    ];
    for (name, help, kind, value) in rows {
        e.family(name, help, kind);
        e.sample(name, &[], value);
    }
}

/// Client quota throttling, per quota kind (Kafka's throttle-time sensors, summed).
fn quotas(e: &mut Encoder, services: &Services) {
    let q = &services.quotas;
    let kinds = [
        ("produce", &q.produce),
        ("fetch", &q.fetch),
        ("request", &q.request),
    ];
    let rows: [PartitionMetric<crate::quota::Manager>; 2] = [
        (
            "gregor_quota_throttled_responses_total",
            "Responses whose client was over a quota (throttle_time_ms > 0, connection muted), by quota.",
            |m| m.throttled.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_quota_throttle_time_seconds_total",
            "Time clients were throttled for, by quota.",
            |m| m.throttle_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        ),
    ];
    for (name, help, read) in rows {
        e.family(name, help, Kind::Counter);
        for (kind, m) in kinds {
            e.sample(name, &[("quota", kind)], read(m));
        }
    }
}

/// Per topic traffic (summed over partitions) and per partition log size and offsets.
fn topics(e: &mut Encoder, services: &Services) {
    let topics = services.topics.all();
    let traffic: [PartitionMetric<crate::metrics::Traffic>; 4] = [
        (
            "gregor_topic_bytes_in_total",
            "Record batch bytes produced to the topic.",
            |t| t.bytes_in.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_topic_records_in_total",
            "Records produced to the topic.",
            |t| t.records_in.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_topic_bytes_out_total",
            "Record batch bytes returned to fetchers.",
            |t| t.bytes_out.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_topic_records_out_total",
            "Records returned to fetchers.",
            |t| t.records_out.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (name, help, read) in traffic {
        e.family(name, help, Kind::Counter);
        for topic in &topics {
            let sum: f64 = topic.partitions().iter().map(|p| read(&p.traffic)).sum();
            e.sample(name, &[("topic", &topic.name)], sum);
        }
    }
    let partitions: Vec<_> = topics.iter().flat_map(|t| t.partitions()).collect();
    let offsets: [PartitionMetric<crate::meta::Partition>; 4] = [
        (
            "gregor_partition_log_size_bytes",
            "Bytes of the partition's log segments.",
            |p| p.size_bytes() as f64,
        ),
        (
            "gregor_partition_log_start_offset",
            "First offset of the partition's log.",
            |p| p.log_start_offset() as f64,
        ),
        (
            "gregor_partition_log_end_offset",
            "Offset the partition's next record gets.",
            |p| p.log_end_offset() as f64,
        ),
        (
            "gregor_partition_high_watermark",
            "End of what consumers may read (durable data).",
            |p| p.high_watermark() as f64,
        ),
    ];
    for (name, help, read) in offsets {
        e.family(name, help, Kind::Gauge);
        for p in &partitions {
            let index = p.index.to_string();
            e.sample(name, &[("topic", &p.topic), ("partition", &index)], read(p));
        }
    }
    integrity(e, &partitions);
}

/// Damage found on disk and what start-up recovery did, per partition.
fn integrity(e: &mut Encoder, partitions: &[Arc<Partition>]) {
    let integrity: [PartitionMetric<crate::metrics::Integrity>; 5] = [
        (
            "gregor_log_corrupt_batches_total",
            "Damaged stretches of record batches found on disk (by the scrub or at start-up); their offsets are answered CORRUPT_MESSAGE.",
            |i| i.corrupt_batches.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_log_recovery_errors_total",
            "Damaged sealed segments (truncated or torn tail, missing offsets) found when the log was opened.",
            |i| i.recovery_errors.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_log_recovery_truncated_bytes_total",
            "Bytes of torn or corrupt tails cut off the active segment when the log was opened.",
            |i| i.recovery_truncated_bytes.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_log_recovery_index_rebuilds_total",
            "Segment indexes found missing or inconsistent and rebuilt when the log was opened.",
            |i| i.recovery_index_rebuilds.load(Ordering::Relaxed) as f64,
        ),
        (
            "gregor_log_recovery_segments_scanned_total",
            "Segments checked when the log was opened.",
            |i| i.recovery_segments_scanned.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (name, help, read) in integrity {
        e.family(name, help, Kind::Counter);
        for p in partitions {
            let index = p.index.to_string();
            let labels = [("topic", p.topic.as_str()), ("partition", index.as_str())];
            e.sample(name, &labels, read(&p.integrity));
        }
    }
}

/// The background scrub's progress (`log_scrub_bytes_per_second`).
fn scrub(e: &mut Encoder, services: &Services) {
    let m = &services.metrics;
    let rows = [
        (
            "gregor_log_scrubbed_bytes_total",
            "Bytes of segment files the background scrub has read and checked.",
            m.scrubbed_bytes.load(Ordering::Relaxed),
        ),
        (
            "gregor_log_scrub_passes_total",
            "Background scrub passes over every partition completed.",
            m.scrub_passes.load(Ordering::Relaxed),
        ),
        (
            "gregor_blocking_calls_on_async_workers_total",
            "Store or file operations made on an async worker instead of the blocking pool (a bug when above 0).",
            crate::blocking::violations(),
        ),
    ];
    for (name, help, value) in rows {
        e.family(name, help, Kind::Counter);
        e.sample(name, &[], value as f64);
    }
}

/// Incremental fetch sessions (Kafka's NumIncrementalFetchSessions,
/// NumIncrementalFetchPartitionsCached, IncrementalFetchSessionEvictionsPerSec).
fn fetch_sessions(e: &mut Encoder, services: &Services) {
    let s = &services.fetch_sessions;
    let rows = [
        (
            "gregor_fetch_sessions",
            "Incremental fetch sessions (KIP-227) in the broker's cache.",
            Kind::Gauge,
            s.len() as f64,
        ),
        (
            "gregor_fetch_session_partitions",
            "Partitions of all cached incremental fetch sessions.",
            Kind::Gauge,
            s.partitions() as f64,
        ),
        (
            "gregor_fetch_session_evictions_total",
            "Fetch sessions evicted from the full cache to make room for new ones.",
            Kind::Counter,
            s.evictions() as f64,
        ),
    ];
    for (name, help, kind, value) in rows {
        e.family(name, help, kind);
        e.sample(name, &[], value);
    }
}

/// Group states, members, and lag: the high watermark (what a consumer can reach, as
/// kafka-consumer-groups computes it) minus the committed offset.
async fn groups(e: &mut Encoder, services: &Services) {
    let Ok(groups) = services.groups.summaries().await else {
        return; // the coordinator is shutting down
    };
    if let Ok(shares) = services.shares.summaries().await {
        super::scrape_share::share_groups(e, services, &shares);
    }
    e.family(
        "gregor_group_state",
        "1 for the consumer group's current state, 0 for the others.",
        Kind::Gauge,
    );
    for g in &groups {
        for state in GROUP_STATES {
            let value = if g.state == state { 1.0 } else { 0.0 };
            e.sample(
                "gregor_group_state",
                &[("group", &g.group_id), ("state", state.name())],
                value,
            );
        }
    }
    e.family(
        "gregor_group_members",
        "Members of the consumer group.",
        Kind::Gauge,
    );
    for g in &groups {
        e.sample(
            "gregor_group_members",
            &[("group", &g.group_id)],
            g.members as f64,
        );
    }
    let lag_name = "gregor_group_lag";
    e.family(
        lag_name,
        "Records between the group's committed offset and the partition's high watermark.",
        Kind::Gauge,
    );
    let mut totals: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for g in &groups {
        for (topic, partition, committed) in &g.offsets {
            let Ok(p) = services.topics.partition(topic, *partition) else {
                continue; // offsets of a topic or partition that no longer exists
            };
            let lag = (p.high_watermark() - committed).max(0);
            *totals.entry((&g.group_id, topic)).or_default() += lag;
            let index = partition.to_string();
            e.sample(
                lag_name,
                &[
                    ("group", &g.group_id),
                    ("topic", topic),
                    ("partition", &index),
                ],
                lag as f64,
            );
        }
    }
    e.family(
        "gregor_group_topic_lag",
        "gregor_group_lag summed over the topic's partitions.",
        Kind::Gauge,
    );
    for ((group, topic), lag) in totals {
        e.sample(
            "gregor_group_topic_lag",
            &[("group", group), ("topic", topic)],
            lag as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testutil::batch;
    use crate::log::{Backing, LogConfig, PartitionLog};
    use crate::meta::Durability;

    fn sample(text: &str, name: &str) -> Option<f64> {
        let key = format!("{name}{{topic=\"t\",partition=\"0\"}} ");
        let line = text.lines().find(|l| l.starts_with(&key))?;
        line[key.len()..].parse().ok()
    }

    /// A torn tail and a sealed segment's broken index, found when the partition opens, show
    /// up in the recovery counters.
    #[test]
    fn recovery_counters_are_exported() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("t-0");
        let config = LogConfig {
            segment_bytes: 300,
            index_interval_bytes: 64,
            ..LogConfig::default()
        };
        let mut log = PartitionLog::open(Backing::Disk(path.clone()), config.clone()).unwrap();
        for i in 0..20 {
            log.append(batch(0, i % 3 + 1), 0).unwrap();
        }
        let bases = log.segment_base_offsets();
        drop(log); // no clean shutdown
        let active = path.join(format!("{:020}.log", bases.last().unwrap()));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(active)
            .unwrap();
        std::io::Write::write_all(&mut f, &[7; 40]).unwrap();
        std::fs::write(path.join(format!("{:020}.index", bases[0])), b"bad").unwrap();

        let log = PartitionLog::open(Backing::Disk(path), config).unwrap();
        let histogram = Arc::new(crate::metrics::Histogram::default());
        let partition = Partition::new("t", 0, log, Durability::Fsync, histogram).unwrap();
        let mut e = Encoder::default();
        integrity(&mut e, &[Arc::new(partition)]);
        let text = e.finish();
        let get = |name| sample(&text, name).unwrap_or_else(|| panic!("{name} in {text}"));
        assert_eq!(get("gregor_log_recovery_truncated_bytes_total"), 40.0);
        assert_eq!(get("gregor_log_recovery_index_rebuilds_total"), 1.0);
        assert_eq!(
            get("gregor_log_recovery_segments_scanned_total"),
            bases.len() as f64
        );
        assert_eq!(get("gregor_log_recovery_errors_total"), 0.0);
        assert!(text.contains("# TYPE gregor_log_recovery_truncated_bytes_total counter"));
    }
}
