use super::*;
use crate::store::MemoryStore;

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn kafka_validation_of_names_intervals_and_patterns() {
    assert!(matches!(
        parse("", &configs(&[(METRICS, "*")])),
        Err(ConfigError::InvalidRequest(_))
    ));
    assert_eq!(
        parse("s", &configs(&[("nope", "1")])).unwrap_err(),
        ConfigError::InvalidRequest("Unknown client metrics configuration: nope".into())
    );
    for bad in ["99", "3600001"] {
        assert!(matches!(
            parse("s", &configs(&[(INTERVAL_MS, bad)])),
            Err(ConfigError::InvalidRequest(_))
        ));
    }
    assert!(matches!(
        parse("s", &configs(&[(INTERVAL_MS, "soon")])),
        Err(ConfigError::InvalidConfig(_))
    ));
    for bad in [
        "client_id",
        "client_id=a=b",
        "=x",
        "nobody=x",
        "client_id=(",
    ] {
        assert_eq!(
            parse("s", &configs(&[(MATCH, bad)])).unwrap_err(),
            ConfigError::InvalidConfig(format!("Illegal client matching pattern: {bad}")),
            "{bad}"
        );
    }
    let s = parse(
        "s",
        &configs(&[
            (
                METRICS,
                "org.apache.kafka.producer., org.apache.kafka.consumer.",
            ),
            (INTERVAL_MS, "100"),
            (
                MATCH,
                "client_software_name=apache-kafka-java, client_id=app-.*",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(s.interval_ms, 100);
    assert_eq!(
        s.metrics,
        ["org.apache.kafka.producer.", "org.apache.kafka.consumer."]
    );
    let attrs = |id: &'static str| {
        move |name: &str| match name {
            CLIENT_ID => Some(id.to_string()),
            CLIENT_SOFTWARE_NAME => Some("apache-kafka-java".to_string()),
            _ => None,
        }
    };
    assert!(s.matches(attrs("app-1")));
    // The pattern matches the whole value, as Java's Matcher.matches.
    assert!(!s.matches(attrs("my-app-1")));
    assert_eq!(
        parse("s", &BTreeMap::new()).unwrap().interval_ms,
        INTERVAL_MS_DEFAULT
    );
}

#[test]
fn resolving_unions_matching_subscriptions_and_versions_change() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let subs = Subscriptions::open(store.clone()).unwrap();
    let everyone = |_: &str| None;
    assert_eq!(subs.resolve(everyone), (vec![], INTERVAL_MS_DEFAULT, 0));
    subs.set("a", configs(&[(METRICS, "b.,a."), (INTERVAL_MS, "1000")]))
        .unwrap();
    subs.set("b", configs(&[(METRICS, "a.,c."), (INTERVAL_MS, "500")]))
        .unwrap();
    subs.set("other", configs(&[(METRICS, "*"), (MATCH, "client_id=x")]))
        .unwrap();
    let (metrics, interval, version) = subs.resolve(everyone);
    assert_eq!(
        (metrics, interval, version),
        (vec!["a.".into(), "b.".into(), "c.".into()], 500, 3)
    );
    let (metrics, _, _) = subs.resolve(|n| (n == CLIENT_ID).then(|| "x".to_string()));
    assert_eq!(metrics, ["*"]);
    // Removing all of a resource's configs removes it; removing a missing one changes nothing.
    subs.set("b", BTreeMap::new()).unwrap();
    subs.set("missing", BTreeMap::new()).unwrap();
    assert_eq!(subs.version(), 4);
    assert_eq!(subs.names(), ["a", "other"]);
    // Kept in the store: a restart reads them back.
    let reopened = Subscriptions::open(store).unwrap();
    assert_eq!(reopened.names(), ["a", "other"]);
    assert_eq!(
        reopened.get("a"),
        configs(&[(METRICS, "b.,a."), (INTERVAL_MS, "1000")])
    );
    assert_eq!(reopened.resolve(everyone).1, 1000);
}

#[test]
fn describe_shows_every_config_set_or_default() {
    let subs = Subscriptions::open(Arc::new(MemoryStore::new())).unwrap();
    subs.set("s", configs(&[(METRICS, "a., b.")])).unwrap();
    let described: Vec<(String, Option<String>, i8)> = subs
        .describe("s")
        .into_iter()
        .map(|d| (d.name, d.value, d.source))
        .collect();
    assert_eq!(
        described,
        [
            (INTERVAL_MS.into(), Some("300000".into()), DEFAULT_CONFIG),
            (MATCH.into(), Some(String::new()), DEFAULT_CONFIG),
            (METRICS.into(), Some("a.,b.".into()), CLIENT_METRICS_CONFIG),
        ]
    );
}
