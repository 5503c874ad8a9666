//! Who an HTTP request is from. REST API requests carry the user's name and password in HTTP
//! Basic credentials (what Confluent REST Proxy's basic authentication takes), checked against
//! the broker's users as MQTT's CONNECT is (the PLAIN hash or a SCRAM credential; a password
//! proven once is remembered until the user's credentials change, so a request costs no key
//! derivation). The request's Kafka calls then run as `User:NAME`, so ACLs and quotas
//! apply to it as to a Kafka client. Without credentials a request is `User:ANONYMOUS`, let in
//! with `http_allow_anonymous` or while the broker has no users (401 otherwise). A wrong name
//! or password is always 401. `/metrics`, `/health` and `/openapi.json` are open: Prometheus
//! scrapes without a password.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::error::HttpError;
use super::Gw;
use super::Peer;
use crate::security::{Principal, SecurityProtocol, Session};

/// Paths anyone may read.
const OPEN: [&str; 3] = ["/metrics", "/health", "/openapi.json"];

/// The authenticated user of a request, put there by [`authenticate`].
#[derive(Clone)]
struct User(Arc<Session>);

/// The gateway a handler uses: acting as the request's user, or the anonymous one.
pub struct Caller(pub Gw);

impl FromRequestParts<Gw> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, gw: &Gw) -> Result<Self, Self::Rejection> {
        Ok(Caller(match parts.extensions.get::<User>() {
            Some(User(session)) => Arc::new(gw.acting_as(session.clone())),
            None => gw.clone(),
        }))
    }
}

/// Middleware: settle the request's user, or answer 401.
pub async fn authenticate(State(gw): State<Gw>, mut request: Request, next: Next) -> Response {
    if OPEN.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let credentials = gw.services.credentials.clone();
    let sent = request.headers().get(header::AUTHORIZATION).map(basic);
    match sent {
        Some(Some((name, password))) => {
            let user = name.clone();
            let ok = tokio::task::spawn_blocking(move || {
                credentials.verify_password_remembered(&user, &password)
            })
            .await
            .unwrap_or(false);
            if !ok {
                return unauthorized("bad user name or password");
            }
            let peer = request.extensions().get::<Peer>().map(|p| p.0);
            let session = Session {
                principal: Principal::user(name),
                peer,
                security_protocol: SecurityProtocol::Plaintext,
                token_authenticated: false,
            };
            request.extensions_mut().insert(User(Arc::new(session)));
        }
        Some(None) => {
            return unauthorized("credentials must be HTTP Basic: a user name and password")
        }
        None if gw.services.config.http_allow_anonymous || !credentials.has_users() => {}
        None => return unauthorized("this broker has users: send a user name and password"),
    }
    next.run(request).await
}

/// `Basic base64(name:password)`, else None.
fn basic(value: &HeaderValue) -> Option<(String, String)> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (name, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    (!name.is_empty()).then(|| (name.to_string(), password.to_string()))
}

/// 401 with REST Proxy's body (40101) and the challenge that makes clients send credentials.
fn unauthorized(message: &str) -> Response {
    let mut response = HttpError::new(StatusCode::UNAUTHORIZED, 40101, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"gregor\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn basic_credentials_are_read_and_others_are_not() {
        // "alice:se:cret": the password may hold ':'.
        let alice = header("Basic YWxpY2U6c2U6Y3JldA==");
        assert_eq!(basic(&alice), Some(("alice".into(), "se:cret".into())));
        assert_eq!(
            basic(&header("basic YWxpY2U6")),
            Some(("alice".into(), String::new()))
        );
        assert_eq!(basic(&header("Bearer YWxpY2U6c2VjcmV0")), None);
        assert_eq!(basic(&header("Basic !!!")), None);
        // No ':' at all, and an empty name.
        assert_eq!(basic(&header("Basic YWxpY2U=")), None);
        assert_eq!(basic(&header("Basic OnNlY3JldA==")), None);
    }
}
