//! `gregor groups describe`: a group's state, members, assignments, committed offsets and lag,
//! asked of its coordinator, in kafka-consumer-groups' table.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use kafka_protocol::messages::{
    BrokerId, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListOffsetsRequest,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::topics::topic_name;
use super::{check, with_message, CliError, Client};

pub(super) async fn groups_describe(
    c: &mut Client,
    group: &str,
    out: &mut String,
) -> Result<(), CliError> {
    // The group's coordinator.
    let v = c.version::<FindCoordinatorRequest>("FindCoordinator", 4)?;
    let mut req = FindCoordinatorRequest::default();
    if v >= 4 {
        req.coordinator_keys = vec![StrBytes::from_string(group.to_string())];
    } else {
        req.key = StrBytes::from_string(group.to_string());
    }
    let resp = c.send(&req, v).await?;
    let (code, msg, host, port) = if v >= 4 {
        let co = resp
            .coordinators
            .first()
            .ok_or_else(|| CliError::Msg("FindCoordinator: empty answer".into()))?;
        (
            co.error_code,
            co.error_message.clone(),
            co.host.clone(),
            co.port,
        )
    } else {
        (
            resp.error_code,
            resp.error_message.clone(),
            resp.host.clone(),
            resp.port,
        )
    };
    if code != 0 {
        return Err(CliError::Msg(format!(
            "no coordinator for group {group}: {}",
            with_message(code, msg.as_ref())
        )));
    }
    let coord_addr = format!("{}:{port}", host.as_str());
    let mut coord = if coord_addr == c.addr() {
        None
    } else {
        let options = c.options().clone();
        Some(Client::connect(&coord_addr, &options).await?)
    };
    let gc = coord.as_mut().unwrap_or(c);

    let v = gc.version::<DescribeGroupsRequest>("DescribeGroups", 5)?;
    let resp = gc
        .send(
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_string(group.to_string()))]),
            v,
        )
        .await?;
    let g = resp
        .groups
        .first()
        .ok_or_else(|| CliError::Msg("DescribeGroups: empty answer".into()))?;
    if g.error_code == 69 || (g.error_code == 0 && g.group_state.as_str() == "Dead") {
        return Err(CliError::Msg(format!(
            "consumer group {group} does not exist"
        )));
    }
    check(g.error_code, &format!("describe group {group}"))?;

    // Who owns which partition.
    let mut owner: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    for m in &g.members {
        let mut bytes = m.member_assignment.clone();
        if bytes.len() < 2 {
            continue;
        }
        let version = i16::from_be_bytes([bytes[0], bytes[1]]);
        let _ = bytes::Buf::get_i16(&mut bytes);
        if let Ok(a) = ConsumerProtocolAssignment::decode(&mut bytes, version.clamp(0, 3)) {
            for tp in a.assigned_partitions {
                for p in tp.partitions {
                    owner.insert(
                        (tp.topic.0.to_string(), p),
                        (
                            m.member_id.to_string(),
                            m.client_host.to_string(),
                            m.client_id.to_string(),
                        ),
                    );
                }
            }
        }
    }

    // Committed offsets (all partitions of the group).
    let v = gc.version::<OffsetFetchRequest>("OffsetFetch", 7)?;
    if v < 2 {
        return Err(CliError::Msg(
            "OffsetFetch for all of a group's partitions needs version 2 or later".into(),
        ));
    }
    let mut req = OffsetFetchRequest::default();
    req.group_id = GroupId(StrBytes::from_string(group.to_string()));
    req.topics = None;
    let resp = gc.send(&req, v).await?;
    check(resp.error_code, &format!("offsets of group {group}"))?;
    let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code == 0 && p.committed_offset >= 0 {
                committed.insert(
                    (t.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
    }

    // Log-end offsets of every partition mentioned.
    let mut by_topic: IndexMap<String, Vec<i32>> = IndexMap::new();
    for (t, p) in committed.keys().chain(owner.keys()) {
        let ps = by_topic.entry(t.clone()).or_default();
        if !ps.contains(p) {
            ps.push(*p);
        }
    }
    let mut end: BTreeMap<(String, i32), i64> = BTreeMap::new();
    if !by_topic.is_empty() {
        let v = c.version::<ListOffsetsRequest>("ListOffsets", 7)?;
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                by_topic
                    .iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(
                                ps.iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(*p)
                                            .with_timestamp(-1)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp = c.send(&req, v).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                if p.error_code == 0 {
                    end.insert((t.name.0.to_string(), p.partition_index), p.offset);
                }
            }
        }
    }

    out.push_str(&format!(
        "Group: {group}\tState: {}\tProtocol: {}\tMembers: {}\n\n",
        g.group_state.as_str(),
        g.protocol_data.as_str(),
        g.members.len()
    ));
    let mut rows = vec![[
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]
    .map(String::from)
    .to_vec()];
    let keys: std::collections::BTreeSet<_> = committed.keys().chain(owner.keys()).collect();
    for key in keys {
        let cur = committed.get(key);
        let leo = end.get(key);
        let lag = match (cur, leo) {
            (Some(c), Some(e)) => (e - c).max(0).to_string(),
            (None, Some(e)) => e.to_string(),
            _ => "-".into(),
        };
        let (member, host, client) = owner
            .get(key)
            .cloned()
            .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        rows.push(vec![
            key.0.clone(),
            key.1.to_string(),
            cur.map_or("-".into(), |c| c.to_string()),
            leo.map_or("-".into(), |e| e.to_string()),
            lag,
            member,
            host,
            client,
        ]);
    }
    // Members without partitions (an idle third notifier) are listed too.
    for m in &g.members {
        if !owner.values().any(|(id, _, _)| id == m.member_id.as_str()) {
            rows.push(vec![
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                m.member_id.to_string(),
                m.client_host.to_string(),
                m.client_id.to_string(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    Ok(())
}
