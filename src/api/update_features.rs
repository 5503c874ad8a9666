//! UpdateFeatures (57): changes the cluster's finalized feature levels (`kafka-features
//! upgrade/downgrade/disable`), as a Kafka 4.4 broker answers it by forwarding it to its
//! controller (`ControllerApis.handleUpdateFeatures`, `QuorumController.updateFeatures`):
//!
//! - ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED for the whole request.
//! - Every update is checked (`crate::features`); the first that fails (in Kafka's order)
//!   fails them all: INVALID_UPDATE_VERSION, "The update failed for all features since the
//!   following feature had an error: " and its reason. Else all are applied at once, at a new
//!   epoch, unless ValidateOnly (v1+) or nothing changes.
//! - v0/v1 also list each feature with the top-level outcome when it succeeded (Kafka lists
//!   none with an error); v2 lists none.
//! - v0's AllowDowngrade is not read (Kafka 4.4's controller reads UpgradeType, which v0 does
//!   not carry: upgrade), so a v0 downgrade is refused, as there.

use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::features::{Update, UpdateError};
use crate::security::acl::AclOperation;

/// The last version whose response lists each feature.
const LISTS_RESULTS: i16 = 1;

pub async fn handle(ctx: RequestContext, req: UpdateFeaturesRequest) -> UpdateFeaturesResponse {
    if !ctx.authorize_cluster(AclOperation::Alter) {
        return UpdateFeaturesResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    let updates: Vec<Update> = req
        .feature_updates
        .iter()
        .map(|u| (u.feature.to_string(), u.max_version_level, u.upgrade_type))
        .collect();
    let features = ctx.features().clone();
    let validate_only = req.validate_only;
    let outcome =
        tokio::task::spawn_blocking(move || features.update(&updates, validate_only)).await;
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(UpdateError::Invalid(why))) => Some((
            ResponseError::InvalidUpdateVersion,
            format!("The update failed for all features since the following feature had an error: {why}"),
        )),
        Ok(Err(UpdateError::Store(why))) => {
            tracing::warn!(error = %why, "UpdateFeatures could not store the levels");
            Some((ResponseError::UnknownServerError, why))
        }
        Err(e) => Some((ResponseError::UnknownServerError, e.to_string())),
    };
    match failure {
        Some((error, message)) => UpdateFeaturesResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(message))),
        None => {
            let results = if ctx.version() <= LISTS_RESULTS {
                req.feature_updates
                    .iter()
                    .map(|u| {
                        UpdatableFeatureResult::default()
                            .with_feature(u.feature.clone())
                            .with_error_message(None)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            // Kafka: ApiError.NONE's message, null (the codec's default is "").
            UpdateFeaturesResponse::default()
                .with_error_message(None)
                .with_results(results)
        }
    }
}
