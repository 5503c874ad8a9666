//! Where an instance reads from and what it commits: committed offsets (OffsetFetch), the
//! log's ends (ListOffsets) for `auto.offset.reset` and seeks to the beginning or end, and
//! OffsetCommit — as a member of the group at its epoch when subscribed, else as a client
//! that assigns its own partitions (generation -1, as Kafka's consumer does then).

use std::collections::HashMap;

use super::{Instance, State, Tp};
use crate::http::client;
pub use crate::http::client::{EARLIEST, LATEST};
use crate::http::error::{HttpError, HttpResult};
use crate::http::Gateway;

/// The group's committed offsets of `parts` (absent where none), with their metadata.
pub async fn committed(
    gw: &Gateway,
    group: &str,
    parts: &[Tp],
) -> HttpResult<HashMap<Tp, (i64, String)>> {
    let mut out = HashMap::new();
    for (tp, error, offset, metadata) in client::committed(gw, group, Some(parts)).await? {
        if error != 0 {
            return Err(HttpError::kafka(error, None));
        }
        if offset >= 0 {
            out.insert(tp, (offset, metadata));
        }
    }
    Ok(out)
}

/// The offsets at `timestamp` ([`EARLIEST`] or [`LATEST`]) of `parts`.
pub async fn ends(gw: &Gateway, parts: &[Tp], timestamp: i64) -> HttpResult<HashMap<Tp, i64>> {
    let mut out = HashMap::new();
    for (tp, error, offset) in client::list_offsets(gw, parts, timestamp).await? {
        if error != 0 {
            return Err(HttpError::kafka(error, None));
        }
        out.insert(tp, offset);
    }
    Ok(out)
}

/// Give every partition read now a position: the committed offset, else the reset policy's.
pub async fn resolve(gw: &Gateway, instance: &Instance, state: &mut State) -> HttpResult<()> {
    let missing: Vec<Tp> = state
        .partitions()
        .into_iter()
        .filter(|tp| !state.positions.contains_key(tp))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let committed = committed(gw, &instance.group, &missing).await?;
    let unset: Vec<Tp> = missing
        .iter()
        .filter(|tp| !committed.contains_key(*tp))
        .cloned()
        .collect();
    let reset = if unset.is_empty() {
        HashMap::new()
    } else {
        let at = if instance.settings.earliest {
            EARLIEST
        } else {
            LATEST
        };
        ends(gw, &unset, at).await?
    };
    for tp in missing {
        let offset = committed
            .get(&tp)
            .map(|(o, _)| *o)
            .or(reset.get(&tp).copied());
        if let Some(offset) = offset {
            state.positions.insert(tp, offset);
        }
    }
    Ok(())
}

/// Commit `offsets` for the instance's group (as its member when subscribed).
pub async fn commit(
    gw: &Gateway,
    instance: &Instance,
    state: &State,
    offsets: &[(Tp, i64)],
) -> HttpResult<()> {
    let member = state.member.as_ref().map(|m| (m.id.as_str(), m.epoch));
    let offsets = offsets.iter().map(|(tp, o)| (tp, *o));
    client::commit(gw, &instance.group, member, offsets)
        .await?
        .map_err(|code| HttpError::kafka(code, None))
}
