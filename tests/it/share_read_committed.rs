//! share.isolation.level=read_committed over the wire: a share group set to it gets the records
//! of committed transactions and plain records below the last stable offset, never a record of
//! an aborted transaction, and nothing past an open transaction until it ends; a group left at
//! read_uncommitted gets every record. Control batches go to neither.

use super::share_groups::{acquired, fetch, join, produce, s, set_group_configs};
use super::transactions_v2::{end_ok, init, produce as produce_txn};
use crate::common::*;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError as E;

/// Every offset a fetch acquired, one by one.
fn offsets(r: &ShareFetchResponse) -> Vec<i64> {
    acquired(r)
        .into_iter()
        .flat_map(|(first, last, _)| first..=last)
        .collect()
}

async fn isolation_level(c: &mut Client, group: &str) -> (Option<String>, i8) {
    let d = c
        .call(
            &DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(32)
                    .with_resource_name(s(group)),
            ]),
            4,
        )
        .await;
    let level = d.results[0]
        .configs
        .iter()
        .find(|e| e.name.as_str() == "share.isolation.level")
        .expect("share.isolation.level is described");
    (
        level.value.as_ref().map(|v| v.to_string()),
        level.config_source,
    )
}

#[tokio::test]
async fn read_committed_share_groups_skip_aborted_and_stop_at_open_transactions() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let (committed, uncommitted) = ("g-rc", "g-ru");
    let bad = set_group_configs(
        &mut c,
        committed,
        &[("share.isolation.level", "serializable")],
    );
    assert_eq!(bad.await.0, E::InvalidConfig.code());
    for (group, level) in [
        (committed, "read_committed"),
        (uncommitted, "read_uncommitted"),
    ] {
        let configs = [
            ("share.auto.offset.reset", "earliest"),
            ("share.isolation.level", level),
        ];
        assert_eq!(set_group_configs(&mut c, group, &configs).await, (0, None));
        assert_eq!(
            isolation_level(&mut c, group).await,
            (Some(level.to_string()), 8),
            "set on the group"
        );
    }
    assert_eq!(
        isolation_level(&mut c, "g-other").await,
        (Some("read_uncommitted".to_string()), 5),
        "the default"
    );

    // 0 plain; 1-2 committed (marker 3); 4 aborted (marker 5); 6 open; 7 plain.
    produce(&mut c, 1).await;
    let mut x = init(&mut c, "rc-x").await;
    let mut y = init(&mut c, "rc-y").await;
    let mut z = init(&mut c, "rc-z").await;
    assert_eq!(produce_txn(&mut c, &mut x, 0, &["x1", "x2"], 12).await, 0);
    end_ok(&mut c, &mut x, true).await;
    assert_eq!(produce_txn(&mut c, &mut y, 0, &["y1"], 12).await, 0);
    end_ok(&mut c, &mut y, false).await;
    assert_eq!(produce_txn(&mut c, &mut z, 0, &["z1"], 12).await, 0);
    produce(&mut c, 1).await;

    let topic = join(&mut c, committed, "m-rc").await;
    join(&mut c, uncommitted, "m-ru").await;
    let r = c.call(&fetch(committed, "m-rc", 0, topic, vec![]), 1).await;
    assert_eq!(
        offsets(&r),
        vec![0, 1, 2],
        "below the open transaction, none aborted"
    );
    let r = c
        .call(&fetch(uncommitted, "m-ru", 0, topic, vec![]), 1)
        .await;
    assert_eq!(offsets(&r), vec![0, 1, 2, 4, 6, 7], "all but the markers");

    // Nothing more while the transaction is open (the fetch waits its 50 ms).
    let r = c.call(&fetch(committed, "m-rc", 1, topic, vec![]), 1).await;
    assert_eq!(offsets(&r), Vec::<i64>::new());
    end_ok(&mut c, &mut z, true).await;
    let r = c.call(&fetch(committed, "m-rc", 2, topic, vec![]), 1).await;
    assert_eq!(
        offsets(&r),
        vec![6, 7],
        "the committed transaction and what followed it"
    );
}
