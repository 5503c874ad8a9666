//! What clients pushed, as Prometheus series: per client instance, per metric and attribute
//! set, the last value of a gauge or the running total of a counter (KIP-714's delta sums
//! added up). Bounded so hostile clients cannot grow the broker's memory or /metrics: a cap
//! on series per client and over all clients (points beyond are dropped and counted), on
//! attributes per point and on the length of names and values; names are made Prometheus'
//! (`[a-zA-Z0-9_]`). A client's series go when its instance expires (see the manager).

use std::collections::{BTreeMap, BTreeSet};

use super::otlp::{Point, PointKind};
use crate::metrics::exposition::{Encoder, Kind};

/// Series kept over all clients.
pub const MAX_SERIES: usize = 10_000;
/// Series kept for one client instance.
pub const MAX_SERIES_PER_CLIENT: usize = 1_000;
/// Attributes kept per point (the rest are dropped).
const MAX_ATTRIBUTES: usize = 8;
/// Longest metric or attribute name, and attribute value, kept (longer are cut).
const MAX_NAME: usize = 200;
const MAX_VALUE: usize = 256;

/// The labels gregor puts on every series of a client: its instance, id and software.
pub const LABELS: [&str; 4] = [
    "client_instance_id",
    "client_id",
    "client_software_name",
    "client_software_version",
];

/// (metric name, attributes), both made Prometheus'.
pub type SeriesKey = (String, Vec<(String, String)>);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value {
    pub counter: bool,
    pub value: f64,
}

/// One client's series.
pub type Series = BTreeMap<SeriesKey, Value>;

/// A Prometheus name: `[a-zA-Z_][a-zA-Z0-9_]*`, cut to `MAX_NAME`.
pub fn prometheus_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(MAX_NAME)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn key(point: &Point) -> Option<SeriesKey> {
    let name = prometheus_name(&point.name);
    // gregor's own families are not for clients to write.
    if name.starts_with("gregor_") {
        return None;
    }
    let mut attributes: Vec<(String, String)> = Vec::new();
    for (k, v) in &point.attributes {
        let k = prometheus_name(k);
        if attributes.len() == MAX_ATTRIBUTES
            || k.starts_with("__")
            || k == "le"
            || LABELS.contains(&k.as_str())
            || attributes.iter().any(|(a, _)| *a == k)
        {
            continue;
        }
        attributes.push((k, v.chars().take(MAX_VALUE).collect()));
    }
    attributes.sort();
    Some((name, attributes))
}

/// Add one push's points to a client's `series`; `total` counts the series over all
/// clients. Returns the points dropped (over a cap, or naming gregor's families).
pub fn record(series: &mut Series, total: &mut usize, points: Vec<Point>) -> u64 {
    let mut dropped = 0;
    for point in points {
        let Some(key) = key(&point) else {
            dropped += 1;
            continue;
        };
        let counter = matches!(point.kind, PointKind::Counter { .. });
        let full = series.len() >= MAX_SERIES_PER_CLIENT || *total >= MAX_SERIES;
        match series.get_mut(&key) {
            Some(v) => {
                let add = v.counter && point.kind == PointKind::Counter { delta: true };
                v.value = if add {
                    v.value + point.value
                } else {
                    point.value
                };
                v.counter = counter;
            }
            None if full => dropped += 1,
            None => {
                series.insert(
                    key,
                    Value {
                        counter,
                        value: point.value,
                    },
                );
                *total += 1;
            }
        }
    }
    dropped
}

/// Every client's series as exposition families: one family per metric name (its kind the
/// first client's; a series of the other kind under the same name is left out), each series
/// labelled with its client (`labels`, in [`LABELS`]' order) and its attributes.
pub fn encode<'a>(e: &mut Encoder, clients: impl Iterator<Item = ([&'a str; 4], &'a Series)>) {
    // name → (a counter, its samples: labels and value)
    type Samples<'l> = Vec<(Vec<(&'l str, &'l str)>, f64)>;
    let mut families: BTreeMap<&str, (bool, Samples)> = BTreeMap::new();
    for (labels, series) in clients {
        for ((name, attributes), v) in series {
            let family = families
                .entry(name.as_str())
                .or_insert_with(|| (v.counter, Vec::new()));
            if family.0 != v.counter {
                continue;
            }
            let mut all: Vec<(&str, &str)> = LABELS.iter().copied().zip(labels).collect();
            all.extend(attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            family.1.push((all, v.value));
        }
    }
    for (name, (counter, samples)) in families {
        let kind = if counter { Kind::Counter } else { Kind::Gauge };
        e.family(name, "Pushed by clients (KIP-714 client telemetry).", kind);
        let mut seen = BTreeSet::new();
        for (labels, value) in samples {
            if seen.insert(labels.clone()) {
                e.sample(name, &labels, value);
            }
        }
    }
}
