//! ListConfigResources (74; v0 was ListClientMetricsResources): the resources that have
//! configs, for `kafka-configs --describe --entity-type …` without a name and the
//! AdminClient's `listConfigResources`. As Kafka 4.4's `KafkaApis.handleListConfigResources`:
//!
//! - v0 knows only client-metrics resources (type 16); v1 topics (2), brokers (4), broker
//!   loggers (8), client metrics (16) and groups (32). No types asked for means every type
//!   the version knows; a type it does not know is UNSUPPORTED_VERSION, with nothing listed.
//! - Listed, in Kafka's order: the groups that have group configs, the client-metrics
//!   resources that have configs (KIP-714 subscriptions, src/telemetry), every broker on the
//!   listener asked as a broker logger, then as a broker (by node id), every topic.
//! - Without DESCRIBE_CONFIGS on the cluster: CLUSTER_AUTHORIZATION_FAILED.

use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::config_resource::{BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP, TOPIC};
use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: ListConfigResourcesRequest,
) -> ListConfigResourcesResponse {
    if !ctx.authorize_cluster(AclOperation::DescribeConfigs) {
        return ListConfigResourcesResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let supported: &[i8] = if ctx.version() == 0 {
        &[CLIENT_METRICS]
    } else {
        &[TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP]
    };
    let wanted: Vec<i8> = if req.resource_types.is_empty() {
        supported.to_vec()
    } else {
        req.resource_types.clone()
    };
    if wanted.iter().any(|t| !supported.contains(t)) {
        return ListConfigResourcesResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code());
    }
    let resource = |kind: i8, name: String| {
        ConfigResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_string(name))
    };
    let mut listed = Vec::new();
    if wanted.contains(&GROUP) {
        let groups = ctx.groups().group_configs().groups();
        listed.extend(groups.into_iter().map(|g| resource(GROUP, g)));
    }
    if wanted.contains(&CLIENT_METRICS) {
        let names = ctx.telemetry().subscriptions().names();
        listed.extend(names.into_iter().map(|n| resource(CLIENT_METRICS, n)));
    }
    for kind in [BROKER_LOGGER, BROKER] {
        if wanted.contains(&kind) {
            let brokers = ctx.broker_endpoints();
            listed.extend(
                brokers
                    .into_iter()
                    .map(|(n, _, _)| resource(kind, n.to_string())),
            );
        }
    }
    if wanted.contains(&TOPIC) {
        let topics = ctx.topics().all();
        listed.extend(topics.iter().map(|t| resource(TOPIC, t.name.clone())));
    }
    ListConfigResourcesResponse::default().with_config_resources(listed)
}
