//! Tests of config_view: what DescribeConfigs reports for topics and the broker.

use super::*;

fn find<'a>(all: &'a [DescribedConfig], name: &str) -> &'a DescribedConfig {
    all.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn topic_configs_come_from_override_broker_or_default() {
    let config = Config {
        max_message_bytes: 2_000_000,
        ..Config::default()
    };
    let topic =
        TopicConfig::new([("retention.ms".to_string(), "1000".to_string())].into()).unwrap();
    let all = describe_topic(&topic, &config, &DynamicConfigs::default());
    assert_eq!(all.len(), CATALOG.iter().filter(|d| !d.internal).count());

    let retention = find(&all, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(retention.source, DYNAMIC_TOPIC_CONFIG);

    let max = find(&all, "max.message.bytes");
    assert_eq!(max.value.as_deref(), Some("2000000"));
    assert_eq!(max.source, STATIC_BROKER_CONFIG);
    assert_eq!(
        max.synonyms,
        vec![
            (
                "message.max.bytes".into(),
                Some("2000000".into()),
                STATIC_BROKER_CONFIG
            ),
            (
                "message.max.bytes".into(),
                Some("1048588".into()),
                DEFAULT_CONFIG
            ),
        ]
    );

    // log.roll.ms has no default of its own: no synonym unless gregor sets it.
    assert_eq!(find(&all, "segment.ms").synonyms, vec![]);
    let rolled = Config {
        segment_ms: 1000,
        ..Config::default()
    };
    let segment_ms = describe_topic(&TopicConfig::default(), &rolled, &DynamicConfigs::default())
        .into_iter()
        .find(|c| c.name == "segment.ms")
        .unwrap();
    assert_eq!(
        (segment_ms.value.as_deref(), segment_ms.source),
        (Some("1000"), STATIC_BROKER_CONFIG)
    );

    let policy = find(&all, "cleanup.policy");
    assert_eq!(policy.value.as_deref(), Some("delete"));
    assert_eq!(policy.source, DEFAULT_CONFIG);
    assert_eq!(policy.synonyms[0].0, "log.cleanup.policy");
}

#[test]
fn broker_reports_its_settings_and_a_version_signal() {
    let all = describe_broker(&Config::default(), &DynamicConfigs::default());
    assert_eq!(
        find(&all, "inter.broker.protocol.version").value.as_deref(),
        Some(METADATA_VERSION_NAME)
    );
    assert_eq!(find(&all, "num.partitions").value.as_deref(), Some("1"));
    assert_eq!(find(&all, "log.segment.bytes").source, DEFAULT_CONFIG);
    assert_eq!(find(&all, "node.id").source, STATIC_BROKER_CONFIG);
    assert!(all.windows(2).all(|w| w[0].name < w[1].name));
}

#[test]
fn broker_reports_its_security_settings() {
    let plain = describe_broker(&Config::default(), &DynamicConfigs::default());
    for name in ["authorizer.class.name", "sasl.enabled.mechanisms"] {
        assert_eq!(find(&plain, name).source, DEFAULT_CONFIG, "{name}");
    }
    let secured = describe_broker(
        &Config {
            listen: vec!["SASL_SSL://:9093".into(), "INTERNAL://:9094".into()],
            listener_security_protocol: vec!["INTERNAL:PLAINTEXT".into()],
            sasl_mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-512".into()],
            authorizer: AuthorizerKind::Acl,
            ..Config::default()
        },
        &DynamicConfigs::default(),
    );
    let value = |name| find(&secured, name).value.clone();
    assert_eq!(
        value("listener.security.protocol.map").as_deref(),
        Some("SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT")
    );
    assert_eq!(
        value("sasl.enabled.mechanisms").as_deref(),
        Some("PLAIN,SCRAM-SHA-512")
    );
    assert_eq!(value("authorizer.class.name").as_deref(), Some("acl"));
    assert_eq!(
        find(&secured, "authorizer.class.name").source,
        STATIC_BROKER_CONFIG
    );
}

#[test]
fn dynamic_values_head_the_synonym_chains() {
    let pairs = |p: &[(&str, &str)]| {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let dynamic = DynamicConfigs {
        cluster: pairs(&[("log.retention.ms", "1000"), ("message.max.bytes", "5000")]),
        node: pairs(&[("log.retention.ms", "2000")]),
    };
    let config = Config::default();
    let broker = describe_broker(&config, &dynamic);
    let retention = find(&broker, "log.retention.ms");
    assert_eq!(retention.value.as_deref(), Some("2000"));
    assert_eq!(retention.source, DYNAMIC_BROKER_CONFIG);
    assert!(!retention.read_only);
    assert_eq!(retention.synonyms[1].2, DYNAMIC_DEFAULT_BROKER_CONFIG);
    assert!(find(&broker, "num.partitions").read_only);

    let defaults = describe_broker_defaults(&config, &dynamic);
    let names: Vec<_> = defaults.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["log.retention.ms", "message.max.bytes"]);
    assert_eq!(defaults[0].value.as_deref(), Some("1000"));
    assert_eq!(defaults[0].synonyms.len(), 1);

    let topic = describe_topic(&TopicConfig::default(), &config, &dynamic);
    let max = find(&topic, "max.message.bytes");
    assert_eq!(max.value.as_deref(), Some("5000"));
    assert_eq!(max.source, DYNAMIC_DEFAULT_BROKER_CONFIG);
}
