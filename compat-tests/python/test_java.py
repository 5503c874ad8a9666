"""The Java client, org.apache.kafka:kafka-clients at the reference broker's version (4.4.0, or
COMPAT_KAFKA_VERSION, e.g. 4.3.1; each version builds into compat-tests/java/target/kafka-VERSION):
KafkaProducer (its defaults: idempotent, acks=all), KafkaConsumer (classic group protocol) and
the AdminClient, through compat-tests/java's `Compat java SCENARIO HOST:PORT`.

| scenario | what is asserted |
|---|---|
| metadata | describeCluster (one broker at the dialled host:port, the controller, a cluster id); loms.order-events partitions [0, 1] with leader/replicas/ISR = the broker via AdminClient, KafkaConsumer and KafkaProducer; createTopics → partition count, RF 1, a topic id that describeTopics repeats |
| produce_consume[codec] | 60 records (keyed, key-less, tombstones, explicit partitions and timestamps, headers incl. repeated keys, empty and null values, binary) with the idempotent producer: offsets 0.. per partition in send order, key → murmur2(key) % 2; a group-less consumer reads them back identical, nothing more; beginning/end offsets |
| list_offsets | KafkaConsumer beginningOffsets/endOffsets/offsetsForTimes and AdminClient listOffsets earliest/latest/forTimestamp/maxTimestamp/earliestLocal/latestTiered/earliestPendingUpload (v11) over 2 batches plus an out-of-order record and an empty partition |
| offsets_by_topic_id | Kafka 4.4's versions: ApiVersions OffsetCommit/OffsetFetch v10, ListOffsets v11, InitProducerId v5 (v6 is unstable in 4.4); a group.protocol=consumer KafkaConsumer (v10: topics by id) commits {p0: 3, p1: 2} with metadata, committed() reads them back, a new member resumes there, the AdminClient (by name) lists them; raw OffsetCommit v10 with an id no topic has → UNKNOWN_TOPIC_ID beside NONE; raw OffsetFetch v10 → the known topic's offsets then UNKNOWN_TOPIC_ID, every topic listed by id; raw InitProducerId v6 with enable2Pc → the connection closed, a new one served |
| leader_epochs | records and offsetsForTimes carry leader epoch 0; a committed offset with epoch 0 and seek(offset, epoch 0) validate (OffsetForLeaderEpoch) and resume there; seek(2, epoch 7) → LogTruncationException without a reset policy, the earliest offset with auto.offset.reset=earliest |
| group | 3 consumers (Range) on 2 partitions: exactly 2 active; records go to the owners; commit 7 and 3; the owner of p0 leaves → the other two own both in a new generation and resume exactly at 7 and 3; commit; a new member reads exactly the records after the committed offsets |
| consumer_group | KIP-848 (group.protocol=consumer, uniform assignor), 3 consumers on 6 partitions: 2 each, together all; 30 records read exactly once, each by its owner; commit; describeConsumerGroups: type CONSUMER, Stable, uniform, the members' assignments = what they own; one closes → the other two own 3 each and read the 30 new records exactly once from the committed offsets; commit, close; a new member resumes every partition at the committed offset |
| consumer_regex | KIP-848 regex subscription (`subscribe(SubscriptionPattern)`, matched by the broker): topics rx.a, rx.b and another: the consumer is assigned exactly the 4 partitions of the two matching topics and reads their 20 records; describeConsumerGroups shows that assignment; a matching topic created later is assigned and its 4 records read without resubscribing |
| group_migration | KIP-848's online migration (Kafka 4's default policy, bidirectional), one thread polling every member: two classic consumers (group.protocol=classic) read a 4-partition topic; a group.protocol=consumer consumer joins the same group → describeConsumerGroups type CONSUMER, 3 members of which 1 upgraded, disjoint partitions covering all 4 with some for the new one; the three read 40 new records, every one; the consumer-protocol member closes → type CLASSIC, the two classic members own all 4 and read 40 more, every one; the group committed the end of every partition |
| group_configs | member timeouts as group configs through the AdminClient: `consumer.session.timeout.ms=50000`, `consumer.heartbeat.interval.ms=6000` on a consumer group and `share.heartbeat.interval.ms=7000`, `share.partition.max.record.locks=100` on a share group are described back with source DYNAMIC_GROUP_CONFIG; 44999, 15001, 60001 and 4001 locks (outside the broker's bounds) → InvalidConfigurationException, nothing changed; raw ConsumerGroupHeartbeat/ShareGroupHeartbeat joins are told 6000 and 7000 ms |
| share_group | KIP-932 with KafkaShareConsumer (explicit acknowledgement; share.auto.offset.reset=earliest and share.delivery.count.limit=3 through incrementalAlterConfigs on the GROUP): 3 consumers on 2 partitions → describeShareGroups 3 members Stable, listGroups SHARE, 40 records delivered once each across them, every consumer gets some; accept/release/reject → only the released record returns, delivery counts 2 then 3, then archived (a new record comes, it does not); a consumer closed with 3 records in flight → another consumer gets them with delivery count 2; KIP-1191: the group's dead-letter topic (`errors.deadletterqueue.topic.name`, `copy.record.enable`; topic with `errors.deadletterqueue.group.enable=true`) holds the rejected record, then the one archived at its limit, with values and `__dlq.errors.*` headers |
| share_v2 | share.version 2 (ShareFetch/ShareAcknowledge v2) with KafkaShareConsumer, explicit acknowledgement, `share.record.lock.duration.ms=15000` on the GROUP: a record held 9 s, renewed (`AcknowledgeType.RENEW`), given back by poll with delivery count 1, held 9 s more and accepted (18 s > the lock) commits cleanly and is never delivered again, to it or a second consumer; `share.acquire.mode=record_limit` with `max.poll.records=3`: two consumers hold 3 different records of one 10-record batch at once, no poll returns more than 3, each record once with delivery count 1 |
| share_v2_errors | share.version 2's errors, the same raw ShareGroupHeartbeat/ShareFetch/ShareAcknowledge (the client's message classes over a socket) to both brokers: RENEW in ShareAcknowledge v1 or in v2 without IsRenewAck → the partition's INVALID_REQUEST; a renewing ShareFetch with MaxWaitMs 100 → INVALID_REQUEST; a renewing ShareFetch → no error, no records; a renewing ShareAcknowledge v2 → no error, AcquisitionLockTimeoutMs 30000; RENEW of another member's record → INVALID_RECORD_STATE; ShareAcquireMode 7 → UNKNOWN_SERVER_ERROR |
| share_sessions | raw ShareFetch v1 (no group joined): 20,000 partitions of an unknown topic id in one request → each UNKNOWN_TOPIC_ID; new members' epoch-0 fetches open sessions until the broker's limit (group.share.max.share.sessions, 2000 by default; a few may be other scenarios') → SHARE_SESSION_LIMIT_REACHED, a member reopening its own → NONE; a final fetch (epoch -1) makes room for exactly one; after the connection closes a new session opens; then every session is ended by its member's final fetch and 50 new ones fit (Kafka had not freed the closed connection's sessions within 30 s, which starved later share consumers on it) |
| share_read_committed | share.isolation.level=read_committed on the GROUP (incrementalAlterConfigs, describeConfigs shows it as a group config): of a committed transaction, an aborted one, an open one and a plain record after it, a KafkaShareConsumer gets exactly the committed records and nothing more for 3 s; once the open one commits, its record and the plain one; never the aborted one |
| admin | create topics (again → TopicExists), create partitions (fewer → InvalidPartitions, unknown → UnknownTopicOrPartition), describe cluster, list/describe consumer groups (Stable, member, assignment), delete a non-empty group → GroupNotEmpty, list/alter/delete group offsets, delete group (again → GroupIdNotFound), delete topics (again → UnknownTopicOrPartition) |
| delete_records | AdminClient deleteRecords before offset 4 → low watermark 4, beginningOffsets 4, a consumer from the beginning reads 4..9; past the high watermark → OffsetOutOfRangeException |
| transactions | consume-transform-produce with a transactional producer and a read_committed group member (sendOffsetsToTransaction), one round aborted and redone, one more aborted transaction: read_committed output = each input once; read_uncommitted also the aborted records; the group's committed offset = end of input |
| transactions_v2 | KIP-890 part 2, the transactions the 4.4 client uses when transaction.version 2 is finalized: describeFeatures shows transaction.version 2 finalized; after initTransactions, a commit, an abort and a commit over the three partitions of a topic (on the cluster target led by three brokers, so leaders that do not coordinate add their partition through the coordinator), describeTransactions shows the producer epoch one higher after each end and describeProducers each partition's producer at that epoch (the markers carry it); read_committed sees the two committed transactions only, on every partition; listTransactions with an id pattern (ListTransactions v2, KIP-1152) lists exactly this id, none for a pattern matching only a prefix, InvalidRegularExpression for `compat-(` |
| streams_protocol | Kafka Streams with `group.protocol=streams` (KIP-1071): a word count with two stream threads whose repartition and changelog topics the broker creates; exact latest counts of 100 lines; `describeStreamsGroups` Stable with both threads as members at the group epoch, user endpoints, each of the 4 tasks active once, 2 subtopologies; internal topics with 2 partitions, changelog compacted; Empty after close |
| streams_eos | Kafka Streams (kafka-streams at the client's version) with `processing.guarantee=exactly_once_v2`: a word count (repartition topic, RocksDB store, changelog) in a child JVM counts 150 lines; while 150 more are produced one by one it is killed with SIGKILL once the second half's output has begun, and started again on the same state directory; a read_committed reader sees for every word exactly the counts 1..n (nothing counted twice or lost) and the final counts of all 300 lines; the changelog topic Streams made is compacted, the repartition topic deleting; the application's group committed the end of both input partitions |
| quotas | AlterClientQuotas (issue 18: gregor closed the connection): invalid entries (value 0, unknown key, fractional byte rate, IP + user, an entity twice) → InvalidRequestException with Kafka's messages, removing a quota never set succeeds, the connection keeps serving; validateOnly stores nothing; a user+client-id and a user+default-client-id quota are stored, describeClientQuotas shows them through exact, default, specified and strict filters; removing them empties it again |
| quota_throttle | a KafkaProducer above its client-id producer_byte_rate (100 kB/s), sending for 20 s, is throttled to it: acknowledged bytes over seconds 11-20 (after Kafka's 10 s minimum window has filled) at less than 2x the quota and more than a tenth of it, produce-throttle-time-max > 0 |
| configs | createTopics with configs; describeConfigs shows them as dynamic topic configs (a default as default); incrementalAlterConfigs SET/DELETE; broker configs (known gap on gregor: no DescribeConfigs / IncrementalAlterConfigs yet) |
"""

