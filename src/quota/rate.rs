//! A windowed rate and the throttle time it implies, as Kafka measures a client quota: a
//! `Rate` over a `WindowedSum` (`SampledStat`) with `quota.window.num` = 11 samples of
//! `quota.window.size.seconds` = 1 s, and `QuotaUtils.throttleTime`: the time until the
//! measured rate is back at the quota if nothing more is recorded.
//!
//! As in Kafka, the rate's window is never taken as shorter than `samples - 1` whole windows,
//! so a client that just started may send up to ten windows' worth before it is throttled.

/// Kafka's default `quota.window.num`.
pub const SAMPLES: usize = 11;
/// Kafka's default `quota.window.size.seconds`, in ms.
pub const WINDOW_MS: i64 = 1000;

#[derive(Debug, Clone, Copy)]
struct Sample {
    value: f64,
    events: u64,
    start_ms: i64,
    last_event_ms: i64,
}

impl Sample {
    fn new(now: i64) -> Self {
        Self {
            value: 0.0,
            events: 0,
            start_ms: now,
            last_event_ms: now,
        }
    }
}

/// Kafka's `Rate` with a `WindowedSum`: up to `SAMPLES + 1` samples (one overlapping the
/// window's start), each `WINDOW_MS` long.
#[derive(Debug, Default)]
pub struct Rate {
    samples: Vec<Sample>,
    current: usize,
}

impl Rate {
    /// Add `value` at `now` (ms).
    pub fn record(&mut self, value: f64, now: i64) {
        let mut i = self.current_index(now);
        if now - self.samples[i].start_ms >= WINDOW_MS {
            i = self.advance(now);
        }
        let s = &mut self.samples[i];
        s.value += value;
        s.events += 1;
        s.last_event_ms = now;
    }

    fn current_index(&mut self, now: i64) -> usize {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now));
        }
        self.current
    }

    fn advance(&mut self, now: i64) -> usize {
        self.current = (self.current + 1) % (SAMPLES + 1);
        if self.current >= self.samples.len() {
            self.samples.push(Sample::new(now));
        } else {
            self.samples[self.current] = Sample::new(now);
        }
        self.current
    }

    /// Samples without an event in the last `SAMPLES` windows start over (Kafka's
    /// `purgeObsoleteSamples`).
    fn purge(&mut self, now: i64) {
        let expire = SAMPLES as i64 * WINDOW_MS;
        for s in &mut self.samples {
            if now - s.last_event_ms >= expire {
                *s = Sample::new(now);
            }
        }
    }

    /// The time the rate is taken over, in ms (Kafka's `Rate.windowSize`).
    pub fn window_ms(&mut self, now: i64) -> i64 {
        self.purge(now);
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now));
        }
        let oldest = self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now);
        let mut elapsed = now - oldest;
        let full = elapsed / WINDOW_MS;
        let min_full = SAMPLES as i64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * WINDOW_MS;
        }
        elapsed.max(1)
    }

    /// The rate per second at `now`.
    pub fn measure(&mut self, now: i64) -> f64 {
        self.purge(now);
        let sum: f64 = self.samples.iter().map(|s| s.value).sum();
        sum / (self.window_ms(now) as f64 / 1000.0)
    }

    /// Record `value` and check the rate against `bound`: the throttle time in ms (0 when the
    /// rate stays within it), Kafka's `(rate - bound) / bound * window`.
    pub fn record_and_throttle(&mut self, value: f64, now: i64, bound: f64) -> i64 {
        self.record(value, now);
        self.throttle(now, bound)
    }

    /// How long until the rate is back at `bound` if nothing more is recorded (0: it is).
    pub fn throttle(&mut self, now: i64, bound: f64) -> i64 {
        let rate = self.measure(now);
        if rate <= bound || bound <= 0.0 {
            return 0;
        }
        let ms = (rate - bound) / bound * self.window_ms(now) as f64;
        ms.round().min(i32::MAX as f64) as i64
    }

    /// The time of the last event recorded (for expiring idle sensors).
    pub fn last_event_ms(&self) -> Option<i64> {
        self.samples.iter().map(|s| s.last_event_ms).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_rate_spreads_over_ten_windows() {
        let mut r = Rate::default();
        r.record(1000.0, 0);
        // Ten whole windows are assumed: 1000 bytes over 10 s.
        assert_eq!(r.window_ms(0), 10_000);
        assert!((r.measure(0) - 100.0).abs() < 1e-9);
        r.record(1000.0, 500);
        assert_eq!(r.window_ms(500), 10_500);
    }

    #[test]
    fn throttle_time_brings_the_rate_back_to_the_bound() {
        let mut r = Rate::default();
        // 10 windows' worth at 100/s is within a bound of 100/s.
        assert_eq!(r.record_and_throttle(1000.0, 0, 100.0), 0);
        // Twice that: rate 200/s over 10 s; back at 100/s after another 10 s.
        assert_eq!(r.record_and_throttle(1000.0, 0, 100.0), 10_000);
        // Kafka's formula, checked: O*W/(W+X) = T.
        let (o, w, x) = (r.measure(0), r.window_ms(0) as f64, 10_000.0);
        assert!((o * w / (w + x) - 100.0).abs() < 1e-6);
    }

    #[test]
    fn a_steady_rate_at_the_bound_is_not_throttled() {
        let mut r = Rate::default();
        let mut throttled = 0;
        for ms in (0..30_000).step_by(100) {
            // 10 bytes every 100 ms = 100/s; at a window's start the rate measures up to
            // about 1% above it (the new sample's bytes over the old samples' time), as Kafka's.
            throttled += r.record_and_throttle(10.0, ms, 102.0);
        }
        assert_eq!(throttled, 0);
        // A steady rate twice the bound is throttled, by about the window once it is full.
        let t = r.record_and_throttle(2_000.0, 30_000, 100.0);
        assert!(t > 0, "{t}");
    }

    #[test]
    fn old_samples_are_forgotten() {
        let mut r = Rate::default();
        r.record(1_000_000.0, 0);
        assert!(r.throttle(0, 100.0) > 0);
        // After 11 windows without events, the old sample is gone.
        assert_eq!(r.throttle(11_000, 100.0), 0);
        assert_eq!(r.measure(11_000), 0.0);
        // The ring keeps at most SAMPLES + 1 samples.
        for ms in (0..100_000).step_by(250) {
            r.record(1.0, ms);
        }
        assert!(r.samples.len() <= SAMPLES + 1);
    }

    #[test]
    fn the_window_grows_past_the_minimum_with_time() {
        let mut r = Rate::default();
        for s in 0..=20 {
            r.record(1.0, s * 1000);
        }
        // The oldest retained sample started at most 11 windows before now (plus the one
        // overlapping the window's start).
        let w = r.window_ms(20_000);
        assert!((10_000..=12_000).contains(&w), "{w}");
    }
}
