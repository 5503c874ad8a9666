//! CreatePartitions (37): grow topics, checked whole and carried out on the blocking pool.

use std::collections::HashMap;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{catalog, RequestContext};
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut seen: HashMap<TopicName, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.clone()).or_default() += 1;
    }
    // Kafka answers a name given twice INVALID_REQUEST, once, and leaves it out.
    let mut duplicates: Vec<TopicName> = Vec::new();
    let mut growths: Vec<(TopicName, i32)> = Vec::new();
    // Kafka: ALTER on the topic.
    let mut denied: Vec<TopicName> = Vec::new();
    for t in req.topics {
        if seen.get(&t.name).copied().unwrap_or(0) > 1 {
            if !duplicates.contains(&t.name) {
                duplicates.push(t.name);
            }
        } else if !ctx.authorize_topic(AclOperation::Alter, &t.name) {
            denied.push(t.name);
        } else {
            growths.push((t.name, t.count));
        }
    }
    let asked: Vec<(String, i32)> = growths.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    let (topics, view) = (ctx.topics().clone(), ctx.cluster_shared().clone());
    let validate_only = req.validate_only;
    let grown = tokio::task::spawn_blocking(move || {
        catalog::then_tick(&topics, view.as_ref(), || {
            topics.create_partitions(&asked, validate_only)
        })
    })
    .await;
    let mut results: Vec<CreatePartitionsTopicResult> = match grown {
        Ok(Ok(outcomes)) => growths
            .into_iter()
            .zip(outcomes)
            .map(|((name, _), outcome)| match outcome {
                Ok(()) => CreatePartitionsTopicResult::default().with_name(name),
                Err(e) => result(name, e.code(), e.to_string()),
            })
            .collect(),
        Ok(Err(refused)) => growths
            .into_iter()
            .map(|(name, _)| result(name, refused.code(), refused.to_string()))
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "CreatePartitions failed");
            growths
                .into_iter()
                .map(|(name, _)| {
                    result(
                        name,
                        ResponseError::UnknownServerError.code(),
                        String::new(),
                    )
                })
                .collect()
        }
    };
    results.extend(denied.into_iter().map(|name| {
        CreatePartitionsTopicResult::default()
            .with_name(name)
            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
    }));
    results.extend(duplicates.into_iter().map(|name| {
        result(
            name,
            ResponseError::InvalidRequest.code(),
            "Duplicate topic name.".into(),
        )
    }));
    CreatePartitionsResponse::default().with_results(results)
}

fn result(name: TopicName, code: i16, message: String) -> CreatePartitionsTopicResult {
    CreatePartitionsTopicResult::default()
        .with_name(name)
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
}
