//! Static membership (KIP-345): a member restarted with its group.instance.id gets its
//! assignment back without a rebalance.

use super::*;

#[tokio::test]
async fn a_restarted_static_member_gets_its_assignment_back_without_a_rebalance() {
    let b = broker_with(None).await;
    let g = "static";
    let mut a = Client::connect(&b).await;
    let mut other = Client::connect(&b).await;
    let ja = tokio::spawn(async move {
        let r = a.call(&join_request(g, "", Some("notifier-1")), 5).await;
        (a, r)
    });
    let jo = other
        .call(&join_request(g, "", Some("notifier-2")), 5)
        .await;
    let (a, ja) = ja.await.unwrap();
    assert_eq!(
        (ja.error_code, jo.error_code),
        (0, 0),
        "static members skip MEMBER_ID_REQUIRED"
    );
    assert!(ja.member_id.starts_with("notifier-1-"));
    let (leader, follower) = if ja.leader == ja.member_id {
        (&ja, &jo)
    } else {
        (&jo, &ja)
    };
    let plan = vec![
        (leader.member_id.to_string(), assignment(&[0])),
        (follower.member_id.to_string(), assignment(&[1])),
    ];
    let sync_of = |j: &JoinGroupResponse, plan: Vec<(String, Bytes)>| {
        sync_request(g, j, plan).with_group_instance_id(None)
    };
    let (mut lc, mut fc) = if ja.leader == ja.member_id {
        (a, other)
    } else {
        (other, a)
    };
    let follower_sync = {
        let req = sync_of(follower, vec![]);
        tokio::spawn(async move {
            let r = fc.call(&req, 5).await;
            (fc, r)
        })
    };
    assert_eq!(
        lc.call(&sync_of(leader, plan), 5).await.assignment,
        assignment(&[0])
    );
    let (_fc, fs) = follower_sync.await.unwrap();
    assert_eq!(fs.assignment, assignment(&[1]));

    // The follower's process restarts: no member id, the same group.instance.id.
    let follower_instance = if follower.member_id.starts_with("notifier-1") {
        "notifier-1"
    } else {
        "notifier-2"
    };
    let mut restarted = Client::connect(&b).await;
    let rj = tokio::time::timeout(
        Duration::from_secs(2),
        restarted.call(&join_request(g, "", Some(follower_instance)), 5),
    )
    .await
    .expect("answered at once: no rebalance");
    assert_eq!(
        (rj.error_code, rj.generation_id),
        (0, follower.generation_id)
    );
    assert_ne!(rj.member_id, follower.member_id);
    assert_eq!(rj.leader, leader.member_id);
    let sync = sync_request(g, &rj, vec![]).with_group_instance_id(Some(s(follower_instance)));
    assert_eq!(
        restarted.call(&sync, 5).await.assignment,
        assignment(&[1]),
        "its assignment back"
    );
    // The leader saw no rebalance; the old incarnation is fenced.
    assert_eq!(heartbeat(&mut lc, g, leader, 4).await, 0);
    let stale = HeartbeatRequest::default()
        .with_group_id(group(g))
        .with_generation_id(follower.generation_id)
        .with_member_id(follower.member_id.clone())
        .with_group_instance_id(Some(s(follower_instance)));
    assert_eq!(
        restarted.call(&stale, 4).await.error_code,
        82,
        "FENCED_INSTANCE_ID"
    );
    assert_eq!(
        describe(&mut lc, g)
            .await
            .members
            .iter()
            .filter(|m| m.group_instance_id.is_some())
            .count(),
        2
    );
}
