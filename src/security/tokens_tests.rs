use super::*;
use crate::store::MemoryStore;

const DAY: i64 = 86_400_000;
const WEEK: i64 = 7 * DAY;

fn settings(secret: Option<&str>) -> TokenSettings {
    TokenSettings {
        secret: secret.map(String::from),
        max_lifetime_ms: WEEK,
        expiry_time_ms: DAY,
    }
}

fn open(store: &Arc<dyn KvStore>, secret: Option<&str>) -> DelegationTokens {
    DelegationTokens::open(store.clone(), settings(secret)).unwrap()
}

fn alice() -> Principal {
    Principal::user("alice")
}

fn bob() -> Principal {
    Principal::user("bob")
}

#[test]
fn hmac_is_kafkas_hmac_sha512_of_the_token_id() {
    // RFC 4231 test case 2: HMAC-SHA-512 with key "Jefe".
    let mac = token_hmac("Jefe", "what do ya want for nothing?");
    assert_eq!(mac[..8], [0x16, 0x4b, 0x7a, 0x7b, 0xfc, 0xf8, 0x19, 0xe2]);
    assert_eq!(mac.len(), 64);
}

#[test]
fn disabled_without_a_secret() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let tokens = open(&store, None);
    assert!(!tokens.enabled());
    assert!(matches!(
        tokens.create(alice(), alice(), vec![], -1, 0),
        Err(TokenError::Disabled)
    ));
    assert!(matches!(
        tokens.renew(b"x", &alice(), -1, 0),
        Err(TokenError::Disabled)
    ));
    assert!(matches!(
        tokens.expire(b"x", &alice(), -1, 0),
        Err(TokenError::Disabled)
    ));
}

#[test]
fn create_sets_lifetimes_as_the_controller_does() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let tokens = open(&store, Some("secret"));
    let now = 1_000_000;
    let (info, hmac) = tokens.create(alice(), bob(), vec![bob()], -1, now).unwrap();
    assert_eq!(hmac, token_hmac("secret", &info.token_id));
    assert_eq!(
        (info.issue_ms, info.expiry_ms, info.max_ms),
        (now, now + DAY, now + WEEK)
    );
    assert_eq!(info.token_id.len(), 22);
    assert!(!info.token_id.starts_with('-'));
    // A shorter max lifetime asked for caps the expiry too; a longer one is the config's.
    let (short, _) = tokens.create(alice(), alice(), vec![], 1000, now).unwrap();
    assert_eq!((short.expiry_ms, short.max_ms), (now + 1000, now + 1000));
    let (long, _) = tokens
        .create(alice(), alice(), vec![], 10 * WEEK, now)
        .unwrap();
    assert_eq!(long.max_ms, now + WEEK);
    // No overflow near the end of time.
    let (late, _) = tokens
        .create(alice(), alice(), vec![], -1, i64::MAX - 5)
        .unwrap();
    assert_eq!(late.max_ms, i64::MAX);
}

#[test]
fn renew_and_expire_follow_the_owner_and_renewers() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let tokens = open(&store, Some("secret"));
    let now = 1_000_000;
    // Requested by bob for alice, renewable by carol.
    let carol = Principal::user("carol");
    let (info, hmac) = tokens
        .create(alice(), bob(), vec![carol.clone()], -1, now)
        .unwrap();
    assert!(
        info.owner_or_renewer(&bob()),
        "the requester may describe it"
    );
    assert!(matches!(
        tokens.renew(&hmac, &bob(), -1, now),
        Err(TokenError::OwnerMismatch)
    ));
    assert!(matches!(
        tokens.renew(b"not a token", &alice(), -1, now),
        Err(TokenError::NotFound)
    ));
    // Renewal: at most the expiry time, never past the max lifetime.
    assert_eq!(
        tokens.renew(&hmac, &carol, 1000, now + 10).unwrap(),
        now + 1010
    );
    assert_eq!(
        tokens.renew(&hmac, &alice(), 10 * DAY, now + 20).unwrap(),
        now + 20 + DAY
    );
    // Never past the max lifetime.
    let (_, short) = tokens
        .create(alice(), alice(), vec![], DAY + DAY / 2, now)
        .unwrap();
    assert_eq!(
        tokens.renew(&short, &alice(), -1, now + DAY - 1).unwrap(),
        now + DAY + DAY / 2
    );
    assert!(matches!(
        tokens.renew(&short, &alice(), -1, now + DAY + DAY / 2 + 1),
        Err(TokenError::Expired)
    ));
    tokens.expire(&short, &alice(), -1, now).unwrap();
    // Expired: renewals fail, a timed expire too, but a removal (negative period) works.
    assert!(matches!(
        tokens.renew(&hmac, &alice(), -1, now + WEEK + 1),
        Err(TokenError::Expired)
    ));
    assert!(matches!(
        tokens.expire(&hmac, &alice(), 0, now + WEEK + 1),
        Err(TokenError::Expired)
    ));
    assert_eq!(tokens.expire(&hmac, &alice(), 5, now).unwrap(), now + 5);
    assert_eq!(tokens.tokens(|_| true)[0].0.expiry_ms, now + 5);
    assert!(matches!(
        tokens.expire(&hmac, &bob(), -1, now),
        Err(TokenError::OwnerMismatch)
    ));
    assert_eq!(tokens.expire(&hmac, &carol, -1, now + 7).unwrap(), now + 7);
    assert!(tokens.tokens(|_| true).is_empty());
    assert!(tokens
        .scram(&info.token_id, ScramMechanism::Sha256)
        .is_none());
    assert!(store.scan_prefix(PREFIX.as_bytes()).unwrap().is_empty());
}

