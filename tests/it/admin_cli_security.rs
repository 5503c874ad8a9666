//! The admin commands against secured listeners of an in-process broker: SASL PLAIN and SCRAM
//! (flags and a `--command-config` properties file), `gregor users add|delete|list`, TLS with
//! and without a client certificate (certificates made with openssl), and one-line errors
//! for wrong credentials, a missing certificate, an untrusted broker, a protocol mismatch.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::admin_cli::{err, gregor, out};
use crate::common;

async fn sasl_broker() -> gregor::server::RunningBroker {
    let c = gregor::config::Config {
        listen: vec!["SASL_PLAINTEXT://127.0.0.1:0".into()],
        user: vec!["alice:alice-secret".into()],
        ..common::config(None)
    };
    gregor::server::start(c).await.expect("broker starts")
}

/// `args` then the connection flags of `user` with `mechanism` on `addr`.
fn as_user(
    addr: &str,
    mechanism: &str,
    user: &str,
    password: &str,
    args: &[&str],
) -> std::process::Output {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.extend([
        format!("--bootstrap-server={addr}"),
        "--security-protocol=SASL_PLAINTEXT".into(),
        format!("--sasl-mechanism={mechanism}"),
        format!("--sasl-username={user}"),
        format!("--sasl-password={password}"),
    ]);
    gregor(&v.iter().map(String::as_str).collect::<Vec<_>>())
}

