//! Delegation tokens (KIP-48) as Kafka 4.4's `DelegationTokenControlManager` and
//! `DelegationTokenCache` keep them: enabled only with a secret key; a token's HMAC is
//! HmacSHA512(secret, token id), so every broker sharing the secret computes the same one and
//! the store never holds it; its SCRAM credentials (both mechanisms, 4096 iterations, the
//! base64 of the HMAC being the password) are derived when the token is taken in. One store
//! key per token (`security/tokens/<id>`, JSON: owner, requester, renewers, timestamps); a
//! copy in memory answers authentication and DescribeDelegationToken. Writes block on the
//! store: async callers run them on the blocking pool.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine;

use super::credentials::random_bytes;
use super::scram::{constant_time_eq, ScramCredential, ScramMechanism, MIN_ITERATIONS};
use super::Principal;
use crate::store::{KvStore, StoreError, WriteOp};

const PREFIX: &str = "security/tokens/";

/// What Kafka's `TokenInformation` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub token_id: String,
    pub owner: Principal,
    pub requester: Principal,
    pub renewers: Vec<Principal>,
    pub issue_ms: i64,
    pub expiry_ms: i64,
    pub max_ms: i64,
}

impl TokenInfo {
    /// Kafka's `ownerOrRenewer`: the owner, the requester or a renewer (who may describe it).
    pub fn owner_or_renewer(&self, p: &Principal) -> bool {
        self.owner == *p || self.requester == *p || self.renewers.contains(p)
    }

    /// The controller's `allowedToRenew`: the owner or a renewer (not the requester).
    fn may_renew(&self, p: &Principal) -> bool {
        self.owner == *p || self.renewers.contains(p)
    }

    fn expired(&self, now_ms: i64) -> bool {
        self.max_ms < now_ms || self.expiry_ms < now_ms
    }
}

/// Why a token request failed (the Kafka error of the same name).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("delegation tokens are disabled")]
    Disabled,
    #[error("no such delegation token")]
    NotFound,
    #[error("the delegation token expired")]
    Expired,
    #[error("not the token's owner or renewer")]
    OwnerMismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The settings that shape tokens (Kafka's delegation.token.* broker configs).
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// None: delegation tokens are disabled.
    pub secret: Option<String>,
    pub max_lifetime_ms: i64,
    /// The default (and longest) renewal.
    pub expiry_time_ms: i64,
}

/// A token as the store keeps it.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Stored {
    owner: String,
    requester: String,
    renewers: Vec<String>,
    issue_ms: i64,
    expiry_ms: i64,
    max_ms: i64,
}

fn principal_text(p: &Principal) -> String {
    p.to_string()
}

/// `Type:name` back to a principal (a name may hold ':').
fn parse_principal(s: &str) -> Principal {
    match s.split_once(':') {
        Some((t, n)) => Principal {
            principal_type: t.to_string(),
            name: n.to_string(),
        },
        None => Principal::user(s),
    }
}

impl Stored {
    fn of(info: &TokenInfo) -> Self {
        Self {
            owner: principal_text(&info.owner),
            requester: principal_text(&info.requester),
            renewers: info.renewers.iter().map(principal_text).collect(),
            issue_ms: info.issue_ms,
            expiry_ms: info.expiry_ms,
            max_ms: info.max_ms,
        }
    }

    fn info(&self, token_id: &str) -> TokenInfo {
        TokenInfo {
            token_id: token_id.to_string(),
            owner: parse_principal(&self.owner),
            requester: parse_principal(&self.requester),
            renewers: self.renewers.iter().map(|r| parse_principal(r)).collect(),
            issue_ms: self.issue_ms,
            expiry_ms: self.expiry_ms,
            max_ms: self.max_ms,
        }
    }
}

/// One token held in memory: what is stored, its HMAC and its SCRAM credentials.
#[derive(Clone)]
struct Entry {
    info: TokenInfo,
    hmac: Vec<u8>,
    /// By mechanism, in `ScramMechanism::ALL`'s order.
    scram: Vec<ScramCredential>,
}

/// HmacSHA512(secret, token id), as the controller's `createHmac`.
pub fn token_hmac(secret: &str, token_id: &str) -> Vec<u8> {
    ScramMechanism::Sha512.hmac(secret.as_bytes(), token_id.as_bytes())
}

/// Kafka's `sum`: a + b, at most i64::MAX.
fn sum(a: i64, b: i64) -> i64 {
    a.saturating_add(b)
}

