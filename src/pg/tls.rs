//! TLS to the cluster's PostgreSQL, set as libpq sets it, in the `--storage` URL:
//!
//! - `sslmode`: `disable`; `prefer` (the default, as libpq's: TLS when the server offers it,
//!   else plain); `require` (TLS or no connection); `verify-ca` (and the server's certificate
//!   chains to `sslrootcert`); `verify-full` (and names the URL's host: a DNS name or an IP
//!   address, `host` and not `hostaddr`). As in libpq, `prefer` and `require` check the chain
//!   too when `sslrootcert` is given, and the host name never.
//! - `sslrootcert=PATH`: a PEM file of one or more CA certificates.
//! - `sslcert=PATH`, `sslkey=PATH`: a client certificate (PEM, with its chain) and its key.
//!
//! The `postgres` crate's parser knows `sslmode` disable, prefer and require only, and none of
//! the file settings, so [`split`] takes these parameters out of the URL and interprets them
//! here: the crate gets the rest, and the mode on the wire (`require` for the verify modes,
//! whose checks are the certificate verifier's below).
//!
//! The connector is `tokio-postgres-rustls`'s `MakeRustlsConnect`: the maintained binding of
//! rustls to tokio-postgres's `MakeTlsConnect` (the tokio-postgres project itself ships OpenSSL
//! and native-tls ones), on rustls 0.23 like gregor's listeners (`server/tls.rs`, ring), so one
//! TLS stack; it also gives SCRAM its channel binding (`tls-server-end-point`). One connector
//! serves every mode: with `disable` tokio-postgres never calls it, so the pool has one type.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::postgres::config::SslMode as WireMode;

/// libpq's `sslmode`, less `allow` (plain first, TLS only if the server insists), which
/// tokio-postgres cannot do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> anyhow::Result<Self> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => bail!("sslmode=allow is not supported: use prefer or disable"),
            other => bail!(
                "sslmode={other:?} is not a mode: expected disable, prefer, require, \
                 verify-ca or verify-full"
            ),
        })
    }

    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The mode tokio-postgres negotiates with.
    fn wire(self) -> WireMode {
        match self {
            SslMode::Disable => WireMode::Disable,
            SslMode::Prefer => WireMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => WireMode::Require,
        }
    }
}

/// The TLS parameters of a URL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// `url` without the parameters this module interprets, and those parameters.
pub fn split(url: &str) -> anyhow::Result<(String, TlsSettings)> {
    // The query starts at the first '?' after the credentials, which end at the first '@':
    // where the postgres crate's parser looks for them.
    let after_credentials = url.find('@').map_or(0, |at| at + 1);
    let Some(query_at) = url[after_credentials..]
        .find('?')
        .map(|q| q + after_credentials)
    else {
        return Ok((url.to_string(), TlsSettings::default()));
    };
    let mut settings = TlsSettings::default();
    let mut kept = Vec::new();
    for pair in url[query_at + 1..].split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            kept.push(pair);
            continue;
        };
        let value = || decode(value);
        match decode(key)?.as_str() {
            "sslmode" => settings.mode = SslMode::parse(&value()?)?,
            "sslrootcert" => settings.root_cert = Some(PathBuf::from(value()?)),
            "sslcert" => settings.client_cert = Some(PathBuf::from(value()?)),
            "sslkey" => settings.client_key = Some(PathBuf::from(value()?)),
            _ => kept.push(pair),
        }
    }
    let mut rest = url[..query_at].to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, settings))
}

fn decode(text: &str) -> anyhow::Result<String> {
    Ok(percent_decode_str(text)
        .decode_utf8()
        .with_context(|| format!("{text:?}: not UTF-8 once percent-decoded"))?
        .into_owned())
}

impl TlsSettings {
    /// The `sslmode` to give the postgres crate's config.
    pub fn wire_mode(&self) -> WireMode {
        self.mode.wire()
    }

    /// The connector for every connection of the pool. Reads the certificate files: run at
    /// start-up.
    pub fn connector(&self) -> anyhow::Result<MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Verifier {
            roots: self.roots()?.map(Arc::new),
            check_name: self.mode == SslMode::VerifyFull,
            algorithms: provider.signature_verification_algorithms,
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match (&self.client_cert, &self.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(certificates(cert)?, private_key(key)?)
                .with_context(|| {
                    format!(
                        "sslcert={} and sslkey={}: not a certificate and its key",
                        cert.display(),
                        key.display()
                    )
                })?,
            (Some(_), None) => bail!("sslcert needs sslkey (gregor reads no default key file)"),
            (None, Some(_)) => bail!("sslkey needs sslcert (gregor reads no default file)"),
        };
        // Sent as libpq 17 sends it: PostgreSQL 17's server checks it when present, and
        // sslnegotiation=direct needs it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(MakeRustlsConnect::new(config))
    }

