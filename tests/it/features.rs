//! UpdateFeatures (57) and the finalized feature levels as state (src/features): a change
//! shows in ApiVersions at a new epoch, changes what is served (group.version 0 turns the
//! consumer group protocol off, share.version 0 share groups), survives a restart, and is
//! refused with Kafka 4.4's messages when Kafka's controller refuses it; ValidateOnly changes
//! nothing; without ALTER on the cluster nothing is changed.

use std::collections::BTreeMap;

use crate::acl_support;
use crate::common::*;
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

const TOPIC: &str = "loms.order-events";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn update(changes: &[(&str, i16, i8)], validate_only: bool) -> UpdateFeaturesRequest {
    UpdateFeaturesRequest::default()
        .with_validate_only(validate_only)
        .with_feature_updates(
            changes
                .iter()
                .map(|(name, level, kind)| {
                    FeatureUpdateKey::default()
                        .with_feature(s(name))
                        .with_max_version_level(*level)
                        .with_upgrade_type(*kind)
                })
                .collect(),
        )
}

/// (epoch, finalized levels) as ApiVersions v4 reports them.
async fn finalized(c: &mut Client) -> (i64, BTreeMap<String, i16>) {
    let v = c.call(&crate::common::api_versions(), 4).await;
    let levels = v
        .finalized_features
        .iter()
        .map(|f| {
            assert_eq!(f.min_version_level, f.max_version_level);
            (f.name.to_string(), f.max_version_level)
        })
        .collect();
    (v.finalized_features_epoch, levels)
}

fn join(group: &str) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s("m-features"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]))
        .with_topic_partitions(Some(vec![]))
}

fn share_join(group: &str) -> ShareGroupHeartbeatRequest {
    ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s("s-features"))
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]))
}

const SAFE: i8 = 2;
const UPGRADE: i8 = 1;

#[tokio::test]
async fn group_version_0_turns_the_consumer_protocol_off_until_it_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let (epoch, levels) = finalized(&mut c).await;
    assert_eq!(epoch, 1);
    assert_eq!(levels.get("group.version"), Some(&1));

    // Validate only: nothing changes.
    let r = c
        .call(&update(&[("group.version", 0, SAFE)], true), 2)
        .await;
    assert_eq!((r.error_code, r.error_message.as_deref()), (0, None));
    assert!(r.results.is_empty());
    assert_eq!(finalized(&mut c).await, (epoch, levels.clone()));
    assert_eq!(c.call(&join("g-before"), 1).await.error_code, 0);

    let r = c
        .call(&update(&[("group.version", 0, SAFE)], false), 2)
        .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let (epoch2, levels2) = finalized(&mut c).await;
    assert_eq!(epoch2, 2, "the epoch grows with each change");
    assert_eq!(levels2.get("group.version"), None, "level 0 is not listed");
    let refused = c.call(&join("g-off"), 1).await;
    assert_eq!(refused.error_code, E::UnsupportedVersion.code());
    let described = c
        .call(
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("g-before"))]),
            1,
        )
        .await;
    assert_eq!(described.groups[0].error_code, E::UnsupportedVersion.code());
    // Still advertised, as Kafka does.
    let v = c.call(&crate::common::api_versions(), 4).await;
    assert!(v
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::ConsumerGroupHeartbeat as i16));

    // It survives a restart.
    b.shutdown().await;
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(finalized(&mut c).await, (2, levels2));
    assert_eq!(
        c.call(&join("g-off"), 1).await.error_code,
        E::UnsupportedVersion.code()
    );

    let r = c
        .call(&update(&[("group.version", 1, UPGRADE)], false), 2)
        .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(finalized(&mut c).await, (3, levels));
    let joined = c.call(&join("g-back"), 1).await;
    assert_eq!(joined.error_code, 0, "{:?}", joined.error_message);
    assert!(joined.member_epoch > 0);
    b.shutdown().await;
}

