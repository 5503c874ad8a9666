//! SASL/OAUTHBEARER's token validation, as Kafka's broker does it with
//! `OAuthBearerValidatorCallbackHandler` and its JWKS-based `BrokerJwtValidator` (jose4j):
//! a signed JWT (never `alg: none`), its key from the JWKS file (`oauth_jwks`, re-read by
//! [`OAuth::reload`]), `exp` and `iat` required, `exp`/`nbf` checked with the clock skew,
//! `iss` and `aud` against the expected issuer and audiences, the principal from the subject
//! claim (`oauth_sub_claim_name`, default `sub`), the scope claim well formed. `message`
//! parses the client's first message. Everything here but the file read is pure.

mod jwks;
pub mod message;
#[cfg(test)]
pub mod testdata;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

pub use jwks::KeySet;

use crate::config::Config;

/// The longest token accepted (bytes); Kafka's only bound is the SASL frame's 512 KiB.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// A validated token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidToken {
    /// The subject claim, trimmed: the principal's name.
    pub principal: String,
    /// `exp` in milliseconds: the credential's end (KIP-368 session lifetime).
    pub expires_ms: i64,
    pub scopes: Vec<String>,
}

/// The checks a token must pass besides its signature.
#[derive(Debug, Clone)]
pub struct Rules {
    pub expected_issuer: Option<String>,
    /// Empty: `aud` is not checked (oauth_allow_unverified_audience).
    pub expected_audiences: Vec<String>,
    pub clock_skew_seconds: i64,
    pub sub_claim: String,
    pub scope_claim: String,
}

impl Rules {
    pub fn from_config(config: &Config) -> Self {
        Self {
            expected_issuer: config.oauth_expected_issuer.clone(),
            expected_audiences: config.oauth_expected_audience.clone(),
            clock_skew_seconds: config.oauth_clock_skew_seconds.min(i64::MAX as u64) as i64,
            sub_claim: config.oauth_sub_claim_name.clone(),
            scope_claim: config.oauth_scope_claim_name.clone(),
        }
    }
}

/// The OAUTHBEARER validator of a broker: the rules and the JWKS file's keys.
pub struct OAuth {
    rules: Rules,
    jwks: PathBuf,
    keys: RwLock<Arc<KeySet>>,
}

impl OAuth {
    /// None when OAUTHBEARER is not enabled. Reads the JWKS file: run at start-up.
    pub fn load(config: &Config) -> anyhow::Result<Option<Self>> {
        if !config.sasl_mechanisms.iter().any(|m| m == "OAUTHBEARER") {
            return Ok(None);
        }
        let Some(jwks) = config.oauth_jwks.clone() else {
            anyhow::bail!("OAUTHBEARER needs oauth_jwks (--oauth-jwks FILE)");
        };
        let keys = read_jwks(&jwks)?;
        tracing::info!(file = %jwks.display(), keys = keys.len(), "OAUTHBEARER: JWKS loaded");
        Ok(Some(Self {
            rules: Rules::from_config(config),
            jwks,
            keys: RwLock::new(Arc::new(keys)),
        }))
    }

    /// Re-read the JWKS file; on an error the old keys stay.
    pub fn reload(&self) -> anyhow::Result<()> {
        let keys = read_jwks(&self.jwks)?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }

    /// Validate a token at `now_ms`; the error says why (for the log, never the client).
    pub fn validate(&self, token: &str, now_ms: i64) -> Result<ValidToken, String> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        validate(&keys, &self.rules, token, now_ms)
    }
}

fn read_jwks(path: &PathBuf) -> anyhow::Result<KeySet> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the JWKS file {}", path.display()))?;
    KeySet::parse(&text).map_err(|e| anyhow::anyhow!("the JWKS file {}: {e}", path.display()))
}

fn decode_json(section: &str, what: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(section.trim_end_matches('='))
        .map_err(|e| format!("the {what} is not base64url: {e}"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(format!("the {what} is not a JSON object")),
    }
}

/// A NumericDate claim in seconds (jose4j: any JSON number, truncated); None when absent.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("the '{name}' claim is not a NumericDate")),
        Some(_) => Err(format!("the '{name}' claim is not a NumericDate")),
    }
}

/// Kafka's `ClaimValidationUtils.validateString`: present, not empty, not only whitespace;
/// trimmed.
fn non_blank(name: &str, value: Option<&str>) -> Result<String, String> {
    let value = value.ok_or_else(|| format!("{name} value must be non-null"))?;
    if value.is_empty() {
        return Err(format!("{name} value must be non-empty"));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{name} value must not contain only whitespace"));
    }
    Ok(value.to_string())
}