import os
import re
import shutil

import pytest

from cli_scenarios import COMPAT_DIR, build, run_scenario, tree_digest
from compat import CODECS

JAVA_DIR = COMPAT_DIR / "java"
CLIENT = "java"


@pytest.fixture(scope="session")
def java_compat():
    """The built CLI as a command prefix; `mvn -q -B package` runs once, when the sources changed."""
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if not java or not mvn:
        pytest.skip("java and mvn are needed (apt-get install -y openjdk-17-jdk-headless maven; "
                    "compat-tests/run.sh installs them)")
    # The reference Kafka's version (run.sh exports it; default: kafka.version in the pom).
    version = os.environ.get("COMPAT_KAFKA_VERSION", "").strip()
    props = [f"-Dkafka.version={version}"] if version else []
    if not version:
        # (the pom's comments name the property too: the element with a value)
        pom = (JAVA_DIR / "pom.xml").read_text()
        version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom).group(1).strip()
    target = JAVA_DIR / "target" / f"kafka-{version}"
    digest = tree_digest(JAVA_DIR, ["pom.xml"], ["src"]) + f" kafka {version}"
    build([mvn, "-q", "-B", "-Dstyle.color=never", *props, "package"], JAVA_DIR,
          target / ".compat-build-stamp", digest, "building compat-tests/java",
          outputs=[target / "compat-java.jar", target / "lib"])
    classpath = f"{target / 'compat-java.jar'}:{target / 'lib'}/*"
    # A JVM per scenario: keep its start cheap (C1 only, serial GC, class-data sharing).
    return [java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto",
            "-cp", classpath, "Compat"]


