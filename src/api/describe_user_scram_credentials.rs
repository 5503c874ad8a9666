//! DescribeUserScramCredentials (50): each user's SCRAM mechanisms and iterations (never
//! salts or keys), as Kafka's `ScramImage.describe`: no users named → every user with a
//! credential; a named user without any → RESOURCE_NOT_FOUND; a user named twice →
//! DUPLICATE_RESOURCE.

use std::collections::HashMap;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // Kafka: DESCRIBE on the cluster.
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    let named: Option<Vec<String>> = req.users.filter(|u| !u.is_empty()).map(|users| {
        users
            .into_iter()
            .map(|u| u.name.as_str().to_string())
            .collect()
    });
    // Each user once, in first-seen order, with whether it was named again (found by hashing:
    // a request may name as many users as its size allows).
    let mut unique: Vec<(String, bool)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    if let Some(names) = &named {
        for name in names {
            match index.get(name.as_str()) {
                Some(&i) => unique[i].1 = true,
                None => {
                    index.insert(name, unique.len());
                    unique.push((name.clone(), false));
                }
            }
        }
    }
    let lookup: Vec<String> = unique.iter().map(|(n, _)| n.clone()).collect();
    let described = ctx
        .credentials()
        .describe(named.as_ref().map(|_| lookup.as_slice()));
    let results = described
        .into_iter()
        .enumerate()
        .map(|(i, (user, infos))| {
            let result = DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from(user.clone()));
            if unique.get(i).is_some_and(|(_, twice)| *twice) {
                return result
                    .with_error_code(ResponseError::DuplicateResource.code())
                    .with_error_message(Some(StrBytes::from(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    ))));
            }
            if infos.is_empty() {
                return result
                    .with_error_code(ResponseError::ResourceNotFound.code())
                    .with_error_message(Some(StrBytes::from(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    ))));
            }
            result.with_credential_infos(
                infos
                    .into_iter()
                    .map(|(m, iterations)| {
                        CredentialInfo::default()
                            .with_mechanism(m.kafka_type())
                            .with_iterations(iterations as i32)
                    })
                    .collect(),
            )
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
