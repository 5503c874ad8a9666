//! A latency histogram with fixed buckets, updated with atomics only (no lock on the hot path).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets in nanoseconds: 100 µs to 10 s, roughly ×2.5 apart. Request
/// latencies (long-polling fetches wait up to their max wait) and fsyncs both fit.
pub const BOUNDS_NS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Observation counts per bucket (not cumulative; the last slot is +Inf) and their sum.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

/// A histogram read at one moment, cumulative as the exposition format wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// (upper bound in seconds, observations at or below it); the last bound is +Inf.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let slot = BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut merged = Snapshot::empty();
        merged.add(self);
        merged
    }
}

impl Snapshot {
    pub fn empty() -> Self {
        let buckets = BOUNDS_NS
            .iter()
            .map(|&ns| ns as f64 / 1e9)
            .chain([f64::INFINITY])
            .map(|bound| (bound, 0))
            .collect();
        Self {
            buckets,
            count: 0,
            sum_seconds: 0.0,
        }
    }

    /// Add another histogram's observations (same buckets).
    pub fn add(&mut self, h: &Histogram) {
        let mut cumulative = 0;
        for (slot, (_, total)) in h.buckets.iter().zip(self.buckets.iter_mut()) {
            cumulative += slot.load(Ordering::Relaxed);
            *total += cumulative;
        }
        // The +Inf bucket and the count agree even while observations race the read.
        self.count += cumulative;
        self.sum_seconds += h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(100)); // on the bound: `le` is inclusive
        h.observe(Duration::from_micros(101));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60)); // beyond the last bound: +Inf only
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets[0], (0.0001, 1));
        assert_eq!(s.buckets[1], (0.00025, 2));
        assert_eq!(s.buckets[4], (0.0025, 2));
        assert_eq!(s.buckets[5], (0.005, 3));
        assert_eq!(s.buckets[15], (10.0, 3));
        assert_eq!(s.buckets[16], (f64::INFINITY, 4));
        assert!(
            (s.sum_seconds - 60.003201).abs() < 1e-9,
            "{}",
            s.sum_seconds
        );
    }

    #[test]
    fn buckets_are_cumulative_and_snapshots_add_up() {
        let (a, b) = (Histogram::default(), Histogram::default());
        a.observe(Duration::from_millis(1));
        b.observe(Duration::from_millis(20));
        b.observe(Duration::from_millis(20));
        let mut s = a.snapshot();
        s.add(&b);
        assert_eq!(s.count, 3);
        let counts: Vec<u64> = s.buckets.iter().map(|(_, n)| *n).collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        assert_eq!(s.buckets[3], (0.001, 1));
        assert_eq!(s.buckets[6], (0.01, 1));
        assert_eq!(s.buckets[7], (0.025, 3));
    }
}
