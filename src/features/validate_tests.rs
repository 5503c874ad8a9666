use super::*;

fn supported() -> BTreeMap<&'static str, Range> {
    BTreeMap::from([
        ("metadata.version", Range { min: 7, max: 30 }),
        ("group.version", Range { min: 0, max: 1 }),
        ("share.version", Range { min: 0, max: 2 }),
        ("transaction.version", Range { min: 0, max: 2 }),
    ])
}

fn finalized() -> BTreeMap<String, i16> {
    BTreeMap::from([
        ("metadata.version".to_string(), 30),
        ("group.version".to_string(), 1),
        ("share.version".to_string(), 2),
        ("transaction.version".to_string(), 2),
    ])
}

fn run(updates: &[(&str, i16, i8)]) -> Result<BTreeMap<String, i16>, String> {
    let supported = supported();
    let finalized = finalized();
    let cluster = Cluster {
        node_id: 1,
        supported: &supported,
        finalized: &finalized,
    };
    let updates: Vec<Update> = updates
        .iter()
        .map(|(n, l, k)| (n.to_string(), *l, *k))
        .collect();
    check(&cluster, &updates)
}

#[test]
fn downgrades_need_a_downgrade_type_and_level_0_removes_the_feature() {
    let err = run(&[("group.version", 0, UPGRADE)]).unwrap_err();
    assert_eq!(
        err,
        "Invalid update version 0 for feature group.version. Can't downgrade the version of \
         this feature without setting the upgrade type to either safe or unsafe downgrade."
    );
    let levels = run(&[("group.version", 0, SAFE_DOWNGRADE)]).unwrap();
    assert_eq!(levels.get("group.version"), None);
    assert_eq!(levels.get("share.version"), Some(&2));
    let levels = run(&[("transaction.version", 1, UNSAFE_DOWNGRADE)]).unwrap();
    assert_eq!(levels.get("transaction.version"), Some(&1));
    // The same level is no change, whatever the type.
    assert_eq!(run(&[("group.version", 1, UPGRADE)]).unwrap(), finalized());
    assert_eq!(
        run(&[("share.version", 2, SAFE_DOWNGRADE)]).unwrap(),
        finalized()
    );
}

#[test]
fn levels_outside_the_supported_range_are_refused_with_kafkas_messages() {
    assert_eq!(
        run(&[("group.version", 2, SAFE_DOWNGRADE)]).unwrap_err(),
        "Invalid update version 2 for feature group.version. Local controller 1 only supports \
         versions 0-1"
    );
    assert_eq!(
        run(&[("metadata.version", 34, UPGRADE)]).unwrap_err(),
        "Invalid update version 34 for feature metadata.version. Local controller 1 only \
         supports versions 7-30"
    );
    assert_eq!(
        run(&[("foo.bar", 1, UPGRADE)]).unwrap_err(),
        "Invalid update version 1 for feature foo.bar. Local controller 1 does not support \
         this feature."
    );
    assert_eq!(
        run(&[("foo.bar", 0, SAFE_DOWNGRADE)]).unwrap_err(),
        "Invalid update version 0 for feature foo.bar. Feature foo.bar not found."
    );
    assert_eq!(
        run(&[("group.version", -1, SAFE_DOWNGRADE)]).unwrap_err(),
        "Invalid update version -1 for feature group.version. A feature version cannot be less \
         than 0."
    );
    assert_eq!(
        run(&[("group.version", 1, 7)]).unwrap_err(),
        "Invalid update version 1 for feature group.version. The controller does not support \
         the given upgrade type."
    );
    assert_eq!(
        run(&[("group.version", 1, 0)]).unwrap_err(),
        "Invalid update version 1 for feature group.version. The controller does not support \
         the given upgrade type."
    );
    // A feature Kafka knows but gregor does not support: level 0 is nothing to do.
    assert_eq!(
        run(&[("streams.version", 0, SAFE_DOWNGRADE)]).unwrap(),
        finalized()
    );
    assert_eq!(
        run(&[("kraft.version", 1, UPGRADE)]).unwrap_err(),
        "Invalid update version 1 for feature kraft.version. Local controller 1 does not \
         support this feature."
    );
}

