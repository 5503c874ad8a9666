//! ShareFetch v2's ShareAcquireMode: how a fetch counts its MaxRecords.

/// How a fetch counts its MaxRecords (ShareFetch v2's ShareAcquireMode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AcquireMode {
    /// 0: whole log batches; the batch holding the last record allowed is taken to its end.
    #[default]
    BatchOptimized,
    /// 1: never more than MaxRecords records.
    RecordLimit,
}

impl AcquireMode {
    pub fn from_id(id: i8) -> Option<Self> {
        match id {
            0 => Some(Self::BatchOptimized),
            1 => Some(Self::RecordLimit),
            _ => None,
        }
    }
}