def run(java_compat, scenario, broker):
    __tracebackhide__ = True
    run_scenario(java_compat, CLIENT, scenario, broker, JAVA_DIR)


@pytest.mark.single_broker("checks a one-node cluster")
@pytest.mark.parametrize("client", [CLIENT])
def test_metadata(java_compat, broker, client):
    run(java_compat, "metadata", broker)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", [CLIENT])
def test_produce_consume(java_compat, broker, client, codec):
    run(java_compat, f"produce_consume:{codec}", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_list_offsets(java_compat, broker, client):
    run(java_compat, "list_offsets", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_group(java_compat, broker, client):
    run(java_compat, "group", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_consumer_group(java_compat, broker, client):
    run(java_compat, "consumer_group", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_consumer_regex(java_compat, broker, client):
    run(java_compat, "consumer_regex", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_group_migration(java_compat, broker, client):
    """KIP-848's online migration: classic → consumer when a consumer-protocol member joins, back when it leaves."""
    run(java_compat, "group_migration", broker)


@pytest.mark.single_broker("raw heartbeats to one address, which need not be the coordinator; share groups: issue 17/21 gap")
@pytest.mark.parametrize("client", [CLIENT])
def test_group_configs(java_compat, broker, client):
    run(java_compat, "group_configs", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_share_group(java_compat, broker, client):
    run(java_compat, "share_group", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_share_v2(java_compat, broker, client):
    run(java_compat, "share_v2", broker)


@pytest.mark.single_broker("raw requests to one address; share state lives on the coordinator (issue 17/21 gap)")
@pytest.mark.parametrize("client", [CLIENT])
def test_share_v2_errors(java_compat, broker, client):
    run(java_compat, "share_v2_errors", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_share_sessions(java_compat, broker, client):
    run(java_compat, "share_sessions", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_admin(java_compat, broker, client):
    run(java_compat, "admin", broker)


@pytest.mark.single_broker("raw requests to one address")
@pytest.mark.parametrize("client", [CLIENT])
def test_offsets_by_topic_id(java_compat, broker, client):
    """OffsetCommit/OffsetFetch v10 (KIP-848: topics by id), as Kafka 4.4 serves them."""
    run(java_compat, "offsets_by_topic_id", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_leader_epochs(java_compat, broker, client):
    """KIP-320: records' epochs, OffsetForLeaderEpoch validating a position (or not)."""
    run(java_compat, "leader_epochs", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_delete_records(java_compat, broker, client):
    run(java_compat, "delete_records", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_configs(java_compat, broker, client):
    run(java_compat, "configs", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_kafka_ui(java_compat, broker, client):
    """The AdminClient calls kafka-ui makes at start-up, in its refresh and on its pages."""
    run(java_compat, "kafka_ui", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_share_read_committed(java_compat, broker, client):
    """A read_committed share group: committed records only, nothing past an open transaction."""
    run(java_compat, "share_read_committed", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_transactions(java_compat, broker, client):
    run(java_compat, "transactions", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_transactions_v2(java_compat, broker, client):
    """KIP-890 part 2: transaction.version 2 finalized; every end bumps the producer epoch."""
    run(java_compat, "transactions_v2", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_streams_eos(java_compat, broker, client):
    """Kafka Streams word count, exactly_once_v2, killed mid-stream and restarted: exact counts."""
    run(java_compat, "streams_eos", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_streams_protocol(java_compat, broker, client):
    """Kafka Streams over the streams rebalance protocol: the broker makes topics and tasks."""
    run(java_compat, "streams_protocol", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_quotas(java_compat, broker, client):
    run(java_compat, "quotas", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_quota_throttle(java_compat, broker, client):
    run(java_compat, "quota_throttle", broker)
