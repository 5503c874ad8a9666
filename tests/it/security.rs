//! Authentication in process: a SASL_PLAINTEXT listener with PLAIN and SCRAM users, driven
//! through the raw protocol (handshake, tokens, failures, what is refused before
//! authentication), and SCRAM credentials changed through AlterUserScramCredentials on a
//! plaintext listener of the same broker taking effect on the SASL one.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use gregor::security::scram::ScramMechanism;
use hmac::{Hmac, Mac};
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, MetadataRequest, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use sha2::{Digest, Sha512};
use tokio::net::TcpStream;

use crate::common::{config, Client};

async fn secured() -> gregor::server::RunningBroker {
    let c = gregor::config::Config {
        listen: vec![
            "SASL_PLAINTEXT://127.0.0.1:0".into(),
            "PLAINTEXT://127.0.0.1:0".into(),
        ],
        user: vec!["alice:alice-secret".into()],
        ..config(None)
    };
    gregor::server::start(c).await.expect("broker starts")
}

pub(crate) async fn sasl_client(b: &gregor::server::RunningBroker) -> Client {
    Client::from_stream(TcpStream::connect(b.listeners[0].1).await.unwrap())
}

async fn authenticate(c: &mut Client, token: &[u8]) -> (i16, Bytes) {
    let r = c
        .call(
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
            2,
        )
        .await;
    (r.error_code, r.auth_bytes)
}

async fn handshake(c: &mut Client, mechanism: &'static str) -> i16 {
    c.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
        1,
    )
    .await
    .error_code
}

fn hmac512(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha512> as Mac>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// A SCRAM-SHA-512 exchange as a client does it; the error code of the final step.
async fn scram(c: &mut Client, user: &str, password: &str) -> i16 {
    scram_with(c, user, password, "").await.0
}

/// [`scram`] with SCRAM extensions after the nonce (`,tokenauth=true`): the error code of the
/// step that failed (or of the final one) and the session lifetime the final one gave.
pub(crate) async fn scram_with(
    c: &mut Client,
    user: &str,
    password: &str,
    extensions: &str,
) -> (i16, i64) {
    assert_eq!(handshake(c, "SCRAM-SHA-512").await, 0);
    let bare = format!("n={user},r=clientnonce{extensions}");
    let (error, server_first) = authenticate(c, format!("n,,{bare}").as_bytes()).await;
    if error != 0 {
        return (error, 0);
    }
    let server_first = String::from_utf8(server_first.to_vec()).unwrap();
    let attrs: Vec<&str> = server_first.split(',').collect();
    let nonce = attrs[0].strip_prefix("r=").unwrap();
    assert!(nonce.starts_with("clientnonce") && nonce.len() > "clientnonce".len());
    let salt = B64.decode(attrs[1].strip_prefix("s=").unwrap()).unwrap();
    let iterations: u32 = attrs[2].strip_prefix("i=").unwrap().parse().unwrap();
    let salted = ScramMechanism::Sha512.salted_password(password.as_bytes(), &salt, iterations);
    let client_key = hmac512(&salted, b"Client Key");
    let stored_key = Sha512::digest(&client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth = format!("{bare},{server_first},{without_proof}");
    let signature = hmac512(&stored_key, auth.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let last = format!("{without_proof},p={}", B64.encode(proof));
    let r = c
        .call(
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(last.into_bytes())),
            2,
        )
        .await;
    let (error, server_final) = (r.error_code, r.auth_bytes);
    if error == 0 {
        let expected = hmac512(&hmac512(&salted, b"Server Key"), auth.as_bytes());
        assert_eq!(
            server_final,
            format!("v={}", B64.encode(expected)).into_bytes()
        );
    }
    (error, r.session_lifetime_ms)
}

async fn metadata_works(c: &mut Client) {
    let r = c
        .call(&MetadataRequest::default().with_topics(None), 1)
        .await;
    assert_eq!(r.brokers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_scram_authenticate_and_failures_close() {
    let b = secured().await;
    // PLAIN, after ApiVersions.
    let mut c = sasl_client(&b).await;
    assert_eq!(
        c.call(&crate::common::api_versions(), 3).await.error_code,
        0
    );
    assert_eq!(handshake(&mut c, "PLAIN").await, 0);
    assert_eq!(authenticate(&mut c, b"\0alice\0alice-secret").await.0, 0);
    metadata_works(&mut c).await;
    // After authentication SaslHandshake is ILLEGAL_SASL_STATE (no re-authentication).
    assert_eq!(handshake(&mut c, "PLAIN").await, 34);
    // SCRAM-SHA-512.
    let mut c = sasl_client(&b).await;
    assert_eq!(scram(&mut c, "alice", "alice-secret").await, 0);
    metadata_works(&mut c).await;
    // Wrong password, unknown user: 58 and closed, for both mechanisms.
    for (user, password) in [("alice", "wrong"), ("nobody", "alice-secret")] {
        let mut c = sasl_client(&b).await;
        assert_eq!(scram(&mut c, user, password).await, 58);
        assert!(
            c.read_frame().await.is_none(),
            "closed after a failed SCRAM"
        );
        let mut c = sasl_client(&b).await;
        assert_eq!(handshake(&mut c, "PLAIN").await, 0);
        let token = format!("\0{user}\0{password}");
        let r = c
            .call(
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
                1,
            )
            .await;
        assert_eq!(r.error_code, 58);
        assert_eq!(
            r.error_message.as_deref(),
            Some("Authentication failed: Invalid username or password")
        );
        assert!(
            c.read_frame().await.is_none(),
            "closed after a failed PLAIN"
        );
    }
    // A request before authentication: closed unanswered.
    let mut c = sasl_client(&b).await;
    c.send(&MetadataRequest::default().with_topics(None), 1)
        .await;
    assert!(c.read_frame().await.is_none());
    // An oversized frame before authentication: closed.
    let mut c = sasl_client(&b).await;
    c.write_raw(&(1i32 << 20).to_be_bytes()).await;
    assert!(c.read_frame().await.is_none());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_scram_credentials_take_effect() {
    let b = secured().await;
    let mut admin = Client::from_stream(TcpStream::connect(b.listeners[1].1).await.unwrap());
    let salt = b"carol-salt".to_vec();
    let salted = ScramMechanism::Sha512.salted_password(b"carol-secret", &salt, 4096);
    let upsert = ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_static_str("carol"))
        .with_mechanism(2)
        .with_iterations(4096)
        .with_salt(Bytes::from(salt))
        .with_salted_password(Bytes::from(salted));
    let r = admin
        .call(
            &AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsert]),
            0,
        )
        .await;
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].error_code, 0);
    let mut c = sasl_client(&b).await;
    assert_eq!(scram(&mut c, "carol", "carol-secret").await, 0);
    metadata_works(&mut c).await;
    b.shutdown().await;
}

