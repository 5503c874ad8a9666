//! REST Proxy v3 consumer groups: list, describe, lag per partition and its summary, from
//! ListGroups, DescribeGroups, OffsetFetch and ListOffsets through the broker's handlers. Lag
//! is the partition's end offset (ListOffsets latest, as the high watermark) minus the
//! group's committed offset, for every partition the group has committed.

use std::collections::HashMap;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Buf;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    BrokerId, ConsumerProtocolAssignment, DescribeGroupsRequest, GroupId, ListGroupsRequest,
    ListOffsetsRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use serde_json::{json, Value};

use super::admin_v3::{cluster_links, json_response, Links};
use super::auth::Caller;
use super::error::{HttpError, HttpResult};
use super::Gw;
use super::Peer;

fn answer(result: HttpResult<Value>) -> Response {
    match result {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => e.into_response(),
    }
}

/// Kafka's group state ("PreparingRebalance") as Confluent's enum ("PREPARING_REBALANCE").
fn state_name(state: &str) -> String {
    let mut out = String::new();
    for (i, c) in state.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    if out.is_empty() {
        "UNKNOWN".into()
    } else {
        out
    }
}

async fn describe(gw: &Gw, peer: Peer, group: &str) -> HttpResult<DescribedGroup> {
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(StrBytes::from_string(group.to_string()))]);
    let mut response = gw.call(Some(peer.0), 5, &request).await?;
    let Some(described) = response.groups.pop() else {
        return Err(HttpError::internal("DescribeGroups answered no group"));
    };
    if described.error_code != 0 {
        let message = described.error_message.as_ref().map(|m| m.to_string());
        return Err(HttpError::kafka(described.error_code, message.as_deref()));
    }
    if described.group_state.as_str() == "Dead" {
        return Err(HttpError::plain(
            StatusCode::NOT_FOUND,
            format!("Consumer group {group} not found."),
        ));
    }
    Ok(described)
}

fn group_data(gw: &Gw, links: &Links, g: &DescribedGroup) -> Value {
    let id = g.group_id.0.as_str();
    let path = format!("/consumer-groups/{id}");
    let coordinator = gw
        .services
        .cluster
        .coordinator(id)
        .unwrap_or(gw.services.cluster.this_node());
    json!({
        "kind": "KafkaConsumerGroup",
        "metadata": links.metadata(&path, &format!("/consumer-group={id}")),
        "cluster_id": links.cluster_id,
        "consumer_group_id": id,
        "is_simple": g.protocol_type.is_empty(),
        "partition_assignor": g.protocol_data.as_str(),
        "state": state_name(&g.group_state),
        "type": "CLASSIC",
        "is_mixed_consumer_group": false,
        "coordinator": links.related(&format!("/brokers/{coordinator}")),
        "consumers": links.related(&format!("{path}/consumers")),
        "lag_summary": links.related(&format!("{path}/lag-summary")),
    })
}

pub async fn groups(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
) -> Response {
    answer(
        async {
            let links = cluster_links(&gw, &headers, &cluster_id)?;
            let listed = gw
                .call(Some(peer.0), 4, &ListGroupsRequest::default())
                .await?;
            if listed.error_code != 0 {
                return Err(HttpError::kafka(listed.error_code, None));
            }
            let mut ids: Vec<GroupId> = listed.groups.into_iter().map(|g| g.group_id).collect();
            ids.sort();
            let described = gw
                .call(
                    Some(peer.0),
                    5,
                    &DescribeGroupsRequest::default().with_groups(ids),
                )
                .await?;
            let data = described
                .groups
                .iter()
                .filter(|g| g.error_code == 0)
                .map(|g| group_data(&gw, &links, g))
                .collect();
            Ok(links.list("KafkaConsumerGroupList", "/consumer-groups", data))
        }
        .await,
    )
}

pub async fn group(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((cluster_id, group)): Path<(String, String)>,
) -> Response {
    answer(
        async {
            let links = cluster_links(&gw, &headers, &cluster_id)?;
            Ok(group_data(&gw, &links, &describe(&gw, peer, &group).await?))
        }
        .await,
    )
}

/// One partition's lag, with the member it is assigned to ("" when none).
struct Lag {
    topic: String,
    partition: i32,
    current: i64,
    end: i64,
    consumer_id: String,
    instance_id: Option<String>,
    client_id: String,
}

impl Lag {
    fn lag(&self) -> i64 {
        (self.end - self.current).max(0)
    }
}

