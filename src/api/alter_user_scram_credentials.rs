//! AlterUserScramCredentials (51): add, change or delete users' SCRAM credentials, as
//! `kafka-configs --alter --add-config 'SCRAM-SHA-512=[password=...]' --entity-type users`
//! sends them (the client salts and hashes; the request carries the salted password, the
//! store keeps the stored and server keys). Validation and answers follow Kafka's
//! `ScramControlManager.alterCredentials`: one change per user per request
//! (DUPLICATE_RESOURCE), an empty name or too few/many iterations UNACCEPTABLE_CREDENTIAL,
//! an unknown mechanism UNSUPPORTED_SASL_MECHANISM, deleting what is not there
//! RESOURCE_NOT_FOUND. Results: deletions, then upsertions, then errors.

use std::collections::{HashMap, HashSet};

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::acl::AclOperation;
use crate::security::credentials::ScramChange;
use crate::security::scram::{ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

type Failure = (ResponseError, &'static str);

/// A user and the change to its SCRAM credentials.
type Change = (String, ScramChange);

const TWICE: Failure = (
    ResponseError::DuplicateResource,
    "A user credential cannot be altered twice in the same request",
);

/// The changes a request asks for, one per user: a user named twice (a deletion and an
/// upsertion included) fails with DUPLICATE_RESOURCE and none of its changes is made.
#[derive(Default)]
struct Plan {
    /// In request order; None where a user turned out to be named twice.
    changes: Vec<Option<Change>>,
    /// User → its change's index in `changes`.
    pending: HashMap<String, usize>,
    errors: Vec<(String, Failure)>,
    failed: HashSet<String>,
}

impl Plan {
    /// Whether `name` has not been seen yet; a second sighting fails its earlier change.
    fn first_time(&mut self, name: &str) -> bool {
        if self.failed.contains(name) {
            return false;
        }
        if let Some(i) = self.pending.remove(name) {
            self.changes[i] = None;
            self.fail(name.to_string(), TWICE);
            return false;
        }
        true
    }

    fn change(&mut self, name: String, change: ScramChange) {
        self.pending.insert(name.clone(), self.changes.len());
        self.changes.push(Some((name, change)));
    }

    fn fail(&mut self, name: String, failure: Failure) {
        self.failed.insert(name.clone());
        self.errors.push((name, failure));
    }

    fn finish(self) -> (Vec<Change>, Vec<(String, Failure)>) {
        (self.changes.into_iter().flatten().collect(), self.errors)
    }
}

fn check_name_and_mechanism(name: &str, mechanism: i8) -> Result<ScramMechanism, Failure> {
    if name.is_empty() {
        return Err((
            ResponseError::UnacceptableCredential,
            "Username must not be empty",
        ));
    }
    ScramMechanism::from_kafka_type(mechanism).ok_or((
        ResponseError::UnsupportedSaslMechanism,
        "Unknown SCRAM mechanism",
    ))
}

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
    let credentials = ctx.credentials().clone();
    // Users are looked up by hashing, not by scanning: a request may name as many users as
    // its size allows.
    let mut plan = Plan::default();
    for d in req.deletions {
        let name = d.name.as_str().to_string();
        if !plan.first_time(&name) {
            continue;
        }
        match check_name_and_mechanism(&name, d.mechanism) {
            Ok(m) if credentials.has_scram(&name, m) => plan.change(name, ScramChange::Delete(m)),
            Ok(_) => plan.fail(
                name,
                (
                    ResponseError::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist",
                ),
            ),
            Err(e) => plan.fail(name, e),
        }
    }
    for u in req.upsertions {
        let name = u.name.as_str().to_string();
        if !plan.first_time(&name) {
            continue;
        }
        let checked = check_name_and_mechanism(&name, u.mechanism).and_then(|m| {
            let iterations = u32::try_from(u.iterations).unwrap_or(0);
            if iterations < MIN_ITERATIONS {
                Err((ResponseError::UnacceptableCredential, "Too few iterations"))
            } else if iterations > MAX_ITERATIONS {
                Err((ResponseError::UnacceptableCredential, "Too many iterations"))
            } else {
                Ok((m, iterations))
            }
        });
        match checked {
            Ok((mechanism, iterations)) => plan.change(
                name,
                ScramChange::Upsert {
                    mechanism,
                    salt: u.salt.to_vec(),
                    salted_password: u.salted_password.to_vec(),
                    iterations,
                },
            ),
            Err(e) => plan.fail(name, e),
        }
    }
    let (mut changes, errors) = plan.finish();
    // Deletions first, as Kafka lists them.
    changes.sort_by_key(|(_, c)| !matches!(c, ScramChange::Delete(_)));
    let names: Vec<String> = changes.iter().map(|(n, _)| n.clone()).collect();
    let applied = tokio::task::spawn_blocking(move || {
        changes
            .into_iter()
            .map(|(name, change)| {
                credentials
                    .alter_scram(&name, change)
                    .map_err(|e| e.to_string())
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_else(|e| vec![Err(e.to_string()); names.len()]);
    let mut results: Vec<AlterUserScramCredentialsResult> = names
        .into_iter()
        .zip(applied)
        .map(|(name, outcome)| {
            let result = AlterUserScramCredentialsResult::default().with_user(StrBytes::from(name));
            match outcome {
                Ok(()) => result,
                Err(e) => {
                    tracing::warn!(error = %e, "storing SCRAM credentials failed");
                    result
                        .with_error_code(ResponseError::UnknownServerError.code())
                        .with_error_message(Some(StrBytes::from(e)))
                }
            }
        })
        .collect();
    results.extend(errors.into_iter().map(|(name, (error, message))| {
        AlterUserScramCredentialsResult::default()
            .with_user(StrBytes::from(name))
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_static_str(message)))
    }));
    AlterUserScramCredentialsResponse::default().with_results(results)
}
