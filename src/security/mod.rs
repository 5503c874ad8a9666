//! Who is on the other end of a connection. Authentication (TLS, SASL) sets the session's
//! principal; authorization and quotas read it. Handlers see it as `ctx.session()`. `acl`
//! holds the ACL bindings and Kafka's matching, `authorizer` the service that keeps them.

pub mod acl;
mod authorizer;

pub use authorizer::{super_user_principal, Authorizer};

pub mod credentials;
pub mod oauth;
pub mod plain;
pub mod scram;
pub mod tokens;
pub mod x509;

use std::fmt;
use std::net::SocketAddr;

pub use crate::config::SecurityProtocol;

/// Kafka's `KafkaPrincipal`: a type and a name, written `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub principal_type: String,
    pub name: String,
}

impl Principal {
    pub fn user(name: impl Into<String>) -> Self {
        Self {
            principal_type: "User".into(),
            name: name.into(),
        }
    }

    /// Who a connection is before (or without) authentication: Kafka's `User:ANONYMOUS`.
    pub fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }

    /// The broker itself, for the requests its own listeners make through the Kafka dispatch
    /// on nobody's behalf (the MQTT listener's retained messages and sessions, its topic
    /// list). No client authenticates as it (clients are `User:`); the authorizer allows it
    /// everything, as Kafka's brokers are super users of their own cluster.
    pub fn broker() -> Self {
        Self {
            principal_type: "Broker".into(),
            name: "gregor".into(),
        }
    }

    pub fn is_broker(&self) -> bool {
        self.principal_type == "Broker"
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// One connection's identity: its principal, the client's address and the listener it came
/// in on. A connection replaces its session when it (re-)authenticates.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// The client's address, when known (in-process dispatch has none).
    pub peer: Option<SocketAddr>,
    pub security_protocol: SecurityProtocol,
    /// Authenticated with a delegation token (SCRAM with `tokenauth=true`); such a session
    /// may not create, renew, expire or describe tokens (Kafka's `tokenAuthenticated`).
    pub token_authenticated: bool,
}

impl Session {
    /// A connection on a listener without authentication.
    pub fn anonymous(peer: Option<SocketAddr>, security_protocol: SecurityProtocol) -> Self {
        Self {
            principal: Principal::anonymous(),
            peer,
            security_protocol,
            token_authenticated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_print_as_kafka_writes_them() {
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
        assert_eq!(Principal::user("alice").to_string(), "User:alice");
        assert!(Principal::broker().is_broker() && !Principal::user("Broker").is_broker());
    }

    #[test]
    fn protocol_names_round_trip() {
        for p in [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl,
        ] {
            assert_eq!(SecurityProtocol::from_name(p.name()), Some(p));
        }
        assert_eq!(SecurityProtocol::from_name("plaintext"), None);
    }
}