#[tokio::test]
async fn share_version_0_turns_share_groups_off_and_transaction_version_shows() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(
            &update(
                &[("share.version", 0, SAFE), ("transaction.version", 1, SAFE)],
                false,
            ),
            2,
        )
        .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let (_, levels) = finalized(&mut c).await;
    assert_eq!(levels.get("share.version"), None);
    assert_eq!(levels.get("transaction.version"), Some(&1));
    assert_eq!(
        c.call(&share_join("sg"), 1).await.error_code,
        E::UnsupportedVersion.code()
    );
    let r = c
        .call(
            &update(
                &[
                    ("share.version", 2, UPGRADE),
                    ("transaction.version", 2, UPGRADE),
                ],
                false,
            ),
            2,
        )
        .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let joined = c.call(&share_join("sg"), 1).await;
    assert_eq!(joined.error_code, 0, "{:?}", joined.error_message);
    b.shutdown().await;
}

#[tokio::test]
async fn refusals_carry_kafkas_messages_and_change_nothing() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let before = finalized(&mut c).await;
    let all_failed =
        "The update failed for all features since the following feature had an error: ";
    for (changes, why) in [
        (
            vec![("group.version", 0, UPGRADE)],
            "Invalid update version 0 for feature group.version. Can't downgrade the version of \
             this feature without setting the upgrade type to either safe or unsafe downgrade.",
        ),
        (
            vec![("group.version", 2, SAFE)],
            "Invalid update version 2 for feature group.version. Local controller 1 only \
             supports versions 0-1",
        ),
        (
            vec![("foo.bar", 1, UPGRADE)],
            "Invalid update version 1 for feature foo.bar. Local controller 1 does not support \
             this feature.",
        ),
        (
            vec![("foo.bar", 0, SAFE)],
            "Invalid update version 0 for feature foo.bar. Feature foo.bar not found.",
        ),
        (
            vec![("metadata.version", 29, SAFE)],
            "Unsupported metadata.version downgrade from 30 to 29. Refusing to perform the \
             requested downgrade because it might delete metadata information.",
        ),
        (
            vec![("metadata.version", 29, 3)],
            "Unsupported metadata.version downgrade from 30 to 29. Unsafe metadata downgrade is \
             not supported in this version.",
        ),
        // One bad update fails the good ones with it.
        (
            vec![("share.version", 1, SAFE), ("transaction.version", 3, SAFE)],
            "Invalid update version 3 for feature transaction.version. Local controller 1 only \
             supports versions 0-2",
        ),
    ] {
        let r = c.call(&update(&changes, false), 2).await;
        assert_eq!(r.error_code, E::InvalidUpdateVersion.code(), "{changes:?}");
        assert_eq!(
            r.error_message.as_deref(),
            Some(format!("{all_failed}{why}").as_str()),
            "{changes:?}"
        );
    }
    assert_eq!(finalized(&mut c).await, before);

    // v1 lists each feature when the update succeeds; v0 cannot downgrade (Kafka 4.4's
    // controller reads UpgradeType, which v0 does not carry).
    let r = c
        .call(&update(&[("group.version", 1, UPGRADE)], false), 1)
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].feature.as_str(), "group.version");
    assert_eq!(
        (r.results[0].error_code, &r.results[0].error_message),
        (0, &None)
    );
    let v0 =
        UpdateFeaturesRequest::default().with_feature_updates(vec![FeatureUpdateKey::default()
            .with_feature(s("group.version"))
            .with_max_version_level(0)
            .with_allow_downgrade(true)]);
    let r = c.call(&v0, 0).await;
    assert_eq!(r.error_code, E::InvalidUpdateVersion.code());
    assert_eq!(finalized(&mut c).await, before);
    b.shutdown().await;
}

#[tokio::test]
async fn without_alter_on_the_cluster_nothing_changes() {
    let b = acl_support::broker(None, false).await;
    let alice = acl_support::who("alice", "10.0.0.1");
    let downgrade = update(&[("group.version", 0, SAFE)], false);
    let r = acl_support::call(&b, &alice, &downgrade, 2).await;
    assert_eq!(r.error_code, E::ClusterAuthorizationFailed.code());
    assert!(b.services.features.consumer_protocol_enabled());
    acl_support::grant_cluster(&b, "User:alice", acl_support::ALTER).await;
    let r = acl_support::call(&b, &alice, &downgrade, 2).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert!(!b.services.features.consumer_protocol_enabled());
    b.shutdown().await;
}
