//! The verification keys of a JWKS (RFC 7517) document, as Kafka's
//! `JwksFileVerificationKeyResolver` (jose4j) chooses among them: by the token's `kid`, by
//! key type and curve matching the algorithm, never a key meant for encryption. RSA (RS*,
//! PS*), EC P-256 (ES256) and P-384 (ES384) and Ed25519 (EdDSA) keys are kept; symmetric
//! keys and other curves are skipped with a log line, so a token signed with them fails.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// What a key verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Kind {
    fn verifies(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Kind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Kind::P256 => alg == ES256,
            Kind::P384 => alg == ES384,
            Kind::Ed25519 => alg == EdDSA,
        }
    }
}

pub struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one: then only that algorithm.
    alg: Option<String>,
    kind: Kind,
    key: DecodingKey,
}

/// The keys of one JWKS document.
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// Parse a JWKS document; keys gregor cannot use are skipped (logged). An error when the
    /// text is not a JWKS or no key is usable.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let entries = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("not a JWKS document: no \"keys\" array")?;
        let mut keys = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match key(entry) {
                Ok(k) => keys.push(k),
                Err(why) => tracing::warn!(key = i, "JWKS: key skipped: {why}"),
            }
        }
        if keys.is_empty() {
            return Err("no usable verification key (RSA, EC P-256/P-384 or Ed25519)".into());
        }
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys that may have signed a token with this header's `alg` and `kid`.
    pub fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        alg_name: &'a str,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a DecodingKey> + 'a {
        self.keys
            .iter()
            .filter(move |k| kid.is_none() || k.kid.as_deref() == kid)
            .filter(move |k| k.kind.verifies(alg))
            .filter(move |k| k.alg.as_deref().is_none_or(|a| a == alg_name))
            .map(|k| &k.key)
    }

    /// Whether any key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn key(entry: &serde_json::Value) -> Result<Key, String> {
    // The JWK's own `alg` is read here, not by jsonwebtoken (which refuses names it lacks).
    let alg = entry
        .get("alg")
        .and_then(|a| a.as_str())
        .map(str::to_string);
    let mut plain = entry.clone();
    if let Some(o) = plain.as_object_mut() {
        o.remove("alg");
    }
    let jwk: Jwk = serde_json::from_value(plain).map_err(|e| e.to_string())?;
    if let Some(PublicKeyUse::Encryption) = jwk.common.public_key_use {
        return Err("\"use\": \"enc\"".into());
    }
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Kind::Rsa,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Kind::P256,
            EllipticCurve::P384 => Kind::P384,
            ref other => return Err(format!("EC curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Kind::Ed25519,
        AlgorithmParameters::OctetKeyPair(_) => return Err("OKP curve is not Ed25519".into()),
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric (oct) keys are not used for verification".into())
        }
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    Ok(Key {
        kid: jwk.common.key_id,
        alg,
        kind,
        key,
    })
}
