//! Listeners and security: the listener forms, TLS/SASL/OAUTHBEARER settings, the authorizer.

use super::super::*;
use super::{error, file, run};

#[test]
fn the_compose_listeners() {
    let c = run(
        &[
            "--listen",
            "INTERNAL://0.0.0.0:29092",
            "--advertised-listener",
            "INTERNAL://kafka:29092",
            "--listen",
            "PLAINTEXT://0.0.0.0:9092",
            "--advertised-listener",
            "PLAINTEXT://localhost:9092",
            "--listener-security-protocol",
            "INTERNAL:PLAINTEXT",
        ],
        &[],
    );
    let l = c.listeners().unwrap();
    assert_eq!(
        l,
        [
            ListenerSpec {
                name: "INTERNAL".into(),
                bind: "0.0.0.0:29092".into(),
                advertised: Some(("kafka".into(), 29092)),
                protocol: SecurityProtocol::Plaintext,
            },
            ListenerSpec {
                name: "PLAINTEXT".into(),
                bind: "0.0.0.0:9092".into(),
                advertised: Some(("localhost".into(), 9092)),
                protocol: SecurityProtocol::Plaintext,
            },
        ]
    );
}

#[test]
fn listener_forms() {
    let c = Config {
        listen: vec![
            "127.0.0.1:0".into(),
            "v6://[::]:9093".into(),
            "other://:9094".into(),
        ],
        advertised_listener: vec!["[::1]:1234".into()],
        listener_security_protocol: vec!["V6:SSL".into(), "other:sasl_plaintext".into()],
        ssl_cert: Some("c.pem".into()),
        ssl_key: Some("k.pem".into()),
        ..Config::default()
    };
    let l = c.listeners().unwrap();
    assert_eq!(
        (l[0].name.as_str(), l[0].bind.as_str()),
        ("PLAINTEXT", "127.0.0.1:0")
    );
    assert_eq!(l[0].advertised, Some(("::1".into(), 1234)));
    assert_eq!(
        (l[1].name.as_str(), l[1].bind.as_str()),
        ("V6", "[::]:9093")
    );
    assert_eq!(
        (l[2].name.as_str(), l[2].bind.as_str()),
        ("OTHER", "0.0.0.0:9094")
    );
    let protocols: Vec<_> = l.iter().map(|s| s.protocol).collect();
    assert_eq!(
        protocols,
        [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext
        ]
    );
}

#[test]
fn oauth_settings() {
    let oauth = [
        "--sasl-mechanisms",
        "SCRAM-SHA-512,OAUTHBEARER",
        "--oauth-jwks",
        "j.json",
    ];
    let c = run(
        &[
            &oauth[..],
            &[
                "--oauth-expected-issuer",
                "https://idp",
                "--oauth-expected-audience",
                "a,b",
            ],
            &[
                "--oauth-expected-audience",
                "c",
                "--oauth-clock-skew-seconds",
                "5",
            ],
        ]
        .concat(),
        &[("GREGOR_OAUTH_SUB_CLAIM_NAME", "client_id")],
    );
    assert_eq!(c.oauth_expected_audience, ["a", "b", "c"]);
    assert_eq!(
        (c.oauth_clock_skew_seconds, c.oauth_sub_claim_name.as_str()),
        (5, "client_id")
    );
    let f = file("sasl_mechanisms = [\"OAUTHBEARER\"]\noauth_jwks = \"j.json\"\noauth_allow_unverified_issuer = true\noauth_allow_unverified_audience = true\n");
    let c = run(&["--config", f.path().to_str().unwrap()], &[]);
    assert!(c.oauth_allow_unverified_issuer && c.oauth_expected_audience.is_empty());
    assert_eq!(
        (
            c.oauth_clock_skew_seconds,
            c.oauth_scope_claim_name.as_str()
        ),
        (30, "scope")
    );
    // OAUTHBEARER needs a JWKS file, an issuer and an audience (or their opt-outs).
    assert!(error(&["--sasl-mechanisms", "OAUTHBEARER"], &[]).contains("oauth_jwks"));
    assert!(error(&oauth, &[]).contains("oauth_expected_issuer"));
    let issuer = [&oauth[..], &["--oauth-expected-issuer", "i"]].concat();
    assert!(error(&issuer, &[]).contains("oauth_expected_audience"));
    let opt_out = [
        &oauth[..],
        &["--oauth-allow-unverified-issuer"],
        &["--oauth-allow-unverified-audience"],
    ]
    .concat();
    assert!(run(&opt_out, &[]).oauth_expected_issuer.is_none());
}

