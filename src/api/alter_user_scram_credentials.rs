//! AlterUserScramCredentials (51): gregor has no SASL authentication, so it stores no SCRAM
//! credentials; every user is answered UNSUPPORTED_SASL_MECHANISM saying so (deleting one
//! finds nothing: RESOURCE_NOT_FOUND, as Kafka answers).

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Kafka: ALTER on the cluster, else every user fails.
    if !ctx.authorize_cluster(AclOperation::Alter) {
        let users = req.deletions.iter().map(|d| &d.name);
        let results = users
            .chain(req.upsertions.iter().map(|u| &u.name))
            .map(|user| {
                AlterUserScramCredentialsResult::default()
                    .with_user(user.clone())
                    .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "Cluster authorization failed.",
                    )))
            })
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(results);
    }
    let deletions = req.deletions.into_iter().map(|d| {
        (
            d.name,
            ResponseError::ResourceNotFound,
            "Attempt to delete a user credential that does not exist",
        )
    });
    let upsertions = req.upsertions.into_iter().map(|u| {
        (
            u.name,
            ResponseError::UnsupportedSaslMechanism,
            "gregor has no SASL authentication: SCRAM credentials cannot be stored",
        )
    });
    let results = deletions
        .chain(upsertions)
        .map(|(user, error, message)| {
            AlterUserScramCredentialsResult::default()
                .with_user(user)
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_static_str(message)))
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
