//! The SASL authenticator of a SASL_PLAINTEXT or SASL_SSL connection, after Kafka's
//! `SaslServerAuthenticator`: before authentication a client may send ApiVersions (once,
//! first), then SaslHandshake, then the mechanism's tokens — in SaslAuthenticate requests
//! (handshake v1) or as raw length-prefixed tokens (handshake v0). Anything else closes the
//! connection; a failed authentication is answered SASL_AUTHENTICATION_FAILED and closed.
//! Success ends in a session lifetime (KIP-368): the least of `connections_max_reauth_ms`
//! and the credential's remaining life (an OAUTHBEARER token's exp), or none. A
//! re-authentication ([`Authenticator::reauthenticate`]) starts at SaslHandshake, keeps the
//! mechanism and must end with the same principal.
//! The mechanisms' logic is `security::{plain, scram, oauth}`; the credentials are the
//! store's, OAUTHBEARER's keys the JWKS file's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::ResponseError;

use crate::api::{encode_response, parse_request, Parsed, Services};
use crate::security::credentials::random_bytes;
use crate::security::oauth::{self, OAuth};
use crate::security::scram::{ScramError, ScramMechanism, ScramServer};
use crate::security::{plain, Principal};

/// Kafka's `sasl.server.max.receive.size` default: the largest frame before authentication.
pub const MAX_RECEIVE: usize = 524_288;

/// What the connection does with a frame read before authentication completed.
pub enum Step {
    /// ApiVersions: served as any request.
    Dispatch(Bytes),
    /// Send this frame (length prefix included) and read on.
    Reply(Bytes),
    /// Authenticated; send the frame.
    Done(Authenticated, Bytes),
    /// Send the frame, if any, then close; the reason is logged.
    Fail(Option<Bytes>, String),
}

/// The outcome of a successful (re-)authentication.
pub struct Authenticated {
    pub principal: Principal,
    pub mechanism: String,
    /// When the session ends (KIP-368); None: never.
    pub expires: Option<Instant>,
    /// By a delegation token (SCRAM with `tokenauth=true`): the principal is its owner.
    pub token_authenticated: bool,
}

enum State {
    HandshakeOrVersions,
    Handshake,
    /// Re-authentication asked for another mechanism than the session's: the handshake was
    /// answered, the next token fails with this message (Kafka's REAUTH_BAD_MECHANISM).
    BadMechanism(String),
    /// After SaslHandshake; `headers`: tokens come in SaslAuthenticate requests (v1).
    Authenticate {
        headers: bool,
        mechanism: Mechanism,
    },
    Failed,
}

enum Mechanism {
    Plain,
    Scram(Box<ScramServer>, ScramStage),
    /// `invalid`: the error challenge sent for a bad token and why it was bad; a client
    /// answers it with a lone ^A and is then failed (RFC 7628 §3.2.3).
    OAuthBearer {
        invalid: Option<(String, String)>,
    },
}

enum ScramStage {
    First,
    /// `token`: a delegation token's exchange, with its owner and expiry (ms).
    Final {
        token: Option<(String, i64)>,
    },
}

pub struct Authenticator {
    services: Arc<Services>,
    /// The OAUTHBEARER validator, when that mechanism is enabled.
    oauth: Option<Arc<OAuth>>,
    state: State,
    /// The mechanism the handshake chose.
    mechanism: String,
    /// Re-authenticating: the session's mechanism and principal.
    previous: Option<(String, Principal)>,
}

impl Authenticator {
    pub fn new(services: Arc<Services>, oauth: Option<Arc<OAuth>>) -> Self {
        Self {
            services,
            oauth,
            state: State::HandshakeOrVersions,
            mechanism: String::new(),
            previous: None,
        }
    }

