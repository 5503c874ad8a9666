//! Delegation tokens in process, over the raw protocol: created by a SCRAM user on a
//! SASL_PLAINTEXT listener, refused on PLAINTEXT and on token-authenticated connections,
//! authenticating by SCRAM with `tokenauth=true` (the token id and the base64 HMAC), described,
//! renewed, expired, purged when past their end, and disabled without a secret key.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use kafka_protocol::messages::create_delegation_token_request::CreatableRenewers;
use kafka_protocol::messages::describe_delegation_token_request::DescribeDelegationTokenOwner;
use kafka_protocol::messages::{
    CreateDelegationTokenRequest, CreateDelegationTokenResponse, DescribeDelegationTokenRequest,
    DescribeDelegationTokenResponse, ExpireDelegationTokenRequest, MetadataRequest,
    RenewDelegationTokenRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;
use tokio::net::TcpStream;

use crate::common::{config, Client};
use crate::security::{sasl_client, scram_with};

const SECRET: &str = "it-secret";
const DAY: i64 = 86_400_000;

async fn broker(secret: Option<&str>, check_ms: u64) -> gregor::server::RunningBroker {
    broker_with(secret, check_ms, gregor::config::AuthorizerKind::None).await
}

async fn broker_with(
    secret: Option<&str>,
    check_ms: u64,
    authorizer: gregor::config::AuthorizerKind,
) -> gregor::server::RunningBroker {
    let c = gregor::config::Config {
        authorizer,
        listen: vec![
            "SASL_PLAINTEXT://127.0.0.1:0".into(),
            "PLAINTEXT://127.0.0.1:0".into(),
        ],
        user: vec!["alice:alice-secret".into(), "bob:bob-secret".into()],
        delegation_token_secret_key: secret.map(String::from),
        delegation_token_expiry_check_interval_ms: check_ms,
        ..config(None)
    };
    gregor::server::start(c).await.expect("broker starts")
}

async fn as_alice(b: &gregor::server::RunningBroker) -> Client {
    as_user(b, "alice").await
}

async fn as_user(b: &gregor::server::RunningBroker, name: &str) -> Client {
    let mut c = sasl_client(b).await;
    let password = format!("{name}-secret");
    assert_eq!(scram_with(&mut c, name, &password, "").await.0, 0);
    c
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn user(name: &str) -> CreatableRenewers {
    CreatableRenewers::default()
        .with_principal_type(s("User"))
        .with_principal_name(s(name))
}

async fn create(
    c: &mut Client,
    req: CreateDelegationTokenRequest,
) -> CreateDelegationTokenResponse {
    c.call(&req, 3).await
}

async fn describe(c: &mut Client, owners: Option<&[&str]>) -> DescribeDelegationTokenResponse {
    let owners = owners.map(|o| {
        o.iter()
            .map(|n| {
                DescribeDelegationTokenOwner::default()
                    .with_principal_type(s("User"))
                    .with_principal_name(s(n))
            })
            .collect()
    });
    c.call(
        &DescribeDelegationTokenRequest::default().with_owners(owners),
        3,
    )
    .await
}

fn hmac_sha512(key: &str, data: &str) -> Vec<u8> {
    gregor::security::tokens::token_hmac(key, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_used_renewed_and_expired() {
    let b = broker(Some(SECRET), 3_600_000).await;
    // PLAINTEXT: refused, naming the (anonymous) owner and requester as Kafka does.
    let mut plain = Client::from_stream(TcpStream::connect(b.listeners[1].1).await.unwrap());
    let r = create(&mut plain, CreateDelegationTokenRequest::default()).await;
    assert_eq!(r.error_code, E::DelegationTokenRequestNotAllowed.code());
    assert_eq!(
        (r.principal_name.as_str(), r.issue_timestamp_ms),
        ("ANONYMOUS", -1)
    );
    let r = describe(&mut plain, None).await;
    assert_eq!(r.error_code, E::DelegationTokenRequestNotAllowed.code());

    let mut alice = as_alice(&b).await;
    let before = gregor::clock::now_ms();
    let r = create(
        &mut alice,
        CreateDelegationTokenRequest::default()
            .with_renewers(vec![user("bob")])
            .with_max_lifetime_ms(-1),
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        (r.principal_type.as_str(), r.principal_name.as_str()),
        ("User", "alice")
    );
    assert_eq!(r.token_requester_principal_name.as_str(), "alice");
    assert!(r.issue_timestamp_ms >= before);
    assert_eq!(r.expiry_timestamp_ms, r.issue_timestamp_ms + DAY);
    assert_eq!(r.max_timestamp_ms, r.issue_timestamp_ms + 7 * DAY);
    assert_eq!(r.hmac.to_vec(), hmac_sha512(SECRET, r.token_id.as_str()));
    let (id, hmac) = (r.token_id.to_string(), r.hmac.clone());
    let password = B64.encode(&hmac);

    // Renewers must be users.
    let r = create(
        &mut alice,
        CreateDelegationTokenRequest::default().with_renewers(vec![CreatableRenewers::default()
            .with_principal_type(s("Group"))
            .with_principal_name(s("g"))]),
    )
    .await;
    assert_eq!(r.error_code, E::InvalidPrincipalType.code());

    // SCRAM with the token: the session is alice's, ends with the token, and may not ask
    // for tokens.
    let mut t = sasl_client(&b).await;
    let (error, lifetime) = scram_with(&mut t, &id, &password, ",tokenauth=true").await;
    assert_eq!(error, 0);
    assert!(lifetime > DAY - 60_000 && lifetime <= DAY, "{lifetime}");
    let m = t
        .call(&MetadataRequest::default().with_topics(None), 1)
        .await;
    assert_eq!(m.brokers.len(), 1);
    let r = create(&mut t, CreateDelegationTokenRequest::default()).await;
    assert_eq!(r.error_code, E::DelegationTokenRequestNotAllowed.code());
    assert_eq!(r.principal_name.as_str(), "alice");
    let r = describe(&mut t, None).await;
    assert_eq!(r.error_code, E::DelegationTokenRequestNotAllowed.code());
    // Without tokenauth the id is no user; a wrong HMAC fails too.
    let mut t = sasl_client(&b).await;
    assert_eq!(
        scram_with(&mut t, &id, &password, "").await.0,
        E::SaslAuthenticationFailed.code()
    );
    let mut t = sasl_client(&b).await;
    assert_eq!(
        scram_with(&mut t, &id, "wrong", ",tokenauth=true").await.0,
        E::SaslAuthenticationFailed.code()
    );

    // Describe: every token, the owners asked for (bob renews it), none for an empty list.
    let r = describe(&mut alice, None).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.tokens.len(), 1);
    let d = &r.tokens[0];
    assert_eq!(
        (d.token_id.as_str(), d.hmac.clone()),
        (id.as_str(), hmac.clone())
    );
    assert_eq!(d.principal_name.as_str(), "alice");
    assert_eq!(d.renewers.len(), 1);
    assert_eq!(d.renewers[0].principal_name.as_str(), "bob");
    assert_eq!(describe(&mut alice, Some(&["bob"])).await.tokens.len(), 1);
    assert_eq!(describe(&mut alice, Some(&["carol"])).await.tokens.len(), 0);
    assert_eq!(describe(&mut alice, Some(&[])).await.tokens.len(), 0);

    // Renew for a second; expire; the token no longer authenticates.
    let now = gregor::clock::now_ms();
    let r = alice
        .call(
            &RenewDelegationTokenRequest::default()
                .with_hmac(hmac.clone())
                .with_renew_period_ms(1000),
            2,
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert!((now + 1000..now + 2000).contains(&r.expiry_timestamp_ms));
    let r = alice
        .call(
            &ExpireDelegationTokenRequest::default()
                .with_hmac(hmac.clone())
                .with_expiry_time_period_ms(-1),
            2,
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert!(describe(&mut alice, None).await.tokens.is_empty());
    let mut t = sasl_client(&b).await;
    assert_eq!(
        scram_with(&mut t, &id, &password, ",tokenauth=true")
            .await
            .0,
        E::SaslAuthenticationFailed.code()
    );
    let r = alice
        .call(
            &RenewDelegationTokenRequest::default()
                .with_hmac(hmac)
                .with_renew_period_ms(-1),
            2,
        )
        .await;
    assert_eq!(r.error_code, E::DelegationTokenNotFound.code());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_purged() {
    let b = broker(Some(SECRET), 100).await;
    let mut alice = as_alice(&b).await;
    let r = create(
        &mut alice,
        CreateDelegationTokenRequest::default().with_max_lifetime_ms(300),
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.max_timestamp_ms, r.issue_timestamp_ms + 300);
    assert_eq!(describe(&mut alice, None).await.tokens.len(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !describe(&mut alice, None).await.tokens.is_empty() {
        assert!(std::time::Instant::now() < deadline, "never purged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut t = sasl_client(&b).await;
    let password = B64.encode(&r.hmac);
    assert_eq!(
        scram_with(&mut t, r.token_id.as_str(), &password, ",tokenauth=true")
            .await
            .0,
        E::SaslAuthenticationFailed.code()
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_without_a_secret_key() {
    let b = broker(None, 3_600_000).await;
    let mut alice = as_alice(&b).await;
    let r = create(&mut alice, CreateDelegationTokenRequest::default()).await;
    assert_eq!(r.error_code, E::DelegationTokenAuthDisabled.code());
    assert_eq!(
        describe(&mut alice, None).await.error_code,
        E::DelegationTokenAuthDisabled.code()
    );
    let r = alice
        .call(
            &ExpireDelegationTokenRequest::default()
                .with_hmac(Bytes::from_static(b"x"))
                .with_expiry_time_period_ms(-1),
            2,
        )
        .await;
    assert_eq!(r.error_code, E::DelegationTokenAuthDisabled.code());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_decide_tokens_for_others_and_who_sees_them() {
    // ACLs on, none granted (and no allow-everyone): only what is one's own.
    let b = broker_with(Some(SECRET), 3_600_000, gregor::config::AuthorizerKind::Acl).await;
    let mut alice = as_alice(&b).await;
    let r = create(&mut alice, CreateDelegationTokenRequest::default()).await;
    assert_eq!(r.error_code, 0, "one's own token needs no ACL");
    // For another owner: CREATE_TOKENS on User:carol, which alice lacks.
    let r = create(
        &mut alice,
        CreateDelegationTokenRequest::default()
            .with_owner_principal_type(Some(s("User")))
            .with_owner_principal_name(Some(s("carol"))),
    )
    .await;
    assert_eq!(r.error_code, E::DelegationTokenAuthorizationFailed.code());
    assert_eq!(
        (
            r.principal_name.as_str(),
            r.token_requester_principal_name.as_str()
        ),
        ("carol", "alice")
    );
    // bob is neither owner, requester nor renewer, and has no DESCRIBE ACL: he sees nothing;
    // nor may he renew or expire it.
    let mut bob = as_user(&b, "bob").await;
    let r = describe(&mut bob, None).await;
    assert_eq!((r.error_code, r.tokens.len()), (0, 0));
    assert_eq!(describe(&mut alice, None).await.tokens.len(), 1);
    let [token] = &describe(&mut alice, None).await.tokens[..] else {
        panic!("one token")
    };
    let r = bob
        .call(
            &ExpireDelegationTokenRequest::default()
                .with_hmac(token.hmac.clone())
                .with_expiry_time_period_ms(-1),
            2,
        )
        .await;
    assert_eq!(r.error_code, E::DelegationTokenOwnerMismatch.code());
    b.shutdown().await;
}
