//! Internal errors of the broker's services, and their one mapping to Kafka error codes.

use kafka_protocol::ResponseError as K;

use crate::log::batch::BatchError;
use crate::log::LogError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("this server does not host this topic id")]
    UnknownTopicId,
    #[error("This server is not the leader for that topic-partition.")]
    NotLeaderOrFollower,
    #[error("The leader epoch in the request is older than the epoch on the broker.")]
    FencedLeaderEpoch,
    #[error("The leader epoch in the request is newer than the epoch on the broker.")]
    UnknownLeaderEpoch,
    #[error("topic '{0}' already exists")]
    TopicAlreadyExists(String),
    #[error("{0}")]
    InvalidTopic(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the requested offset is not within the range of offsets maintained by the server")]
    OffsetOutOfRange,
    #[error("{0}")]
    PolicyViolation(String),
    /// What Kafka answers where it has no better code (e.g. an oversized CreatePartitions).
    #[error("{0}")]
    UnknownServer(String),
    #[error("the broker received an out of order sequence number")]
    OutOfOrderSequence,
    #[error("producer attempted to produce with an old epoch")]
    InvalidProducerEpoch,
    /// A transaction check failed (INVALID_TXN_STATE, PRODUCER_FENCED, ...).
    #[error("transaction check failed: {0:?}")]
    Transaction(K),
    /// The principal may not (TOPIC_, GROUP_, CLUSTER_, TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
    #[error("{}", not_authorized_message(*.0))]
    NotAuthorized(K),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BrokerError {
    /// The Kafka error code a client receives for this error.
    pub fn code(&self) -> i16 {
        match self {
            Self::UnknownTopicOrPartition => K::UnknownTopicOrPartition.code(),
            Self::UnknownTopicId => K::UnknownTopicId.code(),
            Self::NotLeaderOrFollower => K::NotLeaderOrFollower.code(),
            Self::FencedLeaderEpoch => K::FencedLeaderEpoch.code(),
            Self::UnknownLeaderEpoch => K::UnknownLeaderEpoch.code(),
            Self::TopicAlreadyExists(_) => K::TopicAlreadyExists.code(),
            Self::InvalidTopic(_) => K::InvalidTopicException.code(),
            Self::InvalidPartitions(_) => K::InvalidPartitions.code(),
            Self::InvalidReplicationFactor(_) => K::InvalidReplicationFactor.code(),
            Self::InvalidConfig(_) => K::InvalidConfig.code(),
            Self::InvalidRequest(_) => K::InvalidRequest.code(),
            Self::OffsetOutOfRange => K::OffsetOutOfRange.code(),
            Self::PolicyViolation(_) => K::PolicyViolation.code(),
            Self::UnknownServer(_) => K::UnknownServerError.code(),
            Self::OutOfOrderSequence => K::OutOfOrderSequenceNumber.code(),
            Self::InvalidProducerEpoch => K::InvalidProducerEpoch.code(),
            Self::Transaction(e) | Self::NotAuthorized(e) => e.code(),
            Self::Batch(e) => e.code(),
            // Damaged on disk: both the Java consumer and librdkafka hand CORRUPT_MESSAGE to
            // the application (see docs/ARCHITECTURE.md), where KAFKA_STORAGE_ERROR would make
            // them retry silently forever.
            Self::Log(LogError::Damaged { .. }) => K::CorruptMessage.code(),
            // Cluster mode: another broker leads the partition now; clients refresh their
            // metadata and go there.
            Self::Log(e) if e.is_fenced() => K::NotLeaderOrFollower.code(),
            Self::Log(_) => K::KafkaStorageError.code(),
            Self::Store(_) => K::UnknownServerError.code(),
        }
    }
}

/// Kafka's default message of an authorization error.
fn not_authorized_message(e: K) -> &'static str {
    match e {
        K::TopicAuthorizationFailed => "Topic authorization failed.",
        K::GroupAuthorizationFailed => "Group authorization failed.",
        K::ClusterAuthorizationFailed => "Cluster authorization failed.",
        K::TransactionalIdAuthorizationFailed => "Transactional Id authorization failed.",
        _ => "Authorization failed.",
    }
}

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_kafka() {
        assert_eq!(BrokerError::UnknownTopicOrPartition.code(), 3);
        assert_eq!(BrokerError::UnknownTopicId.code(), 100);
        assert_eq!(BrokerError::PolicyViolation("x".into()).code(), 44);
        assert_eq!(BrokerError::UnknownServer("x".into()).code(), -1);
        assert_eq!(BrokerError::TopicAlreadyExists("t".into()).code(), 36);
        assert_eq!(BrokerError::InvalidTopic("x".into()).code(), 17);
        assert_eq!(BrokerError::InvalidPartitions("x".into()).code(), 37);
        assert_eq!(BrokerError::InvalidReplicationFactor("x".into()).code(), 38);
        assert_eq!(BrokerError::InvalidConfig("x".into()).code(), 40);
        assert_eq!(BrokerError::InvalidRequest("x".into()).code(), 42);
        assert_eq!(BrokerError::OffsetOutOfRange.code(), 1);
        assert_eq!(BrokerError::OutOfOrderSequence.code(), 45);
        assert_eq!(BrokerError::InvalidProducerEpoch.code(), 47);
        assert_eq!(BrokerError::Transaction(K::InvalidTxnState).code(), 48);
        assert_eq!(
            BrokerError::NotAuthorized(K::TopicAuthorizationFailed).code(),
            29
        );
        assert_eq!(BrokerError::Log(LogError::Corrupt("x".into())).code(), 56);
        let damaged = LogError::Damaged {
            first_offset: 0,
            end_offset: 1,
        };
        assert_eq!(BrokerError::Log(damaged).code(), 2);
        assert_eq!(BrokerError::Store(StoreError("x".into())).code(), -1);
    }
}
