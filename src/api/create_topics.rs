//! CreateTopics (19).

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::{BrokerError, Result};
use crate::meta::{config_view, TopicConfig};

pub async fn handle(ctx: RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            match create(&ctx.broker, &t, req.validate_only) {
                Ok((id, partitions, configs)) => result
                    .with_topic_id(id)
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)
                    .with_configs(Some(
                        config_view::describe_topic(&configs, &ctx.broker.config)
                            .into_iter()
                            .map(|c| {
                                CreatableTopicConfigs::default()
                                    .with_name(StrBytes::from_string(c.name))
                                    .with_value(c.value.map(StrBytes::from_string))
                                    .with_read_only(c.read_only)
                                    .with_config_source(c.source)
                            })
                            .collect(),
                    )),
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string())))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

type Created = (uuid::Uuid, i32, TopicConfig);

fn create(broker: &Broker, t: &CreatableTopic, validate_only: bool) -> Result<Created> {
    let rf = if t.assignments.is_empty() {
        t.replication_factor
    } else {
        t.assignments
            .first()
            .map(|a| a.broker_ids.len() as i16)
            .unwrap_or(1)
    };
    if rf != -1 && rf != 1 {
        return Err(BrokerError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."
        )));
    }
    let partitions = match (t.assignments.len(), t.num_partitions) {
        (0, -1) => broker.config.num_partitions,
        (0, n) => n,
        (n, _) => n as i32,
    };
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        if let Some(v) = &c.value {
            configs.insert(c.name.to_string(), v.to_string());
        }
    }
    let topic = broker.create_topic(&t.name, partitions, configs, validate_only)?;
    Ok((
        if validate_only {
            uuid::Uuid::nil()
        } else {
            topic.id
        },
        partitions,
        topic.config(),
    ))
}