#[test]
fn security_settings() {
    let c = run(
        &[
            "--listen",
            "SASL_SSL://0.0.0.0:9093",
            "--ssl-cert",
            "c.pem",
            "--ssl-key",
            "k.pem",
            "--user",
            "alice:a:b",
            "--sasl-mechanisms",
            "PLAIN,SCRAM-SHA-512",
        ],
        &[("GREGOR_USER", "bob:x")],
    );
    assert_eq!(
        c.listeners().unwrap()[0].protocol,
        SecurityProtocol::SaslSsl
    );
    assert_eq!(c.sasl_mechanisms, ["PLAIN", "SCRAM-SHA-512"]);
    // Flags replace the environment's list; a password may hold ':'.
    let users = c.users().unwrap();
    assert_eq!(
        (
            users.len(),
            users[0].name.as_str(),
            users[0].password.as_str()
        ),
        (1, "alice", "a:b")
    );
    assert!(
        !format!("{users:?}").contains("a:b"),
        "passwords are not logged"
    );
    assert_eq!(
        run(&[], &[]).sasl_mechanisms,
        ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
    );
    for (args, needle) in [
        (
            &["--listen", "INTERNAL://0.0.0.0:1"][..],
            "no security protocol",
        ),
        (&["--listen", "SSL://0.0.0.0:1"], "needs ssl_cert"),
        (&["--ssl-cert", "c.pem"], "go together"),
        (&["--ssl-client-ca", "ca.pem"], "needs ssl_cert"),
        (&["--sasl-mechanisms", "GSSAPI"], "unknown mechanism"),
        (&["--user", "alice"], "NAME:PASSWORD"),
        (&["--user", ":pw"], "needs a name"),
        (&["--user", "a:1", "--user", "a:2"], "twice"),
        (
            &["--listener-security-protocol", "X:TLS"],
            "PROTOCOL is one of",
        ),
        (
            &[
                "--listener-security-protocol",
                "X:SSL",
                "--listener-security-protocol",
                "x:SSL",
            ],
            "twice",
        ),
    ] {
        let e = error(args, &[]);
        assert!(e.contains(needle), "{args:?}: {e}");
    }
}

#[test]
fn bad_listeners() {
    for (args, needle) in [
        (
            &["--advertised-listener", "EXTERNAL://kafka:9092"][..],
            "EXTERNAL",
        ),
        (&["--listen", "0.0.0.0"], "0.0.0.0"),
        (&["--listen", "0.0.0.0:99999"], "99999"),
        (
            &["--listen", "ssl://0.0.0.0:1", "--listen", "SSL://0.0.0.0:2"],
            "twice",
        ),
        (&["--advertised-listener", "localhost:0"], "localhost:0"),
        (
            &[
                "--advertised-listener",
                "a:1",
                "--advertised-listener",
                "b:2",
            ],
            "twice",
        ),
        (&["--listen", "bad name://0.0.0.0:1"], "bad name"),
    ] {
        let e = error(args, &[]);
        assert!(e.contains(needle), "{args:?}: {e}");
    }
    assert!(error(&[], &[("GREGOR_LISTEN", "")]).contains("at least one"));
}

#[test]
fn authorization_settings() {
    let c = run(&[], &[]);
    assert_eq!(c.authorizer, AuthorizerKind::None);
    assert!(c.super_user.is_empty() && !c.allow_everyone_if_no_acl_found);
    let c = run(
        &[
            "--authorizer",
            "acl",
            "--super-user",
            "admin",
            "--super-user",
            "User:ops",
            "--allow-everyone-if-no-acl-found",
        ],
        &[],
    );
    assert_eq!(c.authorizer, AuthorizerKind::Acl);
    assert_eq!(c.super_user, ["admin", "User:ops"]);
    assert!(c.allow_everyone_if_no_acl_found);
    let c = run(
        &[],
        &[
            ("GREGOR_AUTHORIZER", "acl"),
            ("GREGOR_SUPER_USER", "a,User:b"),
            ("GREGOR_ALLOW_EVERYONE_IF_NO_ACL_FOUND", "true"),
        ],
    );
    assert_eq!(c.super_user, ["a", "User:b"]);
    assert!(c.allow_everyone_if_no_acl_found && c.authorizer == AuthorizerKind::Acl);
    let f = file("authorizer = \"acl\"\nsuper_user = [\"x\"]\n");
    let c = run(&["--config", f.path().to_str().unwrap()], &[]);
    assert_eq!(
        (c.authorizer, c.super_user),
        (AuthorizerKind::Acl, vec!["x".to_string()])
    );
    assert!(error(&["--authorizer", "zk"], &[]).contains("--authorizer"));
    for bad in ["User:", ":bob", ""] {
        assert!(
            error(&["--super-user", bad], &[]).contains("super_user"),
            "{bad:?}"
        );
    }
}

#[test]
fn delegation_token_settings() {
    let c = run(&[], &[]);
    assert_eq!(c.delegation_token_secret_key, None);
    assert_eq!(
        (
            c.delegation_token_max_lifetime_ms,
            c.delegation_token_expiry_time_ms,
            c.delegation_token_expiry_check_interval_ms
        ),
        (604_800_000, 86_400_000, 3_600_000)
    );
    let f = file("delegation_token_expiry_check_interval_ms = 500\n");
    let c = run(
        &[
            "--config",
            f.path().to_str().unwrap(),
            "--delegation-token-secret-key",
            "s3cret-key",
            "--delegation-token-max-lifetime-ms",
            "60000",
        ],
        &[("GREGOR_DELEGATION_TOKEN_EXPIRY_TIME_MS", "1000")],
    );
    assert_eq!(c.delegation_token_secret_key.as_deref(), Some("s3cret-key"));
    assert_eq!(
        (
            c.delegation_token_max_lifetime_ms,
            c.delegation_token_expiry_time_ms,
            c.delegation_token_expiry_check_interval_ms
        ),
        (60_000, 1000, 500)
    );
    // The secret is never printed.
    let text = c.to_toml().unwrap();
    assert!(!text.contains("s3cret-key"), "{text}");
    assert!(
        text.contains("# delegation_token_secret_key: omitted"),
        "{text}"
    );
    assert!(
        error(&["--delegation-token-secret-key", ""], &[]).contains("delegation_token_secret_key")
    );
    for flag in [
        "--delegation-token-max-lifetime-ms",
        "--delegation-token-expiry-time-ms",
        "--delegation-token-expiry-check-interval-ms",
    ] {
        assert!(error(&[flag, "0"], &[]).contains("at least 1"), "{flag}");
    }
}