/// KIP-368 with connections_max_reauth_ms: the session lifetime told on authentication,
/// re-authentication on the same connection (same mechanism and principal), a request after
/// the session's end closing the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_re_authenticate() {
    let c = gregor::config::Config {
        listen: vec!["SASL_PLAINTEXT://127.0.0.1:0".into()],
        user: vec!["alice:alice-secret".into(), "bob:bob-secret".into()],
        connections_max_reauth_ms: 1500,
        ..config(None)
    };
    let b = gregor::server::start(c).await.expect("broker starts");
    let login = async |c: &mut Client, user: &str| {
        assert_eq!(handshake(c, "PLAIN").await, 0);
        let token = format!("\0{user}\0{user}-secret");
        c.call(
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
            1,
        )
        .await
    };
    let mut c = sasl_client(&b).await;
    let r = login(&mut c, "alice").await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 1500));
    // Re-authentication may start at once (as in Kafka), but the next one not sooner than a
    // second after it: then SaslHandshake is an ordinary request.
    let r = login(&mut c, "alice").await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 1500));
    assert_eq!(handshake(&mut c, "PLAIN").await, 34);
    // Re-authentication after a second: the same user again, a fresh lifetime.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = login(&mut c, "alice").await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 1500));
    metadata_works(&mut c).await;
    // Past the session's end, anything but a re-authentication closes the connection.
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    c.send(&MetadataRequest::default().with_topics(None), 1)
        .await;
    assert!(c.read_frame().await.is_none(), "answered after expiry");
    // Another principal on re-authentication: refused and closed.
    let mut c = sasl_client(&b).await;
    assert_eq!(login(&mut c, "alice").await.error_code, 0);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = login(&mut c, "bob").await;
    assert_eq!(r.error_code, 58);
    assert!(r
        .error_message
        .unwrap()
        .contains("Cannot change principals"));
    assert!(c.read_frame().await.is_none());
    // Another mechanism on re-authentication: the handshake is answered, then closed.
    let mut c = sasl_client(&b).await;
    assert_eq!(login(&mut c, "alice").await.error_code, 0);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(handshake(&mut c, "SCRAM-SHA-512").await, 0);
    c.send(
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"n,,n=alice,r=x")),
        1,
    )
    .await;
    assert!(c.read_frame().await.is_none());
    let m = &b.services.metrics.connections;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&m.reauthentications), 2);
    assert_eq!(load(&m.reauthentication_failures), 2);
    assert_eq!(load(&m.expired_sessions), 1);
    b.shutdown().await;
}