    /// The CAs to check the server's chain against: None for any certificate.
    fn roots(&self) -> anyhow::Result<Option<RootCertStore>> {
        let verify = matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull);
        let path = match &self.root_cert {
            _ if self.mode == SslMode::Disable => return Ok(None),
            None if verify => bail!(
                "sslmode={} needs sslrootcert=PATH, a PEM file of the CA certificates \
                 (gregor reads no default root.crt)",
                self.mode.name()
            ),
            None => return Ok(None),
            Some(path) if path == Path::new("system") => bail!(
                "sslrootcert=system (the system's CAs) is not supported: give a PEM file \
                 of the CA certificates"
            ),
            Some(path) => path,
        };
        let mut roots = RootCertStore::empty();
        for cert in certificates(path)? {
            roots
                .add(cert)
                .with_context(|| format!("sslrootcert={}: a bad CA certificate", path.display()))?;
        }
        Ok(Some(roots))
    }
}

/// Every certificate of a PEM file (at least one).
fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificates in {}", path.display()))?;
    if certs.is_empty() {
        bail!("{}: no PEM certificate in it", path.display());
    }
    Ok(certs)
}

fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading the private key in {}", path.display()))
}

/// The server certificate check of every mode: none without roots (libpq's `prefer` and
/// `require` without `sslrootcert`), the chain, and with `check_name` the host name too.
/// The handshake's signature is always checked, so the server holds the certificate's key.
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
            if self.check_name {
                verify_server_name(&cert, server_name)?;
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> TlsSettings {
        split(url).unwrap().1
    }

    #[test]
    fn tls_parameters_leave_the_url_and_the_rest_stays() {
        let (rest, tls) = split(
            "postgres://u:p@h1:5432,h2/db?target_session_attrs=read-write&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fgregor%2Fca.pem&sslcert=/c.pem&sslkey=/k.pem&application_name=g",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p@h1:5432,h2/db?target_session_attrs=read-write&application_name=g"
        );
        assert_eq!(
            tls,
            TlsSettings {
                mode: SslMode::VerifyFull,
                root_cert: Some("/etc/gregor/ca.pem".into()),
                client_cert: Some("/c.pem".into()),
                client_key: Some("/k.pem".into()),
            }
        );
        let (rest, tls) = split("postgres://h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(tls.wire_mode(), WireMode::Require);
    }

    #[test]
    fn prefer_is_the_default_as_in_libpq() {
        let (rest, tls) = split("postgres://u@h/db").unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(tls.mode, SslMode::Prefer);
        assert_eq!(tls.wire_mode(), WireMode::Prefer);
        assert_eq!(
            settings("postgres://h/db?sslmode=disable").wire_mode(),
            WireMode::Disable
        );
    }

    #[test]
    fn a_question_mark_in_the_password_is_not_the_query() {
        let (rest, tls) = split("postgres://u:p?ss@h/db?sslmode=disable").unwrap();
        assert_eq!(rest, "postgres://u:p?ss@h/db");
        assert_eq!(tls.mode, SslMode::Disable);
    }

    #[test]
    fn unknown_and_unsupported_modes_are_refused_by_name() {
        let e = split("postgres://h/db?sslmode=verify_full").unwrap_err();
        assert!(
            format!("{e:#}").contains("sslmode=\"verify_full\""),
            "{e:#}"
        );
        let e = split("postgres://h/db?sslmode=allow").unwrap_err();
        assert!(
            format!("{e:#}").contains("sslmode=allow is not supported"),
            "{e:#}"
        );
    }

    #[test]
    fn verify_modes_need_a_root_certificate_file() {
        let e = settings("postgres://h/db?sslmode=verify-ca")
            .connector()
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").contains("sslmode=verify-ca needs sslrootcert"),
            "{e:#}"
        );
        let e = settings("postgres://h/db?sslmode=verify-full&sslrootcert=system")
            .connector()
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("sslrootcert=system"), "{e:#}");
        let e = settings("postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .connector()
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("/nonexistent/ca.pem"), "{e:#}");
        let e = settings("postgres://h/db?sslcert=/c.pem")
            .connector()
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("sslcert needs sslkey"), "{e:#}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let url = format!(
            "postgres://h/db?sslmode=verify-ca&sslrootcert={}",
            path.display()
        );
        let e = settings(&url).connector().err().unwrap();
        assert!(format!("{e:#}").contains("no PEM certificate"), "{e:#}");
        // Without a verify mode and without files, there is nothing to read.
        assert!(settings("postgres://h/db?sslmode=require")
            .connector()
            .is_ok());
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod real_server_tests;
