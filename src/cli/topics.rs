//! `gregor topics create|list|describe|delete`: the requests each sends (Metadata,
//! CreateTopics, DeleteTopics) and the kafka-topics-like output.

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{error_name, with_message, CliError, Client};

pub(super) async fn metadata(
    c: &mut Client,
    topics: Option<&[String]>,
) -> Result<MetadataResponse, CliError> {
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

pub(super) fn topic_name(n: &str) -> TopicName {
    TopicName(StrBytes::from_string(n.to_string()))
}

pub(super) async fn topics_create(
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

pub(super) async fn topics_describe(
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

pub(super) async fn topics_delete(
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
