//! `gregor users add|delete|list`: SCRAM credentials over the wire, as `kafka-configs
//! --entity-type users` manages them — AlterUserScramCredentials with the salt and salted
//! password computed here (the password never leaves the client), and
//! DescribeUserScramCredentials. One request per mechanism: Kafka refuses a request that
//! alters one user twice (DUPLICATE_RESOURCE).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::{with_message, CliError, Client};
use crate::security::credentials::random_bytes;
use crate::security::scram::{ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

/// Kafka's RESOURCE_NOT_FOUND: deleting a credential the user does not have.
const RESOURCE_NOT_FOUND: i16 = 91;

/// `--mechanism`: one SCRAM mechanism or both.
pub fn parse_mechanisms(s: &str) -> Result<Vec<ScramMechanism>, String> {
    match s {
        "both" => Ok(ScramMechanism::ALL.to_vec()),
        m => ScramMechanism::from_name(m)
            .map(|m| vec![m])
            .ok_or_else(|| format!("{m:?}: want SCRAM-SHA-256, SCRAM-SHA-512 or both")),
    }
}

/// The upsertion `kafka-configs --add-config 'SCRAM-SHA-512=[password=...]'` sends: a fresh
/// random salt and Hi(password, salt, iterations).
pub fn upsertion(
    user: &str,
    password: &str,
    mechanism: ScramMechanism,
    iterations: u32,
) -> ScramCredentialUpsertion {
    let salt = URL_SAFE_NO_PAD.encode(random_bytes(24)).into_bytes();
    let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.to_string()))
        .with_mechanism(mechanism.kafka_type())
        .with_iterations(iterations as i32)
        .with_salt(Bytes::from(salt))
        .with_salted_password(Bytes::from(salted))
}

async fn alter(
    c: &mut Client,
    req: AlterUserScramCredentialsRequest,
    user: &str,
) -> Result<(i16, Option<StrBytes>), CliError> {
    let v = c.version::<AlterUserScramCredentialsRequest>("AlterUserScramCredentials", 0)?;
    let resp: AlterUserScramCredentialsResponse = c.send(&req, v).await?;
    let r = resp
        .results
        .into_iter()
        .find(|r| r.user.as_str() == user)
        .ok_or_else(|| {
            CliError::Msg(format!(
                "AlterUserScramCredentials: no result for user {user}"
            ))
        })?;
    Ok((r.error_code, r.error_message))
}

pub(super) async fn users_add(
    c: &mut Client,
    user: &str,
    password: &str,
    mechanisms: &[ScramMechanism],
    iterations: u32,
    out: &mut String,
) -> Result<(), CliError> {
    if user.is_empty() || password.is_empty() {
        return Err(CliError::Msg("a user needs a name and a password".into()));
    }
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(CliError::Msg(format!(
            "--iterations {iterations}: want {MIN_ITERATIONS} to {MAX_ITERATIONS}"
        )));
    }
    for &m in mechanisms {
        let req = AlterUserScramCredentialsRequest::default()
            .with_upsertions(vec![upsertion(user, password, m, iterations)]);
        match alter(c, req, user).await? {
            (0, _) => out.push_str(&format!(
                "Set {} credential of user {user} ({iterations} iterations).\n",
                m.name()
            )),
            (code, msg) => {
                return Err(CliError::Msg(format!(
                    "cannot set {} credential of user {user}: {}",
                    m.name(),
                    with_message(code, msg.as_ref())
                )))
            }
        }
    }
    Ok(())
}

/// Deletes the user's credentials of `mechanisms`. With `all` (no --mechanism given) a
/// mechanism the user has no credential of is skipped, but one of them must be there.
pub(super) async fn users_delete(
    c: &mut Client,
    user: &str,
    mechanisms: &[ScramMechanism],
    all: bool,
    out: &mut String,
) -> Result<(), CliError> {
    let mut deleted = 0;
    for &m in mechanisms {
        let req = AlterUserScramCredentialsRequest::default().with_deletions(vec![
            ScramCredentialDeletion::default()
                .with_name(StrBytes::from_string(user.to_string()))
                .with_mechanism(m.kafka_type()),
        ]);
        match alter(c, req, user).await? {
            (0, _) => {
                deleted += 1;
                out.push_str(&format!(
                    "Deleted {} credential of user {user}.\n",
                    m.name()
                ));
            }
            (RESOURCE_NOT_FOUND, _) if all => {}
            (code, msg) => {
                return Err(CliError::Msg(format!(
                    "cannot delete {} credential of user {user}: {}",
                    m.name(),
                    with_message(code, msg.as_ref())
                )))
            }
        }
    }
    if deleted == 0 {
        return Err(CliError::Msg(format!(
            "cannot delete user {user}: RESOURCE_NOT_FOUND: the user has no SCRAM credentials"
        )));
    }
    Ok(())
}

/// One line per user: `NAME<TAB>SCRAM-SHA-256=iterations=4096,SCRAM-SHA-512=iterations=4096`,
/// sorted; every user with credentials, or those named.
pub(super) async fn users_list(
    c: &mut Client,
    names: &[String],
    out: &mut String,
) -> Result<(), CliError> {
    let v = c.version::<DescribeUserScramCredentialsRequest>("DescribeUserScramCredentials", 0)?;
    let users = (!names.is_empty()).then(|| {
        names
            .iter()
            .map(|n| UserName::default().with_name(StrBytes::from_string(n.clone())))
            .collect()
    });
    let resp = c
        .send(
            &DescribeUserScramCredentialsRequest::default().with_users(users),
            v,
        )
        .await?;
    if resp.error_code != 0 {
        return Err(CliError::Msg(format!(
            "cannot list users: {}",
            with_message(resp.error_code, resp.error_message.as_ref())
        )));
    }
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for r in &resp.results {
        if r.error_code != 0 {
            failed.push(format!(
                "{}: {}",
                r.user.as_str(),
                with_message(r.error_code, r.error_message.as_ref())
            ));
            continue;
        }
        let mut infos: Vec<String> = r
            .credential_infos
            .iter()
            .map(|i| {
                let name = ScramMechanism::from_kafka_type(i.mechanism)
                    .map_or_else(|| format!("mechanism-{}", i.mechanism), |m| m.name().into());
                format!("{name}=iterations={}", i.iterations)
            })
            .collect();
        infos.sort();
        lines.push(format!("{}\t{}\n", r.user.as_str(), infos.join(",")));
    }
    lines.sort();
    out.extend(lines);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Msg(format!(
            "cannot describe {}",
            failed.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsertions_carry_what_the_broker_stores() {
        let u = upsertion("alice", "pw", ScramMechanism::Sha512, 4096);
        assert_eq!(
            (u.name.as_str(), u.mechanism, u.iterations),
            ("alice", 2, 4096)
        );
        // The broker keeps the credential of the salted password: the same as of the password.
        let m = ScramMechanism::Sha512;
        assert_eq!(
            m.credential_from_salted(&u.salted_password, &u.salt, 4096),
            m.credential("pw", &u.salt, 4096)
        );
        // A fresh salt each time.
        assert_ne!(upsertion("alice", "pw", m, 4096).salt, u.salt);
    }

    #[test]
    fn mechanism_choices() {
        assert_eq!(
            parse_mechanisms("both").unwrap(),
            ScramMechanism::ALL.to_vec()
        );
        assert_eq!(
            parse_mechanisms("SCRAM-SHA-256").unwrap(),
            vec![ScramMechanism::Sha256]
        );
        assert!(parse_mechanisms("PLAIN").is_err());
    }
}
