//! How the admin commands authenticate: the security flags, or a Kafka client properties
//! file (`--command-config`, as kafka-topics takes it; flags override it), resolved into a
//! TLS client configuration and SASL credentials.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::properties;
use super::transport;
use crate::config::SecurityProtocol;
use crate::security::scram::ScramMechanism;

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Security (as a Kafka client's settings)")]
pub struct SecurityArgs {
    /// Kafka client properties (as Kafka's tools' --command-config): security.protocol,
    /// sasl.mechanism, sasl.jaas.config, ssl.truststore.location and ssl.keystore.location
    /// (type PEM), ssl.endpoint.identification.algorithm; librdkafka's sasl.username,
    /// sasl.password, ssl.ca.location, ssl.certificate.location, ssl.key.location. Flags
    /// override it.
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
    /// PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(long, value_name = "PROTOCOL")]
    pub security_protocol: Option<String>,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, value_name = "MECHANISM")]
    pub sasl_mechanism: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub sasl_username: Option<String>,
    #[arg(long, value_name = "PASSWORD")]
    pub sasl_password: Option<String>,
    /// PEM CA certificates that signed the broker's certificate.
    #[arg(long, value_name = "FILE")]
    pub ssl_ca: Option<PathBuf>,
    /// PEM client certificate (chain), for listeners that require one.
    #[arg(long, value_name = "FILE", requires = "ssl_key")]
    pub ssl_cert: Option<PathBuf>,
    /// PEM private key of --ssl-cert (PKCS#8, PKCS#1 or SEC1; unencrypted).
    #[arg(long, value_name = "FILE", requires = "ssl_cert")]
    pub ssl_key: Option<PathBuf>,
    /// Accept a broker certificate that does not name the host connected to
    /// (Kafka's ssl.endpoint.identification.algorithm= empty).
    #[arg(long)]
    pub ssl_no_hostname_verification: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Self::Plain),
            n => ScramMechanism::from_name(n).map(Self::Scram),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Scram(m) => m.name(),
        }
    }
}

#[derive(Clone)]
pub struct Sasl {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: String,
}

/// How to reach the broker: TLS (when the protocol has it) and SASL (when it has that).
#[derive(Clone)]
pub struct Security {
    pub protocol: SecurityProtocol,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub sasl: Option<Sasl>,
}

impl Security {
    pub fn plaintext() -> Self {
        Self {
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
        }
    }
}

/// PEM text from a file or given inline; `what` names its setting for errors.
#[derive(Debug, Clone)]
enum Pem {
    File(String, PathBuf),
    Inline(String, String),
}

impl Pem {
    fn load(&self) -> Result<transport::PemInput, String> {
        Ok(match self {
            Pem::File(what, path) => transport::PemInput {
                what: format!("{what} {}", path.display()),
                pem: std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))?,
            },
            Pem::Inline(what, text) => transport::PemInput {
                what: what.clone(),
                pem: text.clone().into_bytes(),
            },
        })
    }
}

/// The settings before they are checked, from the file and then the flags.
#[derive(Debug, Default)]
struct Settings {
    protocol: Option<String>,
    mechanism: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca: Option<Pem>,
    cert: Option<Pem>,
    key: Option<Pem>,
    verify_hostname: Option<bool>,
}

impl Settings {
    /// Take a properties file's settings; unknown keys are ignored, as Kafka's tools do.
    fn from_properties(pairs: &[(String, String)], file: &Path) -> Result<Self, String> {
        let mut s = Settings::default();
        let get = |k: &str| {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.trim().to_string())
        };
        let err = |m: String| format!("{}: {m}", file.display());
        s.protocol = get("security.protocol");
        s.mechanism = get("sasl.mechanism").or_else(|| get("sasl.mechanisms"));
        if let Some(jaas) = get("sasl.jaas.config") {
            let (module, options) = properties::jaas(&jaas).map_err(err)?;
            if module.ends_with("OAuthBearerLoginModule") || module.ends_with("Krb5LoginModule") {
                return Err(err(format!(
                    "{module} is not supported (PLAIN and SCRAM are)"
                )));
            }
            s.username = options.get("username").cloned();
            s.password = options.get("password").cloned();
        }
        s.username = get("sasl.username").or(s.username);
        s.password = get("sasl.password").or(s.password);
        for (key, kind) in [
            ("ssl.truststore.type", get("ssl.truststore.type")),
            ("ssl.keystore.type", get("ssl.keystore.type")),
        ] {
            if let Some(k) = kind.filter(|k| !k.eq_ignore_ascii_case("PEM")) {
                return Err(err(format!("{key}={k}: only PEM stores are supported")));
            }
        }
        if get("ssl.key.password").is_some_and(|p| !p.is_empty()) {
            return Err(err(
                "ssl.key.password: encrypted private keys are not supported".into(),
            ));
        }
        let file_of = |k: &str| get(k).map(|p| Pem::File(k.to_string(), PathBuf::from(p)));
        let inline = |k: &str| get(k).map(|v| Pem::Inline(k.to_string(), v));
        s.ca = file_of("ssl.truststore.location")
            .or_else(|| inline("ssl.truststore.certificates"))
            .or_else(|| file_of("ssl.ca.location"));
        // A PEM key store holds the key and its certificate chain in one file.
        let keystore = file_of("ssl.keystore.location");
        s.cert = keystore
            .clone()
            .or_else(|| inline("ssl.keystore.certificate.chain"))
            .or_else(|| file_of("ssl.certificate.location"));
        s.key = keystore
            .or_else(|| inline("ssl.keystore.key"))
            .or_else(|| file_of("ssl.key.location"));
        s.verify_hostname = match get("ssl.endpoint.identification.algorithm").as_deref() {
            None => None,
            Some("" | "none") => Some(false),
            Some(a) if a.eq_ignore_ascii_case("https") => Some(true),
            Some(a) => {
                return Err(err(format!(
                    "ssl.endpoint.identification.algorithm={a}: want https or empty"
                )))
            }
        };
        Ok(s)
    }
}