/// Kafka's `Uuid.randomUuid().toString()`: 16 random bytes in URL-safe base64, never
/// starting with '-' (a command line would take it for an option).
fn new_token_id() -> String {
    loop {
        let id = URL_SAFE_NO_PAD.encode(random_bytes(16));
        if !id.starts_with('-') {
            return id;
        }
    }
}

pub struct DelegationTokens {
    store: Arc<dyn KvStore>,
    settings: TokenSettings,
    tokens: RwLock<BTreeMap<String, Entry>>,
}

impl DelegationTokens {
    /// Load the stored tokens (none while disabled). Blocks on the store.
    pub fn open(store: Arc<dyn KvStore>, settings: TokenSettings) -> anyhow::Result<Self> {
        let tokens = Self {
            store,
            settings,
            tokens: RwLock::default(),
        };
        tokens.reload()?;
        Ok(tokens)
    }

    /// Whether delegation tokens are enabled (a secret key is set).
    pub fn enabled(&self) -> bool {
        self.settings.secret.is_some()
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.tokens.read().unwrap_or_else(|e| e.into_inner())
    }

    fn entry(&self, info: TokenInfo) -> Option<Entry> {
        let secret = self.settings.secret.as_deref()?;
        let hmac = token_hmac(secret, &info.token_id);
        let password = B64.encode(&hmac);
        let scram = ScramMechanism::ALL
            .into_iter()
            .map(|m| m.credential(&password, &random_bytes(32), MIN_ITERATIONS))
            .collect();
        Some(Entry { info, hmac, scram })
    }

