//! Admin subcommands: `gregor topics create|list|describe|delete` and
//! `gregor groups list|describe`. They speak the Kafka protocol to any broker (gregor or
//! Kafka) given by `--bootstrap-server`, so an init container needs nothing but the gregor
//! image:
//!
//! ```text
//! gregor topics create --bootstrap-server kafka:29092 --topic loms.order-events \
//!        --partitions 2 --replication-factor 1 --if-not-exists
//! ```
//!
//! Output follows kafka-topics / kafka-consumer-groups. Errors are one line on stderr
//! (`gregor: ...`) with exit status 1; usage errors exit 2.
//!
//! `gregor health` asks a broker's metrics listener (`--metrics-listen`) for GET /health, for
//! container healthchecks.
//!
//! `main.rs` sends here when the first argument is `topics`, `groups` or `health`; every other
//! command line is the broker's, parsed by [`crate::config`] as before.

mod client;
mod health;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indexmap::IndexMap;
use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, DeleteTopicsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, ListGroupsRequest, ListOffsetsRequest, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

pub use client::{Client, ClientError};

/// The first arguments that select an admin subcommand instead of the broker.
pub const SUBCOMMANDS: [&str; 3] = ["topics", "groups", "health"];

/// True when `args` (with the program name first) is an admin command line.
pub fn is_admin_command(args: &[String]) -> bool {
    args.get(1)
        .is_some_and(|a| SUBCOMMANDS.contains(&a.as_str()))
}

/// gregor's admin commands: topics and consumer groups of a running broker (gregor or Apache
/// Kafka), over the Kafka protocol.
#[derive(Debug, Parser)]
#[command(name = "gregor", max_term_width = 100)]
struct AdminCli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, describe and delete topics (like kafka-topics).
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// List and describe consumer groups (like kafka-consumer-groups).
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Ask a broker's metrics listener (--metrics-listen) whether it is healthy (GET /health);
    /// exit 0 when it answers 200.
    Health {
        /// The broker's --metrics-listen address, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT", default_value = "localhost:9644")]
        metrics_address: String,
        /// Seconds to wait for the answer.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        timeout: u64,
    },
}

#[derive(Debug, Args)]
struct Conn {
    /// Broker to talk to, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:9092")]
    bootstrap_server: String,