/// The group's lag on every partition it has committed an offset for.
async fn lags_of(gw: &Gw, peer: Peer, group: &str) -> HttpResult<Vec<Lag>> {
    let described = describe(gw, peer, group).await?;
    // (topic, partition) → (member id, instance id, client id), from the members' assignments.
    let mut owners: HashMap<(String, i32), (String, Option<String>, String)> = HashMap::new();
    for m in &described.members {
        let mut bytes = m.member_assignment.clone();
        if bytes.len() < 2 {
            continue;
        }
        let version = bytes.get_i16();
        let Ok(assignment) = ConsumerProtocolAssignment::decode(&mut bytes, version.clamp(0, 3))
        else {
            continue;
        };
        for tp in assignment.assigned_partitions {
            for p in tp.partitions {
                owners.insert(
                    (tp.topic.0.to_string(), p),
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.as_ref().map(|i| i.to_string()),
                        m.client_id.to_string(),
                    ),
                );
            }
        }
    }
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_topics(None)]);
    let fetched = gw.call(Some(peer.0), 8, &request).await?;
    let Some(g) = fetched.groups.first() else {
        return Err(HttpError::internal("OffsetFetch answered no group"));
    };
    if g.error_code != 0 {
        return Err(HttpError::kafka(g.error_code, None));
    }
    let mut committed: Vec<(String, i32, i64)> = Vec::new();
    for t in &g.topics {
        for p in t.partitions.iter().filter(|p| p.committed_offset >= 0) {
            committed.push((t.name.0.to_string(), p.partition_index, p.committed_offset));
        }
    }
    committed.sort();
    let mut by_topic: Vec<ListOffsetsTopic> = Vec::new();
    for (topic, partition, _) in &committed {
        if by_topic.last().is_none_or(|t| t.name.0.as_str() != topic) {
            by_topic.push(
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone()))),
            );
        }
        if let Some(t) = by_topic.last_mut() {
            t.partitions.push(
                ListOffsetsPartition::default()
                    .with_partition_index(*partition)
                    .with_timestamp(-1),
            );
        }
    }
    let mut ends: HashMap<(String, i32), i64> = HashMap::new();
    if !by_topic.is_empty() {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(by_topic);
        let listed = gw.call(Some(peer.0), 7, &request).await?;
        for t in &listed.topics {
            for p in t.partitions.iter().filter(|p| p.error_code == 0) {
                ends.insert((t.name.0.to_string(), p.partition_index), p.offset);
            }
        }
    }
    Ok(committed
        .into_iter()
        .filter_map(|(topic, partition, current)| {
            let end = *ends.get(&(topic.clone(), partition))?;
            let (consumer_id, instance_id, client_id) = owners
                .get(&(topic.clone(), partition))
                .cloned()
                .unwrap_or_default();
            Some(Lag {
                topic,
                partition,
                current,
                end,
                consumer_id,
                instance_id,
                client_id,
            })
        })
        .collect())
}

pub async fn lags(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((cluster_id, group)): Path<(String, String)>,
) -> Response {
    answer(
        async {
            let links = cluster_links(&gw, &headers, &cluster_id)?;
            let lags = lags_of(&gw, peer, &group).await?;
            let data = lags
                .iter()
                .map(|l| {
                    let path = format!(
                        "/consumer-groups/{group}/lags/{}/partitions/{}",
                        l.topic, l.partition
                    );
                    let crn = format!(
                        "/consumer-group={group}/lag={}/partition={}",
                        l.topic, l.partition
                    );
                    json!({
                        "kind": "KafkaConsumerLag",
                        "metadata": links.metadata(&path, &crn),
                        "cluster_id": links.cluster_id,
                        "consumer_group_id": group,
                        "topic_name": l.topic,
                        "partition_id": l.partition,
                        "current_offset": l.current,
                        "log_end_offset": l.end,
                        "lag": l.lag(),
                        "consumer_id": l.consumer_id,
                        "instance_id": l.instance_id,
                        "client_id": l.client_id,
                    })
                })
                .collect();
            Ok(links.list(
                "KafkaConsumerLagList",
                &format!("/consumer-groups/{group}/lags"),
                data,
            ))
        }
        .await,
    )
}

pub async fn lag_summary(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((cluster_id, group)): Path<(String, String)>,
) -> Response {
    answer(
        async {
            let links = cluster_links(&gw, &headers, &cluster_id)?;
            let lags = lags_of(&gw, peer, &group).await?;
            let total: i64 = lags.iter().map(Lag::lag).sum();
            let max = lags.iter().max_by_key(|l| l.lag());
            let path = format!("/consumer-groups/{group}/lag-summary");
            let (consumer, instance, client, topic, partition, max_lag) = match max {
                Some(l) => (
                    l.consumer_id.clone(),
                    l.instance_id.clone(),
                    l.client_id.clone(),
                    l.topic.clone(),
                    l.partition,
                    l.lag(),
                ),
                None => (String::new(), None, String::new(), String::new(), 0, 0),
            };
            Ok(json!({
                "kind": "KafkaConsumerGroupLagSummary",
                "metadata": links.metadata(&path, &format!("/consumer-group={group}/lag-summary")),
                "cluster_id": links.cluster_id,
                "consumer_group_id": group,
                "max_lag_consumer_id": consumer,
                "max_lag_instance_id": instance,
                "max_lag_client_id": client,
                "max_lag_topic_name": topic,
                "max_lag_partition_id": partition,
                "max_lag": max_lag,
                "total_lag": total,
                "max_lag_consumer": links.related(&format!("/consumer-groups/{group}/consumers/{consumer}")),
                "max_lag_partition": links.related(&format!("/topics/{topic}/partitions/{partition}")),
            }))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_names() {
        assert_eq!(
            super::state_name("PreparingRebalance"),
            "PREPARING_REBALANCE"
        );
        assert_eq!(super::state_name("Stable"), "STABLE");
        assert_eq!(super::state_name(""), "UNKNOWN");
    }
}
