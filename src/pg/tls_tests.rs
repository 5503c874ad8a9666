//! The TLS settings against real PostgreSQL servers: the TLS-only one (`testing::tls`) and,
//! for `prefer`, the plain one.

use std::time::Duration;

use crate::pg::postgres::Client;
use crate::pg::testing::tls::{tls_database, TlsDb, CERT_USER, SCRAM_PASSWORD, SCRAM_USER};
use crate::pg::{settings, testing, Db};

fn connect(url: &str) -> anyhow::Result<Client> {
    let (config, tls) = settings(url)?;
    Ok(config.connect(tls)?)
}

/// The error of a connection that must fail, with its causes.
fn refused(url: &str) -> String {
    match connect(url) {
        Ok(_) => panic!("{url}: connected"),
        Err(e) => format!("{e:#}"),
    }
}

fn over_tls(client: &mut Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

fn with(db: &TlsDb, params: &str) -> String {
    format!("{}?{params}", db.url)
}

#[test]
fn require_uses_tls_and_checks_the_chain_only_with_a_root_certificate() {
    let db = tls_database();
    let mut client = connect(&with(&db, "sslmode=require")).unwrap();
    assert!(over_tls(&mut client));
    // As libpq: given sslrootcert, require checks the chain (not the name).
    let url = format!(
        "postgres://postgres@not-this-host.invalid:{}/{}?hostaddr=127.0.0.1&sslmode=require&sslrootcert={}",
        db.port,
        db.name,
        db.ca.display()
    );
    assert!(over_tls(&mut connect(&url).unwrap()));
    let e = refused(&with(
        &db,
        &format!("sslmode=require&sslrootcert={}", db.other_ca.display()),
    ));
    assert!(e.contains("UnknownIssuer"), "{e}");
}

#[test]
fn prefer_is_the_default_and_uses_tls_where_the_server_offers_it() {
    let db = tls_database();
    assert!(over_tls(&mut connect(&db.url).unwrap()));
    assert!(over_tls(
        &mut connect(&with(&db, "sslmode=prefer")).unwrap()
    ));
    // The plain test server has ssl off: prefer goes on without.
    let plain = testing::database();
    assert!(!over_tls(&mut connect(&plain.url).unwrap()));
    let e = refused(&format!("{}?sslmode=require", plain.url));
    assert!(e.contains("server does not support TLS"), "{e}");
}

#[test]
fn verify_full_connects_with_the_servers_ca_by_address_and_by_name() {
    let db = tls_database();
    let ca = db.ca.display();
    let mut client = connect(&with(&db, &format!("sslmode=verify-full&sslrootcert={ca}"))).unwrap();
    assert!(over_tls(&mut client));
    // The name in the certificate's DNS entry; hostaddr only for the socket.
    let by_name = format!(
        "postgres://postgres@localhost:{}/{}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}",
        db.port, db.name
    );
    assert!(over_tls(&mut connect(&by_name).unwrap()));
    // A file of several CAs, the right one last.
    let both = with(
        &db,
        &format!("sslmode=verify-full&sslrootcert={}", db.both_cas.display()),
    );
    assert!(over_tls(&mut connect(&both).unwrap()));
}

#[test]
fn verify_full_refuses_a_server_of_another_ca_and_says_why() {
    let db = tls_database();
    let e = refused(&with(
        &db,
        &format!("sslmode=verify-full&sslrootcert={}", db.other_ca.display()),
    ));
    assert!(e.contains("invalid peer certificate"), "{e}");
    assert!(e.contains("UnknownIssuer"), "{e}");
}

#[test]
fn verify_ca_ignores_the_host_name_and_verify_full_does_not() {
    let db = tls_database();
    let url = |mode: &str| {
        format!(
            "postgres://postgres@not-this-host.invalid:{}/{}?hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={}",
            db.port,
            db.name,
            db.ca.display()
        )
    };
    assert!(over_tls(&mut connect(&url("verify-ca")).unwrap()));
    let e = refused(&url("verify-full"));
    assert!(e.contains("not valid for name"), "{e}");
    assert!(e.contains("not-this-host.invalid"), "{e}");
    let e = refused(&with(
        &db,
        &format!("sslmode=verify-ca&sslrootcert={}", db.other_ca.display()),
    ));
    assert!(e.contains("UnknownIssuer"), "{e}");
}

#[test]
fn disable_is_refused_by_a_server_that_takes_tls_only() {
    let db = tls_database();
    let e = refused(&with(&db, "sslmode=disable"));
    assert!(e.contains("no pg_hba.conf entry"), "{e}");
    assert!(e.contains("no encryption"), "{e}");
}

#[test]
fn a_unix_socket_is_used_without_tls_whatever_the_mode() {
    let db = tls_database();
    let url = format!(
        "postgres://postgres@{}:{}/{}?sslmode=verify-full&sslrootcert={}",
        percent_encoding::utf8_percent_encode(
            &db.socket_dir.display().to_string(),
            percent_encoding::NON_ALPHANUMERIC
        ),
        db.port,
        db.name,
        db.ca.display()
    );
    assert!(!over_tls(&mut connect(&url).unwrap()));
}

#[test]
fn a_client_certificate_logs_in_its_user() {
    let db = tls_database();
    let url = |files: &str| {
        format!(
            "postgres://{CERT_USER}@127.0.0.1:{}/{}?sslmode=verify-full&sslrootcert={}{files}",
            db.port,
            db.name,
            db.ca.display()
        )
    };
    let files = format!(
        "&sslcert={}&sslkey={}",
        db.client_cert.display(),
        db.client_key.display()
    );
    let user: String = connect(&url(&files))
        .unwrap()
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(user, CERT_USER);
    let e = refused(&url(""));
    assert!(e.contains("certificate"), "{e}");
}

#[test]
fn scram_binds_to_the_tls_channel() {
    let db = tls_database();
    let url = |password: &str| {
        format!(
            "postgres://{SCRAM_USER}:{password}@127.0.0.1:{}/{}?sslmode=verify-full&sslrootcert={}&channel_binding=require",
            db.port,
            db.name,
            db.ca.display()
        )
    };
    assert!(over_tls(&mut connect(&url(SCRAM_PASSWORD)).unwrap()));
    let e = refused(&url("wrong"));
    assert!(e.contains("password authentication failed"), "{e}");
}

#[test]
fn the_pool_opens_and_migrates_over_tls() {
    let db = tls_database();
    // Trust ignores the password; it is there to be hidden.
    let url = format!(
        "postgres://postgres:pool-secret@127.0.0.1:{}/{}?sslmode=verify-full&sslrootcert={}",
        db.port,
        db.name,
        db.ca.display()
    );
    let pool = Db::open(&url, Duration::from_secs(9)).unwrap();
    let shown = format!("{pool:?}");
    assert!(!shown.contains("pool-secret"), "{shown}");
    assert!(shown.contains("sslmode=verify-full"), "{shown}");
    let mut conn = pool.conn().unwrap();
    assert!(over_tls(&mut conn));
    let migrated: bool = conn
        .query_one("SELECT to_regclass('gregor_kv') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(migrated);
}

#[test]
fn a_bad_setting_stops_the_pool_naming_it_without_the_password() {
    let e = Db::open(
        "postgres://u:pool-secret@127.0.0.1:1/db?sslmode=verify-everything",
        Duration::from_secs(9),
    )
    .err()
    .unwrap();
    let e = format!("{e:#}");
    assert!(e.contains("sslmode=\"verify-everything\""), "{e}");
    assert!(!e.contains("pool-secret"), "{e}");
}