    /// Seconds to wait for the connection and for each response.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create a topic.
    Create {
        #[command(flatten)]
        conn: Conn,
        /// Topic name.
        #[arg(long)]
        topic: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(long, value_name = "N")]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's; gregor supports 1).
        #[arg(long, value_name = "N")]
        replication_factor: Option<i16>,
        /// Topic config KEY=VALUE (e.g. retention.ms=86400000); repeatable.
        #[arg(long, value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Succeed (exit 0) when the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topic names, one a line.
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Show partitions, leaders and replicas of topics (all when no --topic is given).
    Describe {
        #[command(flatten)]
        conn: Conn,
        /// Topic to describe; repeatable.
        #[arg(long)]
        topic: Vec<String>,
    },
    /// Delete a topic.
    Delete {
        #[command(flatten)]
        conn: Conn,
        /// Topic name.
        #[arg(long)]
        topic: String,
        /// Succeed (exit 0) when the topic does not exist.
        #[arg(long)]
        if_exists: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GroupsCommand {
    /// List consumer group ids, one a line.
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Show a group's state, members, assignments, committed offsets and lag.
    Describe {
        #[command(flatten)]
        conn: Conn,
        /// Group id.
        #[arg(long)]
        group: String,
    },
}

/// A failure to report: one line, exit status 1.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Msg(String),
}

/// Runs an admin command line (`args[0]` is the program name) and returns the exit status.
pub fn main(args: Vec<String>) -> ExitCode {
    let cli = match AdminCli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gregor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = String::new();
    let result = runtime.block_on(run(cli.command, &mut out));
    print!("{out}");
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gregor: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(conn: &Conn) -> Result<Client, ClientError> {
    Client::connect(
        &conn.bootstrap_server,
        Duration::from_secs(conn.timeout.max(1)),
    )
    .await
}

async fn run(command: Command, out: &mut String) -> Result<(), CliError> {
    match command {
        Command::Topics { command } => match command {
            TopicsCommand::Create {
                conn,
                topic,
                partitions,
                replication_factor,
                config,
                if_not_exists,
            } => {
                let configs = config
                    .iter()
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                        _ => Err(CliError::Msg(format!(
                            "--config {kv:?}: want KEY=VALUE (e.g. retention.ms=86400000)"
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut c = connect(&conn).await?;
                topics_create(
                    &mut c,
                    &topic,
                    partitions,
                    replication_factor,
                    &configs,
                    if_not_exists,
                    out,
                )
                .await
            }
            TopicsCommand::List { conn } => {
                let mut c = connect(&conn).await?;
                let md = metadata(&mut c, None).await?;
                let mut names: Vec<&str> = md
                    .topics
                    .iter()
                    .filter_map(|t| t.name.as_ref().map(|n| n.0.as_str()))
                    .collect();
                names.sort_unstable();
                for n in names {
                    out.push_str(n);
                    out.push('\n');
                }
                Ok(())
            }
            TopicsCommand::Describe { conn, topic } => {
                let mut c = connect(&conn).await?;
                topics_describe(&mut c, &topic, out).await
            }
            TopicsCommand::Delete {
                conn,
                topic,
                if_exists,
            } => {
                let mut c = connect(&conn).await?;
                topics_delete(&mut c, &topic, if_exists, out).await
            }
        },
        Command::Groups { command } => match command {
            GroupsCommand::List { conn } => {
                let mut c = connect(&conn).await?;
                let v = c.version::<ListGroupsRequest>("ListGroups", 4)?;
                let resp = c.send(&ListGroupsRequest::default(), v).await?;
                check(resp.error_code, "ListGroups")?;
                let mut ids: Vec<&str> =
                    resp.groups.iter().map(|g| g.group_id.0.as_str()).collect();
                ids.sort_unstable();
                for id in ids {
                    out.push_str(id);
                    out.push('\n');
                }
                Ok(())
            }
            GroupsCommand::Describe { conn, group } => {
                let mut c = connect(&conn).await?;
                groups_describe(&mut c, &conn, &group, out).await
            }
        },
        Command::Health {
            metrics_address,
            timeout,
        } => {
            let body = health::check(&metrics_address, Duration::from_secs(timeout.max(1)))
                .await
                .map_err(CliError::Msg)?;
            out.push_str(&body);
            out.push('\n');
            Ok(())
        }
    }
}

/// Kafka's name of an error code: TOPIC_ALREADY_EXISTS for 36.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        None => "NONE".into(),
        Some(kafka_protocol::ResponseError::Unknown(c)) => format!("error code {c}"),
        Some(e) => {
            let mut s = String::new();
            for (i, ch) in format!("{e:?}").chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    s.push('_');
                }
                s.push(ch.to_ascii_uppercase());
            }
            s
        }
    }
}

fn check(code: i16, what: &str) -> Result<(), CliError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CliError::Msg(format!("{what}: {}", error_name(code))))
    }
}

fn with_message(code: i16, message: Option<&StrBytes>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{}: {}", error_name(code), m.as_str()),
        _ => error_name(code),
    }
}

async fn metadata(c: &mut Client, topics: Option<&[String]>) -> Result<MetadataResponse, CliError> {
    let v = c.version::<MetadataRequest>("Metadata", 12)?;
    let mut req = MetadataRequest::default();
    req.topics = match topics {
        None if v == 0 => Some(vec![]), // v0: an empty list means all topics
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect(),
        ),
    };
    req.allow_auto_topic_creation = false;
    Ok(c.send(&req, v).await?)
}

fn topic_name(n: &str) -> TopicName {
    TopicName(StrBytes::from_string(n.to_string()))
}

async fn topics_create(
    c: &mut Client,
    topic: &str,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: &[(String, String)],
    if_not_exists: bool,
    out: &mut String,
) -> Result<(), CliError> {
    let v = c.version::<CreateTopicsRequest>("CreateTopics", 7)?;
    // Before v4 a topic must name its partitions and replication factor.
    let default_partitions = if v >= 4 { -1 } else { 1 };
    let default_rf = if v >= 4 { -1 } else { 1 };
    let t = CreatableTopic::default()
        .with_name(topic_name(topic))
        .with_num_partitions(partitions.unwrap_or(default_partitions))
        .with_replication_factor(replication_factor.unwrap_or(default_rf))
        .with_configs(
            configs
                .iter()
                .map(|(k, val)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.clone()))
                        .with_value(Some(StrBytes::from_string(val.clone())))
                })
                .collect(),
        );
    let req = CreateTopicsRequest::default()
        .with_topics(vec![t])
        .with_timeout_ms(30_000);
    let resp = c.send(&req, v).await?;
    let r = resp
        .topics
        .iter()
        .find(|r| r.name.0.as_str() == topic)
        .ok_or_else(|| CliError::Msg(format!("CreateTopics: no result for topic {topic}")))?;
    match r.error_code {
        0 => {
            out.push_str(&format!("Created topic {topic}.\n"));
            Ok(())
        }
        36 if if_not_exists => {
            out.push_str(&format!("Topic {topic} already exists.\n"));
            Ok(())
        }
        code => Err(CliError::Msg(format!(
            "cannot create topic {topic}: {}",
            with_message(code, r.error_message.as_ref())
        ))),
    }
}

