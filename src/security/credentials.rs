//! Users' credentials in the metadata store: SCRAM-SHA-256/512 as Kafka keeps them (salt,
//! stored key, server key, iterations) and the PLAIN password as a salted PBKDF2 hash, never
//! a password. One store key per user (`security/users/<name>`, JSON); a copy in memory
//! answers authentication without touching the store. Writes block on the store: async
//! callers run them on the blocking pool.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use sha2::Sha512;

use super::scram::{constant_time_eq, ScramCredential, ScramMechanism, MIN_ITERATIONS};
use crate::config::UserSpec;
use crate::store::{KvStore, StoreError, WriteOp};

const PREFIX: &str = "security/users/";

/// The PLAIN password of a user: PBKDF2-HMAC-SHA512 of it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlainHash {
    #[serde(with = "super::scram::b64")]
    salt: Vec<u8>,
    iterations: u32,
    #[serde(with = "super::scram::b64")]
    hash: Vec<u8>,
}

impl PlainHash {
    fn new(password: &str, salt: Vec<u8>) -> Self {
        let hash = pbkdf2_sha512(password, &salt, MIN_ITERATIONS);
        Self {
            salt,
            iterations: MIN_ITERATIONS,
            hash,
        }
    }

    fn matches(&self, password: &str) -> bool {
        constant_time_eq(
            &pbkdf2_sha512(password, &self.salt, self.iterations),
            &self.hash,
        )
    }
}

fn pbkdf2_sha512(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out);
    out.to_vec()
}

/// Everything stored for one user.
#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UserCredentials {
    /// By mechanism name.
    #[serde(default)]
    scram: BTreeMap<String, ScramCredential>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plain: Option<PlainHash>,
}

impl UserCredentials {
    fn is_empty(&self) -> bool {
        self.scram.is_empty() && self.plain.is_none()
    }
}

/// A change to SCRAM credentials (AlterUserScramCredentials).
pub enum ScramChange {
    Delete(ScramMechanism),
    /// Set from a salted password, as the request carries it.
    Upsert {
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        salted_password: Vec<u8>,
        iterations: u32,
    },
}

/// Fresh random bytes (salts, nonces).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    if getrandom::getrandom(&mut out).is_err() {
        // The OS has no randomness to give: a salt from the clock is still unique.
        let t = crate::clock::now_ms().to_be_bytes();
        out.iter_mut()
            .zip(t.iter().cycle())
            .for_each(|(o, t)| *o = *t);
    }
    out
}

fn load(store: &dyn KvStore) -> anyhow::Result<BTreeMap<String, UserCredentials>> {
    let mut users = BTreeMap::new();
    for (key, value) in store.scan_prefix(PREFIX.as_bytes())? {
        let name = String::from_utf8_lossy(&key[PREFIX.len()..]).into_owned();
        let creds: UserCredentials = serde_json::from_slice(&value)
            .map_err(|e| anyhow::anyhow!("credentials of user {name}: {e}"))?;
        users.insert(name, creds);
    }
    Ok(users)
}

pub struct Credentials {
    store: Arc<dyn KvStore>,
    users: RwLock<BTreeMap<String, UserCredentials>>,
    /// Stands in for an unknown user's salt and PLAIN hash, so that answers and timing do not
    /// tell which users exist.
    decoy: PlainHash,
    /// Passwords proven lately, for protocols that send one with every request (HTTP Basic):
    /// user → (the password's HMAC under `proof_key`, the credentials it was proven against).
    /// A change of the user's credentials no longer matches, so nothing stale is accepted.
    proven: Mutex<HashMap<String, (Vec<u8>, UserCredentials)>>,
    proof_key: Vec<u8>,
}

/// Most users [`Credentials::verify_password_remembered`] remembers (then it starts over).
const MAX_PROVEN: usize = 4096;

impl Credentials {
    /// Load every user's credentials. Blocks on the store.
    pub fn open(store: Arc<dyn KvStore>) -> anyhow::Result<Self> {
        let users = load(&*store)?;
        Ok(Self {
            store,
            users: RwLock::new(users),
            decoy: PlainHash::new("", random_bytes(32)),
            proven: Mutex::default(),
            proof_key: random_bytes(32),
        })
    }

