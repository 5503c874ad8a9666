use std::io::Write;

use super::*;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn with_file(f: &tempfile::NamedTempFile) -> SecurityArgs {
    SecurityArgs {
        command_config: Some(f.path().to_path_buf()),
        ..Default::default()
    }
}

fn sasl_of(s: &Security) -> (&str, &str, &str) {
    let sasl = s.sasl.as_ref().expect("SASL settings");
    (sasl.mechanism.name(), &sasl.username, &sasl.password)
}

#[test]
fn plaintext_by_default() {
    let s = SecurityArgs::default().resolve().unwrap();
    assert_eq!(s.protocol, SecurityProtocol::Plaintext);
    assert!(s.tls.is_none() && s.sasl.is_none());
}

#[test]
fn a_java_client_properties_file() {
    let f = file(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n\
         \x20   username=\"admin\" password=\"admin-secret\";\nclient.id=ignored\n",
    );
    let s = with_file(&f).resolve().unwrap();
    assert_eq!(s.protocol, SecurityProtocol::SaslPlaintext);
    assert_eq!(sasl_of(&s), ("SCRAM-SHA-512", "admin", "admin-secret"));
    // Flags override the file.
    let args = SecurityArgs {
        sasl_mechanism: Some("PLAIN".into()),
        sasl_password: Some("other".into()),
        ..with_file(&f)
    };
    assert_eq!(
        sasl_of(&args.resolve().unwrap()),
        ("PLAIN", "admin", "other")
    );
}

#[test]
fn librdkafka_style_properties() {
    let f = file(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=SCRAM-SHA-256\n\
         sasl.username=alice\nsasl.password=alice-secret\n",
    );
    let s = with_file(&f).resolve().unwrap();
    assert_eq!(sasl_of(&s), ("SCRAM-SHA-256", "alice", "alice-secret"));
}

#[test]
fn flags_alone() {
    let args = SecurityArgs {
        security_protocol: Some("SASL_PLAINTEXT".into()),
        sasl_mechanism: Some("SCRAM-SHA-256".into()),
        sasl_username: Some("u".into()),
        sasl_password: Some("p".into()),
        ..Default::default()
    };
    assert_eq!(
        sasl_of(&args.resolve().unwrap()),
        ("SCRAM-SHA-256", "u", "p")
    );
}

fn error(args: SecurityArgs) -> String {
    match args.resolve() {
        Ok(_) => panic!("resolved"),
        Err(e) => e,
    }
}

#[test]
fn mistakes_are_one_line_errors() {
    let sasl = |m: Option<&str>, u: Option<&str>, p: Option<&str>| SecurityArgs {
        security_protocol: Some("SASL_PLAINTEXT".into()),
        sasl_mechanism: m.map(Into::into),
        sasl_username: u.map(Into::into),
        sasl_password: p.map(Into::into),
        ..Default::default()
    };
    assert!(error(sasl(None, Some("u"), Some("p"))).contains("--sasl-mechanism"));
    assert!(error(sasl(Some("GSSAPI"), Some("u"), Some("p"))).contains("not supported"));
    assert!(error(sasl(Some("PLAIN"), None, Some("p"))).contains("--sasl-username"));
    assert!(error(sasl(Some("PLAIN"), Some("u"), None)).contains("--sasl-password"));
    let e = error(SecurityArgs {
        security_protocol: Some("sasl_ssl".into()),
        ..Default::default()
    });
    assert!(e.contains("want PLAINTEXT"), "{e}");
    let e = error(SecurityArgs {
        sasl_username: Some("u".into()),
        ..Default::default()
    });
    assert!(
        e.contains("need --security-protocol SASL_PLAINTEXT or SASL_SSL"),
        "{e}"
    );
    let e = error(SecurityArgs {
        ssl_ca: Some("ca.pem".into()),
        security_protocol: Some("SASL_PLAINTEXT".into()),
        ..sasl(Some("PLAIN"), Some("u"), Some("p"))
    });
    assert!(
        e.contains("need --security-protocol SSL or SASL_SSL"),
        "{e}"
    );
    let e = error(SecurityArgs {
        security_protocol: Some("SSL".into()),
        ..Default::default()
    });
    assert!(e.contains("--ssl-ca"), "{e}");
    let e = error(SecurityArgs {
        security_protocol: Some("SSL".into()),
        ssl_ca: Some("/nonexistent/ca.pem".into()),
        ..Default::default()
    });
    assert!(e.starts_with("--ssl-ca /nonexistent/ca.pem: "), "{e}");
    let not_pem = file("hello\n");
    let e = error(SecurityArgs {
        security_protocol: Some("SSL".into()),
        ssl_ca: Some(not_pem.path().to_path_buf()),
        ..Default::default()
    });
    assert!(e.contains("no PEM certificate found"), "{e}");
    for e in [&e, &error(sasl(None, Some("u"), Some("p")))] {
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn unsupported_file_settings() {
    for (text, want) in [
        ("security.protocol=SSL\nssl.truststore.type=JKS\nssl.truststore.location=t.jks\n", "only PEM"),
        ("ssl.keystore.type=PKCS12\n", "only PEM"),
        ("ssl.key.password=secret\n", "encrypted private keys"),
        (
            "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\n",
            "not supported",
        ),
        ("sasl.jaas.config=broken\n", "control flag"),
        ("ssl.endpoint.identification.algorithm=ldap\n", "want https or empty"),
    ] {
        let f = file(text);
        let e = error(with_file(&f));
        assert!(e.contains(want), "{text}: {e}");
        assert!(e.starts_with(&f.path().display().to_string()), "{e}");
    }
    let e = error(SecurityArgs {
        command_config: Some("/nonexistent/client.properties".into()),
        ..Default::default()
    });
    assert!(
        e.starts_with("--command-config /nonexistent/client.properties: "),
        "{e}"
    );
}

#[test]
fn tls_file_settings_are_read() {
    let f = file(
        "security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=/nonexistent/ca.pem\n",
    );
    let e = error(with_file(&f));
    assert!(
        e.starts_with("ssl.truststore.location /nonexistent/ca.pem: "),
        "{e}"
    );
    let f = file("security.protocol=SSL\nssl.ca.location=/nonexistent/ca.pem\n");
    assert!(error(with_file(&f)).starts_with("ssl.ca.location /nonexistent/ca.pem: "));
}
