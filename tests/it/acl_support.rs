//! What the ACL tests share (also tests/it/add_partitions_to_txn_v5.rs): a broker with
//! `--authorizer acl`, sessions of any principal from any address, requests answered
//! in-process as that session (`api::dispatch_from`), ACLs granted by the super user.

use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use gregor::api::zero_copy::Frame;
use gregor::api::{dispatch_from, Dispatch, ListenerInfo};
use gregor::config::AuthorizerKind;
use gregor::security::{Principal, SecurityProtocol, Session};
use gregor::server::{start, RunningBroker};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::common;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub async fn broker(dir: Option<&Path>, allow_if_no_acl: bool) -> RunningBroker {
    let config = gregor::config::Config {
        authorizer: AuthorizerKind::Acl,
        super_user: vec!["admin".into()],
        allow_everyone_if_no_acl_found: allow_if_no_acl,
        topic: vec![
            "orders:1".into(),
            "pay.open:1".into(),
            "pay.secret:1".into(),
        ],
        group_initial_rebalance_delay_ms: 0,
        ..common::config(dir)
    };
    start(config).await.expect("broker starts")
}

pub fn who(user: &str, host: &str) -> Arc<Session> {
    Arc::new(Session {
        principal: Principal::user(user),
        peer: Some(format!("{host}:40000").parse().unwrap()),
        security_protocol: SecurityProtocol::SaslPlaintext,
        token_authenticated: false,
    })
}

/// One request from `session`, answered in-process.
pub async fn call<R: Request>(
    b: &RunningBroker,
    session: &Arc<Session>,
    req: &R,
    v: i16,
) -> R::Response {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(v)
        .with_correlation_id(7)
        .with_client_id(Some(s("acl-tests")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(v)).unwrap();
    req.encode(&mut buf, v).unwrap();
    let listener = Arc::new(ListenerInfo {
        name: "PLAINTEXT".into(),
        host: "127.0.0.1".into(),
        port: 9092,
    });
    let connection = Arc::new(gregor::api::Connection::detached());
    let Dispatch::Respond(f) =
        dispatch_from(&b.services, &listener, session, &connection, buf.freeze())
    else {
        panic!("refused")
    };
    let Some(Frame::Encoded(frame)) = f.await.unwrap() else {
        panic!("no plain response")
    };
    let mut frame = frame.slice(4..);
    ResponseHeader::decode(
        &mut frame,
        <R::Response as HeaderVersion>::header_version(v),
    )
    .unwrap();
    R::Response::decode(&mut frame, v).unwrap()
}

pub fn acl(
    rt: i8,
    name: &str,
    pt: i8,
    principal: &str,
    host: &str,
    op: i8,
    perm: i8,
) -> AclCreation {
    AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pt)
        .with_principal(s(principal))
        .with_host(s(host))
        .with_operation(op)
        .with_permission_type(perm)
}

/// Operation codes of Kafka's `AclOperation` used on the cluster resource.
pub const ALTER: i8 = 7;
pub const CLUSTER_ACTION: i8 = 9;

/// ALLOW `operation` on the cluster (`kafka-cluster`, LITERAL) to `principal` from any host.
pub async fn grant_cluster(b: &RunningBroker, principal: &str, operation: i8) {
    grant(
        b,
        vec![acl(4, "kafka-cluster", 3, principal, "*", operation, 3)],
    )
    .await;
}

pub async fn grant(b: &RunningBroker, acls: Vec<AclCreation>) {
    let r = call(
        b,
        &who("admin", "10.0.0.9"),
        &CreateAclsRequest::default().with_creations(acls),
        3,
    )
    .await;
    assert!(r.results.iter().all(|r| r.error_code == 0), "{r:?}");
}
