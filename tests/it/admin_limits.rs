//! Limits on topic administration against an in-process broker: Kafka's per-request limit,
//! the broker's partition cap, validate_only, no directories left behind after a refusal or
//! a failure part-way, name collisions, Metadata answering each topic once, and a long
//! creation not holding up other connections.

use std::path::Path;

use crate::common::*;
use gregor::config::Config;
use gregor::server::{start, RunningBroker};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const POLICY_VIOLATION: i16 = 44;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_REQUEST: i16 = 42;
const KAFKA_STORAGE_ERROR: i16 = 56;
const EXCESSIVE: &str = "Unable to perform excessively large batch operation.";

fn name(n: &str) -> TopicName {
    TopicName(StrBytes::from_string(n.to_string()))
}

fn limits_config(data_dir: Option<&Path>, cap: u64) -> Config {
    Config {
        topic: vec![],
        max_broker_partitions: Some(cap),
        ..config(data_dir)
    }
}

async fn broker_with(data_dir: Option<&Path>, cap: u64) -> RunningBroker {
    start(limits_config(data_dir, cap))
        .await
        .expect("broker starts")
}

fn create_req(topics: &[(&str, i32)], validate_only: bool) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only)
        .with_topics(
            topics
                .iter()
                .map(|(n, p)| {
                    CreatableTopic::default()
                        .with_name(name(n))
                        .with_num_partitions(*p)
                        .with_replication_factor(1)
                })
                .collect(),
        )
}

/// (name, error code, message) per topic.
async fn create(
    c: &mut Client,
    topics: &[(&str, i32)],
    validate_only: bool,
) -> Vec<(String, i16, String)> {
    let resp = c.call(&create_req(topics, validate_only), 7).await;
    resp.topics
        .iter()
        .map(|t| {
            (
                t.name.to_string(),
                t.error_code,
                t.error_message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

async fn grow(c: &mut Client, topic: &str, count: i32, validate_only: bool) -> (i16, String) {
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(name(topic))
            .with_count(count)]);
    let resp = c.call(&req, 3).await;
    let r = &resp.results[0];
    (
        r.error_code,
        r.error_message
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    )
}

/// (error code, partition count) per topic answered, for `names` asked for.
async fn metadata(c: &mut Client, names: &[&str], auto_create: bool) -> Vec<(String, i16, usize)> {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(auto_create)
        .with_topics(Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
                .collect(),
        ));
    let resp = c.call(&req, 12).await;
    resp.topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                t.error_code,
                t.partitions.len(),
            )
        })
        .collect()
}

