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

pub async fn handle(
    _ctx: RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
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