impl SecurityArgs {
    /// The checked settings, files read (the properties file, certificates and keys).
    pub fn resolve(&self) -> Result<Security, String> {
        let mut s = match &self.command_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--command-config {}: {e}", path.display()))?;
                Settings::from_properties(&properties::parse(&text), path)?
            }
            None => Settings::default(),
        };
        let flag = |name: &str, p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| Pem::File(format!("--{name}"), p.clone()))
        };
        s.protocol = self.security_protocol.clone().or(s.protocol);
        s.mechanism = self.sasl_mechanism.clone().or(s.mechanism);
        s.username = self.sasl_username.clone().or(s.username);
        s.password = self.sasl_password.clone().or(s.password);
        s.ca = flag("ssl-ca", &self.ssl_ca).or(s.ca);
        s.cert = flag("ssl-cert", &self.ssl_cert).or(s.cert);
        s.key = flag("ssl-key", &self.ssl_key).or(s.key);
        if self.ssl_no_hostname_verification {
            s.verify_hostname = Some(false);
        }

        let protocol = match s.protocol.as_deref() {
            None => SecurityProtocol::Plaintext,
            Some(p) => SecurityProtocol::from_name(p).ok_or_else(|| {
                format!("security protocol {p:?}: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
            })?,
        };
        let (tls, sasl) = match protocol {
            SecurityProtocol::Plaintext => (false, false),
            SecurityProtocol::Ssl => (true, false),
            SecurityProtocol::SaslPlaintext => (false, true),
            SecurityProtocol::SaslSsl => (true, true),
        };
        // Flags that the protocol would not use are a mistake; a file's are ignored, as
        // Kafka's tools ignore settings they do not use.
        let sasl_flags = [
            &self.sasl_mechanism,
            &self.sasl_username,
            &self.sasl_password,
        ];
        if !sasl && sasl_flags.iter().any(|f| f.is_some()) {
            return Err(format!(
                "--sasl-* options need --security-protocol SASL_PLAINTEXT or SASL_SSL (not {})",
                protocol.name()
            ));
        }
        let ssl_flags = self.ssl_ca.is_some() || self.ssl_cert.is_some();
        if !tls && (ssl_flags || self.ssl_no_hostname_verification) {
            return Err(format!(
                "--ssl-* options need --security-protocol SSL or SASL_SSL (not {})",
                protocol.name()
            ));
        }
        let sasl = if sasl {
            let mechanism = s.mechanism.as_deref().ok_or(
                "SASL needs a mechanism: --sasl-mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            )?;
            let mechanism = Mechanism::from_name(mechanism).ok_or_else(|| {
                format!(
                    "SASL mechanism {mechanism:?} is not supported: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                )
            })?;
            let username = s
                .username
                .ok_or("SASL needs a user: --sasl-username (or username in sasl.jaas.config)")?;
            let password = s.password.ok_or(
                "SASL needs a password: --sasl-password (or password in sasl.jaas.config)",
            )?;
            Some(Sasl {
                mechanism,
                username,
                password,
            })
        } else {
            None
        };
        let tls = if tls {
            let ca = s.ca.ok_or(
                "TLS needs the CA of the broker's certificate: --ssl-ca FILE (or \
                 ssl.truststore.location with ssl.truststore.type=PEM)",
            )?;
            let identity = match (s.cert, s.key) {
                (Some(cert), Some(key)) => Some((cert.load()?, key.load()?)),
                (None, None) => None,
                _ => {
                    return Err(
                        "a client certificate needs both its certificate and its key".into(),
                    )
                }
            };
            let config = transport::client_config(
                &ca.load()?,
                identity.as_ref().map(|(c, k)| (c, k)),
                s.verify_hostname.unwrap_or(true),
            )?;
            Some(Arc::new(config))
        } else {
            None
        };
        Ok(Security {
            protocol,
            tls,
            sasl,
        })
    }
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
