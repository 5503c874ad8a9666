use proptest::prelude::*;

use super::*;

#[test]
fn filters_match_as_the_spec_says() {
    // MQTT 5 §4.7.1 examples.
    assert!(matches("sport/tennis/player1", "sport/tennis/player1/#"));
    assert!(matches(
        "sport/tennis/player1/ranking",
        "sport/tennis/player1/#"
    ));
    assert!(matches("sport", "sport/#"));
    assert!(matches("sport/tennis", "sport/+"));
    assert!(!matches("sport/tennis/player1", "sport/+"));
    assert!(!matches("sport", "sport/+"));
    assert!(matches("sport/", "sport/+"));
    assert!(matches("/finance", "+/+"));
    assert!(matches("/finance", "/+"));
    assert!(!matches("/finance", "+"));
    assert!(matches("a/b", "#"));
    assert!(!matches("$SYS/x", "#"));
    assert!(!matches("$SYS/x", "+/x"));
    assert!(matches("$SYS/x", "$SYS/#"));
    assert!(!matches("a/b", "a/b/c"));
    assert!(!matches("a/b/c", "a/b"));
}

#[test]
fn valid_names_and_filters() {
    for ok in ["a", "a/b", "/", "a//b", "$SYS/x"] {
        assert!(valid_topic(ok), "{ok}");
    }
    for bad in ["", "a/+", "a/#", "a\0b"] {
        assert!(!valid_topic(bad), "{bad:?}");
    }
    for ok in ["#", "+", "a/#", "+/b/+", "a/+/c", "/"] {
        assert!(valid_filter(ok), "{ok}");
    }
    for bad in ["", "a/#/b", "a#", "a/b+", "#/a", "a\0"] {
        assert!(!valid_filter(bad), "{bad:?}");
    }
    assert_eq!(shared("$share/g1/a/#"), Some(("g1", "a/#")));
    assert_eq!(shared("a/#"), None);
}

#[test]
fn the_map_and_its_default() {
    let map = TopicMap::parse(&["sensors/#=readings".into(), "+/alerts=alerts".into()]).unwrap();
    assert_eq!(map.kafka_topic("sensors/kitchen/temp"), "readings");
    assert_eq!(map.kafka_topic("sensors"), "readings");
    assert_eq!(map.kafka_topic("house/alerts"), "alerts");
    assert_eq!(map.kafka_topic("house/doors"), "house");
    assert_eq!(map.kafka_topic("ünï/x"), "_n_");
    assert_eq!(map.kafka_topic("$SYS/x"), "_SYS");
    assert_eq!(map.kafka_topic("/x"), "mqtt");
    assert_eq!(map.kafka_topic("../x"), "mqtt");
    assert_eq!(map.kafka_topic("__mqtt_sessions/x"), "mqtt__mqtt_sessions");
    // Back: a key the map sends to this topic is the MQTT topic; any other, the topic's name.
    assert_eq!(map.mqtt_topic("readings", Some(b"sensors/a")), "sensors/a");
    assert_eq!(map.mqtt_topic("readings", Some(b"user-1")), "readings");
    assert_eq!(map.mqtt_topic("readings", None), "readings");
    assert_eq!(map.mqtt_topic("house", Some(b"house/x")), "house/x");
    assert_eq!(map.mqtt_topic("house", Some(&[0xff])), "house");
    assert!(map.may_hold("readings", "sensors/+/temp"));
    assert!(map.may_hold("house", "house/#"));
    assert!(map.may_hold("anything", "#"));
    assert!(!map.may_hold("__consumer_offsets", "#"));
    assert!(!map.may_hold("house", "garden/#"));
    for bad in [
        "sensors",
        "a/#/b=t",
        "a=",
        "a=b c",
        "$share/g/a=t",
        "a/#=__consumer_offsets",
    ] {
        assert!(TopicMap::parse(&[bad.into()]).is_err(), "{bad}");
    }
}

fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just(String::new())
    ]
}

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(level(), 1..5)
        .prop_map(|l| l.join("/"))
        .prop_filter("a topic name is not empty", |t| !t.is_empty())
}

fn filter() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof![level(), Just("+".to_string())], 0..4),
        any::<bool>(),
    )
        .prop_map(|(mut l, hash)| {
            if hash || l.is_empty() {
                l.push("#".into());
            }
            l.join("/")
        })
        .prop_filter("a filter is not empty", |f| !f.is_empty())
}

proptest! {
    /// Every topic the map sends to a Kafka topic comes back from a record of that topic
    /// keyed by it, and `may_hold` never leaves out a Kafka topic a matching topic maps to.
    #[test]
    fn the_map_round_trips(t in topic(), f in filter()) {
        let map = TopicMap::parse(&["a/#=ka".into(), "+/b=kb".into()]).unwrap();
        let kafka = map.kafka_topic(&t);
        prop_assert_eq!(map.mqtt_topic(&kafka, Some(t.as_bytes())), t.clone());
        if matches(&t, &f) {
            prop_assert!(map.may_hold(&kafka, &f), "{} {} {}", t, f, kafka);
        }
    }

    /// A topic matching both filters means they overlap.
    #[test]
    fn overlap_is_implied_by_a_common_topic(t in topic(), f in filter(), g in filter()) {
        prop_assert!(valid_filter(&f) && valid_topic(&t));
        if matches(&t, &f) && matches(&t, &g) {
            prop_assert!(overlaps(&f, &g));
        }
        prop_assert_eq!(overlaps(&f, &g), overlaps(&g, &f));
    }
}

#[test]
fn the_topics_a_filter_reads() {
    let map = TopicMap::parse(&["sensors/#=readings".into(), "+/alerts=alerts".into()]).unwrap();
    let topics = |f: &str| map.filter_topics(f);
    // One rule takes all of it.
    assert_eq!(topics("sensors/kitchen/#").unwrap(), ["readings"]);
    assert_eq!(topics("sensors/+").unwrap(), ["readings"]);
    // A rule takes part of it; the default takes the rest.
    assert_eq!(topics("house/#").unwrap(), ["alerts", "house"]);
    assert_eq!(topics("house/alerts").unwrap(), ["alerts"]);
    assert_eq!(topics("house/doors").unwrap(), ["house"]);
    // A wildcard first level: any topic.
    assert_eq!(topics("#"), None);
    assert_eq!(topics("+/alerts"), None);
    assert!(covers("a/#", "a/b/+") && covers("a/+", "a/b") && covers("#", "a"));
    assert!(!covers("a/+", "a/#") && !covers("a/b", "a/+") && !covers("a/+", "a/b/c"));
}
