//! The TLS test server: `ssl=on` with a certificate for `localhost` and 127.0.0.1 from a test
//! CA, and a pg_hba.conf that takes TCP connections over TLS only (`hostssl`): `postgres` by
//! trust, [`CERT_USER`] by its client certificate, [`SCRAM_USER`] by password (SCRAM, whose
//! channel binding needs TLS). Certificates are made afresh by each test process (rcgen).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};

use super::{start, Server};

/// The role that logs in with its client certificate (whose common name it is).
pub const CERT_USER: &str = "gregor_cert";
/// The role that logs in with SCRAM-SHA-256.
pub const SCRAM_USER: &str = "gregor_scram";
pub const SCRAM_PASSWORD: &str = "scram-secret";

/// One test's own database on the TLS server, and the files to reach it with.
pub struct TlsDb {
    /// `postgres://postgres@127.0.0.1:PORT/NAME`, without TLS parameters.
    pub url: String,
    pub port: u16,
    pub name: String,
    /// The server's directory, which holds its Unix socket.
    pub socket_dir: PathBuf,
    /// The CA that signed the server's certificate (PEM).
    pub ca: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
    /// Both CAs in one file, the other first.
    pub both_cas: PathBuf,
    /// A certificate for [`CERT_USER`] signed by `ca`, and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

static TLS_SERVER: OnceLock<Server> = OnceLock::new();

/// A new, empty database on the test process's TLS server (started on first use).
pub fn tls_database() -> TlsDb {
    let server = TLS_SERVER.get_or_init(start_tls_server);
    let name = server.create_database();
    let file = |name: &str| server.dir.join(name);
    TlsDb {
        url: format!("postgres://postgres@127.0.0.1:{}/{name}", server.port),
        port: server.port,
        name,
        socket_dir: server.dir.clone(),
        ca: file("ca.pem"),
        other_ca: file("other-ca.pem"),
        both_cas: file("both-cas.pem"),
        client_cert: file("client.crt"),
        client_key: file("client.key"),
    }
}

fn start_tls_server() -> Server {
    let server = start("-tls", write_tls_files);
    server
        .admin()
        .expect("connect to the TLS test server")
        .batch_execute(&format!(
            "CREATE ROLE {CERT_USER} LOGIN; \
             CREATE ROLE {SCRAM_USER} LOGIN PASSWORD '{SCRAM_PASSWORD}'"
        ))
        .expect("create the TLS test roles");
    server
}

/// The certificates, keys and pg_hba.conf in `dir`; the server's arguments that use them.
fn write_tls_files(dir: &Path, user: Option<(u32, u32)>) -> Vec<String> {
    let ca = ca("gregor test CA");
    let other_ca = ca_pem("gregor other test CA");
    let (server_cert, server_key) = leaf(&ca, &["localhost", "127.0.0.1"], "localhost");
    let (client_cert, client_key) = leaf(&ca, &[], CERT_USER);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a TLS test file");
        // PostgreSQL refuses a key others may read.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod a TLS test file");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("chown a TLS test file");
        }
        path.display().to_string()
    };
    let ca_file = write("ca.pem", &ca.pem());
    write("other-ca.pem", &other_ca);
    write("both-cas.pem", &format!("{other_ca}{}", ca.pem()));
    write("client.crt", &client_cert);
    write("client.key", &client_key);
    let cert_file = write("server.crt", &server_cert);
    let key_file = write("server.key", &server_key);
    let hba_file = write(
        "pg_hba.conf",
        &format!(
            "local all all trust\n\
             hostssl all {CERT_USER} 127.0.0.1/32 cert\n\
             hostssl all {SCRAM_USER} 127.0.0.1/32 scram-sha-256\n\
             hostssl all all 127.0.0.1/32 trust\n"
        ),
    );
    [
        "ssl=on".to_string(),
        format!("ssl_cert_file={cert_file}"),
        format!("ssl_key_file={key_file}"),
        format!("ssl_ca_file={ca_file}"),
        format!("hba_file={hba_file}"),
        "max_connections=100".to_string(),
    ]
    .into_iter()
    .flat_map(|setting| ["-c".to_string(), setting])
    .collect()
}

fn ca(common_name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name = name(common_name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

fn ca_pem(common_name: &str) -> String {
    ca(common_name).pem()
}

/// A certificate for `names` signed by `ca`, and its key (PEM).
fn leaf(ca: &CertifiedIssuer<'_, KeyPair>, names: &[&str], common_name: &str) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("certificate parameters");
    params.distinguished_name = name(common_name);
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("sign a certificate");
    (cert.pem(), key.serialize_pem())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}