async fn topics_describe(
    c: &mut Client,
    topics: &[String],
    out: &mut String,
) -> Result<(), CliError> {
    let md = metadata(
        c,
        if topics.is_empty() {
            None
        } else {
            Some(topics)
        },
    )
    .await?;
    let mut sorted: Vec<_> = md.topics.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut missing = vec![];
    for t in sorted {
        let name = t.name.as_ref().map_or("", |n| n.0.as_str());
        if t.error_code != 0 {
            missing.push(format!("{name}: {}", error_name(t.error_code)));
            continue;
        }
        let rf = t.partitions.first().map_or(0, |p| p.replica_nodes.len());
        out.push_str(&format!(
            "Topic: {name}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {rf}\n",
            t.topic_id,
            t.partitions.len()
        ));
        let mut parts: Vec<_> = t.partitions.iter().collect();
        parts.sort_by_key(|p| p.partition_index);
        for p in parts {
            out.push_str(&format!(
                "\tTopic: {name}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\n",
                p.partition_index,
                p.leader_id.0,
                ids(&p.replica_nodes),
                ids(&p.isr_nodes)
            ));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CliError::Msg(format!(
            "cannot describe {}",
            missing.join(", ")
        )))
    }
}

fn ids(v: &[BrokerId]) -> String {
    v.iter()
        .map(|b| b.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

async fn topics_delete(
    c: &mut Client,
    topic: &str,
    if_exists: bool,
    out: &mut String,
) -> Result<(), CliError> {
    let v = c.version::<DeleteTopicsRequest>("DeleteTopics", 6)?;
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(30_000);
    if v >= 6 {
        req.topics = vec![DeleteTopicState::default().with_name(Some(topic_name(topic)))];
    } else {
        req.topic_names = vec![topic_name(topic)];
    }
    let resp = c.send(&req, v).await?;
    let r = resp
        .responses
        .first()
        .ok_or_else(|| CliError::Msg(format!("DeleteTopics: no result for topic {topic}")))?;
    match r.error_code {
        0 => {
            out.push_str(&format!("Deleted topic {topic}.\n"));
            Ok(())
        }
        3 if if_exists => {
            out.push_str(&format!("Topic {topic} does not exist.\n"));
            Ok(())
        }
        code => Err(CliError::Msg(format!(
            "cannot delete topic {topic}: {}",
            with_message(code, r.error_message.as_ref())
        ))),
    }
}

async fn groups_describe(
    c: &mut Client,
    conn: &Conn,
    group: &str,
    out: &mut String,
) -> Result<(), CliError> {
    // The group's coordinator.
    let v = c.version::<FindCoordinatorRequest>("FindCoordinator", 4)?;
    let mut req = FindCoordinatorRequest::default();
    if v >= 4 {
        req.coordinator_keys = vec![StrBytes::from_string(group.to_string())];
    } else {
        req.key = StrBytes::from_string(group.to_string());
    }
    let resp = c.send(&req, v).await?;
    let (code, msg, host, port) = if v >= 4 {
        let co = resp
            .coordinators
            .first()
            .ok_or_else(|| CliError::Msg("FindCoordinator: empty answer".into()))?;
        (
            co.error_code,
            co.error_message.clone(),
            co.host.clone(),
            co.port,
        )
    } else {
        (
            resp.error_code,
            resp.error_message.clone(),
            resp.host.clone(),
            resp.port,
        )
    };
    if code != 0 {
        return Err(CliError::Msg(format!(
            "no coordinator for group {group}: {}",
            with_message(code, msg.as_ref())
        )));
    }
    let coord_addr = format!("{}:{port}", host.as_str());
    let mut coord = if coord_addr == c.addr() {
        None
    } else {
        Some(Client::connect(&coord_addr, Duration::from_secs(conn.timeout.max(1))).await?)
    };
    let gc = coord.as_mut().unwrap_or(c);

    let v = gc.version::<DescribeGroupsRequest>("DescribeGroups", 5)?;
    let resp = gc
        .send(
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_string(group.to_string()))]),
            v,
        )
        .await?;
    let g = resp
        .groups
        .first()
        .ok_or_else(|| CliError::Msg("DescribeGroups: empty answer".into()))?;
    if g.error_code == 69 || (g.error_code == 0 && g.group_state.as_str() == "Dead") {
        return Err(CliError::Msg(format!(
            "consumer group {group} does not exist"
        )));
    }
    check(g.error_code, &format!("describe group {group}"))?;

    // Who owns which partition.
    let mut owner: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    for m in &g.members {
        let mut bytes = m.member_assignment.clone();
        if bytes.len() < 2 {
            continue;
        }
        let version = i16::from_be_bytes([bytes[0], bytes[1]]);
        let _ = bytes::Buf::get_i16(&mut bytes);
        if let Ok(a) = ConsumerProtocolAssignment::decode(&mut bytes, version.clamp(0, 3)) {
            for tp in a.assigned_partitions {
                for p in tp.partitions {
                    owner.insert(
                        (tp.topic.0.to_string(), p),
                        (
                            m.member_id.to_string(),
                            m.client_host.to_string(),
                            m.client_id.to_string(),
                        ),
                    );
                }
            }
        }
    }

    // Committed offsets (all partitions of the group).
    let v = gc.version::<OffsetFetchRequest>("OffsetFetch", 7)?;
    if v < 2 {
        return Err(CliError::Msg(
            "OffsetFetch for all of a group's partitions needs version 2 or later".into(),
        ));
    }
    let mut req = OffsetFetchRequest::default();
    req.group_id = GroupId(StrBytes::from_string(group.to_string()));
    req.topics = None;
    let resp = gc.send(&req, v).await?;
    check(resp.error_code, &format!("offsets of group {group}"))?;
    let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code == 0 && p.committed_offset >= 0 {
                committed.insert(
                    (t.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
    }

    // Log-end offsets of every partition mentioned.
    let mut by_topic: IndexMap<String, Vec<i32>> = IndexMap::new();
    for (t, p) in committed.keys().chain(owner.keys()) {
        let ps = by_topic.entry(t.clone()).or_default();
        if !ps.contains(p) {
            ps.push(*p);
        }
    }
    let mut end: BTreeMap<(String, i32), i64> = BTreeMap::new();
    if !by_topic.is_empty() {
        let v = c.version::<ListOffsetsRequest>("ListOffsets", 7)?;
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                by_topic
                    .iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(
                                ps.iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(*p)
                                            .with_timestamp(-1)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp = c.send(&req, v).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                if p.error_code == 0 {
                    end.insert((t.name.0.to_string(), p.partition_index), p.offset);
                }
            }
        }
    }

    out.push_str(&format!(
        "Group: {group}\tState: {}\tProtocol: {}\tMembers: {}\n\n",
        g.group_state.as_str(),
        g.protocol_data.as_str(),
        g.members.len()
    ));
    let mut rows = vec![[
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]
    .map(String::from)
    .to_vec()];
    let keys: std::collections::BTreeSet<_> = committed.keys().chain(owner.keys()).collect();
    for key in keys {
        let cur = committed.get(key);
        let leo = end.get(key);
        let lag = match (cur, leo) {
            (Some(c), Some(e)) => (e - c).max(0).to_string(),
            (None, Some(e)) => e.to_string(),
            _ => "-".into(),
        };
        let (member, host, client) = owner
            .get(key)
            .cloned()
            .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        rows.push(vec![
            key.0.clone(),
            key.1.to_string(),
            cur.map_or("-".into(), |c| c.to_string()),
            leo.map_or("-".into(), |e| e.to_string()),
            lag,
            member,
            host,
            client,
        ]);
    }
    // Members without partitions (an idle third notifier) are listed too.
    for m in &g.members {
        if !owner.values().any(|(id, _, _)| id == m.member_id.as_str()) {
            rows.push(vec![
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                m.member_id.to_string(),
                m.client_host.to_string(),
                m.client_id.to_string(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
    }

    #[test]
    fn admin_command_lines_are_recognised() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_admin_command(&args(&["gregor", "topics", "list"])));
        assert!(is_admin_command(&args(&["gregor", "groups"])));
        assert!(is_admin_command(&args(&["gregor", "health"])));
        assert!(!is_admin_command(&args(&["gregor"])));
        assert!(!is_admin_command(&args(&["gregor", "--listen", "topics"])));
        assert!(!is_admin_command(&args(&["gregor", "--print-config"])));
    }

    #[test]
    fn usage_is_checked() {
        assert!(AdminCli::try_parse_from(["gregor", "topics", "create"]).is_err());
        let ok = AdminCli::try_parse_from([
            "gregor",
            "topics",
            "create",
            "--bootstrap-server=kafka:29092",
            "--topic=loms.order-events",
            "--partitions=2",
            "--replication-factor=1",
            "--if-not-exists",
        ]);
        assert!(ok.is_ok(), "{ok:?}");
    }
}
