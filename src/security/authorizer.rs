//! The ACL authorizer (`--authorizer acl`): Kafka's StandardAuthorizer over the bindings kept
//! in the metadata store (`acl/<binding as JSON>`, so a binding is its own key and creating
//! it twice writes one), loaded at start. Decisions read an immutable snapshot; CreateAcls and
//! DeleteAcls (one at a time) write the store, then publish a new snapshot. Store calls block:
//! async callers run them on the blocking pool.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use super::acl::{AclBinding, AclFilter, AclOperation, AclSet, Requester, ResourceType};
use super::Session;
use crate::store::{KvStore, StoreError, WriteOp};

const KEY_PREFIX: &[u8] = b"acl/";

pub struct Authorizer {
    /// `Type:name` of each super user.
    super_users: HashSet<String>,
    /// allow.everyone.if.no.acl.found.
    no_acl_allows: bool,
    acls: RwLock<Arc<AclSet>>,
    /// Serializes CreateAcls and DeleteAcls.
    writer: Mutex<()>,
    store: Arc<dyn KvStore>,
}

/// A super user as configured: `User:NAME`, or a bare NAME meaning `User:NAME`.
pub fn super_user_principal(name: &str) -> String {
    if name.contains(':') {
        name.to_string()
    } else {
        format!("User:{name}")
    }
}

impl Authorizer {
    /// Load every stored binding. Blocks on the store.
    pub fn open(
        store: Arc<dyn KvStore>,
        super_users: &[String],
        allow_everyone_if_no_acl_found: bool,
    ) -> anyhow::Result<Self> {
        let set = load(&*store)?;
        tracing::info!(
            acls = set.len(),
            super_users = ?super_users,
            allow_everyone_if_no_acl_found,
            "ACL authorizer loaded"
        );
        Ok(Self {
            super_users: super_users
                .iter()
                .map(|s| super_user_principal(s))
                .collect(),
            no_acl_allows: allow_everyone_if_no_acl_found,
            acls: RwLock::new(Arc::new(set)),
            writer: Mutex::new(()),
            store,
        })
    }

    /// Read the bindings again (cluster mode: other brokers change the shared store). Blocks
    /// on the store.
    pub fn reload(&self) -> anyhow::Result<()> {
        let _writing = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let set = load(&*self.store)?;
        if !self.acls().same_as(&set) {
            *self.acls.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        }
        Ok(())
    }

