//! TLS for SSL and SASL_SSL listeners (rustls with the ring provider): the server
//! certificate chain and key from `ssl_cert`/`ssl_key`, and with `ssl_client_ca` client
//! certificates required on SSL listeners (Kafka's ssl.client.auth=required; SASL_SSL
//! listeners authenticate with SASL and ask for none). [`Tls::reload`] re-reads the files
//! (on SIGHUP); connections accepted after it use the new certificates.

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, SecurityProtocol};

/// The server configurations: for SSL listeners (client certificates required when a CA
/// is configured) and for SASL_SSL ones.
struct Configs {
    ssl: Arc<ServerConfig>,
    sasl_ssl: Arc<ServerConfig>,
}

pub struct Tls {
    config: Arc<Config>,
    current: RwLock<Arc<Configs>>,
}

impl Tls {
    /// None when no certificate is configured. Reads files: run at start-up.
    pub fn load(config: Arc<Config>) -> anyhow::Result<Option<Self>> {
        if config.ssl_cert.is_none() {
            return Ok(None);
        }
        let current = RwLock::new(Arc::new(build(&config)?));
        Ok(Some(Self { config, current }))
    }

    /// Re-read the certificate, key and client CA files; on an error the old ones stay.
    pub fn reload(&self) -> anyhow::Result<()> {
        let configs = build(&self.config)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(configs);
        Ok(())
    }

    /// The acceptor for a new connection on a listener of `protocol`.
    pub fn acceptor(&self, protocol: SecurityProtocol) -> TlsAcceptor {
        let current = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        TlsAcceptor::from(match protocol {
            SecurityProtocol::Ssl => current.ssl.clone(),
            _ => current.sasl_ssl.clone(),
        })
    }
}

fn build(config: &Config) -> anyhow::Result<Configs> {
    let (Some(cert), Some(key)) = (&config.ssl_cert, &config.ssl_key) else {
        anyhow::bail!("ssl_cert and ssl_key are needed for TLS");
    };
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key in {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = || {
        ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")
    };
    let sasl_ssl = builder()?
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key.clone_key())
        .context("the TLS certificate and key")?;
    let ssl = match &config.ssl_client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certificates(ca)? {
                roots
                    .add(c)
                    .with_context(|| format!("a CA certificate in {}", ca.display()))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .context("the client certificate verifier")?;
            builder()?
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .context("the TLS certificate and key")?
        }
        None => sasl_ssl.clone(),
    };
    Ok(Configs {
        ssl: Arc::new(ssl),
        sasl_ssl: Arc::new(sasl_ssl),
    })
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no PEM certificate found", path.display());
    }
    Ok(certs)
}
