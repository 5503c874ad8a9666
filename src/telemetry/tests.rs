use super::otlp::tests::payload;
use super::subscriptions::{INTERVAL_MS, MATCH, METRICS};
use super::*;
use crate::store::MemoryStore;
use std::collections::BTreeMap;

fn telemetry(subs: &[(&str, &[(&str, &str)])]) -> Telemetry {
    let t = Telemetry::open(Arc::new(MemoryStore::new())).unwrap();
    for (name, configs) in subs {
        let configs: BTreeMap<String, String> = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        t.subscriptions().set(name, configs).unwrap();
    }
    t
}

/// A wall-clock time (Kafka's instances start with their last get and push at 0).
const T0: i64 = 1_700_000_000_000;

fn java() -> ClientInfo {
    ClientInfo {
        client_id: "producer-1".into(),
        software_name: "apache-kafka-java".into(),
        software_version: "4.4.0".into(),
        peer: None,
    }
}

fn push(s: &Subscribed, metrics: &[u8]) -> Push<'static> {
    Push {
        client_instance_id: s.client_instance_id,
        subscription_id: s.subscription_id,
        terminating: false,
        compression_type: 0,
        metrics: Box::leak(metrics.to_vec().into_boxed_slice()),
    }
}

fn exposition(t: &Telemetry, now: i64) -> String {
    let mut e = Encoder::default();
    t.encode(&mut e, now);
    e.finish()
}

#[test]
fn a_new_client_gets_an_id_and_its_matching_subscription() {
    let t = telemetry(&[
        (
            "java",
            &[
                (METRICS, "org.apache.kafka.producer."),
                (INTERVAL_MS, "1000"),
                (MATCH, "client_software_name=apache-kafka-java"),
            ],
        ),
        (
            "go",
            &[(METRICS, "*"), (MATCH, "client_software_name=franz-go")],
        ),
    ]);
    let s = t
        .get_subscriptions(Uuid::nil(), java(), T0 + 1_000)
        .unwrap();
    assert!(!s.client_instance_id.is_nil());
    assert_eq!(s.metrics, ["org.apache.kafka.producer."]);
    assert_eq!(s.push_interval_ms, 1000);
    assert_eq!(
        s.subscription_id,
        subscription_id(&s.metrics, 1000, s.client_instance_id)
    );
    // A second get within the interval is throttled; after it, answered with the same id.
    assert_eq!(
        t.get_subscriptions(s.client_instance_id, java(), T0 + 1_500),
        Err(ResponseError::ThrottlingQuotaExceeded)
    );
    assert_eq!(
        t.get_subscriptions(s.client_instance_id, java(), T0 + 2_000)
            .unwrap(),
        s
    );
}

#[test]
fn subscription_ids_change_with_the_subscriptions() {
    let a = Uuid::from_u64_pair(7, 9);
    let m = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_ne!(
        subscription_id(&m(&["a."]), 1000, a),
        subscription_id(&m(&["a."]), 999, a)
    );
    assert_ne!(
        subscription_id(&m(&["a."]), 1000, a),
        subscription_id(&m(&["b."]), 1000, a)
    );
    assert_ne!(
        subscription_id(&m(&["a."]), 1000, a),
        subscription_id(&m(&["a."]), 1000, Uuid::from_u64_pair(7, 8))
    );
    let t = telemetry(&[("s", &[(METRICS, "a."), (INTERVAL_MS, "100")])]);
    let s = t
        .get_subscriptions(Uuid::nil(), java(), T0 + 1_000)
        .unwrap();
    t.subscriptions()
        .set("s", [(METRICS.to_string(), "b.".to_string())].into())
        .unwrap();
    // The old id is refused on push; the next get (not throttled: a new instance) has the new one.
    assert_eq!(
        t.push(push(&s, b""), java(), T0 + 1_050),
        Err(ResponseError::UnknownSubscriptionId)
    );
    let again = t
        .get_subscriptions(s.client_instance_id, java(), T0 + 1_060)
        .unwrap();
    assert_eq!(again.metrics, ["b."]);
    assert_ne!(again.subscription_id, s.subscription_id);
    assert_eq!(again.push_interval_ms, INTERVAL_MS_DEFAULT_FOR_TEST);
}

const INTERVAL_MS_DEFAULT_FOR_TEST: i32 = subscriptions::INTERVAL_MS_DEFAULT;

