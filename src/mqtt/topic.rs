//! MQTT topic names and filters (MQTT 5 §4.7, the same in 3.1.1), and the map from MQTT
//! topics to Kafka topics (`--mqtt-topic-map FILTER=KAFKA_TOPIC`, repeatable).
//!
//! The map: the first rule (in the order given) whose filter matches an MQTT topic names its
//! Kafka topic. A topic no rule matches goes to the Kafka topic named after its first level,
//! with every character Kafka does not allow in a topic name (outside `[A-Za-z0-9._-]`)
//! replaced by `_` (`sensors/kitchen/temp` → `sensors`, `$SYS/x` → `_SYS`; an empty first
//! level, `.` or `..` → `mqtt`; a first level starting with `__`, the prefix of Kafka's
//! internal topics, gets `mqtt` before it: `__x/y` → `mqtt__x`).
//!
//! Back the other way, a record's MQTT topic is its key when the key is a valid MQTT topic
//! name that the map sends to the record's Kafka topic (every record an MQTT client
//! published); otherwise (records from Kafka clients with another key or none) it is the
//! Kafka topic's name — so a Kafka producer's records to `sensors` reach subscribers of
//! `sensors`, `sensors/#` and `#`.

use std::fmt;

/// Longest Kafka topic name.
const KAFKA_TOPIC_MAX: usize = 249;
/// Longest MQTT topic name or filter (a UTF-8 string's 2-byte length).
const MQTT_TOPIC_MAX: usize = 65_535;

/// A topic name a client may publish to: not empty, no wildcard, no NUL.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MQTT_TOPIC_MAX && !topic.contains(['+', '#', '\0'])
}

/// A filter a client may subscribe to: `#` alone and last, `+` alone in its level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > MQTT_TOPIC_MAX || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "#" => i == levels.len() - 1,
        "+" => true,
        l => !l.contains(['+', '#']),
    })
}

