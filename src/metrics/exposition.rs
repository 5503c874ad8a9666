//! Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` once per family, then its
//! samples, one a line, with escaped label values.

use std::fmt::Write;

use super::histogram::Snapshot;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Builds one exposition. Call [`Encoder::family`] before the samples of each metric.
#[derive(Default)]
pub struct Encoder {
    out: String,
}

impl Encoder {
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", format_value(value));
    }

    /// `_bucket` lines (with `le`), `_sum` and `_count` of one histogram.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Snapshot) {
        for (bound, count) in &h.buckets {
            let _ = write!(self.out, "{name}_bucket");
            write_labels(&mut self.out, labels, Some(&format_value(*bound)));
            let _ = writeln!(self.out, " {count}");
        }
        self.sample(&format!("{name}_sum"), labels, h.sum_seconds);
        self.sample(&format!("{name}_count"), labels, h.count as f64);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (name, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// Go's ParseFloat reads what Rust's Display writes, except for the infinities and NaN.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::Histogram;
    use std::time::Duration;

    #[test]
    fn families_samples_and_escaping() {
        let mut e = Encoder::default();
        e.family(
            "gregor_things_total",
            "Things.\nCounted \\ here.",
            Kind::Counter,
        );
        e.sample("gregor_things_total", &[], 3.0);
        e.sample(
            "gregor_things_total",
            &[("topic", "a\"b\\c\nd"), ("partition", "0")],
            0.5,
        );
        e.family("gregor_temperature", "Heat.", Kind::Gauge);
        e.sample("gregor_temperature", &[], f64::NEG_INFINITY);
        assert_eq!(
            e.finish(),
            "# HELP gregor_things_total Things.\\nCounted \\\\ here.\n\
             # TYPE gregor_things_total counter\n\
             gregor_things_total 3\n\
             gregor_things_total{topic=\"a\\\"b\\\\c\\nd\",partition=\"0\"} 0.5\n\
             # HELP gregor_temperature Heat.\n\
             # TYPE gregor_temperature gauge\n\
             gregor_temperature -Inf\n"
        );
    }

    #[test]
    fn histograms_have_buckets_sum_and_count() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(2));
        let mut e = Encoder::default();
        e.family("lat_seconds", "Latency.", Kind::Histogram);
        e.histogram("lat_seconds", &[("api", "Fetch")], &h.snapshot());
        let text = e.finish();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "lat_seconds_bucket{api=\"Fetch\",le=\"0.0001\"} 0"
        );
        assert!(lines.contains(&"lat_seconds_bucket{api=\"Fetch\",le=\"0.0025\"} 1"));
        assert!(lines.contains(&"lat_seconds_bucket{api=\"Fetch\",le=\"+Inf\"} 1"));
        assert!(lines.contains(&"lat_seconds_sum{api=\"Fetch\"} 0.002"));
        assert_eq!(lines.last(), Some(&"lat_seconds_count{api=\"Fetch\"} 1"));
    }
}
