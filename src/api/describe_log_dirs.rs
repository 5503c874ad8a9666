//! DescribeLogDirs (35): the one log directory, the size of every partition in it and
//! (v4) the volume's total and usable bytes.

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::config::StorageKind;
use crate::meta::Topic;
use crate::security::acl::AclOperation;

/// Kafka's "unknown" for volume sizes.
const UNKNOWN_VOLUME_BYTES: i64 = -1;

pub async fn handle(ctx: RequestContext, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    // Kafka: DESCRIBE on the cluster.
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return DescribeLogDirsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let topics: Vec<DescribeLogDirsTopic> = match &req.topics {
        None => ctx
            .topics()
            .all()
            .iter()
            .map(|t| describe(t, None))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|w| {
                let topic = ctx.topics().get(&w.topic)?;
                Some(describe(&topic, Some(&w.partitions)))
            })
            .filter(|t| !t.partitions.is_empty())
            .collect(),
    };
    let (storage, data_dir) = (ctx.config().storage.clone(), ctx.config().data_dir.clone());
    // canonicalize and statvfs are file-system calls: off the async workers.
    let looked_up = tokio::task::spawn_blocking(move || {
        let (dir, path) = log_dir(&storage, &data_dir);
        let (total, usable) = path
            .and_then(|p| volume_bytes(&p))
            .unwrap_or((UNKNOWN_VOLUME_BYTES, UNKNOWN_VOLUME_BYTES));
        (dir, total, usable)
    })
    .await;
    let (dir, total, usable) = match looked_up {
        Ok(found) => found,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(dir))
        .with_topics(topics);
    if ctx.version() >= 4 {
        result = result.with_total_bytes(total).with_usable_bytes(usable);
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}

fn describe(topic: &Topic, wanted: Option<&Vec<i32>>) -> DescribeLogDirsTopic {
    let partitions = topic
        .partitions()
        .iter()
        // The partitions this broker holds (in cluster mode: leads; the others are stand-ins).
        .filter(|p| p.is_led() && wanted.is_none_or(|w| w.contains(&p.index)))
        .map(|p| {
            DescribeLogDirsPartition::default()
                .with_partition_index(p.index)
                .with_partition_size(p.size_bytes() as i64)
        })
        .collect();
    DescribeLogDirsTopic::default()
        .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
        .with_partitions(partitions)
}

/// The broker's one log directory as DescribeLogDirs names it (AlterReplicaLogDirs compares
/// requests with the same name), with its path on disk: the canonical path of the data
/// directory's `logs`; in cluster mode the log lives in the database ("postgresql", no volume
/// of ours to measure), a memory log is "memory". File-system calls: not on async workers.
pub(super) fn log_dir(
    storage: &StorageKind,
    data_dir: &std::path::Path,
) -> (String, Option<std::path::PathBuf>) {
    match storage {
        StorageKind::Disk => {
            let dir = data_dir.join("logs");
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
            (dir.display().to_string(), Some(dir))
        }
        StorageKind::Postgres(_) => ("postgresql".to_string(), None),
        StorageKind::Memory => ("memory".to_string(), None),
    }
}

/// The volume's total and available bytes (statvfs).
fn volume_bytes(dir: &std::path::Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid NUL-terminated string and `stat` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let block = stat.f_frsize as i64;
    Some((stat.f_blocks as i64 * block, stat.f_bavail as i64 * block))
}