/// The whole validation of `token` against `keys` and `rules` at `now_ms`.
pub fn validate(
    keys: &KeySet,
    rules: &Rules,
    token: &str,
    now_ms: i64,
) -> Result<ValidToken, String> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!(
            "the token has {} bytes, more than {MAX_TOKEN_BYTES}",
            token.len()
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err("Empty JWT provided".into());
    }
    let sections: Vec<&str> = token.split('.').collect();
    if sections.len() != 3 || sections.iter().any(|s| s.trim().is_empty()) {
        return Err(format!(
            "Malformed JWT provided; expected three sections (header, payload, and signature), but {} found",
            sections.len()
        ));
    }
    let (header_b64, payload_b64, signature) = (sections[0], sections[1], sections[2]);
    let header = decode_json(header_b64, "JOSE header")?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or("the JOSE header has no 'alg'")?;
    if header.contains_key("crit") {
        return Err("the JOSE header has critical ('crit') parameters".into());
    }
    let alg = match Algorithm::from_str(alg_name) {
        Ok(a) if !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => a,
        _ => return Err(format!("the algorithm '{alg_name}' is not allowed")),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err("the JOSE header's 'kid' is not a string".into()),
    };
    if let Some(kid) = kid {
        if !keys.has_kid(kid) {
            return Err(format!("no key with kid '{kid}' in the JWKS"));
        }
    }
    let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    let mut tried = false;
    let mut verified = false;
    for key in keys.candidates(alg, alg_name, kid) {
        tried = true;
        if jsonwebtoken::crypto::verify(signature, message, key, alg).unwrap_or(false) {
            verified = true;
            break;
        }
    }
    if !tried {
        return Err(format!(
            "no key in the JWKS verifies {alg_name} tokens{}",
            kid.map(|k| format!(" with kid '{k}'")).unwrap_or_default()
        ));
    }
    if !verified {
        return Err("JWS signature is invalid".into());
    }
    let claims = decode_json(payload_b64, "payload")?;
    check_times(&claims, rules, now_ms)?;
    check_issuer_audience(&claims, rules)?;
    let sub = match claims.get(&rules.sub_claim) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(format!(
                "Could not extract the '{}' claim from the access token",
                rules.sub_claim
            ))
        }
    };
    let principal = non_blank(&rules.sub_claim, sub)?;
    let scopes = scopes(&claims, &rules.scope_claim)?;
    let expires_ms = numeric_date(&claims, "exp")?
        .unwrap_or(0)
        .saturating_mul(1000);
    if expires_ms < 0 {
        return Err(format!(
            "exp value must be non-negative; value given was \"{expires_ms}\""
        ));
    }
    Ok(ValidToken {
        principal,
        expires_ms,
        scopes,
    })
}

/// jose4j's NumericDateValidator with exp and iat required (seconds, with the skew).
fn check_times(claims: &Map<String, Value>, rules: &Rules, now_ms: i64) -> Result<(), String> {
    let exp = numeric_date(claims, "exp")?.ok_or("No Expiration Time (exp) claim present.")?;
    let iat = numeric_date(claims, "iat")?.ok_or("No Issued At (iat) claim present.")?;
    let nbf = numeric_date(claims, "nbf")?;
    let now = now_ms.div_euclid(1000);
    let skew = rules.clock_skew_seconds;
    if now.saturating_sub(skew) >= exp {
        return Err(format!(
            "The JWT is no longer valid - the evaluation time {now} is on or after the Expiration Time (exp={exp}) claim value (even when providing {skew} seconds of leeway to account for clock skew)."
        ));
    }
    if exp < iat {
        return Err(format!(
            "The Expiration Time (exp={exp}) claim value cannot be before the Issued At (iat={iat}) claim value."
        ));
    }
    if let Some(nbf) = nbf {
        if exp < nbf {
            return Err(format!(
                "The Expiration Time (exp={exp}) claim value cannot be before the Not Before (nbf={nbf}) claim value."
            ));
        }
        if now.saturating_add(skew) < nbf {
            return Err(format!(
                "The JWT is not yet valid as the evaluation time {now} is before the Not Before (nbf={nbf}) claim time (even when providing {skew} seconds of leeway to account for clock skew)."
            ));
        }
    }
    Ok(())
}

fn check_issuer_audience(claims: &Map<String, Value>, rules: &Rules) -> Result<(), String> {
    if let Some(expected) = &rules.expected_issuer {
        match claims.get("iss") {
            Some(Value::String(iss)) if iss == expected => {}
            Some(Value::String(iss)) => {
                return Err(format!(
                    "Issuer (iss) claim value ({iss}) doesn't match expected value of {expected}"
                ))
            }
            None | Some(Value::Null) => return Err("No Issuer (iss) claim present.".into()),
            Some(_) => return Err("The Issuer (iss) claim is not a string".into()),
        }
    }
    if !rules.expected_audiences.is_empty() {
        let audiences: Vec<&str> = match claims.get("aud") {
            None | Some(Value::Null) => return Err("No Audience (aud) claim present.".into()),
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list
                .iter()
                .map(|a| a.as_str().ok_or("The Audience (aud) claim is malformed"))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("The Audience (aud) claim is malformed".into()),
        };
        if !audiences
            .iter()
            .any(|a| rules.expected_audiences.iter().any(|e| e == a))
        {
            return Err(format!(
                "Audience (aud) claim {audiences:?} doesn't contain an acceptable identifier. Expected {:?} as an aud value.",
                rules.expected_audiences
            ));
        }
    }
    Ok(())
}

/// Kafka: a string is one scope, a list of strings many, anything else none; each not blank,
/// no duplicates.
fn scopes(claims: &Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    let raw: Vec<Option<&str>> = match claims.get(name) {
        Some(Value::String(s)) => vec![Some(s.as_str())],
        Some(Value::Array(list)) => list.iter().map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw {
        let scope = non_blank(name, scope)?;
        if scopes.contains(&scope) {
            return Err(format!(
                "{name} value must not contain duplicates - {scope} already present"
            ));
        }
        scopes.push(scope);
    }
    Ok(scopes)
}
