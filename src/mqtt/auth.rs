//! Who an MQTT client is, and what it may do.
//!
//! Authentication, at CONNECT: a client certificate (on the TLS listener with
//! `ssl_client_ca`) makes the principal as it does on Kafka's SSL listeners (`User:` and the
//! subject, `security::x509`), and CONNECT's user name and password are then not consulted
//! (Mosquitto's `use_identity_as_username`). Otherwise a user name and password are checked
//! against the broker's users (their PLAIN or SCRAM credentials; a wrong one is refused with
//! "bad user name or password"), making `User:NAME`. A client that sends neither is
//! `User:ANONYMOUS`, let in only with `mqtt_allow_anonymous` or while the broker has no users
//! at all (refused "not authorized" otherwise).
//!
//! Authorization, by the ACL authorizer as Kafka clients are: a publish needs WRITE on its
//! Kafka topic, a subscription READ on every Kafka topic its filter can receive from
//! (`TopicMap::filter_topics`; a filter starting with a wildcard reads only the topics the
//! principal may read) and, in a persistent session, READ on its group `mqtt-<client id>`.
//! The Kafka requests made for the client run as its session too, so the Kafka handlers
//! check them again.

use std::sync::Arc;

use super::codec::{self, Login};
use super::Broker;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::{Principal, Session};

/// The principal of a client, or the CONNACK refusal code.
pub async fn authenticate(
    broker: &Broker,
    certificate: Option<Principal>,
    login: Option<Login>,
) -> Result<Principal, u8> {
    if let Some(principal) = certificate {
        return Ok(principal);
    }
    let credentials = broker.services.credentials.clone();
    match login {
        Some(Login { username, password }) if !username.is_empty() => {
            let name = username.clone();
            let ok = tokio::task::spawn_blocking(move || {
                credentials.verify_password(&username, &password)
            })
            .await
            .unwrap_or(false);
            if ok {
                Ok(Principal::user(name))
            } else {
                Err(codec::REFUSED_BAD_LOGIN)
            }
        }
        // A password without a user name (MQTT 5 allows it): nobody's password.
        Some(_) => Err(codec::REFUSED_BAD_LOGIN),
        None if broker.settings.allow_anonymous || !credentials.has_users() => {
            Ok(Principal::anonymous())
        }
        None => Err(codec::REFUSED_NOT_AUTHORIZED),
    }
}

/// Whether `session` may do `op` on the resource; true without an authorizer.
pub fn may(
    broker: &Broker,
    session: &Session,
    op: AclOperation,
    rt: ResourceType,
    name: &str,
) -> bool {
    let Some(authorizer) = &broker.services.authorizer else {
        return true;
    };
    let allowed = authorizer.authorize(session, op, rt, name);
    if !allowed {
        tracing::debug!(principal = %session.principal, ?op, ?rt, name, "mqtt: denied");
    }
    allowed
}

pub fn may_write(broker: &Broker, session: &Session, kafka_topic: &str) -> bool {
    may(
        broker,
        session,
        AclOperation::Write,
        ResourceType::Topic,
        kafka_topic,
    )
}

pub fn may_read(broker: &Broker, session: &Session, kafka_topic: &str) -> bool {
    may(
        broker,
        session,
        AclOperation::Read,
        ResourceType::Topic,
        kafka_topic,
    )
}

/// Whether a subscription to `filter` is allowed: READ on its Kafka topics and, for a
/// persistent session, on its group.
pub fn may_subscribe(
    broker: &Broker,
    session: &Arc<Session>,
    filter: &str,
    group: Option<&str>,
) -> bool {
    let group_ok =
        group.is_none_or(|g| may(broker, session, AclOperation::Read, ResourceType::Group, g));
    let topics = broker
        .settings
        .map
        .filter_topics(filter)
        .unwrap_or_default();
    group_ok && topics.iter().all(|t| may_read(broker, session, t))
}