    /// Re-authentication of a session authenticated by `mechanism` as `principal`; the
    /// first frame is the client's SaslHandshake (no ApiVersions).
    pub fn reauthenticate(
        services: Arc<Services>,
        oauth: Option<Arc<OAuth>>,
        mechanism: String,
        principal: Principal,
    ) -> Self {
        Self {
            state: State::Handshake,
            previous: Some((mechanism, principal)),
            ..Self::new(services, oauth)
        }
    }

    pub fn reauthenticating(&self) -> bool {
        self.previous.is_some()
    }

    pub async fn on_frame(&mut self, frame: Bytes) -> Step {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::HandshakeOrVersions => self.handshake(frame, true),
            State::Handshake => self.handshake(frame, false),
            State::Authenticate { headers, mechanism } => {
                self.authenticate(frame, headers, mechanism).await
            }
            State::BadMechanism(message) => Step::Fail(None, message),
            State::Failed => Step::Fail(None, "authentication already failed".into()),
        }
    }

    fn handshake(&mut self, frame: Bytes, versions_allowed: bool) -> Step {
        let mut body = frame.clone();
        let (api, version, header) = match parse_request(&mut body) {
            Parsed::Request {
                api,
                version,
                header,
            } => (api, version, header),
            // Answered (error 35) so that the client can retry with a lower version.
            Parsed::UnsupportedApiVersions { .. } if versions_allowed => {
                self.state = State::HandshakeOrVersions;
                return Step::Dispatch(frame);
            }
            Parsed::UnsupportedApiVersions { .. } => {
                return Step::Fail(None, "a second ApiVersions during SASL handshake".into())
            }
            Parsed::Refused(why) => {
                return Step::Fail(None, format!("during SASL handshake: {why}"))
            }
        };
        match api.key {
            ApiKey::ApiVersions if versions_allowed => {
                self.state = State::Handshake;
                Step::Dispatch(frame)
            }
            ApiKey::SaslHandshake => {
                let request = match SaslHandshakeRequest::decode(&mut body, version) {
                    Ok(r) => r,
                    Err(e) => return Step::Fail(None, format!("malformed SaslHandshake: {e}")),
                };
                let enabled = &self.services.config.sasl_mechanisms;
                let mechanisms = enabled.iter().map(|m| StrBytes::from(m.clone())).collect();
                let requested = request.mechanism.as_str();
                let mechanism = if enabled.iter().any(|m| m == requested) {
                    match ScramMechanism::from_name(requested) {
                        Some(m) => Some(Mechanism::Scram(
                            Box::new(ScramServer::new(m)),
                            ScramStage::First,
                        )),
                        None if requested == "PLAIN" => Some(Mechanism::Plain),
                        None if requested == "OAUTHBEARER" && self.oauth.is_some() => {
                            Some(Mechanism::OAuthBearer { invalid: None })
                        }
                        None => None,
                    }
                } else {
                    None
                };
                let error = if mechanism.is_some() {
                    0
                } else {
                    ResponseError::UnsupportedSaslMechanism.code()
                };
                let response = SaslHandshakeResponse::default()
                    .with_error_code(error)
                    .with_mechanisms(mechanisms);
                let reply = match encode_response(header.correlation_id, version, &response) {
                    Ok(r) => r,
                    Err(e) => return Step::Fail(None, format!("encoding SaslHandshake: {e}")),
                };
                match mechanism {
                    Some(_) if self.previous.as_ref().is_some_and(|(m, _)| m != requested) => {
                        let previous = self.previous.as_ref().map_or("", |(m, _)| m.as_str());
                        self.state = State::BadMechanism(format!(
                            "SASL mechanism '{requested}' requested by client is not supported for re-authentication of mechanism '{previous}'"
                        ));
                        Step::Reply(reply)
                    }
                    Some(mechanism) => {
                        self.mechanism = requested.to_string();
                        self.state = State::Authenticate {
                            headers: version >= 1,
                            mechanism,
                        };
                        Step::Reply(reply)
                    }
                    None => Step::Fail(
                        Some(reply),
                        format!("unsupported SASL mechanism {requested:?}"),
                    ),
                }
            }
            other => Step::Fail(
                None,
                format!("unexpected {other:?} request during SASL handshake"),
            ),
        }
    }

    async fn authenticate(&mut self, frame: Bytes, headers: bool, mechanism: Mechanism) -> Step {
        // With headers: a SaslAuthenticate request carrying the token; else the raw token.
        let (token, request) = if headers {
            let mut body = frame;
            match parse_request(&mut body) {
                Parsed::Request {
                    api,
                    version,
                    header,
                } if api.key == ApiKey::SaslAuthenticate => {
                    match SaslAuthenticateRequest::decode(&mut body, version) {
                        Ok(r) => (r.auth_bytes, Some((header.correlation_id, version))),
                        Err(e) => {
                            return Step::Fail(None, format!("malformed SaslAuthenticate: {e}"))
                        }
                    }
                }
                Parsed::Request { api, .. } => {
                    return Step::Fail(
                        None,
                        format!(
                            "unexpected {:?} request during SASL authentication",
                            api.key
                        ),
                    )
                }
                _ => return Step::Fail(None, "not a SaslAuthenticate request".into()),
            }
        } else {
            (frame, None)
        };
        let reply =
            |bytes: Vec<u8>, error: Option<&str>, lifetime_ms: i64| -> Result<Bytes, String> {
                match request {
                    Some((correlation_id, version)) => {
                        let code = match error {
                            Some(_) => ResponseError::SaslAuthenticationFailed.code(),
                            None => 0,
                        };
                        let response = SaslAuthenticateResponse::default()
                            .with_error_code(code)
                            .with_error_message(error.map(|m| StrBytes::from(m.to_string())))
                            .with_auth_bytes(Bytes::from(bytes))
                            .with_session_lifetime_ms(if version >= 1 { lifetime_ms } else { 0 });
                        encode_response(correlation_id, version, &response)
                            .map_err(|e| format!("encoding SaslAuthenticate: {e}"))
                    }
                    None => {
                        let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
                        out.extend_from_slice(&bytes);
                        Ok(Bytes::from(out))
                    }
                }
            };
        match self.evaluate(mechanism, token).await {
            Outcome::Challenge(bytes, mechanism) => match reply(bytes, None, 0) {
                Ok(r) => {
                    self.state = State::Authenticate { headers, mechanism };
                    Step::Reply(r)
                }
                Err(e) => Step::Fail(None, e),
            },
            Outcome::Complete(user, bytes, credential_expiry_ms, token_authenticated) => {
                let principal = Principal::user(user);
                if let Some((_, previous)) = &self.previous {
                    if *previous != principal {
                        let message = format!(
                            "Cannot change principals during re-authentication from {}.{}: {}.{}",
                            previous.principal_type,
                            previous.name,
                            principal.principal_type,
                            principal.name
                        );
                        let answer =
                            request.and_then(|_| reply(Vec::new(), Some(&message), 0).ok());
                        return Step::Fail(
                            answer,
                            format!("SASL re-authentication failed: {message}"),
                        );
                    }
                }
                let lifetime_ms = session_lifetime_ms(
                    self.services.config.connections_max_reauth_ms,
                    credential_expiry_ms,
                    crate::clock::now_ms(),
                );
                let expires = lifetime_ms.and_then(|ms| session_end(Instant::now(), ms));
                match reply(bytes, None, lifetime_ms.unwrap_or(0)) {
                    Ok(r) => Step::Done(
                        Authenticated {
                            principal,
                            mechanism: std::mem::take(&mut self.mechanism),
                            expires,
                            token_authenticated,
                        },
                        r,
                    ),
                    Err(e) => Step::Fail(None, e),
                }
            }
            Outcome::Failed { message, why } => {
                // Raw tokens (handshake v0) have no way to carry an error: just close.
                let answer = request.and_then(|_| reply(Vec::new(), Some(&message), 0).ok());
                Step::Fail(answer, format!("SASL authentication failed: {why}"))
            }
        }
    }

    async fn evaluate(&self, mechanism: Mechanism, bytes: Bytes) -> Outcome {
        match mechanism {
            Mechanism::Plain => {
                let (user, password) = match plain::parse(&bytes) {
                    Ok(p) => p,
                    Err(message) => {
                        let why = message.clone();
                        return Outcome::Failed { message, why };
                    }
                };
                // PBKDF2 takes milliseconds: off the async workers.
                let credentials = self.services.credentials.clone();
                let name = user.clone();
                let ok =
                    tokio::task::spawn_blocking(move || credentials.verify_plain(&name, &password))
                        .await
                        .unwrap_or(false);
                if ok {
                    Outcome::Complete(user, Vec::new(), None, false)
                } else {
                    Outcome::Failed {
                        message: plain::INVALID.into(),
                        why: format!("PLAIN: invalid user name or password for {user:?}"),
                    }
                }
            }
            Mechanism::Scram(mut server, ScramStage::First) => {
                let m = server.mechanism();
                let first = match ScramServer::parse_client_first(&bytes) {
                    Ok(f) => f,
                    Err(e) => return scram_failed(m, e),
                };
                let credentials = &self.services.credentials;
                let (credential, token) = if first.token_auth {
                    // Kafka's token path: the user name is the token id; an unknown one
                    // fails at once ("Invalid tokenId").
                    match self.services.tokens.scram(&first.user, m) {
                        Some((c, owner, expiry)) => (Some(c), Some((owner.name, expiry))),
                        None => return scram_failed(m, ScramError::InvalidCredentials),
                    }
                } else {
                    (credentials.scram(&first.user, m), None)
                };
                let decoy = credentials.decoy_salt(&first.user);
                let nonce = server_nonce();
                let bytes = server.server_first(first, credential, &nonce, &decoy);
                Outcome::Challenge(bytes, Mechanism::Scram(server, ScramStage::Final { token }))
            }
            Mechanism::Scram(mut server, ScramStage::Final { token }) => {
                let m = server.mechanism();
                match (server.client_final(&bytes), token) {
                    (Ok((_, bytes)), Some((owner, expiry))) => {
                        Outcome::Complete(owner, bytes, Some(expiry), true)
                    }
                    (Ok((user, bytes)), None) => Outcome::Complete(user, bytes, None, false),
                    (Err(e), _) => scram_failed(m, e),
                }
            }
            Mechanism::OAuthBearer { invalid } => self.oauth_bearer(&bytes, invalid),
        }
    }

    /// Kafka's `OAuthBearerSaslServer.evaluateResponse`: a bad token is answered with the
    /// error challenge `{"status":"invalid_token"}`; the client's ^A after it fails the
    /// exchange with that message. A malformed message fails at once.
    fn oauth_bearer(&self, token: &[u8], invalid: Option<(String, String)>) -> Outcome {
        if let (Some((challenge, why)), [0x01]) = (&invalid, token) {
            return Outcome::Failed {
                message: challenge.clone(),
                why: format!("OAUTHBEARER: invalid token: {why}"),
            };
        }
        let Some(validator) = &self.oauth else {
            return Outcome::Failed {
                message: oauth_failed(),
                why: "OAUTHBEARER is not configured".into(),
            };
        };
        let first = match oauth::message::parse(token) {
            Ok(f) => f,
            Err(why) => {
                return Outcome::Failed {
                    message: oauth_failed(),
                    why: format!("OAUTHBEARER: {why}"),
                }
            }
        };
        match validator.validate(&first.token, crate::clock::now_ms()) {
            Err(why) => {
                let challenge = r#"{"status":"invalid_token"}"#.to_string();
                Outcome::Challenge(
                    challenge.clone().into_bytes(),
                    Mechanism::OAuthBearer {
                        invalid: Some((challenge, why)),
                    },
                )
            }
            Ok(t) if !first.authzid.is_empty() && first.authzid != t.principal => {
                Outcome::Failed {
                    message: format!(
                        "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({})",
                        first.authzid, t.principal
                    ),
                    why: "OAUTHBEARER: authorization id is not the token's subject".into(),
                }
            }
            Ok(t) => Outcome::Complete(t.principal, Vec::new(), Some(t.expires_ms), false),
        }
    }
}