/// Partition directories (not files) of `topic` under the data directory's logs.
fn partition_dirs(data: &Path, topic: &str) -> Vec<String> {
    let prefix = format!("{topic}-");
    let mut dirs: Vec<String> = std::fs::read_dir(data.join("logs"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.strip_prefix(&prefix)
                        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

#[tokio::test]
async fn create_topics_over_kafkas_per_request_limit_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker_with(Some(dir.path()), 1_000_000).await;
    let mut c = Client::connect(&b).await;

    // 1 topic record + 9,999 partition records is exactly Kafka's limit of 10,000.
    let at_limit = create(&mut c, &[("big", 9_999)], true).await;
    assert_eq!(at_limit[0].1, 0, "{at_limit:?}");

    for validate_only in [true, false] {
        let over = create(&mut c, &[("big", 10_000)], validate_only).await;
        assert_eq!(
            over,
            vec![("big".into(), POLICY_VIOLATION, EXCESSIVE.into())]
        );
        // The limit is on the request: two topics together pass it, and both are refused.
        let together = create(
            &mut c,
            &[("half-a", 5_000), ("half-b", 5_000)],
            validate_only,
        )
        .await;
        assert_eq!(together.len(), 2);
        assert!(
            together
                .iter()
                .all(|t| t.1 == POLICY_VIOLATION && t.2 == EXCESSIVE),
            "{together:?}"
        );
    }
    // The million-partition request of the probe: refused at once, nothing made.
    let million = create(&mut c, &[("huge", 1_000_000)], false).await;
    assert_eq!(million[0].1, POLICY_VIOLATION);
    for topic in ["big", "half-a", "half-b", "huge"] {
        assert!(partition_dirs(dir.path(), topic).is_empty(), "{topic}");
    }
    let known = metadata(&mut c, &["big", "half-a", "huge"], false).await;
    assert!(
        known.iter().all(|t| t.1 == UNKNOWN_TOPIC_OR_PARTITION),
        "{known:?}"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn create_partitions_over_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker_with(Some(dir.path()), 1_000_000).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(create(&mut c, &[("grown", 1)], false).await[0].1, 0);

    for validate_only in [true, false] {
        // 10,001 new partitions: one record each, past the limit. Kafka 4.4 answers
        // POLICY_VIOLATION with this message (see compat-tests/python/test_admin_limits.py).
        let (code, message) = grow(&mut c, "grown", 10_002, validate_only).await;
        assert_eq!(
            (code, message.as_str()),
            (
                POLICY_VIOLATION,
                "Excessively large number of additional partitions per request."
            )
        );
    }
    assert_eq!(partition_dirs(dir.path(), "grown"), vec!["grown-0"]);
    assert_eq!(metadata(&mut c, &["grown"], false).await[0].2, 1);

    // A name given twice is answered once, INVALID_REQUEST, as Kafka does.
    let req = CreatePartitionsRequest::default().with_topics(vec![
        CreatePartitionsTopic::default()
            .with_name(name("grown"))
            .with_count(2),
        CreatePartitionsTopic::default()
            .with_name(name("grown"))
            .with_count(3),
    ]);
    let resp = c.call(&req, 3).await;
    assert_eq!(resp.results.len(), 1);
    assert_eq!(resp.results[0].error_code, INVALID_REQUEST);
    assert_eq!(metadata(&mut c, &["grown"], false).await[0].2, 1);
    b.shutdown().await;
}

#[tokio::test]
async fn the_broker_partition_cap_refuses_creation_growth_and_auto_creation() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker_with(Some(dir.path()), 10).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(create(&mut c, &[("first", 8)], false).await[0].1, 0);

    for validate_only in [true, false] {
        let refused = create(&mut c, &[("second", 3)], validate_only).await;
        assert_eq!(refused[0].1, POLICY_VIOLATION, "{refused:?}");
        assert!(refused[0].2.contains("at most 10"), "{refused:?}");
        let (code, _) = grow(&mut c, "first", 11, validate_only).await;
        assert_eq!(code, POLICY_VIOLATION);
    }
    assert!(partition_dirs(dir.path(), "second").is_empty());
    assert_eq!(partition_dirs(dir.path(), "first").len(), 8);

    // Auto-creation asks for all missing topics at once: three more than the two left.
    let auto = metadata(&mut c, &["auto-a", "auto-b", "auto-c"], true).await;
    assert!(
        auto.iter().all(|t| t.1 == UNKNOWN_TOPIC_OR_PARTITION),
        "{auto:?}"
    );
    for topic in ["auto-a", "auto-b", "auto-c"] {
        assert!(partition_dirs(dir.path(), topic).is_empty(), "{topic}");
    }
    // Within the cap it still works, up to the last partition.
    assert_eq!(
        metadata(&mut c, &["auto-a"], true).await[0].1,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(metadata(&mut c, &["auto-a"], false).await[0].1, 0);
    assert_eq!(grow(&mut c, "first", 9, false).await.0, 0);
    assert_eq!(
        create(&mut c, &[("one-more", 1)], false).await[0].1,
        POLICY_VIOLATION
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_creation_failing_part_way_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let b = broker_with(Some(dir.path()), 1_000).await;
    let mut c = Client::connect(&b).await;

    // A file where partition 3's directory must go: partitions 0-2 are made, 3 fails.
    std::fs::write(logs.join("broken-3"), b"in the way").unwrap();
    let failed = create(&mut c, &[("broken", 6)], false).await;
    assert_eq!(failed[0].1, KAFKA_STORAGE_ERROR, "{failed:?}");
    assert!(partition_dirs(dir.path(), "broken").is_empty());
    assert!(
        logs.join("broken-3").is_file(),
        "what was there before is left alone"
    );
    assert_eq!(
        metadata(&mut c, &["broken"], false).await[0].1,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    // The same for growth: the topic keeps its partitions, the new directories go.
    assert_eq!(create(&mut c, &[("growing", 2)], false).await[0].1, 0);
    std::fs::write(logs.join("growing-4"), b"in the way").unwrap();
    assert_eq!(
        grow(&mut c, "growing", 6, false).await.0,
        KAFKA_STORAGE_ERROR
    );
    assert_eq!(
        partition_dirs(dir.path(), "growing"),
        vec!["growing-0", "growing-1"]
    );
    assert_eq!(metadata(&mut c, &["growing"], false).await[0].2, 2);
    b.shutdown().await;

    // Nothing was persisted: after a restart neither half-made state comes back.
    let b = broker_with(Some(dir.path()), 1_000).await;
    let mut c = Client::connect(&b).await;
    let after = metadata(&mut c, &["broken", "growing"], false).await;
    assert_eq!(after[0].1, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!((after[1].1, after[1].2), (0, 2));
    // With the obstacle gone the same requests succeed.
    std::fs::remove_file(logs.join("broken-3")).unwrap();
    std::fs::remove_file(logs.join("growing-4")).unwrap();
    assert_eq!(create(&mut c, &[("broken", 6)], false).await[0].1, 0);
    assert_eq!(grow(&mut c, "growing", 6, false).await.0, 0);
    assert_eq!(partition_dirs(dir.path(), "broken").len(), 6);
    b.shutdown().await;
}

#[tokio::test]
async fn names_colliding_on_dot_and_underscore_are_refused() {
    let b = broker_with(None, 1_000).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(create(&mut c, &[("coll.x", 1)], false).await[0].1, 0);

    for validate_only in [true, false] {
        let refused = create(&mut c, &[("coll_x", 1)], validate_only).await;
        assert_eq!(
            refused,
            vec![(
                "coll_x".into(),
                INVALID_TOPIC_EXCEPTION,
                "Topic 'coll_x' collides with existing topic: coll.x".into()
            )]
        );
    }
    assert_eq!(
        create(&mut c, &[("coll.x", 1)], false).await[0].1,
        TOPIC_ALREADY_EXISTS
    );
    // Auto-creation is refused too; Kafka's Metadata answers that as an unknown topic.
    let auto = metadata(&mut c, &["coll_x"], true).await;
    assert_eq!(auto[0].1, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(b.services.topics.get("coll_x").is_none());
    // '-' is not unified, and a deleted topic no longer blocks its twin.
    assert_eq!(create(&mut c, &[("coll-x", 1)], false).await[0].1, 0);
    b.services.topics.delete_topic("coll.x").unwrap();
    assert_eq!(create(&mut c, &[("coll_x", 1)], false).await[0].1, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn metadata_answers_each_topic_once() {
    let b = broker_with(None, 1_000).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(create(&mut c, &[("asked", 2)], false).await[0].1, 0);

    let mut names = vec!["asked"; 20_000];
    names.extend(["missing"; 3]);
    names.push("asked");
    let answer = metadata(&mut c, &names, false).await;
    assert_eq!(
        answer,
        vec![
            ("asked".into(), 0, 2),
            ("missing".into(), UNKNOWN_TOPIC_OR_PARTITION, 0)
        ]
    );
    // Auto-creating a name asked for many times creates it once (answered
    // UNKNOWN_TOPIC_OR_PARTITION this time, as Kafka does; there on the next request).
    let answer = metadata(&mut c, &["made"; 50], true).await;
    assert_eq!(answer, vec![("made".into(), UNKNOWN_TOPIC_OR_PARTITION, 0)]);
    let answer = metadata(&mut c, &["made"; 50], false).await;
    assert_eq!(answer, vec![("made".into(), 0, 1)]);
    b.shutdown().await;
}

#[tokio::test]
async fn a_name_given_twice_in_create_topics_is_an_invalid_request() {
    let b = broker_with(None, 1_000).await;
    let mut c = Client::connect(&b).await;
    let answer = create(&mut c, &[("twice", 1), ("once", 1), ("twice", 2)], false).await;
    assert_eq!(
        answer,
        vec![
            ("once".into(), 0, String::new()),
            (
                "twice".into(),
                INVALID_REQUEST,
                "Duplicate topic name.".into()
            )
        ]
    );
    assert!(b.services.topics.get("twice").is_none());
    b.shutdown().await;
}

/// One async worker: were creation done on it, nothing else could be answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_long_creation_does_not_hold_up_other_connections() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker_with(Some(dir.path()), 100_000).await;
    let mut creator = Client::connect(&b).await;
    let sent = creator.send(&create_req(&[("slow", 400)], false), 7).await;
    let mut created = Box::pin(creator.receive::<CreateTopicsRequest>(7));

    // Wait until the creation is under way (its first directories appear), then ask others.
    let started = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while partition_dirs(dir.path(), "slow").is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
    tokio::select! {
        _ = started => {}
        _ = &mut created => panic!("the creation finished before it could be observed"),
    }
    let mut other = Client::connect(&b).await;
    let ask = crate::common::api_versions();
    let versions = tokio::select! {
        v = other.call(&ask, 3) => v,
        _ = &mut created => panic!("ApiVersions waited for the creation"),
    };
    assert_eq!(versions.error_code, 0);
    let known = tokio::select! {
        m = metadata(&mut other, &["slow"], false) => m,
        _ = &mut created => panic!("Metadata waited for the creation"),
    };
    assert_eq!(
        known[0].1, UNKNOWN_TOPIC_OR_PARTITION,
        "not there until complete"
    );

    let (correlation, response) = created.await;
    assert_eq!(correlation, sent);
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(metadata(&mut other, &["slow"], false).await[0].2, 400);
    b.shutdown().await;
}

/// A gregor process started with at most `fds` open files; killed when dropped.
struct LimitedProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl LimitedProcess {
    async fn start(data: &Path, fds: u32, extra: &[&str]) -> LimitedProcess {
        let port = free_port();
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {fds} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_gregor"))
            .args(["--listen", &addr.to_string(), "--data-dir"])
            .arg(data)
            .args(["--storage", "disk"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("GREGOR_") || var == "RUST_LOG" {
                cmd.env_remove(var);
            }
        }
        let child = cmd.env("GREGOR_TOPIC", "").spawn().expect("gregor starts");
        let process = LimitedProcess { child, addr };
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return process;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("gregor did not listen on {addr}");
    }

    async fn client(&self) -> Client {
        Client::from_stream(tokio::net::TcpStream::connect(self.addr).await.unwrap())
    }
}

impl Drop for LimitedProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The probe's failure for real: a process that runs out of descriptors part-way through a
/// creation undoes it, keeps serving, and creates what fits afterwards.
#[tokio::test]
async fn running_out_of_descriptors_part_way_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let gregor = LimitedProcess::start(dir.path(), 256, &["--max-broker-partitions", "5000"]).await;
    let mut c = gregor.client().await;
    let failed = create(&mut c, &[("many", 600)], false).await;
    assert_eq!(failed[0].1, KAFKA_STORAGE_ERROR, "{failed:?}");
    assert!(partition_dirs(dir.path(), "many").is_empty());

    let mut other = gregor.client().await;
    let versions = other.call(&crate::common::api_versions(), 3).await;
    assert_eq!(versions.error_code, 0);
    assert_eq!(
        metadata(&mut other, &["many"], false).await[0].1,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(create(&mut c, &[("fits", 20)], false).await[0].1, 0);
    assert_eq!(partition_dirs(dir.path(), "fits").len(), 20);
}

/// Without the setting the cap is a quarter of the descriptor limit, refused up front.
#[tokio::test]
async fn the_default_cap_follows_the_descriptor_limit() {
    let dir = tempfile::tempdir().unwrap();
    let gregor = LimitedProcess::start(dir.path(), 256, &[]).await;
    let mut c = gregor.client().await;
    let refused = create(&mut c, &[("many", 65)], false).await;
    assert_eq!(refused[0].1, POLICY_VIOLATION, "{refused:?}");
    assert!(refused[0].2.contains("at most 64"), "{refused:?}");
    assert!(partition_dirs(dir.path(), "many").is_empty());
    assert_eq!(create(&mut c, &[("many", 64)], false).await[0].1, 0);
}