#[test]
fn scram_credentials_are_the_hmacs_for_both_mechanisms() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let tokens = open(&store, Some("secret"));
    let (info, hmac) = tokens.create(alice(), alice(), vec![], -1, 0).unwrap();
    let password = B64.encode(&hmac);
    for m in ScramMechanism::ALL {
        let (c, owner, expiry) = tokens.scram(&info.token_id, m).unwrap();
        assert_eq!(owner, alice());
        assert_eq!(expiry, DAY);
        assert_eq!(c.iterations, MIN_ITERATIONS);
        assert_eq!(c, m.credential(&password, &c.salt, MIN_ITERATIONS));
    }
    assert!(tokens.scram("other", ScramMechanism::Sha512).is_none());
    // The store holds neither the HMAC nor the credentials.
    for (_, value) in store.scan_prefix(b"").unwrap() {
        let text = String::from_utf8_lossy(&value);
        assert!(
            !text.contains(&password) && !text.contains("stored_key"),
            "{text}"
        );
    }
}

#[test]
fn other_brokers_see_tokens_after_a_reload_with_the_same_hmac() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let here = open(&store, Some("shared"));
    let there = open(&store, Some("shared"));
    let (info, hmac) = there.create(alice(), alice(), vec![], -1, 0).unwrap();
    assert!(here.tokens(|_| true).is_empty(), "not before the reload");
    here.reload().unwrap();
    let held = here.tokens(|_| true);
    assert_eq!(held, [(info.clone(), hmac.clone())]);
    // A renewal there is seen here, the credentials kept.
    let (before, _, _) = here.scram(&info.token_id, ScramMechanism::Sha256).unwrap();
    there.renew(&hmac, &alice(), 1000, 5).unwrap();
    here.reload().unwrap();
    let (after, _, expiry) = here.scram(&info.token_id, ScramMechanism::Sha256).unwrap();
    assert_eq!((after.salt, expiry), (before.salt, 1005));
    // A restart takes the tokens in; without the secret it holds none.
    assert_eq!(open(&store, Some("shared")).tokens(|_| true).len(), 1);
    assert!(open(&store, None).tokens(|_| true).is_empty());
    there.expire(&hmac, &alice(), -1, 6).unwrap();
    here.reload().unwrap();
    assert!(here.tokens(|_| true).is_empty());
}

#[test]
fn purge_removes_expired_tokens_only() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let tokens = open(&store, Some("secret"));
    let (short, _) = tokens.create(alice(), alice(), vec![], 100, 0).unwrap();
    let (long, _) = tokens.create(bob(), bob(), vec![], -1, 0).unwrap();
    assert!(
        tokens.purge(100).unwrap().is_empty(),
        "not past its end yet"
    );
    assert_eq!(tokens.purge(101).unwrap(), [short.token_id]);
    let left: Vec<String> = tokens
        .tokens(|_| true)
        .into_iter()
        .map(|(t, _)| t.token_id)
        .collect();
    assert_eq!(left, [long.token_id]);
    assert_eq!(store.scan_prefix(PREFIX.as_bytes()).unwrap().len(), 1);
}

#[test]
fn principals_round_trip_through_the_store() {
    let p = Principal {
        principal_type: "Group".into(),
        name: "a:b".into(),
    };
    assert_eq!(parse_principal(&principal_text(&p)), p);
}