/// What Kafka tells a client whose SASL exchange failed with an internal SaslException.
fn oauth_failed() -> String {
    "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER".into()
}

enum Outcome {
    /// Send these bytes and expect another token.
    Challenge(Vec<u8>, Mechanism),
    /// Authenticated as this user; send these bytes. The credential's expiry (ms), if it
    /// has one (OAUTHBEARER: the token's exp; a delegation token's expiry), and whether a
    /// delegation token authenticated it.
    Complete(String, Vec<u8>, Option<i64>, bool),
    /// `message` for the client, `why` for the log.
    Failed { message: String, why: String },
}

/// Kafka's answer to any failed SCRAM exchange: it does not tell an unknown user from a
/// wrong password.
fn scram_failed(m: ScramMechanism, e: ScramError) -> Outcome {
    let message = match e {
        ScramError::AuthzidMismatch => "Authentication failed: Client requested an authorization id that is different from username".to_string(),
        _ => format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
            m.name()
        ),
    };
    Outcome::Failed {
        message,
        why: format!("{}: {e}", m.name()),
    }
}

/// 32 random printable characters (RFC 5802's `printable` without ',').
fn server_nonce() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    random_bytes(32)
        .into_iter()
        .map(|b| CHARS[(b & 63) as usize] as char)
        .collect()
}

