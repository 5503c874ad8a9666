//! Prometheus metrics: the counters and histograms the hot path touches, and their text
//! exposition. The hot path only touches atomics: one request histogram per API (observed
//! where `api::dispatch` hands out the response future), traffic counters on each partition
//! (summed per topic at scrape time), connection counters, and one fsync histogram the
//! partitions share. Everything else — log sizes and offsets, consumer group lag, group
//! states, process memory and CPU — is computed when /metrics is scraped (the scrape and
//! the HTTP endpoint are the server's: `crate::server::metrics`). This module imports
//! nothing of the crate: every layer may count into it.

pub mod exposition;
pub mod histogram;
pub mod process;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use kafka_protocol::messages::ApiKey;

pub use histogram::Histogram;

/// The broker's hot-path metrics.
pub struct Metrics {
    /// The APIs timed, and one latency histogram for each, in the same order.
    apis: Vec<ApiKey>,
    requests: Vec<Histogram>,
    /// Group-commit fsync latency of every partition.
    pub fsync: Arc<Histogram>,
    pub connections: Arc<Connections>,
    /// Bytes of segment files the background scrub has read.
    pub scrubbed_bytes: AtomicU64,
    /// Scrub passes over every partition completed.
    pub scrub_passes: AtomicU64,
}

impl Metrics {
    /// Metrics timing requests of `apis` (the API table).
    pub fn new(apis: impl IntoIterator<Item = ApiKey>) -> Self {
        let apis: Vec<ApiKey> = apis.into_iter().collect();
        Self {
            requests: apis.iter().map(|_| Histogram::default()).collect(),
            apis,
            fsync: Arc::default(),
            connections: Arc::default(),
            scrubbed_bytes: AtomicU64::new(0),
            scrub_passes: AtomicU64::new(0),
        }
    }

    /// Start timing a request; [`RequestTimer::finish`] records it.
    pub fn request_started(self: &Arc<Self>, key: ApiKey) -> Option<RequestTimer> {
        let slot = self.apis.iter().position(|a| *a == key)?;
        Some(RequestTimer {
            metrics: self.clone(),
            slot,
            started: Instant::now(),
        })
    }

    /// (API, latency histogram) in API table order.
    pub fn requests(&self) -> impl Iterator<Item = (ApiKey, &Histogram)> {
        self.apis.iter().copied().zip(self.requests.iter())
    }
}

/// A request in flight: from dispatch until its response is ready.
pub struct RequestTimer {
    metrics: Arc<Metrics>,
    slot: usize,
    started: Instant,
}

impl RequestTimer {
    pub fn finish(self) {
        self.metrics.requests[self.slot].observe(self.started.elapsed());
    }
}

#[derive(Default)]
pub struct Connections {
    pub open: AtomicI64,
    pub accepted: AtomicU64,
    /// Times the accept loop found every slot of `max_connections` taken and made the next
    /// client wait (as Kafka's acceptor does) rather than accepting it.
    pub cap_reached: AtomicU64,
    /// SASL re-authentications (KIP-368) that succeeded and that failed.
    pub reauthentications: AtomicU64,
    pub reauthentication_failures: AtomicU64,
    /// Connections closed because a request came after their SASL session had expired
    /// (Kafka's expired-connections-killed-count).
    pub expired_sessions: AtomicU64,
}

impl Connections {
    /// Count an accepted connection as open until the guard is dropped.
    pub fn accepted(self: &Arc<Self>) -> OpenConnection {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }
}

pub struct OpenConnection(Arc<Connections>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Records and bytes produced to and fetched from one partition.
#[derive(Default)]
pub struct Traffic {
    pub bytes_in: AtomicU64,
    pub records_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub records_out: AtomicU64,
}

impl Traffic {
    /// A batch written by a producer.
    pub fn produced(&self, bytes: usize, records: i32) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.records_in
            .fetch_add(records.max(0) as u64, Ordering::Relaxed);
    }

    /// Batches returned to a fetcher.
    pub fn fetched(&self, bytes: u64, records: u64) {
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        self.records_out.fetch_add(records, Ordering::Relaxed);
    }
}

/// Damage found on disk in one partition's log.
#[derive(Default)]
pub struct Integrity {
    /// Damaged stretches (one or more consecutive bad batches, or a missing tail) found by the
    /// scrub or at start-up.
    pub corrupt_batches: AtomicU64,
    /// Damaged sealed segments found when the log was opened.
    pub recovery_errors: AtomicU64,
    /// Bytes of torn or corrupt tails cut off when the log was opened.
    pub recovery_truncated_bytes: AtomicU64,
    /// Segment indexes rebuilt when the log was opened.
    pub recovery_index_rebuilds: AtomicU64,
    /// Segments checked when the log was opened.
    pub recovery_segments_scanned: AtomicU64,
}

impl Integrity {
    /// Count what start-up recovery did (the damage is counted as it is reported).
    pub fn recovered(&self, truncated_bytes: u64, index_rebuilds: u64, segments_scanned: u64) {
        let add = |c: &AtomicU64, n: u64| c.fetch_add(n, Ordering::Relaxed);
        add(&self.recovery_truncated_bytes, truncated_bytes);
        add(&self.recovery_index_rebuilds, index_rebuilds);
        add(&self.recovery_segments_scanned, segments_scanned);
    }
}
