//! SASL authentication of the admin client, as Kafka's clients do it: SaslHandshake v1
//! naming the mechanism, then the mechanism's tokens in SaslAuthenticate requests — PLAIN's
//! one, or SCRAM's two rounds with the broker's signature checked (`scram`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::scram::ScramClient;
use super::security::{Mechanism, Sasl};
use super::{error_name, with_message, Client, ClientError};
use crate::security::credentials::random_bytes;

/// PLAIN's token: no authorization id, the user, the password (RFC 4616).
pub fn plain_token(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

pub async fn authenticate(c: &mut Client, sasl: &Sasl) -> Result<(), ClientError> {
    let v = c.version::<SaslHandshakeRequest>("SaslHandshake", 1)?;
    if v < 1 {
        return Err(c.auth_error(
            "the broker offers SaslHandshake v0 only (raw SASL tokens are not supported)".into(),
        ));
    }
    let name = sasl.mechanism.name();
    let resp = c
        .send(
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(name)),
            v,
        )
        .await?;
    if resp.error_code != 0 {
        let enabled: Vec<&str> = resp.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(c.auth_error(format!(
            "{}: the broker does not enable {name} (it enables {})",
            error_name(resp.error_code),
            enabled.join(", ")
        )));
    }
    let v = c.version::<SaslAuthenticateRequest>("SaslAuthenticate", 2)?;
    match sasl.mechanism {
        Mechanism::Plain => {
            round(c, v, plain_token(&sasl.username, &sasl.password)).await?;
        }
        Mechanism::Scram(m) => {
            let nonce = URL_SAFE_NO_PAD.encode(random_bytes(24));
            let mut scram = ScramClient::new(m, &sasl.username, &sasl.password, &nonce);
            let server_first = round(c, v, scram.client_first()).await?;
            let client_final = scram
                .client_final(&server_first)
                .map_err(|e| c.auth_error(e.to_string()))?;
            let server_final = round(c, v, client_final).await?;
            scram
                .server_final(&server_final)
                .map_err(|e| c.auth_error(e.to_string()))?;
        }
    }
    Ok(())
}

/// One SaslAuthenticate round: our token out, the broker's back.
async fn round(c: &mut Client, v: i16, token: Vec<u8>) -> Result<Bytes, ClientError> {
    let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
    let resp = c.send(&req, v).await?;
    if resp.error_code != 0 {
        return Err(c.auth_error(with_message(resp.error_code, resp.error_message.as_ref())));
    }
    Ok(resp.auth_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tokens_are_what_the_broker_parses() {
        let token = plain_token("alice", "se cret");
        assert_eq!(
            crate::security::plain::parse(&token),
            Ok(("alice".to_string(), "se cret".to_string()))
        );
    }
}