/// The unit tests' keys (the EC private key is not used here).
#[allow(dead_code)]
#[path = "../../src/security/oauth/testdata.rs"]
mod oauth_keys;

/// OAUTHBEARER in process: a token whose key is not in the JWKS gets the invalid_token
/// challenge and then 58; after the JWKS file gains the key and the broker reloads it (what
/// SIGHUP does) the same token authenticates, with the token's remaining life as the session
/// lifetime; a broken file on reload keeps the old keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauthbearer_tokens_and_jwks_reload() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let ec_only = format!(
        r#"{{"keys":[{{"kty":"EC","kid":"ec-1","crv":"P-256","x":"{}","y":"{}"}}]}}"#,
        oauth_keys::EC_X,
        oauth_keys::EC_Y
    );
    std::fs::write(&jwks, &ec_only).unwrap();
    let c = gregor::config::Config {
        listen: vec!["SASL_PLAINTEXT://127.0.0.1:0".into()],
        sasl_mechanisms: vec!["PLAIN".into(), "OAUTHBEARER".into()],
        oauth_jwks: Some(jwks.clone()),
        oauth_expected_issuer: Some("https://idp.test".into()),
        oauth_expected_audience: vec!["gregor".into()],
        ..config(None)
    };
    let b = gregor::server::start(c).await.expect("broker starts");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"sub": "svc", "iss": "https://idp.test", "aud": "gregor",
                                    "iat": now, "exp": now + 600});
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let key = EncodingKey::from_rsa_der(&B64.decode(oauth_keys::RSA_PKCS1_DER_B64).unwrap());
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let first = format!("n,,\x01auth=Bearer {token}\x01\x01");
    // The RSA key is not in the JWKS yet.
    let mut c = sasl_client(&b).await;
    assert_eq!(handshake(&mut c, "OAUTHBEARER").await, 0);
    let (error, challenge) = authenticate(&mut c, first.as_bytes()).await;
    assert_eq!(
        (error, &challenge[..]),
        (0, &br#"{"status":"invalid_token"}"#[..])
    );
    let r = c
        .call(
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\x01")),
            2,
        )
        .await;
    assert_eq!(r.error_code, 58);
    assert_eq!(
        r.error_message.as_deref(),
        Some(r#"{"status":"invalid_token"}"#)
    );
    assert!(c.read_frame().await.is_none());
    // Reloaded with the key: the same token authenticates, its session ends with the token.
    std::fs::write(&jwks, oauth_keys::jwks()).unwrap();
    b.reload().await.expect("reload");
    let login = async || {
        let mut c = sasl_client(&b).await;
        assert_eq!(handshake(&mut c, "OAUTHBEARER").await, 0);
        let r = c
            .call(
                &SaslAuthenticateRequest::default()
                    .with_auth_bytes(Bytes::copy_from_slice(first.as_bytes())),
                1,
            )
            .await;
        (c, r)
    };
    let (mut c, r) = login().await;
    assert_eq!(r.error_code, 0);
    assert!(
        (590_000..=600_000).contains(&r.session_lifetime_ms),
        "{}",
        r.session_lifetime_ms
    );
    metadata_works(&mut c).await;
    // A broken file: the reload fails, the keys stay.
    std::fs::write(&jwks, "{").unwrap();
    assert!(b.reload().await.is_err());
    assert_eq!(login().await.1.error_code, 0);
    b.shutdown().await;
}
