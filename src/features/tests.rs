use super::*;
use crate::store::MemoryStore;

fn open(store: &Arc<dyn KvStore>) -> Features {
    Features::open(store.clone(), 1).unwrap()
}

fn up(name: &str, level: i16, kind: i8) -> Update {
    (name.to_string(), level, kind)
}

#[test]
fn a_new_cluster_finalizes_what_gregor_supports_at_epoch_1() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let f = open(&store);
    let now = f.finalized();
    assert_eq!(now.epoch, 1);
    assert_eq!(now.level(METADATA_VERSION), METADATA_VERSION_LEVEL);
    assert_eq!(now.level(GROUP_VERSION), 1);
    assert_eq!(now.level(SHARE_VERSION), 2);
    assert_eq!(now.level(TRANSACTION_VERSION), 2);
    assert_eq!(now.level(STREAMS_VERSION), 1);
    assert!(f.consumer_protocol_enabled() && f.share_groups_enabled());
    assert!(f.streams_groups_enabled());
}

#[test]
fn changes_are_stored_bump_the_epoch_and_survive_a_restart() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let f = open(&store);
    f.update(&[up(GROUP_VERSION, 0, SAFE_DOWNGRADE)], false)
        .unwrap();
    assert_eq!(f.finalized().epoch, 2);
    assert_eq!(f.finalized().level(GROUP_VERSION), 0);
    assert!(!f.finalized().levels.contains_key(GROUP_VERSION));
    assert!(!f.consumer_protocol_enabled());
    f.update(
        &[
            up(SHARE_VERSION, 0, SAFE_DOWNGRADE),
            up(TRANSACTION_VERSION, 1, SAFE_DOWNGRADE),
        ],
        false,
    )
    .unwrap();
    assert_eq!(f.finalized().epoch, 3);
    assert!(!f.share_groups_enabled());
    // Nothing changes: no new epoch.
    f.update(&[up(TRANSACTION_VERSION, 1, UPGRADE)], false)
        .unwrap();
    assert_eq!(f.finalized().epoch, 3);
    let again = open(&store);
    assert_eq!(again.finalized(), f.finalized());
    assert_eq!(again.finalized().level(TRANSACTION_VERSION), 1);
}

#[test]
fn validate_only_and_refused_updates_change_nothing() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let f = open(&store);
    f.update(&[up(GROUP_VERSION, 0, SAFE_DOWNGRADE)], true)
        .unwrap();
    assert_eq!(f.finalized().epoch, 1);
    assert!(f.consumer_protocol_enabled());
    assert_eq!(store.get(KEY).unwrap(), None);
    // One bad update fails them all.
    let refused = f.update(
        &[
            up(GROUP_VERSION, 0, SAFE_DOWNGRADE),
            up(SHARE_VERSION, 3, UPGRADE),
        ],
        false,
    );
    assert!(matches!(refused, Err(UpdateError::Invalid(m)) if m.contains("share.version")));
    assert!(f.consumer_protocol_enabled());
    assert_eq!(store.get(KEY).unwrap(), None);
}

#[test]
fn brokers_sharing_a_store_agree_after_a_reload() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let a = open(&store);
    let b = open(&store);
    a.update(&[up(GROUP_VERSION, 0, SAFE_DOWNGRADE)], false)
        .unwrap();
    assert!(b.consumer_protocol_enabled());
    b.reload().unwrap();
    assert!(!b.consumer_protocol_enabled());
    assert_eq!(b.finalized(), a.finalized());
    // b updates from what the store holds (not from a stale copy): the epoch follows a's.
    b.update(&[up(GROUP_VERSION, 1, UPGRADE)], false).unwrap();
    assert_eq!(b.finalized().epoch, 3);
    // a, not reloaded, still validates against the store: group.version is 1 again there.
    assert_eq!(
        a.update(&[up(GROUP_VERSION, 0, UPGRADE)], true),
        Err(UpdateError::Invalid(
            "Invalid update version 0 for feature group.version. Can't downgrade the version of \
             this feature without setting the upgrade type to either safe or unsafe downgrade."
                .to_string()
        ))
    );
}

#[test]
fn unreadable_stored_levels_are_an_error_not_a_silent_default() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    store.put(KEY, b"not json").unwrap();
    assert!(Features::open(store.clone(), 1).is_err());
}