/// Whether `topic` matches `filter` (both valid). Topics starting with `$` are not matched
/// by a filter starting with a wildcard.
pub fn matches(topic: &str, filter: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut t = topic.split('/');
    let mut f = filter.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether some topic matches both filters.
pub fn overlaps(a: &str, b: &str) -> bool {
    fn go(a: &[&str], b: &[&str]) -> bool {
        match (a.first(), b.first()) {
            (Some(&"#"), _) | (_, Some(&"#")) => true,
            (None, None) => true,
            (Some(x), Some(y)) => (*x == "+" || *y == "+" || x == y) && go(&a[1..], &b[1..]),
            _ => false,
        }
    }
    let a: Vec<&str> = a.split('/').collect();
    let b: Vec<&str> = b.split('/').collect();
    go(&a, &b)
}

/// Whether every topic `filter` matches is matched by `rule` too (both valid filters).
fn covers(rule: &str, filter: &str) -> bool {
    let mut r = rule.split('/');
    let mut f = filter.split('/');
    loop {
        match (r.next(), f.next()) {
            (Some("#"), _) => return true,
            // `a/#` matches `a` itself, which `a/+` does not.
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(rl), Some(fl)) if rl == fl && fl != "+" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A `$share/GROUP/FILTER` subscription's group and filter.
pub fn shared(filter: &str) -> Option<(&str, &str)> {
    let rest = filter.strip_prefix("$share/")?;
    rest.split_once('/')
}

/// The map from MQTT topics to Kafka topics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopicMap {
    rules: Vec<(String, String)>,
}

impl TopicMap {
    /// Rules as the flag gives them, `FILTER=KAFKA_TOPIC` each.
    pub fn parse(rules: &[String]) -> Result<Self, String> {
        let mut out = Vec::new();
        for rule in rules {
            let (filter, topic) = rule
                .rsplit_once('=')
                .ok_or_else(|| format!("{rule:?}: expected MQTT_FILTER=KAFKA_TOPIC"))?;
            if !valid_filter(filter) || shared(filter).is_some() {
                return Err(format!("{rule:?}: {filter:?} is not an MQTT topic filter"));
            }
            if topic.starts_with("__") {
                return Err(format!(
                    "{rule:?}: {topic:?} is an internal topic name (__)"
                ));
            }
            if !valid_kafka_topic(topic) {
                return Err(format!(
                    "{rule:?}: {topic:?} is not a Kafka topic name ([A-Za-z0-9._-], 1 to 249)"
                ));
            }
            out.push((filter.to_string(), topic.to_string()));
        }
        Ok(Self { rules: out })
    }

    /// The Kafka topic an MQTT topic's messages go to.
    pub fn kafka_topic(&self, mqtt_topic: &str) -> String {
        for (filter, topic) in &self.rules {
            if matches(mqtt_topic, filter) {
                return topic.clone();
            }
        }
        default_kafka_topic(mqtt_topic)
    }

    /// The MQTT topic of a record of `kafka_topic` with `key`.
    pub fn mqtt_topic(&self, kafka_topic: &str, key: Option<&[u8]>) -> String {
        match key.map(std::str::from_utf8) {
            Some(Ok(k)) if valid_topic(k) && self.kafka_topic(k) == kafka_topic => k.to_string(),
            _ => kafka_topic.to_string(),
        }
    }

    /// The Kafka topics whose records a subscription to `filter` can receive, what its
    /// READ authorization is checked on; None when its first level is a wildcard (any topic:
    /// each is then read only if it may be). The rules whose filter overlaps it, and the
    /// default topic of its first level unless one rule takes every topic it matches.
    pub fn filter_topics(&self, filter: &str) -> Option<Vec<String>> {
        let first = filter.split('/').next().unwrap_or("");
        if first == "+" || first == "#" {
            return None;
        }
        let mut out: Vec<String> = Vec::new();
        let mut add = |t: &str| {
            if !out.iter().any(|o| o == t) {
                out.push(t.to_string());
            }
        };
        for (f, t) in &self.rules {
            if covers(f, filter) {
                add(t);
                return Some(out);
            }
            if overlaps(f, filter) {
                add(t);
            }
        }
        add(&default_kafka_topic(first));
        Some(out)
    }

    /// Whether records of `kafka_topic` may match `filter` (a superset: the records' MQTT
    /// topics are matched against the filter one by one).
    pub fn may_hold(&self, kafka_topic: &str, filter: &str) -> bool {
        if kafka_topic.starts_with("__") {
            return false; // internal topics (offsets, transactions, the MQTT store)
        }
        let first = filter.split('/').next().unwrap_or("");
        matches(kafka_topic, filter)
            || first == "+"
            || first == "#"
            || default_kafka_topic(first) == kafka_topic
            || self
                .rules
                .iter()
                .any(|(f, t)| t == kafka_topic && overlaps(f, filter))
    }
}

impl fmt::Display for TopicMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self.rules.iter().map(|(a, b)| format!("{a}={b}")).collect();
        write!(f, "{}", rules.join(", "))
    }
}

fn valid_kafka_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= KAFKA_TOPIC_MAX
        && t != "."
        && t != ".."
        && t.chars().all(kafka_char)
}

fn kafka_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The default rule: the first level, made a legal Kafka topic name.
fn default_kafka_topic(mqtt_topic: &str) -> String {
    let first = mqtt_topic.split('/').next().unwrap_or("");
    let name: String = first
        .chars()
        .map(|c| if kafka_char(c) { c } else { '_' })
        .take(KAFKA_TOPIC_MAX)
        .collect();
    if name.is_empty() || name == "." || name == ".." {
        "mqtt".into()
    } else if name.starts_with("__") {
        // Not into Kafka's internal topics (nor the listener's own store).
        format!("mqtt{name}")
            .chars()
            .take(KAFKA_TOPIC_MAX)
            .collect()
    } else {
        name
    }
}

#[cfg(test)]
#[path = "topic_tests.rs"]
mod tests;