    /// Read every token again (cluster mode: other brokers create, renew and expire them).
    /// A token already held and unchanged keeps its credentials (deriving them costs two
    /// PBKDF2s). Blocks on the store.
    pub fn reload(&self) -> anyhow::Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let mut stored = Vec::new();
        for (key, value) in self.store.scan_prefix(PREFIX.as_bytes())? {
            let id = String::from_utf8_lossy(&key[PREFIX.len()..]).into_owned();
            let token: Stored = serde_json::from_slice(&value)
                .map_err(|e| anyhow::anyhow!("delegation token {id}: {e}"))?;
            stored.push(token.info(&id));
        }
        let held = self.read().clone();
        let mut loaded = BTreeMap::new();
        for info in stored {
            let entry = match held.get(&info.token_id) {
                Some(e) if e.info == info => e.clone(),
                Some(e) => Entry {
                    info: info.clone(),
                    ..e.clone()
                },
                None => match self.entry(info.clone()) {
                    Some(e) => e,
                    None => continue,
                },
            };
            loaded.insert(info.token_id, entry);
        }
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        Ok(())
    }

    fn put(&self, info: &TokenInfo) -> Result<(), StoreError> {
        let key = format!("{PREFIX}{}", info.token_id).into_bytes();
        let value = serde_json::to_vec(&Stored::of(info)).map_err(|e| StoreError(e.to_string()))?;
        self.store.write(vec![WriteOp::Put(key, value)])?;
        self.store.announce();
        Ok(())
    }

    fn remove(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ops = ids
            .iter()
            .map(|id| WriteOp::Delete(format!("{PREFIX}{id}").into_bytes()))
            .collect();
        self.store.write(ops)?;
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            tokens.remove(id);
        }
        self.store.announce();
        Ok(())
    }

    /// A new token for `owner`, asked by `requester` (the controller's
    /// `createDelegationToken`): its life is the configured max lifetime, or the request's if
    /// shorter (`max_lifetime_ms` > 0); it expires after the expiry time unless renewed.
    /// Renewers must be users (the handler checks). Blocks on the store and derives the
    /// token's credentials.
    pub fn create(
        &self,
        owner: Principal,
        requester: Principal,
        renewers: Vec<Principal>,
        max_lifetime_ms: i64,
        now_ms: i64,
    ) -> Result<(TokenInfo, Vec<u8>), TokenError> {
        if !self.enabled() {
            return Err(TokenError::Disabled);
        }
        let mut life = self.settings.max_lifetime_ms;
        if max_lifetime_ms > 0 {
            life = life.min(max_lifetime_ms);
        }
        let max_ms = sum(now_ms, life);
        let expiry_ms = max_ms.min(sum(now_ms, self.settings.expiry_time_ms));
        let info = TokenInfo {
            token_id: new_token_id(),
            owner,
            requester,
            renewers,
            issue_ms: now_ms,
            expiry_ms,
            max_ms,
        };
        let entry = self.entry(info.clone()).ok_or(TokenError::Disabled)?;
        self.put(&info)?;
        let hmac = entry.hmac.clone();
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(info.token_id.clone(), entry);
        Ok((info, hmac))
    }

    fn by_hmac(&self, hmac: &[u8]) -> Option<TokenInfo> {
        self.read()
            .values()
            .find(|e| constant_time_eq(&e.hmac, hmac))
            .map(|e| e.info.clone())
    }

    fn set_expiry(&self, mut info: TokenInfo, expiry_ms: i64) -> Result<(), StoreError> {
        info.expiry_ms = expiry_ms;
        self.put(&info)?;
        if let Some(e) = self
            .tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&info.token_id)
        {
            e.info = info;
        }
        Ok(())
    }

    /// Renew the token of `hmac` for `renew_period_ms` (at most, and by default, the expiry
    /// time), never past its max lifetime; returns the new expiry (the controller's
    /// `renewDelegationToken`, its checks in its order). Blocks on the store.
    pub fn renew(
        &self,
        hmac: &[u8],
        renewer: &Principal,
        renew_period_ms: i64,
        now_ms: i64,
    ) -> Result<i64, TokenError> {
        if !self.enabled() {
            return Err(TokenError::Disabled);
        }
        let info = self.by_hmac(hmac).ok_or(TokenError::NotFound)?;
        if info.expired(now_ms) {
            return Err(TokenError::Expired);
        }
        if !info.may_renew(renewer) {
            return Err(TokenError::OwnerMismatch);
        }
        let mut period = self.settings.expiry_time_ms;
        if renew_period_ms > 0 {
            period = period.min(renew_period_ms);
        }
        let expiry = info.max_ms.min(sum(now_ms, period));
        self.set_expiry(info, expiry)?;
        Ok(expiry)
    }

    /// Expire the token of `hmac`: a negative period removes it at once (the answer is now),
    /// else it expires `expiry_period_ms` from now, never past its max lifetime (the
    /// controller's `expireDelegationToken`, its checks in its order). Blocks on the store.
    pub fn expire(
        &self,
        hmac: &[u8],
        principal: &Principal,
        expiry_period_ms: i64,
        now_ms: i64,
    ) -> Result<i64, TokenError> {
        if !self.enabled() {
            return Err(TokenError::Disabled);
        }
        let info = self.by_hmac(hmac).ok_or(TokenError::NotFound)?;
        if !info.may_renew(principal) {
            return Err(TokenError::OwnerMismatch);
        }
        if expiry_period_ms < 0 {
            self.remove(&[info.token_id])?;
            return Ok(now_ms);
        }
        if info.expired(now_ms) {
            return Err(TokenError::Expired);
        }
        let expiry = info.max_ms.min(sum(now_ms, expiry_period_ms));
        self.set_expiry(info, expiry)?;
        Ok(expiry)
    }

    /// The tokens `keep` accepts, by token id, each with its HMAC.
    pub fn tokens(&self, keep: impl Fn(&TokenInfo) -> bool) -> Vec<(TokenInfo, Vec<u8>)> {
        self.read()
            .values()
            .filter(|e| keep(&e.info))
            .map(|e| (e.info.clone(), e.hmac.clone()))
            .collect()
    }

    /// A token's SCRAM credential for `mechanism`, with its owner and expiry (Kafka's
    /// `ScramServerCallbackHandler` for a `tokenauth` exchange; an expired token not yet
    /// purged still authenticates, as in Kafka). Memory only: does not block.
    pub fn scram(
        &self,
        token_id: &str,
        mechanism: ScramMechanism,
    ) -> Option<(ScramCredential, Principal, i64)> {
        let tokens = self.read();
        let e = tokens.get(token_id)?;
        let i = ScramMechanism::ALL.iter().position(|m| *m == mechanism)?;
        Some((
            e.scram.get(i)?.clone(),
            e.info.owner.clone(),
            e.info.expiry_ms,
        ))
    }

    /// Remove every token past its expiry or max lifetime (the controller's
    /// `sweepExpiredDelegationTokens`); returns the ids removed. Blocks on the store.
    pub fn purge(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        let expired: Vec<String> = self
            .read()
            .values()
            .filter(|e| e.info.expired(now_ms))
            .map(|e| e.info.token_id.clone())
            .collect();
        self.remove(&expired)?;
        Ok(expired)
    }
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;
