//! Security settings: each listener's protocol (`listener_security_protocol`), the TLS files,
//! the SASL mechanisms and the bootstrap users (`user`), parsed and checked.

use super::{invalid, Config, ConfigError};

/// A listener's security protocol, as Kafka names it (`listener.security.protocol.map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// The protocol Kafka's name stands for (upper case), if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Plaintext,
            Self::Ssl,
            Self::SaslPlaintext,
            Self::SaslSsl,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

impl SecurityProtocol {
    /// Whether connections start with a TLS handshake.
    pub fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections authenticate with SASL before any other request.
    pub fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// The SASL mechanisms gregor implements, in Kafka's names.
pub const SASL_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// The mechanisms SASL listeners offer unless `sasl_mechanisms` says otherwise: all but
/// OAUTHBEARER, which needs a JWKS file.
pub const DEFAULT_SASL_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// A bootstrap user from `user` (`NAME:PASSWORD`).
#[derive(Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserSpec({}:***)", self.name)
    }
}

impl Config {
    /// The protocol of the listener `name` (upper case): its `listener_security_protocol`
    /// entry, else the protocol its name stands for.
    pub fn listener_protocol(&self, name: &str) -> Result<SecurityProtocol, ConfigError> {
        for entry in &self.listener_security_protocol {
            let (listener, protocol) = parse_protocol_entry(entry)?;
            if listener == name {
                return Ok(protocol);
            }
        }
        SecurityProtocol::from_name(name).ok_or_else(|| {
            invalid(format!(
                "listener {name}: no security protocol; name it PLAINTEXT, SSL, SASL_PLAINTEXT or \
                 SASL_SSL, or give --listener-security-protocol {name}:PROTOCOL"
            ))
        })
    }

    /// The bootstrap users, in order.
    pub fn users(&self) -> Result<Vec<UserSpec>, ConfigError> {
        let mut users: Vec<UserSpec> = Vec::new();
        for entry in &self.user {
            let Some((name, password)) = entry.split_once(':') else {
                return Err(invalid("user: expected NAME:PASSWORD".into()));
            };
            if name.is_empty() || password.is_empty() {
                return Err(invalid(
                    "user: NAME:PASSWORD needs a name and a password".into(),
                ));
            }
            if users.iter().any(|u| u.name == name) {
                return Err(invalid(format!("user: {name} is given twice")));
            }
            users.push(UserSpec {
                name: name.to_string(),
                password: password.to_string(),
            });
        }
        Ok(users)
    }

    /// The security checks of [`Config::validate`].
    pub(super) fn validate_security(&self) -> Result<(), ConfigError> {
        let mut named = Vec::new();
        for entry in &self.listener_security_protocol {
            let (listener, _) = parse_protocol_entry(entry)?;
            if named.contains(&listener) {
                return Err(invalid(format!(
                    "listener_security_protocol: listener {listener} is given twice"
                )));
            }
            named.push(listener);
        }
        let mut tls = false;
        for spec in self.listeners()? {
            tls |= self.listener_protocol(&spec.name)?.tls();
        }
        if self.ssl_cert.is_some() != self.ssl_key.is_some() {
            return Err(invalid("ssl_cert and ssl_key go together".into()));
        }
        if tls && self.ssl_cert.is_none() {
            return Err(invalid(
                "an SSL or SASL_SSL listener needs ssl_cert and ssl_key".into(),
            ));
        }
        if self.https_listen.is_some() && self.ssl_cert.is_none() {
            return Err(invalid("https_listen needs ssl_cert and ssl_key".into()));
        }
        if self.mqtt_tls_listen.is_some() && self.ssl_cert.is_none() {
            return Err(invalid("mqtt_tls_listen needs ssl_cert and ssl_key".into()));
        }
        if self.ssl_client_ca.is_some() && self.ssl_cert.is_none() {
            return Err(invalid("ssl_client_ca needs ssl_cert and ssl_key".into()));
        }
        if self.sasl_mechanisms.is_empty() {
            return Err(invalid("sasl_mechanisms: at least one is needed".into()));
        }
        for m in &self.sasl_mechanisms {
            if !SASL_MECHANISMS.contains(&m.as_str()) {
                return Err(invalid(format!(
                    "sasl_mechanisms: unknown mechanism {m:?}; gregor knows {}",
                    SASL_MECHANISMS.join(", ")
                )));
            }
        }
        self.users()?;
        if self.sasl_mechanisms.iter().any(|m| m == "OAUTHBEARER") {
            self.validate_oauth()?;
        }
        Ok(())
    }

    /// With OAUTHBEARER: a JWKS file, and (as Kafka 4's broker validator insists) an expected
    /// issuer and audience unless told to accept any.
    fn validate_oauth(&self) -> Result<(), ConfigError> {
        if self.oauth_jwks.is_none() {
            return Err(invalid(
                "sasl_mechanisms has OAUTHBEARER: oauth_jwks (--oauth-jwks FILE, a JWKS of the \
                 keys that sign the tokens) is needed"
                    .into(),
            ));
        }
        if self.oauth_expected_issuer.is_none() && !self.oauth_allow_unverified_issuer {
            return Err(invalid(
                "OAUTHBEARER: set oauth_expected_issuer to the issuer (iss) of the tokens, or \
                 oauth_allow_unverified_issuer to accept any (Kafka's \
                 sasl.oauthbearer.expected.issuer)"
                    .into(),
            ));
        }
        if self.oauth_expected_audience.is_empty() && !self.oauth_allow_unverified_audience {
            return Err(invalid(
                "OAUTHBEARER: set oauth_expected_audience to the audience (aud) that names this \
                 cluster, or oauth_allow_unverified_audience to accept any (Kafka's \
                 sasl.oauthbearer.expected.audience)"
                    .into(),
            ));
        }
        for (key, value) in [
            ("oauth_sub_claim_name", &self.oauth_sub_claim_name),
            ("oauth_scope_claim_name", &self.oauth_scope_claim_name),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(format!("{key} must not be empty")));
            }
        }
        Ok(())
    }
}

/// `NAME:PROTOCOL` → (upper-case listener name, protocol).
fn parse_protocol_entry(entry: &str) -> Result<(String, SecurityProtocol), ConfigError> {
    let at = |m: &str| invalid(format!("listener_security_protocol {entry:?}: {m}"));
    let (name, protocol) = entry
        .split_once(':')
        .ok_or_else(|| at("expected NAME:PROTOCOL"))?;
    if name.is_empty() {
        return Err(at("the listener name is empty"));
    }
    let protocol = SecurityProtocol::from_name(&protocol.to_ascii_uppercase())
        .ok_or_else(|| at("PROTOCOL is one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"))?;
    Ok((name.to_ascii_uppercase(), protocol))
}