fn assert_one_line_failure(o: &std::process::Output, want: &str) {
    assert_eq!(o.status.code(), Some(1), "{}{}", out(o), err(o));
    assert!(err(o).contains(want), "want {want:?}: {}", err(o));
    assert_eq!(err(o).lines().count(), 1, "{}", err(o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_add_list_delete_over_sasl() {
    let b = sasl_broker().await;
    let addr = b.addr().to_string();
    let admin = |args: &[&str]| as_user(&addr, "SCRAM-SHA-512", "alice", "alice-secret", args);

    let o = admin(&["users", "list"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        out(&o),
        "alice\tSCRAM-SHA-256=iterations=4096,SCRAM-SHA-512=iterations=4096\n"
    );

    let o = admin(&[
        "users",
        "add",
        "carol",
        "--password=carol-pw",
        "--iterations=8192",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        out(&o),
        "Set SCRAM-SHA-256 credential of user carol (8192 iterations).\n\
         Set SCRAM-SHA-512 credential of user carol (8192 iterations).\n"
    );
    let o = admin(&["users", "list"]);
    assert_eq!(
        out(&o),
        "alice\tSCRAM-SHA-256=iterations=4096,SCRAM-SHA-512=iterations=4096\n\
         carol\tSCRAM-SHA-256=iterations=8192,SCRAM-SHA-512=iterations=8192\n"
    );
    let o = admin(&["users", "list", "carol"]);
    assert_eq!(
        out(&o),
        "carol\tSCRAM-SHA-256=iterations=8192,SCRAM-SHA-512=iterations=8192\n"
    );
    assert_one_line_failure(&admin(&["users", "list", "nobody"]), "RESOURCE_NOT_FOUND");

    // carol authenticates with both SCRAM mechanisms; she has no PLAIN password.
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let o = as_user(&addr, m, "carol", "carol-pw", &["topics", "list"]);
        assert!(o.status.success(), "{m}: {}", err(&o));
        assert_eq!(out(&o), "loms.order-events\n");
    }
    let o = as_user(&addr, "PLAIN", "carol", "carol-pw", &["topics", "list"]);
    assert_one_line_failure(&o, "authentication failed: SASL_AUTHENTICATION_FAILED");
    // alice's PLAIN password works; a wrong one fails in one line.
    let o = as_user(&addr, "PLAIN", "alice", "alice-secret", &["topics", "list"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = as_user(
        &addr,
        "SCRAM-SHA-512",
        "alice",
        "wrong",
        &["topics", "list"],
    );
    assert_one_line_failure(&o, "authentication failed: SASL_AUTHENTICATION_FAILED");

    // Too few iterations: refused before anything is sent.
    let o = admin(&["users", "add", "dave", "--password=x", "--iterations=100"]);
    assert_one_line_failure(&o, "--iterations 100");

    let o = admin(&["users", "delete", "carol", "--mechanism=SCRAM-SHA-256"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "Deleted SCRAM-SHA-256 credential of user carol.\n");
    let o = as_user(
        &addr,
        "SCRAM-SHA-256",
        "carol",
        "carol-pw",
        &["topics", "list"],
    );
    assert_one_line_failure(&o, "SASL_AUTHENTICATION_FAILED");
    // Without --mechanism: whichever she still has.
    let o = admin(&["users", "delete", "carol"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "Deleted SCRAM-SHA-512 credential of user carol.\n");
    let o = as_user(
        &addr,
        "SCRAM-SHA-512",
        "carol",
        "carol-pw",
        &["topics", "list"],
    );
    assert_one_line_failure(&o, "SASL_AUTHENTICATION_FAILED");
    assert_one_line_failure(&admin(&["users", "delete", "carol"]), "RESOURCE_NOT_FOUND");
    let o = admin(&["users", "delete", "carol", "--mechanism=SCRAM-SHA-512"]);
    assert_one_line_failure(&o, "RESOURCE_NOT_FOUND");

    // A client without SASL on the SASL listener: one line that hints at the protocol.
    let o = gregor(&["topics", "list", &format!("--bootstrap-server={addr}")]);
    assert_one_line_failure(&o, "is the listener's security protocol PLAINTEXT?");

    // The same settings in a Kafka client properties file.
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("client.properties");
    std::fs::write(
        &props,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
         username=\"alice\" password=\"alice-secret\";\n",
    )
    .unwrap();
    let config = format!("--command-config={}", props.display());
    let bs = format!("--bootstrap-server={addr}");
    let o = gregor(&["users", "list", &bs, &config]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).starts_with("alice\t"), "{}", out(&o));
    // A flag overrides the file.
    let o = gregor(&["users", "list", &bs, &config, "--sasl-password=wrong"]);
    assert_one_line_failure(&o, "SASL_AUTHENTICATION_FAILED");

    b.shutdown().await;
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (needed to make the test certificates) runs");
    assert!(o.status.success(), "openssl {args:?}: {}", err(&o));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate signed by it, and
/// another CA: `dir/{ca,server,client,other-ca}.{pem|crt,key}`.
fn certificates(dir: &Path) {
    let key = |name: &str| {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &format!("{name}.key"),
            ],
        )
    };
    for (ca, subject) in [("ca", "/CN=test CA"), ("other-ca", "/CN=other CA")] {
        key(ca);
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &format!("{ca}.key"),
                "-days",
                "2",
                "-subj",
                subject,
                "-out",
                &format!("{ca}.pem"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    for (name, subject, ext) in [
        (
            "server",
            "/CN=localhost",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        (
            "client",
            "/O=gregor/CN=client",
            "extendedKeyUsage=clientAuth\n",
        ),
    ] {
        key(name);
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                subject,
                "-out",
                &format!("{name}.csr"),
            ],
        );
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_sasl_and_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let path = |f: &str| -> PathBuf { d.join(f) };
    let c = gregor::config::Config {
        listen: vec!["SASL_SSL://127.0.0.1:0".into(), "SSL://127.0.0.1:0".into()],
        user: vec!["alice:alice-secret".into()],
        ssl_cert: Some(path("server.crt")),
        ssl_key: Some(path("server.key")),
        ssl_client_ca: Some(path("ca.pem")),
        ..common::config(None)
    };
    let b = gregor::server::start(c).await.expect("broker starts");
    let sasl_ssl = format!("--bootstrap-server={}", b.listeners[0].1);
    let ssl = format!("--bootstrap-server={}", b.listeners[1].1);
    let flag = |name: &str, file: &str| format!("--{name}={}", path(file).display());
    let (ca, other_ca) = (flag("ssl-ca", "ca.pem"), flag("ssl-ca", "other-ca.pem"));
    let (cert, key) = (
        flag("ssl-cert", "client.crt"),
        flag("ssl-key", "client.key"),
    );

    let sasl = [
        "--security-protocol=SASL_SSL",
        "--sasl-mechanism=SCRAM-SHA-512",
        "--sasl-username=alice",
        "--sasl-password=alice-secret",
    ];
    let mut args = vec!["users", "list", &sasl_ssl, &ca];
    args.extend(sasl);
    let o = gregor(&args);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).starts_with("alice\t"), "{}", out(&o));

    let o = gregor(&[
        "topics",
        "list",
        &ssl,
        "--security-protocol=SSL",
        &ca,
        &cert,
        &key,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "loms.order-events\n");

    // The same as a Kafka client properties file with a PEM key store (key and chain).
    let keystore = path("client-keystore.pem");
    let pem = |f: &str| std::fs::read_to_string(path(f)).unwrap();
    std::fs::write(&keystore, pem("client.key") + &pem("client.crt")).unwrap();
    let props = path("client.properties");
    std::fs::write(
        &props,
        format!(
            "security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={}\n\
             ssl.keystore.type=PEM\nssl.keystore.location={}\n",
            path("ca.pem").display(),
            keystore.display()
        ),
    )
    .unwrap();
    let config = format!("--command-config={}", props.display());
    let o = gregor(&["topics", "list", &ssl, &config]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "loms.order-events\n");

    // No client certificate on the SSL listener: refused, in one line.
    let o = gregor(&["topics", "list", &ssl, "--security-protocol=SSL", &ca]);
    assert_one_line_failure(
        &o,
        "requires a client certificate: --ssl-cert and --ssl-key",
    );
    // A broker certificate from a CA we do not trust.
    let mut args = vec!["topics", "list", &sasl_ssl, &other_ca];
    args.extend(sasl);
    assert_one_line_failure(&gregor(&args), "TLS handshake failed");
    assert_one_line_failure(&gregor(&args), "is --ssl-ca the CA that signed");
    // The certificate names 127.0.0.1, not localhost: refused unless told to accept it.
    let by_name = format!("--bootstrap-server=localhost:{}", b.listeners[1].1.port());
    let mut args = vec![
        "topics",
        "list",
        &by_name,
        "--security-protocol=SSL",
        &ca,
        &cert,
        &key,
    ];
    assert_one_line_failure(&gregor(&args), "--ssl-no-hostname-verification accepts it");
    args.push("--ssl-no-hostname-verification");
    let o = gregor(&args);
    assert!(o.status.success(), "{}", err(&o));
    // Plaintext to a TLS port.
    let o = gregor(&["topics", "list", &sasl_ssl]);
    assert_one_line_failure(
        &o,
        "the broker answered with TLS (is the listener SSL or SASL_SSL?",
    );

    b.shutdown().await;
}