/// Kafka's `calcCompletionTimesAndReturnSessionLifetimeMs`: with neither a
/// connections_max_reauth_ms nor a credential expiry, no session lifetime; else the least of
/// them (the credential's remaining life at `now_ms`, at least 0).
fn session_lifetime_ms(
    max_reauth_ms: u64,
    credential_expiry_ms: Option<i64>,
    now_ms: i64,
) -> Option<i64> {
    let max = (max_reauth_ms > 0).then(|| max_reauth_ms.min(i64::MAX as u64) as i64);
    let remaining = credential_expiry_ms.map(|e| e.saturating_sub(now_ms).max(0));
    match (max, remaining) {
        (None, None) => None,
        (Some(m), None) => Some(m),
        (None, Some(r)) => Some(r),
        (Some(m), Some(r)) => Some(m.min(r)),
    }
}

/// When a session of `lifetime_ms` from `now` ends; None (never) past what an Instant holds
/// (a token's exp can be anything).
fn session_end(now: Instant, lifetime_ms: i64) -> Option<Instant> {
    now.checked_add(Duration::from_millis(lifetime_ms.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_lifetimes_as_kafka_computes_them() {
        let now = 1_000_000;
        assert_eq!(session_lifetime_ms(0, None, now), None);
        assert_eq!(session_lifetime_ms(3000, None, now), Some(3000));
        assert_eq!(
            session_lifetime_ms(0, Some(now + 60_000), now),
            Some(60_000)
        );
        assert_eq!(
            session_lifetime_ms(3000, Some(now + 60_000), now),
            Some(3000)
        );
        assert_eq!(session_lifetime_ms(3000, Some(now + 1000), now), Some(1000));
        assert_eq!(session_lifetime_ms(3000, Some(now - 5), now), Some(0));
        assert_eq!(
            session_lifetime_ms(u64::MAX, Some(i64::MAX), i64::MIN),
            Some(i64::MAX)
        );
        let t = Instant::now();
        assert_eq!(session_end(t, 1500), Some(t + Duration::from_millis(1500)));
        assert_eq!(session_end(t, -1), Some(t));
        // Whatever a token's exp says, no overflow (None: past what an Instant holds).
        assert!(session_end(t, i64::MAX).is_none_or(|end| end > t));
    }
}