#[test]
fn pushes_are_checked_as_kafka_checks_them() {
    let t = telemetry(&[("s", &[(METRICS, "*"), (INTERVAL_MS, "1000")])]);
    let s = t
        .get_subscriptions(Uuid::nil(), java(), T0 + 10_000)
        .unwrap();
    assert_eq!(t.push(push(&s, b""), java(), T0 + 10_001), Ok(()));
    // Too early.
    assert_eq!(
        t.push(push(&s, b""), java(), T0 + 10_500),
        Err(ResponseError::ThrottlingQuotaExceeded)
    );
    let mut p = push(&s, b"");
    p.compression_type = 9;
    assert_eq!(
        t.push(p, java(), T0 + 11_500),
        Err(ResponseError::UnsupportedCompressionType)
    );
    // After that error a get is answered at once.
    assert!(t
        .get_subscriptions(s.client_instance_id, java(), T0 + 11_600)
        .is_ok());
    let mut p = push(&s, b"");
    p.subscription_id ^= 1;
    assert_eq!(
        t.push(p, java(), T0 + 12_600),
        Err(ResponseError::UnknownSubscriptionId)
    );
    let big = vec![0u8; TELEMETRY_MAX_BYTES as usize + 1];
    assert_eq!(
        t.push(push(&s, &big), java(), T0 + 13_700),
        Err(ResponseError::TelemetryTooLarge)
    );
    assert_eq!(
        t.push(push(&s, &[0xff; 16]), java(), T0 + 14_800),
        Err(ResponseError::InvalidRecord)
    );
    // A terminating push is taken early; nothing after it is.
    let mut p = push(&s, &payload(1.0, 1.0));
    p.terminating = true;
    assert_eq!(t.push(p, java(), T0 + 14_801), Ok(()));
    assert_eq!(
        t.push(push(&s, b""), java(), T0 + 20_000),
        Err(ResponseError::InvalidRequest)
    );
    let mut zero = push(&s, b"");
    zero.client_instance_id = Uuid::nil();
    assert_eq!(
        t.push(zero, java(), T0 + 20_000),
        Err(ResponseError::InvalidRequest)
    );
}

#[test]
fn pushed_metrics_are_on_metrics_until_the_client_expires() {
    let t = telemetry(&[("s", &[(METRICS, "*"), (INTERVAL_MS, "1000")])]);
    let s = t.get_subscriptions(Uuid::nil(), java(), T0).unwrap();
    let id = kafka_uuid(s.client_instance_id);
    let zstd = zstd::encode_all(&payload(3.0, 7.0)[..], 3).unwrap();
    let mut p = push(&s, &zstd);
    p.compression_type = 4;
    t.push(p, java(), T0 + 1).unwrap();
    t.push(push(&s, &payload(2.0, 5.0)), java(), T0 + 1_001)
        .unwrap();
    let text = exposition(&t, T0 + 1_002);
    let labels = format!(
        "client_instance_id=\"{id}\",client_id=\"producer-1\",client_software_name=\"apache-kafka-java\",client_software_version=\"4.4.0\""
    );
    // Delta sums add up; gauges are the last value.
    assert!(
        text.contains("# TYPE org_apache_kafka_producer_record_send_total counter"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "org_apache_kafka_producer_record_send_total{{{labels},topic=\"t\"}} 5\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "org_apache_kafka_producer_buffer_available_bytes{{{labels}}} 5\n"
        )),
        "{text}"
    );
    assert!(text.contains("gregor_telemetry_client_instances 1\n"));
    // No request for max(60 s, 3 intervals): gone.
    let text = exposition(&t, T0 + 1_001 + 60_000);
    assert!(!text.contains("org_apache_kafka_producer"), "{text}");
    assert!(text.contains("gregor_telemetry_client_instances 0\n"));
}

#[test]
fn series_are_capped_per_client_and_names_are_made_safe() {
    use super::otlp::{Point, PointKind};
    let mut s = series::Series::new();
    let mut total = 0;
    let points = (0..series::MAX_SERIES_PER_CLIENT + 5)
        .map(|i| Point {
            name: format!("m.{i}"),
            kind: PointKind::Gauge,
            attributes: vec![
                ("a\"b".into(), "x".into()),
                ("client_id".into(), "spoof".into()),
            ],
            value: 1.0,
        })
        .collect();
    assert_eq!(series::record(&mut s, &mut total, points), 5);
    assert_eq!(
        (s.len(), total),
        (series::MAX_SERIES_PER_CLIENT, series::MAX_SERIES_PER_CLIENT)
    );
    let ((name, attrs), _) = s.iter().next().unwrap();
    assert!(name.starts_with("m_"));
    // The spoofed client label is dropped, the odd key made a label name.
    assert_eq!(attrs, &vec![("a_b".to_string(), "x".to_string())]);
    let own = Point {
        name: "gregor_connections_open".into(),
        kind: PointKind::Gauge,
        attributes: vec![],
        value: 0.0,
    };
    assert_eq!(
        series::record(&mut series::Series::new(), &mut 0, vec![own]),
        1
    );
    assert_eq!(series::prometheus_name("9.a-b"), "_9_a_b");
}
