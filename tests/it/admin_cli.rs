//! Admin subcommands (`topics`, `groups`, `health`): the real binary against an in-process broker.

use crate::common;

use std::process::{Command, Output};

pub(crate) fn gregor(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gregor"));
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("GREGOR_") {
            cmd.env_remove(var);
        }
    }
    // The image sets GREGOR_DATA_DIR for the broker: the admin commands must not mind it.
    cmd.env("GREGOR_DATA_DIR", "/nonexistent");
    cmd.args(args).output().expect("gregor runs")
}

pub(crate) fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_create_list_describe_delete() {
    let b = common::broker(None).await;
    let bs = format!("--bootstrap-server={}", b.addr());
    let bs = bs.as_str();
    let run = |args: &[&str]| {
        let mut v = args.to_vec();
        v.push(bs);
        gregor(&v)
    };
    let o = run(&["topics", "list"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "loms.order-events\n");
    // A bootstrap list, as Kafka's tools take: the first address that answers serves.
    let list = format!("--bootstrap-server=127.0.0.1:1,{}", b.addr());
    let o = gregor(&["topics", "list", &list]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "loms.order-events\n");

    // The init container's command, twice: idempotent with --if-not-exists.
    let create = [
        "topics",
        "create",
        "--topic=orders",
        "--partitions=3",
        "--replication-factor=1",
        "--if-not-exists",
    ];
    let o = run(&create);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "Created topic orders.\n");
    let o = run(&create);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "Topic orders already exists.\n");

    // Without it: a one-line error naming the topic and Kafka's error, exit 1.
    let o = run(&["topics", "create", "--topic=orders", "--partitions=3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).starts_with("gregor: cannot create topic orders: TOPIC_ALREADY_EXISTS"),
        "{}",
        err(&o)
    );
    assert_eq!(err(&o).lines().count(), 1, "{}", err(&o));

    let o = run(&["topics", "create", "--topic=bad", "--partitions=0"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(err(&o).contains("INVALID_PARTITIONS"), "{}", err(&o));

    let o = run(&["topics", "describe", "--topic=orders"]);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.starts_with("Topic: orders\tTopicId: "), "{text}");
    assert!(
        text.contains("PartitionCount: 3\tReplicationFactor: 1"),
        "{text}"
    );
    for p in 0..3 {
        assert!(
            text.contains(&format!(
                "\tTopic: orders\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1\n"
            )),
            "{text}"
        );
    }
    let o = run(&["topics", "describe", "--topic=nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        err(&o)
    );

    let o = run(&["topics", "list"]);
    assert_eq!(out(&o), "loms.order-events\norders\n");

    let o = run(&["topics", "delete", "--topic=orders"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = run(&["topics", "delete", "--topic=orders"]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&["topics", "delete", "--topic=orders", "--if-exists"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = run(&["topics", "list"]);
    assert_eq!(out(&o), "loms.order-events\n");

    let o = run(&["groups", "list"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = run(&["groups", "describe", "--group=nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("does not exist"), "{}", err(&o));

    b.shutdown().await;
}

#[test]
fn admin_errors_are_one_line() {
    // Nothing listens on port 1.
    let o = gregor(&["topics", "list", "--bootstrap-server=127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).starts_with("gregor: cannot connect to 127.0.0.1:1: "),
        "{}",
        err(&o)
    );
    assert_eq!(err(&o).lines().count(), 1);

    // Usage errors: clap's message, exit 2.
    let o = gregor(&["topics", "create"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("--topic"), "{}", err(&o));
    let o = gregor(&[
        "topics",
        "create",
        "--topic=x",
        "--config=novalue",
        "--bootstrap-server=127.0.0.1:1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("KEY=VALUE"), "{}", err(&o));
}

/// `gregor health`: exit 0 with "ok" while the broker serves, 1 once nothing answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_asks_the_metrics_listener() {
    let config = gregor::config::Config {
        metrics_listen: Some("127.0.0.1:0".into()),
        ..common::config(None)
    };
    let b = gregor::server::start(config).await.unwrap();
    let b_metrics = b.http_addr.unwrap();
    let address = format!("--metrics-address={b_metrics}");
    let o = gregor(&["health", &address]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "ok\n");
    b.shutdown().await;
    let o = gregor(&["health", &address, "--timeout=2"]);
    assert_eq!(o.status.code(), Some(1));
    // Usually "cannot connect"; but tests run side by side, and another broker's listener may
    // be given the freed port at once, which then closes on an HTTP request.
    let addr = b_metrics.to_string();
    assert!(
        err(&o).contains("cannot connect") || err(&o).contains(&addr),
        "{}",
        err(&o)
    );
    assert!(out(&o).is_empty(), "{}", out(&o));
}
