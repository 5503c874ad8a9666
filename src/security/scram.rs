//! SCRAM (RFC 5802, RFC 7677) as Kafka's `ScramSaslServer` speaks it: credentials derived
//! from a password and kept salted (never the password), and the server side of the
//! two-round exchange. Pure: no I/O, randomness passed in.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's minimum (and `kafka-storage --add-scram`'s default) iteration count.
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka's maximum (`ScramMechanism.maxIterations`).
pub const MAX_ITERATIONS: u32 = 16384;

/// The SCRAM mechanisms Kafka knows; the numbers are Kafka's `ScramMechanism` types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [Self::Sha256, Self::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The mechanism's number in DescribeUserScramCredentials / AlterUserScramCredentials.
    pub fn kafka_type(self) -> i8 {
        match self {
            Self::Sha256 => 1,
            Self::Sha512 => 2,
        }
    }

    pub fn from_kafka_type(t: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.kafka_type() == t)
    }

    /// H(data): SHA-256 or SHA-512.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// HMAC(key, data) with the mechanism's hash.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Self::Sha512 => {
                let mut m = <Hmac<Sha512> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// SaltedPassword := Hi(Normalize(password), salt, i), Hi being PBKDF2 with the HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Self::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }

    /// The stored credential of a salted password.
    pub fn credential_from_salted(
        self,
        salted: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let client_key = self.hmac(salted, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: self.hash(&client_key),
            server_key: self.hmac(salted, b"Server Key"),
            iterations,
        }
    }

    /// The stored credential of `password` with `salt` and `iterations`.
    pub fn credential(self, password: &str, salt: &[u8], iterations: u32) -> ScramCredential {
        let salted = self.salted_password(password.as_bytes(), salt, iterations);
        self.credential_from_salted(&salted, salt, iterations)
    }
}

/// What the server keeps of a SCRAM password (Kafka's `ScramCredential`).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScramCredential {
    #[serde(with = "b64")]
    pub salt: Vec<u8>,
    #[serde(with = "b64")]
    pub stored_key: Vec<u8>,
    #[serde(with = "b64")]
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScramCredential(iterations={})", self.iterations)
    }
}

pub(super) mod b64 {
    use super::{Engine, B64};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s).map_err(serde::de::Error::custom)
    }
}

/// Why an exchange failed. The client is told only that its credentials were invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("the client asked for an authorization id other than its user name")]
    AuthzidMismatch,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("unsupported SCRAM extension (only tokenauth is)")]
    UnsupportedExtension,
}

/// The server's side of one exchange: [`ScramServer::client_first`] answers the
/// client-first message, [`ScramServer::client_final`] checks the proof.
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
}

enum State {
    Initial,
    /// After the server-first message; `credential` None: an unknown user, answered with a
    /// made-up salt so that the client learns nothing before its proof fails.
    SentFirst {
        user: String,
        credential: Option<ScramCredential>,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        gs2_header: String,
    },
    Done,
}

/// The outcome of the client-first message: the user it names, for the credential lookup.
pub struct ClientFirst {
    pub user: String,
    /// `tokenauth=true`: `user` is a delegation token's id.
    pub token_auth: bool,
    client_first_bare: String,
    client_nonce: String,
    gs2_header: String,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> Self {
        Self {
            mechanism,
            state: State::Initial,
        }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Parse the client-first message (`gs2-header client-first-bare`).
    pub fn parse_client_first(message: &[u8]) -> Result<ClientFirst, ScramError> {
        let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        // gs2-header: cbind-flag "," [authzid] ","; Kafka has no channel binding ("n" or "y").
        let mut parts = text.splitn(3, ',');
        let cbind = parts.next().unwrap_or("");
        let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        let bare = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        if cbind != "n" && cbind != "y" {
            return Err(ScramError::Malformed("channel binding is not supported"));
        }
        let authzid = match authzid {
            "" => None,
            a => Some(unescape(
                a.strip_prefix("a=")
                    .ok_or(ScramError::Malformed("bad authzid"))?,
            )?),
        };
        let mut attrs = bare.split(',');
        let user = attrs
            .next()
            .and_then(|a| a.strip_prefix("n="))
            .ok_or(ScramError::Malformed("no user name"))?;
        let user = unescape(user)?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
            .ok_or(ScramError::Malformed("no nonce"))?;
        // Extensions: Kafka's `ScramExtensions` (key=value); only `tokenauth` is supported
        // (a delegation token: the user name is the token id).
        let mut token_auth = false;
        for ext in attrs {
            match ext.split_once('=') {
                Some(("tokenauth", v)) => token_auth = v.eq_ignore_ascii_case("true"),
                Some((k, _)) if !k.is_empty() => return Err(ScramError::UnsupportedExtension),
                _ => return Err(ScramError::Malformed("bad extension")),
            }
        }
        if authzid.as_deref().is_some_and(|a| a != user) {
            return Err(ScramError::AuthzidMismatch);
        }
        let gs2_len = text.len() - bare.len();
        Ok(ClientFirst {
            user,
            token_auth,
            client_first_bare: bare.to_string(),
            client_nonce: nonce.to_string(),
            gs2_header: text[..gs2_len].to_string(),
        })
    }

    /// The server-first message for `first`, whose user has `credential` (None: unknown;
    /// `fake_salt` then stands in). `server_nonce` is fresh randomness (printable, no ',').
    pub fn server_first(
        &mut self,
        first: ClientFirst,
        credential: Option<ScramCredential>,
        server_nonce: &str,
        fake_salt: &[u8],
    ) -> Vec<u8> {
        let nonce = format!("{}{}", first.client_nonce, server_nonce);
        let (salt, iterations) = match &credential {
            Some(c) => (c.salt.as_slice(), c.iterations),
            None => (fake_salt, MIN_ITERATIONS),
        };
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
        self.state = State::SentFirst {
            user: first.user,
            credential,
            client_first_bare: first.client_first_bare,
            server_first: server_first.clone(),
            nonce,
            gs2_header: first.gs2_header,
        };
        server_first.into_bytes()
    }

    /// Check the client-final message; on success the user name and the server-final message.
    pub fn client_final(&mut self, message: &[u8]) -> Result<(String, Vec<u8>), ScramError> {
        let State::SentFirst {
            user,
            credential,
            client_first_bare,
            server_first,
            nonce,
            gs2_header,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::Malformed("unexpected message"));
        };
        let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no channel binding"))?;
        let client_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        if B64.decode(binding).ok().as_deref() != Some(gs2_header.as_bytes()) {
            return Err(ScramError::Malformed(
                "channel binding differs from the gs2 header",
            ));
        }
        if client_nonce != nonce {
            return Err(ScramError::Malformed("nonce differs"));
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("bad proof"))?;
        let credential = credential.ok_or(ScramError::InvalidCredentials)?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = self
            .mechanism
            .hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(ScramError::InvalidCredentials);
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        if !constant_time_eq(&self.mechanism.hash(&client_key), &credential.stored_key) {
            return Err(ScramError::InvalidCredentials);
        }
        let server_signature = self
            .mechanism
            .hmac(&credential.server_key, auth_message.as_bytes());
        Ok((
            user,
            format!("v={}", B64.encode(server_signature)).into_bytes(),
        ))
    }
}

/// SCRAM's `saslname`: `=2C` is ',' and `=3D` is '='; any other '=' is malformed.
fn unescape(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3);
        out.push(match code {
            Some("2C") => ',',
            Some("3D") => '=',
            _ => return Err(ScramError::Malformed("bad escape in a name")),
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Compare without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "scram_tests.rs"]
mod tests;