#[test]
fn an_upgrade_type_cannot_go_down_nor_a_downgrade_up() {
    let supported = supported();
    let mut finalized = finalized();
    finalized.remove("group.version");
    let cluster = Cluster {
        node_id: 3,
        supported: &supported,
        finalized: &finalized,
    };
    let up = |kind| check(&cluster, &[("group.version".to_string(), 1, kind)]);
    assert_eq!(
        up(SAFE_DOWNGRADE).unwrap_err(),
        "Invalid update version 1 for feature group.version. Can't downgrade to a newer version."
    );
    assert_eq!(up(UPGRADE).unwrap().get("group.version"), Some(&1));
}

#[test]
fn metadata_version_downgrades_are_refused_as_kafka_refuses_them() {
    assert_eq!(
        run(&[("metadata.version", 29, SAFE_DOWNGRADE)]).unwrap_err(),
        "Unsupported metadata.version downgrade from 30 to 29. Refusing to perform the \
         requested downgrade because it might delete metadata information."
    );
    assert_eq!(
        run(&[("metadata.version", 7, UNSAFE_DOWNGRADE)]).unwrap_err(),
        "Unsupported metadata.version downgrade from 30 to 7. Unsafe metadata downgrade is not \
         supported in this version."
    );
    assert_eq!(
        run(&[("metadata.version", 7, UPGRADE)]).unwrap_err(),
        "Invalid update version 7 for feature metadata.version. Can't downgrade the version of \
         this feature without setting the upgrade type to either safe or unsafe downgrade."
    );
    // Kafka's MetadataVersion: 3.5-IV1 (10) → 3.5-IV0 (9) changed nothing, 3.5-IV2 (11) did.
    assert!(!metadata_changed(10, 9));
    assert!(metadata_changed(11, 9));
    assert!(!metadata_changed(29, 24));
    assert!(metadata_changed(30, 29));
}

#[test]
fn the_first_failure_in_kafkas_hashmap_order_is_reported_and_nothing_applies() {
    // What java.util.HashMap's keySet() printed for these names, put in this order.
    let names = [
        "transaction.version",
        "group.version",
        "share.version",
        "metadata.version",
        "kraft.version",
        "eligible.leader.replicas.version",
        "streams.version",
    ];
    let order: Vec<String> =
        java_hash_order(names.iter().map(|n| (n.to_string(), 0, ())).collect())
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
    assert_eq!(
        order,
        [
            "group.version",
            "kraft.version",
            "share.version",
            "metadata.version",
            "streams.version",
            "transaction.version",
            "eligible.leader.replicas.version"
        ]
    );
    assert_eq!(java_string_hash("a"), 97);
    assert_eq!(java_string_hash("group.version"), 904475753);
    let err = run(&[
        ("share.version", 1, SAFE_DOWNGRADE),
        ("transaction.version", 3, SAFE_DOWNGRADE),
    ])
    .unwrap_err();
    assert!(err.contains("feature transaction.version"), "{err}");
    // Named twice: the last level counts.
    let levels = run(&[
        ("group.version", 1, SAFE_DOWNGRADE),
        ("group.version", 0, SAFE_DOWNGRADE),
    ])
    .unwrap();
    assert_eq!(levels.get("group.version"), None);
}

#[test]
fn ranges_print_as_kafkas_version_range() {
    assert_eq!(Range { min: 0, max: 1 }.to_string(), "0-1");
    assert_eq!(Range { min: 2, max: 2 }.to_string(), "2");
    assert_eq!(
        Range {
            min: 3,
            max: i16::MAX
        }
        .to_string(),
        "3+"
    );
}
