//! Unit tests of loading, merging and validating the configuration.

use super::flags::Cli;
use super::sources::SETTINGS;
use super::*;
use clap::CommandFactory;

mod listeners;

fn load(args: &[&str], env: &[(&str, &str)]) -> Result<LoadOutcome, ConfigError> {
    let args = std::iter::once("gregor")
        .chain(args.iter().copied())
        .map(String::from);
    Config::load(
        args,
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Config {
    match load(args, env) {
        Ok(LoadOutcome::Run(c)) => c,
        other => panic!("expected Run, got {other:?}"),
    }
}

fn error(args: &[&str], env: &[(&str, &str)]) -> String {
    match load(args, env) {
        Err(e) => e.to_string(),
        Ok(o) => panic!("expected an error, got {o:?}"),
    }
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[test]
fn no_arguments_give_the_homework_defaults() {
    let c = run(&[], &[]);
    assert_eq!(c, Config::default());
    assert_eq!(
        c.listeners().unwrap(),
        [ListenerSpec {
            name: "PLAINTEXT".into(),
            bind: "0.0.0.0:9092".into(),
            advertised: None,
            protocol: SecurityProtocol::Plaintext,
        }]
    );
    let topic = TopicSpec {
        name: "loms.order-events".into(),
        partitions: 2,
        replication_factor: 1,
    };
    assert_eq!(c.topics().unwrap(), [topic]);
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(
        (c.storage, c.fsync),
        (StorageKind::Disk, FsyncPolicy::Always)
    );
}

#[test]
fn flags_beat_env_beat_file() {
    let f = file(
        "node_id = 10\nnum_partitions = 3\nlog = \"warn\"\ntopic = [\"a:1\"]\nsegment_ms = 5\n",
    );
    let path = f.path().to_str().unwrap();
    let env = [
        ("GREGOR_NODE_ID", "20"),
        ("GREGOR_NUM_PARTITIONS", "4"),
        ("GREGOR_SEGMENT_MS", "6"),
    ];
    let c = run(&["--config", path, "--node-id", "30"], &env);
    assert_eq!(
        (c.node_id, c.num_partitions, c.segment_ms),
        (Some(30), 4, 6)
    );
    assert_eq!(
        (c.log.as_str(), c.topic.as_slice()),
        ("warn", ["a:1".to_string()].as_slice())
    );
    // Untouched settings keep their defaults.
    assert_eq!(c.max_message_bytes, 1_048_588);
}

#[test]
fn config_file_from_env_and_flag_wins() {
    let (a, b) = (file("node_id = 7"), file("node_id = 8"));
    let env = [("GREGOR_CONFIG", a.path().to_str().unwrap())];
    assert_eq!(run(&[], &env).node_id, Some(7));
    assert_eq!(
        run(&["--config", b.path().to_str().unwrap()], &env).node_id,
        Some(8)
    );
}

#[test]
fn rust_log_counts_only_when_log_is_not_set() {
    assert_eq!(run(&[], &[("RUST_LOG", "debug")]).log, "debug");
    assert_eq!(
        run(&[], &[("RUST_LOG", "debug"), ("GREGOR_LOG", "warn")]).log,
        "warn"
    );
    assert_eq!(
        run(&["--log", "error"], &[("RUST_LOG", "debug")]).log,
        "error"
    );
    let f = file("log = \"trace\"");
    assert_eq!(
        run(
            &["--config", f.path().to_str().unwrap()],
            &[("RUST_LOG", "debug")]
        )
        .log,
        "trace"
    );
    assert!(error(&["--log", "gregor=loud"], &[]).contains("log"));
}

#[test]
fn unknown_file_key_is_named() {
    let f = file("node_id = 1\nlisten_port = 9092\n");
    let e = error(&["--config", f.path().to_str().unwrap()], &[]);
    assert!(
        e.contains("listen_port") && e.contains(f.path().to_str().unwrap()),
        "{e}"
    );
    let e = error(&["--config", "/nonexistent/gregor.toml"], &[]);
    assert!(e.contains("/nonexistent/gregor.toml"), "{e}");
}

#[test]
fn bad_file_value_is_reported_with_its_key() {
    let f = file("storage = \"tape\"\n");
    let e = error(&["--config", f.path().to_str().unwrap()], &[]);
    assert!(e.contains("storage") && e.contains("tape"), "{e}");
}

#[test]
fn unknown_env_var_is_named() {
    let e = error(&[], &[("GREGOR_PORT", "9092")]);
    assert!(e.contains("GREGOR_PORT"), "{e}");
    // Other variables are none of our business.
    run(&[], &[("PATH", "/bin"), ("KAFKA_PORT", "1")]);
}

#[test]
fn bad_env_values_are_named() {
    for (var, value) in [
        ("GREGOR_NODE_ID", "x"),
        ("GREGOR_NODE_ID", "99999999999"),
        ("GREGOR_STORAGE", "tape"),
        ("GREGOR_AUTO_CREATE_TOPICS", "yes"),
        ("GREGOR_FSYNC", "interval:0"),
    ] {
        let e = error(&[], &[(var, value)]);
        assert!(e.contains(var), "{var}={value}: {e}");
    }
}

#[test]
fn env_values_are_typed() {
    let env = [
        (
            "GREGOR_LISTEN",
            "INTERNAL://0.0.0.0:29092, PLAINTEXT://0.0.0.0:9092",
        ),
        ("GREGOR_ADVERTISED_LISTENER", "INTERNAL://kafka:29092"),
        ("GREGOR_LISTENER_SECURITY_PROTOCOL", "internal:plaintext"),
        ("GREGOR_AUTO_CREATE_TOPICS", "false"),
        ("GREGOR_STORAGE", "memory"),
        ("GREGOR_FSYNC", "interval:50"),
        ("GREGOR_CLUSTER_ID", "12345"),
        ("GREGOR_DATA_DIR", "/srv/gregor"),
        ("GREGOR_TOPIC", ""),
    ];
    let c = run(&[], &env);
    assert_eq!(
        c.listen,
        ["INTERNAL://0.0.0.0:29092", "PLAINTEXT://0.0.0.0:9092"]
    );
    assert!(!c.auto_create_topics);
    assert_eq!(
        (c.storage.clone(), c.fsync),
        (StorageKind::Memory, FsyncPolicy::Interval(50))
    );
    assert_eq!(c.cluster_id.as_deref(), Some("12345"));
    assert_eq!(c.data_dir, PathBuf::from("/srv/gregor"));
    assert!(c.topics().unwrap().is_empty());
}

#[test]
fn topics_are_validated() {
    let c = run(&["--topic", "a.b_c-D:3", "--topic", "x:1:1"], &[]);
    let t = c.topics().unwrap();
    assert_eq!(
        (t[0].name.as_str(), t[0].partitions, t[0].replication_factor),
        ("a.b_c-D", 3, 1)
    );
    assert_eq!((t[1].name.as_str(), t[1].partitions), ("x", 1));
    for (topic, needle) in [
        ("t:2:3", "replication factor 3"),
        ("t:0", "partitions"),
        ("t", "NAME:PARTITIONS"),
        ("t:1:1:1", "NAME:PARTITIONS"),
        ("a/b:1", "a/b"),
        ("..:1", "\"..\""),
    ] {
        let e = error(&["--topic", topic], &[]);
        assert!(e.contains(needle), "{topic}: {e}");
    }
    assert!(error(&["--topic", "t:1", "--topic", "t:2"], &[]).contains("twice"));
}

#[test]
fn topic_names_follow_kafka() {
    assert!(valid_topic_name("loms.order-events"));
    assert!(valid_topic_name(&"a".repeat(249)));
    assert!(valid_topic_name("..."));
    for bad in ["", ".", "..", "a b", "a:b", "é", &"a".repeat(250)] {
        assert!(!valid_topic_name(bad), "{bad:?}");
    }
}

#[test]
fn numbers_are_checked() {
    assert!(error(&["--num-partitions", "0"], &[]).contains("num_partitions"));
    assert!(error(&["--node-id=-1"], &[]).contains("node_id"));
    assert!(error(&["--max-connections", "0"], &[]).contains("max_connections"));
    assert!(error(&["--max-broker-partitions", "0"], &[]).contains("max_broker_partitions"));
    let c = run(&[], &[("GREGOR_MAX_BROKER_PARTITIONS", "7")]);
    assert_eq!(c.max_broker_partitions, Some(7));
    assert_eq!(
        run(&[], &[]).max_broker_partitions,
        None,
        "derived at start-up"
    );
    assert!(error(&["--cluster-id", ""], &[]).contains("cluster_id"));
    // clap rejects what does not parse, naming the flag.
    assert!(error(&["--node-id", "x"], &[]).contains("--node-id"));
}

#[test]
fn observability_settings() {
    let c = run(
        &["--metrics-listen", "0.0.0.0:9644"],
        &[("GREGOR_LOG_FORMAT", "json")],
    );
    assert_eq!(c.metrics_listen.as_deref(), Some("0.0.0.0:9644"));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(run(&[], &[]).metrics_listen, None);
    assert_eq!(run(&[], &[]).log_format, LogFormat::Text);
    for bad in ["9644", ":9644", "localhost:http", "localhost:70000"] {
        assert!(
            error(&["--metrics-listen", bad], &[]).contains("metrics_listen"),
            "{bad}"
        );
    }
    assert!(error(&["--log-format", "xml"], &[]).contains("--log-format"));
}

#[test]
fn http_listen_and_its_alias() {
    let c = run(&["--http-listen", "127.0.0.1:8082"], &[]);
    assert_eq!(c.http_address(), Some("127.0.0.1:8082"));
    let c = run(&[], &[("GREGOR_HTTP_LISTEN", "0.0.0.0:8082")]);
    assert_eq!(c.http_address(), Some("0.0.0.0:8082"));
    let c = run(&["--metrics-listen", "127.0.0.1:9644"], &[]);
    assert_eq!(c.http_address(), Some("127.0.0.1:9644"));
    assert_eq!(run(&[], &[]).http_address(), None);
    let same = ["--http-listen", "h:1", "--metrics-listen", "h:1"];
    assert_eq!(run(&same, &[]).http_address(), Some("h:1"));
    let differ = ["--http-listen", "h:1", "--metrics-listen", "h:2"];
    assert!(error(&differ, &[]).contains("another name for http_listen"));
    assert!(error(&["--http-listen", "8082"], &[]).contains("http_listen"));
}

#[test]
fn mqtt_settings_from_flags_env_and_file() {
    let c = run(&[], &[]);
    assert_eq!(
        (c.mqtt_listen.as_deref(), c.mqtt_topic_map.len()),
        (None, 0)
    );
    assert_eq!(
        (c.mqtt_max_packet_bytes, c.mqtt_max_inflight),
        (1_048_588, 32)
    );
    let flags = [
        "--mqtt-listen",
        "127.0.0.1:1883",
        "--mqtt-topic-map",
        "sensors/#=sensors",
        "--mqtt-topic-map",
        "+/alerts=alerts",
        "--mqtt-max-packet-bytes",
        "4096",
        "--mqtt-max-inflight",
        "8",
    ];
    let c = run(&flags, &[]);
    assert_eq!(c.mqtt_listen.as_deref(), Some("127.0.0.1:1883"));
    assert_eq!(c.mqtt_topic_map, ["sensors/#=sensors", "+/alerts=alerts"]);
    assert_eq!((c.mqtt_max_packet_bytes, c.mqtt_max_inflight), (4096, 8));
    let env = [
        ("GREGOR_MQTT_LISTEN", "0.0.0.0:1883"),
        ("GREGOR_MQTT_TOPIC_MAP", "a/#=a, b/#=b"),
    ];
    let c = run(&[], &env);
    assert_eq!(c.mqtt_listen.as_deref(), Some("0.0.0.0:1883"));
    assert_eq!(c.mqtt_topic_map, ["a/#=a", "b/#=b"]);
    let f = file("mqtt_listen = \"h:1\"\nmqtt_topic_map = [\"x/#=y\"]\nmqtt_max_inflight = 2\n");
    let c = run(&["--config", f.path().to_str().unwrap()], &[]);
    assert_eq!(
        (c.mqtt_listen.as_deref(), c.mqtt_max_inflight),
        (Some("h:1"), 2)
    );
    assert_eq!(c.mqtt_topic_map, ["x/#=y"]);
    assert!(!c.mqtt_allow_anonymous && c.mqtt_tls_listen.is_none());
    let tls = [
        "--mqtt-tls-listen",
        "127.0.0.1:8883",
        "--ssl-cert",
        "c.pem",
        "--ssl-key",
        "k.pem",
        "--mqtt-allow-anonymous",
    ];
    let c = run(&tls, &[]);
    assert_eq!(c.mqtt_tls_listen.as_deref(), Some("127.0.0.1:8883"));
    assert!(c.mqtt_allow_anonymous);
    let env = [
        ("GREGOR_MQTT_TLS_LISTEN", "0.0.0.0:8883"),
        ("GREGOR_MQTT_ALLOW_ANONYMOUS", "true"),
        ("GREGOR_SSL_CERT", "c.pem"),
        ("GREGOR_SSL_KEY", "k.pem"),
    ];
    let c = run(&[], &env);
    assert_eq!(c.mqtt_tls_listen.as_deref(), Some("0.0.0.0:8883"));
    assert!(c.mqtt_allow_anonymous);
    let f = file("mqtt_tls_listen = \"h:2\"\nmqtt_allow_anonymous = true\nssl_cert = \"c\"\nssl_key = \"k\"\n");
    let c = run(&["--config", f.path().to_str().unwrap()], &[]);
    assert_eq!(c.mqtt_tls_listen.as_deref(), Some("h:2"));
    assert!(c.mqtt_allow_anonymous);
    assert!(error(&["--mqtt-tls-listen", "h:1"], &[]).contains("mqtt_tls_listen needs ssl_cert"));
    assert!(error(&["--mqtt-tls-listen", "8883"], &[]).contains("mqtt_tls_listen"));
    let c = run(
        &[
            "--https-listen",
            "127.0.0.1:8443",
            "--ssl-cert",
            "c",
            "--ssl-key",
            "k",
        ],
        &[],
    );
    assert_eq!(c.https_listen.as_deref(), Some("127.0.0.1:8443"));
    let c = run(
        &[],
        &[
            ("GREGOR_HTTPS_LISTEN", "h:3"),
            ("GREGOR_SSL_CERT", "c"),
            ("GREGOR_SSL_KEY", "k"),
        ],
    );
    assert_eq!(c.https_listen.as_deref(), Some("h:3"));
    assert!(error(&["--https-listen", "h:1"], &[]).contains("https_listen needs ssl_cert"));
    assert!(error(
        &[
            "--https-listen",
            "8443",
            "--ssl-cert",
            "c",
            "--ssl-key",
            "k"
        ],
        &[]
    )
    .contains("https_listen"));
    assert!(error(&["--mqtt-listen", "1883"], &[]).contains("mqtt_listen"));
    assert!(error(&["--mqtt-topic-map", "sensors"], &[]).contains("mqtt_topic_map"));
    assert!(error(&["--mqtt-max-inflight", "0"], &[]).contains("mqtt_max_inflight"));
    assert!(error(&["--mqtt-max-packet-bytes", "1"], &[]).contains("mqtt_max_packet_bytes"));
}

#[test]
fn fsync_policy_text() {
    assert_eq!("always".parse(), Ok(FsyncPolicy::Always));
    assert_eq!("never".parse(), Ok(FsyncPolicy::Never));
    assert_eq!("interval:100".parse(), Ok(FsyncPolicy::Interval(100)));
    for bad in [
        "interval:0",
        "interval:",
        "interval:-1",
        "sometimes",
        "Always",
    ] {
        assert!(bad.parse::<FsyncPolicy>().is_err(), "{bad}");
    }
    assert_eq!(
        run(&["--fsync", "interval:5"], &[]).fsync,
        FsyncPolicy::Interval(5)
    );
}

#[test]
fn print_config_round_trips() {
    let args = [
        "--print-config",
        "--fsync",
        "interval:20",
        "--cluster-id",
        "abc",
        "--storage",
        "memory",
    ];
    let Ok(LoadOutcome::PrintConfig(c)) = load(&args, &[]) else {
        panic!("expected PrintConfig")
    };
    let text = c.to_toml().unwrap();
    assert!(text.contains("fsync = \"interval:20\""), "{text}");
    let f = file(&text);
    assert_eq!(run(&["--config", f.path().to_str().unwrap()], &[]), c);
}

#[test]
fn print_config_never_prints_passwords() {
    let args = [
        "--print-config",
        "--user",
        "alice:s3cret",
        "--user",
        "bob:hunter2",
    ];
    let Ok(LoadOutcome::PrintConfig(c)) = load(&args, &[]) else {
        panic!("expected PrintConfig")
    };
    let text = c.to_toml().unwrap();
    assert!(
        !text.contains("s3cret") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(text.starts_with("# user: alice, bob"), "{text}");
    let f = file(&text);
    let back = run(&["--config", f.path().to_str().unwrap()], &[]);
    assert!(back.user.is_empty());
    assert_eq!(back, Config { user: vec![], ..c });
}

#[test]
fn help_and_version_are_clap_exits() {
    for flag in ["--help", "--version"] {
        match load(&[flag], &[]) {
            Err(ConfigError::Cli(e)) => assert_eq!(e.exit_code(), 0),
            other => panic!("{flag}: {other:?}"),
        }
    }
    match load(&["--no-such-flag"], &[]) {
        Err(ConfigError::Cli(e)) => assert_eq!(e.exit_code(), 2),
        other => panic!("{other:?}"),
    }
}

/// SETTINGS, Config's fields and the flags must name the same settings.
#[test]
fn settings_table_matches_config_and_flags() {
    let config = Config {
        cluster_id: Some("x".into()),
        node_id: Some(1),
        http_listen: Some("127.0.0.1:9644".into()),
        metrics_listen: Some("127.0.0.1:9644".into()),
        mqtt_listen: Some("127.0.0.1:1883".into()),
        mqtt_tls_listen: Some("127.0.0.1:8883".into()),
        https_listen: Some("127.0.0.1:8443".into()),
        max_broker_partitions: Some(100),
        ssl_cert: Some("c.pem".into()),
        ssl_key: Some("k.pem".into()),
        ssl_client_ca: Some("ca.pem".into()),
        oauth_jwks: Some("jwks.json".into()),
        oauth_expected_issuer: Some("https://issuer".into()),
        delegation_token_secret_key: Some("k".into()),
        ..Config::default()
    };
    let fields: Vec<String> = toml::Table::try_from(&config)
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut settings: Vec<String> = SETTINGS.iter().map(|(k, _)| k.to_string()).collect();
    settings.sort();
    assert_eq!(fields, settings);
    let mut flags: Vec<String> = Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| !matches!(*l, "config" | "print-config" | "help" | "version"))
        .map(|l| l.replace('-', "_"))
        .collect();
    flags.sort();
    assert_eq!(flags, settings);
}

/// The defaults are written into the help text by hand; this keeps them true.
#[test]
fn help_states_the_defaults() {
    Cli::command().debug_assert();
    // Joined into one line: clap wraps long help anywhere.
    let help = Cli::command().render_long_help().to_string();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for (key, value) in toml::Table::try_from(Config::default()).unwrap() {
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        assert!(
            help.contains(&format!("Default: {value}")) || value.is_empty(),
            "{key}: {value}"
        );
    }
}

#[test]
fn group_size_limits_come_from_flags_env_and_file_within_kafkas_bounds() {
    let c = run(&[], &[]);
    assert_eq!(
        (
            c.group_max_size,
            c.group_consumer_max_size,
            c.group_share_max_size
        ),
        (i32::MAX, i32::MAX, 200)
    );
    let f = file("group_max_size = 5\n");
    let path = f.path().to_str().unwrap();
    let c = run(
        &["--config", path, "--group-share-max-size", "1000"],
        &[("GREGOR_GROUP_CONSUMER_MAX_SIZE", "3")],
    );
    assert_eq!(
        (
            c.group_max_size,
            c.group_consumer_max_size,
            c.group_share_max_size
        ),
        (5, 3, 1000)
    );
    assert!(error(&["--group-max-size", "0"], &[]).contains("group_max_size"));
    assert!(error(&["--group-consumer-max-size", "0"], &[]).contains("group_consumer_max_size"));
    assert!(error(&["--group-share-max-size", "0"], &[]).contains("group_share_max_size"));
    assert!(error(&["--group-share-max-size", "1001"], &[]).contains("1 to 1000"));
    assert_eq!(run(&[], &[]).group_share_max_share_sessions, 2000);
    let c = run(&["--group-share-max-share-sessions", "3"], &[]);
    assert_eq!(c.group_share_max_share_sessions, 3);
    let refused = error(&["--group-share-max-share-sessions", "0"], &[]);
    assert!(
        refused.contains("group_share_max_share_sessions"),
        "{refused}"
    );
}
