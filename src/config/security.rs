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
pub const SASL_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

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