    /// Read every user's credentials again (cluster mode: other brokers change the shared
    /// store). Blocks on the store.
    pub fn reload(&self) -> anyhow::Result<()> {
        let loaded = load(&*self.store)?;
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        Ok(())
    }

    /// Give each user that has no credentials its SCRAM credentials and PLAIN password;
    /// returns the names of those created. Blocks on the store.
    pub fn bootstrap(&self, users: &[UserSpec]) -> Result<Vec<String>, StoreError> {
        let mut created = Vec::new();
        for user in users {
            if self.exists(&user.name) {
                continue;
            }
            self.set_password(&user.name, &user.password)?;
            created.push(user.name.clone());
        }
        Ok(created)
    }

    /// Set every credential of `name` from `password`. Blocks on the store.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), StoreError> {
        let mut creds = UserCredentials::default();
        for m in ScramMechanism::ALL {
            let credential = m.credential(password, &random_bytes(32), MIN_ITERATIONS);
            creds.scram.insert(m.name().to_string(), credential);
        }
        creds.plain = Some(PlainHash::new(password, random_bytes(32)));
        self.write(name, creds)
    }

    /// Remove every credential of `name`; false if it had none. Blocks on the store.
    pub fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        if !self.exists(name) {
            return Ok(false);
        }
        self.write(name, UserCredentials::default())?;
        Ok(true)
    }

    fn exists(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, UserCredentials>> {
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Store `creds` for `name` (nothing: delete the key), then the copy in memory.
    fn write(&self, name: &str, creds: UserCredentials) -> Result<(), StoreError> {
        let key = format!("{PREFIX}{name}").into_bytes();
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if creds.is_empty() {
            self.store.write(vec![WriteOp::Delete(key)])?;
            users.remove(name);
        } else {
            let value = serde_json::to_vec(&creds).map_err(|e| StoreError(e.to_string()))?;
            self.store.write(vec![WriteOp::Put(key, value)])?;
            users.insert(name.to_string(), creds);
        }
        self.store.announce();
        Ok(())
    }

    /// The SCRAM credential of `name` for `mechanism` (memory only: does not block).
    pub fn scram(&self, name: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.read()
            .get(name)
            .and_then(|c| c.scram.get(mechanism.name()).cloned())
    }

    /// A salt for an unknown user's SCRAM exchange: the same for the same name.
    pub fn decoy_salt(&self, name: &str) -> Vec<u8> {
        // PBKDF2 of one round: HMAC keyed by this broker's secret, over the name.
        ScramMechanism::Sha256.salted_password(&self.decoy.hash, name.as_bytes(), 1)
    }

    /// Whether `password` is `name`'s PLAIN password. Hashes (a few milliseconds of CPU)
    /// even for an unknown user.
    pub fn verify_plain(&self, name: &str, password: &str) -> bool {
        let hash = self.read().get(name).and_then(|c| c.plain.clone());
        match hash {
            Some(h) => h.matches(password),
            None => {
                self.decoy.matches(password);
                false
            }
        }
    }

    /// Whether `password` is `name`'s password by any credential it has: the PLAIN hash or a
    /// SCRAM credential (its stored key made again from the password: one PBKDF2). For
    /// protocols that send a password in the clear (MQTT's CONNECT); Kafka's PLAIN keeps to
    /// [`Self::verify_plain`]. Hashes even for an unknown user.
    pub fn verify_password(&self, name: &str, password: &str) -> bool {
        let user = self.read().get(name).cloned();
        let Some(user) = user else {
            self.decoy.matches(password);
            return false;
        };
        if user.plain.as_ref().is_some_and(|p| p.matches(password)) {
            return true;
        }
        ScramMechanism::ALL.into_iter().any(|m| {
            user.scram.get(m.name()).is_some_and(|c| {
                let made = m.credential(password, &c.salt, c.iterations);
                constant_time_eq(&made.stored_key, &c.stored_key)
            })
        })
    }

    /// [`Self::verify_password`], remembering a proven password until the user's credentials
    /// change: one key derivation per user and password, not one per HTTP request.
    pub fn verify_password_remembered(&self, name: &str, password: &str) -> bool {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.proof_key) else {
            return self.verify_password(name, password);
        };
        mac.update(password.as_bytes());
        let tag = mac.finalize().into_bytes().to_vec();
        let current = self.read().get(name).cloned();
        let proven = |p: &HashMap<String, (Vec<u8>, UserCredentials)>| {
            p.get(name).is_some_and(|(t, creds)| {
                constant_time_eq(t, &tag) && current.as_ref() == Some(creds)
            })
        };
        if proven(&self.proven.lock().unwrap_or_else(|e| e.into_inner())) {
            return true;
        }
        let ok = self.verify_password(name, password);
        if let (true, Some(creds)) = (ok, current) {
            let mut p = self.proven.lock().unwrap_or_else(|e| e.into_inner());
            if p.len() >= MAX_PROVEN {
                p.clear();
            }
            p.insert(name.to_string(), (tag, creds));
        }
        ok
    }

    /// Whether any user has credentials.
    pub fn has_users(&self) -> bool {
        !self.read().is_empty()
    }

    /// Each user's SCRAM mechanisms and iterations; `names` None: every user with any.
    pub fn describe(&self, names: Option<&[String]>) -> Vec<(String, Vec<(ScramMechanism, u32)>)> {
        let users = self.read();
        let infos = |c: &UserCredentials| -> Vec<(ScramMechanism, u32)> {
            ScramMechanism::ALL
                .into_iter()
                .filter_map(|m| c.scram.get(m.name()).map(|s| (m, s.iterations)))
                .collect()
        };
        match names {
            None => users
                .iter()
                .map(|(n, c)| (n.clone(), infos(c)))
                .filter(|(_, i)| !i.is_empty())
                .collect(),
            Some(names) => names
                .iter()
                .map(|n| (n.clone(), users.get(n).map(infos).unwrap_or_default()))
                .collect(),
        }
    }

    /// Whether `name` has a SCRAM credential for `mechanism`.
    pub fn has_scram(&self, name: &str, mechanism: ScramMechanism) -> bool {
        self.scram(name, mechanism).is_some()
    }

    /// Apply one user's change. Blocks on the store.
    pub fn alter_scram(&self, name: &str, change: ScramChange) -> Result<(), StoreError> {
        let mut creds = self.read().get(name).cloned().unwrap_or_default();
        match change {
            ScramChange::Delete(m) => {
                creds.scram.remove(m.name());
            }
            ScramChange::Upsert {
                mechanism,
                salt,
                salted_password,
                iterations,
            } => {
                let c = mechanism.credential_from_salted(&salted_password, &salt, iterations);
                creds.scram.insert(mechanism.name().to_string(), c);
            }
        }
        self.write(name, creds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn user(name: &str, password: &str) -> UserSpec {
        UserSpec {
            name: name.into(),
            password: password.into(),
        }
    }

    #[test]
    fn bootstrap_stores_salted_credentials_and_keeps_existing_ones() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let creds = Credentials::open(store.clone()).unwrap();
        let created = creds
            .bootstrap(&[user("alice", "alice-secret"), user("bob", "bob-secret")])
            .unwrap();
        assert_eq!(created, ["alice", "bob"]);
        assert!(creds.verify_plain("alice", "alice-secret"));
        assert!(!creds.verify_plain("alice", "bob-secret"));
        assert!(!creds.verify_plain("carol", ""));
        // The password is nowhere in the store.
        for (_, value) in store.scan_prefix(b"").unwrap() {
            let text = String::from_utf8_lossy(&value);
            assert!(!text.contains("alice-secret") && !text.contains("bob-secret"));
        }
        // A restart with another password keeps the stored one.
        let reopened = Credentials::open(store.clone()).unwrap();
        assert!(reopened
            .bootstrap(&[user("alice", "new")])
            .unwrap()
            .is_empty());
        assert!(reopened.verify_plain("alice", "alice-secret"));
        let c = reopened.scram("alice", ScramMechanism::Sha512).unwrap();
        assert_eq!(c.iterations, 4096);
        assert_eq!(
            c,
            ScramMechanism::Sha512.credential("alice-secret", &c.salt, 4096)
        );
        assert_eq!(
            reopened.describe(None),
            [
                (
                    "alice".to_string(),
                    vec![
                        (ScramMechanism::Sha256, 4096),
                        (ScramMechanism::Sha512, 4096)
                    ]
                ),
                (
                    "bob".to_string(),
                    vec![
                        (ScramMechanism::Sha256, 4096),
                        (ScramMechanism::Sha512, 4096)
                    ]
                ),
            ]
        );
    }

    #[test]
    fn reload_takes_in_users_another_broker_changed() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let here = Credentials::open(store.clone()).unwrap();
        let there = Credentials::open(store).unwrap();
        there.set_password("alice", "alice-secret").unwrap();
        assert!(
            !here.verify_plain("alice", "alice-secret"),
            "not before the reload"
        );
        here.reload().unwrap();
        assert!(here.verify_plain("alice", "alice-secret"));
        assert!(here.scram("alice", ScramMechanism::Sha256).is_some());
        there.delete_user("alice").unwrap();
        here.reload().unwrap();
        assert!(!here.verify_plain("alice", "alice-secret"));
    }

    #[test]
    fn a_password_is_checked_against_plain_and_scram_credentials() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let creds = Credentials::open(store).unwrap();
        assert!(!creds.has_users());
        creds.set_password("alice", "alice-secret").unwrap();
        assert!(creds.has_users());
        assert!(creds.verify_password("alice", "alice-secret"));
        assert!(!creds.verify_password("alice", "wrong"));
        assert!(!creds.verify_password("nobody", "alice-secret"));
        // A SCRAM-only user (kafka-configs --add-config SCRAM-SHA-512=[password=...]).
        let m = ScramMechanism::Sha512;
        let change = ScramChange::Upsert {
            mechanism: m,
            salt: b"salt".to_vec(),
            salted_password: m.salted_password(b"carol-secret", b"salt", 4096),
            iterations: 4096,
        };
        creds.alter_scram("carol", change).unwrap();
        assert!(!creds.verify_plain("carol", "carol-secret"));
        assert!(creds.verify_password("carol", "carol-secret"));
        assert!(!creds.verify_password("carol", "carol-secre"));
    }

    #[test]
    fn a_remembered_password_holds_only_while_the_credentials_are_unchanged() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let creds = Credentials::open(store).unwrap();
        creds.set_password("alice", "one").unwrap();
        assert!(creds.verify_password_remembered("alice", "one"));
        assert!(creds.verify_password_remembered("alice", "one")); // from memory
        assert!(!creds.verify_password_remembered("alice", "two"));
        assert!(!creds.verify_password_remembered("bob", "one"));
        // A new password: the old one is not accepted from memory.
        creds.set_password("alice", "two").unwrap();
        assert!(!creds.verify_password_remembered("alice", "one"));
        assert!(creds.verify_password_remembered("alice", "two"));
        // A deleted user neither.
        assert!(creds.delete_user("alice").unwrap());
        assert!(!creds.verify_password_remembered("alice", "two"));
    }

    #[test]
    fn alter_and_delete() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let creds = Credentials::open(store.clone()).unwrap();
        let m = ScramMechanism::Sha256;
        let salted = m.salted_password(b"pw", b"salt", 8192);
        creds
            .alter_scram(
                "carol",
                ScramChange::Upsert {
                    mechanism: m,
                    salt: b"salt".to_vec(),
                    salted_password: salted,
                    iterations: 8192,
                },
            )
            .unwrap();
        assert_eq!(
            creds.scram("carol", m),
            Some(m.credential("pw", b"salt", 8192))
        );
        assert_eq!(
            creds.describe(Some(&["carol".into(), "dave".into()]))[1].1,
            []
        );
        creds.alter_scram("carol", ScramChange::Delete(m)).unwrap();
        assert!(!creds.has_scram("carol", m));
        assert!(store.scan_prefix(PREFIX.as_bytes()).unwrap().is_empty());
        creds.set_password("dave", "x").unwrap();
        assert!(creds.delete_user("dave").unwrap());
        assert!(!creds.delete_user("dave").unwrap());
        assert!(!creds.verify_plain("dave", "x"));
        assert_eq!(creds.decoy_salt("x"), creds.decoy_salt("x"));
        assert_ne!(creds.decoy_salt("x"), creds.decoy_salt("y"));
    }
}
