//! CreateTopics (19). The request is checked whole (Kafka's per-operation limit, the broker's
//! partition cap) and carried out on the blocking pool, so that creating many partitions
//! does not hold up other connections.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{catalog, RequestContext};
use crate::error::{BrokerError, Result};
use crate::meta::{config_view, Topic};
use crate::security::acl::AclOperation;
use crate::topics::NewTopic;

pub async fn handle(ctx: RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let names: Vec<TopicName> = req.topics.iter().map(|t| t.name.clone()).collect();
    let created = tokio::task::spawn_blocking(move || {
        catalog::then_tick(ctx.topics(), ctx.cluster(), || create_all(&ctx, req))
    })
    .await;
    let topics = match created {
        Ok(Ok(results)) => results,
        Ok(Err(refused)) => names
            .into_iter()
            .map(|name| failed(name, refused.code(), refused.to_string()))
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "CreateTopics failed");
            names
                .into_iter()
                .map(|name| {
                    failed(
                        name,
                        ResponseError::UnknownServerError.code(),
                        String::new(),
                    )
                })
                .collect()
        }
    };
    CreateTopicsResponse::default().with_topics(topics)
}

/// Every topic's result in request order (a duplicated name once, at the end, as Kafka
/// answers it), or the refusal of the whole request.
fn create_all(ctx: &RequestContext, req: CreateTopicsRequest) -> Result<Vec<CreatableTopicResult>> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(&**t.name).or_default() += 1;
    }
    let mut duplicates: Vec<TopicName> = Vec::new();
    // Per topic: what to create (its place in `new`), or why not.
    let mut plan: Vec<(TopicName, Result<usize>)> = Vec::new();
    let mut new = Vec::new();
    // Kafka: CREATE on the cluster, or else on each topic.
    let may_create_any = ctx.authorize_cluster(AclOperation::Create);
    for t in &req.topics {
        if seen.get(&**t.name).copied().unwrap_or(0) > 1 {
            if !duplicates.contains(&t.name) {
                duplicates.push(t.name.clone());
            }
            continue;
        }
        if !may_create_any && !ctx.authorize_topic(AclOperation::Create, &t.name) {
            let denied = BrokerError::NotAuthorized(ResponseError::TopicAuthorizationFailed);
            plan.push((t.name.clone(), Err(denied)));
            continue;
        }
        let planned = new_topic(ctx, t).map(|n| {
            new.push(n);
            new.len() - 1
        });
        plan.push((t.name.clone(), planned));
    }
    let counts: Vec<i32> = new.iter().map(|n| n.partitions).collect();
    let mut created: Vec<Option<Result<Arc<Topic>>>> = ctx
        .topics()
        .create_topics(new, req.validate_only)?
        .into_iter()
        .map(Some)
        .collect();
    let mut results: Vec<CreatableTopicResult> = plan
        .into_iter()
        .map(|(name, planned)| {
            let outcome = planned.and_then(|i| {
                let partitions = counts.get(i).copied().unwrap_or(-1);
                created
                    .get_mut(i)
                    .and_then(Option::take)
                    .unwrap_or(Err(BrokerError::UnknownTopicOrPartition))
                    .map(|topic| (topic, partitions))
            });
            match outcome {
                Ok((topic, partitions)) => succeeded(ctx, name, &topic, partitions),
                // Kafka's message here (ControllerApis.createTopics).
                Err(e @ BrokerError::NotAuthorized(_)) => {
                    failed(name, e.code(), "Authorization failed.".into())
                }
                Err(e) => failed(name, e.code(), e.to_string()),
            }
        })
        .collect();
    results.extend(duplicates.into_iter().map(|name| {
        failed(
            name,
            ResponseError::InvalidRequest.code(),
            "Duplicate topic name.".into(),
        )
    }));
    Ok(results)
}

fn succeeded(
    ctx: &RequestContext,
    name: TopicName,
    topic: &Topic,
    partitions: i32,
) -> CreatableTopicResult {
    // Kafka leaves the configs, partitions and replication factor out without
    // DESCRIBE_CONFIGS on the topic.
    if !ctx.authorize_topic(AclOperation::DescribeConfigs, &name) {
        return CreatableTopicResult::default()
            .with_name(name)
            .with_error_message(None)
            .with_topic_id(topic.id)
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_topic_config_error_code(ResponseError::TopicAuthorizationFailed.code());
    }
    CreatableTopicResult::default()
        .with_name(name)
        .with_error_message(None)
        .with_topic_id(topic.id)
        .with_num_partitions(partitions)
        .with_replication_factor(topic.replication_factor)
        .with_configs(Some(
            config_view::describe_topic(
                &topic.config(),
                ctx.config(),
                &ctx.topics().broker_configs(),
            )
            .into_iter()
            .map(|c| {
                CreatableTopicConfigs::default()
                    .with_name(StrBytes::from_string(c.name))
                    .with_value(c.value.map(StrBytes::from_string))
                    .with_read_only(c.read_only)
                    .with_config_source(c.source)
            })
            .collect(),
        ))
}

fn failed(name: TopicName, code: i16, message: String) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(name)
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}

/// The topic a request entry asks for, after the checks that need no broker state.
fn new_topic(ctx: &RequestContext, t: &CreatableTopic) -> Result<NewTopic> {
    let rf = if t.assignments.is_empty() {
        t.replication_factor
    } else {
        t.assignments
            .first()
            .map(|a| a.broker_ids.len() as i16)
            .unwrap_or(1)
    };
    let brokers = ctx.cluster().brokers().len();
    if rf != -1 && (rf < 1 || rf as usize > brokers) {
        return Err(BrokerError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {brokers} broker(s) are registered."
        )));
    }
    let partitions = match (t.assignments.len(), t.num_partitions) {
        (0, -1) => ctx.config().num_partitions,
        (0, n) => n,
        (n, _) => i32::try_from(n).unwrap_or(i32::MAX),
    };
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        if let Some(v) = &c.value {
            configs.insert(c.name.to_string(), v.to_string());
        }
    }
    Ok(NewTopic {
        name: t.name.to_string(),
        partitions,
        replication_factor: if rf == -1 { 1 } else { rf },
        configs,
    })
}