    /// The bindings now.
    pub fn acls(&self) -> Arc<AclSet> {
        self.acls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn is_super_user(&self, session: &Session) -> bool {
        session.principal.is_broker()
            || !self.super_users.is_empty()
                && self.super_users.contains(&session.principal.to_string())
    }

    /// Whether the session may do `op` on the literal resource `(rt, name)`.
    pub fn authorize(
        &self,
        session: &Session,
        op: AclOperation,
        rt: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(session) {
            return true;
        }
        let host = session.peer.map(|p| super::acl::host_address(p.ip()));
        let who = Requester {
            principal: &session.principal,
            host: host.as_deref(),
        };
        self.acls().allows(who, op, rt, name, self.no_acl_allows)
    }

    /// Kafka's `authorizeByResourceType`: whether the session may do `op` on some resource of
    /// type `rt` (the idempotent producer's fallback for IDEMPOTENT_WRITE on the cluster).
    pub fn authorize_by_resource_type(
        &self,
        session: &Session,
        op: AclOperation,
        rt: ResourceType,
    ) -> bool {
        if self.authorize(session, op, rt, "hardcode") {
            return true;
        }
        let host = session.peer.map(|p| super::acl::host_address(p.ip()));
        let who = Requester {
            principal: &session.principal,
            host: host.as_deref(),
        };
        self.acls().allows_some(who, op, rt)
    }

    /// Add bindings (already validated); ones that exist are kept as they are. Blocks on
    /// the store.
    pub fn create(&self, bindings: &[AclBinding]) -> Result<(), StoreError> {
        let _writing = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = (*self.acls()).clone();
        let mut ops = Vec::new();
        for b in bindings {
            if next.insert(b.clone()) {
                ops.push(WriteOp::Put(key(b)?, Vec::new()));
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.store.write(ops)?;
        self.store.announce();
        *self.acls.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(())
    }

    /// Remove every binding each filter matches; returns what each filter removed. Blocks
    /// on the store.
    pub fn delete(&self, filters: &[AclFilter]) -> Result<Vec<Vec<AclBinding>>, StoreError> {
        let _writing = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.acls();
        let removed: Vec<Vec<AclBinding>> = filters
            .iter()
            .map(|f| current.matching(f).cloned().collect())
            .collect();
        let mut next = (*current).clone();
        let mut ops = Vec::new();
        for b in removed.iter().flatten() {
            if next.remove(b) {
                ops.push(WriteOp::Delete(key(b)?));
            }
        }
        if !ops.is_empty() {
            self.store.write(ops)?;
            self.store.announce();
            *self.acls.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        }
        Ok(removed)
    }
}

fn key(b: &AclBinding) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(b).map_err(|e| StoreError(e.to_string()))?;
    Ok([KEY_PREFIX, &json].concat())
}

/// Every stored binding (an unreadable one is logged and left out).
fn load(store: &dyn KvStore) -> anyhow::Result<AclSet> {
    let mut set = AclSet::default();
    for (key, _) in store.scan_prefix(KEY_PREFIX)? {
        match serde_json::from_slice::<AclBinding>(&key[KEY_PREFIX.len()..]) {
            Ok(b) => {
                set.insert(b);
            }
            Err(e) => {
                tracing::error!(key = %String::from_utf8_lossy(&key), "unreadable ACL in the store, ignored: {e}")
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::acl::{PatternFilter, PatternType, Permission};
    use crate::security::{Principal, SecurityProtocol};
    use crate::store::MemoryStore;

    fn session(user: &str) -> Session {
        Session {
            principal: Principal::user(user),
            peer: Some("10.0.0.1:5000".parse().unwrap()),
            security_protocol: SecurityProtocol::Plaintext,
            token_authenticated: false,
        }
    }

    fn read_orders(principal: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "orders".into(),
            pattern_type: PatternType::Literal,
            principal: principal.into(),
            host: "10.0.0.1".into(),
            operation: AclOperation::Read,
            permission: Permission::Allow,
        }
    }

    #[test]
    fn reload_takes_in_what_another_broker_wrote() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let here = Authorizer::open(store.clone(), &[], false).unwrap();
        let there = Authorizer::open(store, &[], false).unwrap();
        let alice_reads = |a: &Authorizer| {
            a.authorize(
                &session("alice"),
                AclOperation::Read,
                ResourceType::Topic,
                "orders",
            )
        };
        there.create(&[read_orders("User:alice")]).unwrap();
        assert!(!alice_reads(&here), "not before the reload");
        here.reload().unwrap();
        assert!(alice_reads(&here));
        let everything = AclFilter {
            resource_type: None,
            resource_name: None,
            pattern: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: None,
        };
        there.delete(&[everything]).unwrap();
        here.reload().unwrap();
        assert!(!alice_reads(&here));
    }

    #[test]
    fn bindings_persist_and_super_users_skip_them() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let authz = Authorizer::open(store.clone(), &["admin".into()], false).unwrap();
        let read = |a: &Authorizer, who: &str| {
            a.authorize(
                &session(who),
                AclOperation::Read,
                ResourceType::Topic,
                "orders",
            )
        };
        assert!(!read(&authz, "alice"));
        assert!(read(&authz, "admin"), "a bare super user name is User:NAME");
        let broker = Session {
            principal: Principal::broker(),
            ..session("x")
        };
        assert!(
            authz.authorize(&broker, AclOperation::Write, ResourceType::Topic, "any"),
            "the broker's own requests"
        );
        authz
            .create(&[read_orders("User:alice"), read_orders("User:alice")])
            .unwrap();
        assert!(read(&authz, "alice"));
        assert!(!read(&authz, "bob"));

        let reopened = Authorizer::open(store.clone(), &[], false).unwrap();
        assert_eq!(reopened.acls().len(), 1);
        assert!(read(&reopened, "alice"));
        assert!(!read(&reopened, "admin"));

        let all = AclFilter {
            resource_type: None,
            resource_name: None,
            pattern: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: None,
        };
        let removed = reopened.delete(&[all.clone(), all]).unwrap();
        assert_eq!(removed[0], vec![read_orders("User:alice")]);
        assert_eq!(
            removed[1],
            vec![read_orders("User:alice")],
            "each filter reports its matches"
        );
        assert!(!read(&reopened, "alice"));
        assert!(Authorizer::open(store, &[], false)
            .unwrap()
            .acls()
            .is_empty());
    }

    #[test]
    fn idempotent_write_falls_back_to_write_on_some_topic() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let authz = Authorizer::open(store, &[], false).unwrap();
        let s = session("alice");
        assert!(!authz.authorize_by_resource_type(&s, AclOperation::Write, ResourceType::Topic));
        let mut b = read_orders("User:alice");
        b.operation = AclOperation::Write;
        authz.create(&[b]).unwrap();
        assert!(authz.authorize_by_resource_type(&s, AclOperation::Write, ResourceType::Topic));
    }
}
