"""Topic administration through each client's admin API: CreateTopics, DeleteTopics,
CreatePartitions and Metadata, with the exact Kafka error codes for the failure cases."""

import pytest
from confluent_kafka.admin import NewPartitions, NewTopic

from compat import ck_admin, ck_error, ck_partition_count, kafka_older_than, kp_admin, unique_topic, wait_for

CLIENTS = ["confluent-kafka", "kafka-python"]

# Kafka error codes
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38


class Admin:
    """The same few admin calls through either client, answering plain error codes."""

    def __init__(self, client, broker):
        self.client = client
        self.ck = ck_admin(broker) if client == "confluent-kafka" else None
        self.kp = kp_admin(broker) if client == "kafka-python" else None

    def close(self):
        if self.kp is not None:
            self.kp.close()

    def create(self, name, partitions, replication_factor=1) -> int:
        if self.ck is not None:
            fut = self.ck.create_topics(
                [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)],
                operation_timeout=30)[name]
            err = ck_error(fut)
            return NONE if err is None else err.code()
        res = self.kp.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": replication_factor}},
            timeout_ms=30000, raise_errors=False)
        (t,) = res["topics"]
        assert t["name"] == name
        return t["error_code"]

    def delete(self, name) -> int:
        if self.ck is not None:
            err = ck_error(self.ck.delete_topics([name], operation_timeout=30)[name])
            return NONE if err is None else err.code()
        res = self.kp.delete_topics([name], timeout_ms=30000, raise_errors=False)
        (t,) = res["topics"]
        assert t["name"] == name
        return t["error_code"]

    def create_partitions(self, name, total) -> int:
        if self.ck is not None:
            fut = self.ck.create_partitions([NewPartitions(name, total)], operation_timeout=30)[name]
            err = ck_error(fut)
            return NONE if err is None else err.code()
        res = self.kp.create_partitions({name: total}, timeout_ms=30000, raise_errors=False)
        (r,) = res.results
        assert r.name == name
        return r.error_code

    def partitions(self, name):
        """Partition count in a full Metadata answer (no auto-creation); None if absent,
        -1 while some partition has no leader yet."""
        if self.ck is not None:
            md = self.ck.list_topics(timeout=30)
            t = md.topics.get(name)
            if t is None:
                return None
            assert t.error is None, t.error
            if any(p.leader < 0 for p in t.partitions.values()):
                return -1
            return len(t.partitions)
        if name not in self.kp.list_topics():
            return None
        (t,) = self.kp.describe_topics([name])
        if t["error_code"] != 0 or any(p["leader_id"] < 0 for p in t["partitions"]):
            return -1
        return len(t["partitions"])

    def wait_partitions(self, name, count):
        wait_for(lambda: self.partitions(name) == count, f"{name} to have {count} partitions")

    def wait_absent(self, name):
        wait_for(lambda: self.partitions(name) is None, f"{name} to disappear from metadata")


@pytest.fixture
def admin(broker, client):
    a = Admin(client, broker)
    yield a
    a.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_create_topic(admin, client):
    name = unique_topic("create")
    assert admin.create(name, 3) == NONE
    admin.wait_partitions(name, 3)
    assert admin.create(name, 3) == TOPIC_ALREADY_EXISTS
    assert admin.create(name, 5) == TOPIC_ALREADY_EXISTS
    admin.wait_partitions(name, 3)  # unchanged


@pytest.mark.parametrize("client", CLIENTS)
def test_create_topic_invalid_partitions(admin, client):
    # librdkafka refuses negative counts itself (only -1, "broker default", may be sent);
    # kafka-python sends whatever it is given.
    counts = [0] if client == "confluent-kafka" else [0, -2]
    for count in counts:
        name = unique_topic("badparts")
        assert admin.create(name, count) == INVALID_PARTITIONS, f"partitions={count}"
        assert admin.partitions(name) is None


@pytest.mark.parametrize("client", CLIENTS)
def test_create_topic_invalid_name(admin, client):
    for name in ["bad name!", "..", ".", "x" * 250, "slash/topic"]:
        assert admin.create(name, 1) == INVALID_TOPIC_EXCEPTION, f"name={name!r}"
        assert admin.partitions(name) is None


@pytest.mark.single_broker("replication factor 3 is valid on three brokers")
@pytest.mark.parametrize("client", CLIENTS)
def test_create_topic_invalid_replication_factor(admin, client):
    name = unique_topic("rf3")
    assert admin.create(name, 1, replication_factor=3) == INVALID_REPLICATION_FACTOR
    assert admin.partitions(name) is None


@pytest.mark.parametrize("client", CLIENTS)
def test_delete_topic(admin, client):
    name = unique_topic("delete")
    assert admin.create(name, 2) == NONE
    admin.wait_partitions(name, 2)
    assert admin.delete(name) == NONE
    admin.wait_absent(name)
    assert admin.delete(name) == UNKNOWN_TOPIC_OR_PARTITION
    # The name can be used again, with a different shape.
    assert admin.create(name, 1) == NONE
    admin.wait_partitions(name, 1)
    assert admin.delete(name) == NONE


@pytest.mark.parametrize("client", CLIENTS)
def test_create_partitions(admin, client):
    name = unique_topic("grow")
    assert admin.create(name, 1) == NONE
    admin.wait_partitions(name, 1)
    assert admin.create_partitions(name, 4) == NONE
    admin.wait_partitions(name, 4)
    assert admin.create_partitions(name, 4) == INVALID_PARTITIONS  # same count
    assert admin.create_partitions(name, 2) == INVALID_PARTITIONS  # shrinking
    admin.wait_partitions(name, 4)
    assert admin.create_partitions(unique_topic("nosuch"), 3) == UNKNOWN_TOPIC_OR_PARTITION


INVALID_CONFIG = 40


@pytest.mark.single_broker("checks one node in describeCluster")
@pytest.mark.parametrize("client", ["confluent-kafka"])
def test_configs_and_cluster(broker, client):
    """What kafka-ui's topic and broker pages do, through librdkafka's admin API:
    DescribeCluster, DescribeConfigs of the broker and of a topic (values, sources, synonyms),
    IncrementalAlterConfigs SET/DELETE (and an invalid value → INVALID_CONFIG), ListOffsets."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ConfigSource, OffsetSpec, ResourceType)

    ck = ck_admin(broker)
    cluster = ck.describe_cluster(request_timeout=30).result(timeout=30)
    assert len(cluster.nodes) == 1 and cluster.controller.id == cluster.nodes[0].id
    node = cluster.nodes[0].id

    (fut,) = ck.describe_configs([ConfigResource(ResourceType.BROKER, str(node))]).values()
    broker_cfg = fut.result(timeout=30)
    assert broker_cfg["delete.topic.enable"].value == "true"
    assert broker_cfg["num.partitions"].value is not None
    assert len(broker_cfg) > 20

    name = unique_topic("configs")
    fut = ck.create_topics([NewTopic(name, num_partitions=2, replication_factor=1,
                                     config={"retention.ms": "3600000"})], operation_timeout=30)[name]
    assert ck_error(fut) is None
    wait_for(lambda: name in ck.list_topics(timeout=30).topics, f"{name} in metadata")

    resource = ConfigResource(ResourceType.TOPIC, name)

    def describe():
        (f,) = ck.describe_configs([resource]).values()
        return f.result(timeout=30)

    cfg = describe()
    assert cfg["retention.ms"].value == "3600000"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["cleanup.policy"].value == "delete" and cfg["cleanup.policy"].is_default
    assert any(s.name == "log.cleanup.policy" for s in cfg["cleanup.policy"].synonyms.values())

    alter = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", "65536", incremental_operation=AlterConfigOpType.SET)])
    (f,) = ck.incremental_alter_configs([alter]).values()
    f.result(timeout=30)
    wait_for(lambda: describe()["retention.ms"].value == "7200000", "retention.ms=7200000")
    assert describe()["max.message.bytes"].value == "65536"

    delete = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    (f,) = ck.incremental_alter_configs([delete]).values()
    f.result(timeout=30)
    wait_for(lambda: describe()["retention.ms"].is_default, "retention.ms back to its default")
    assert describe()["retention.ms"].value == "604800000"

    bad = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)])
    (f,) = ck.incremental_alter_configs([bad]).values()
    err = ck_error(f)
    assert err is not None and err.code() == INVALID_CONFIG, err
    assert "retention.ms" in err.str(), err.str()

    offsets = ck.list_offsets({TopicPartition(name, 0): OffsetSpec.latest()}).values()
    assert [f.result(timeout=30).offset for f in offsets] == [0]
    assert ck_error(ck.delete_topics([name], operation_timeout=30)[name]) is None


@pytest.mark.parametrize("client", ["confluent-kafka"])
def test_topic_configs_added_in_kafka_4_4(broker, client):
    """DescribeConfigs of a new topic lists the topic configs Kafka 4.4 added, at its defaults
    with their broker synonyms (remote.copy.lag.bytes -1, remote.copy.lag.ms 0,
    errors.deadletterqueue.group.enable false); remote.copy.lag.ms=-2 is INVALID_CONFIG naming
    it, -1 is accepted and shown as a dynamic topic config."""
    if kafka_older_than(broker, (4, 4)):
        pytest.skip("the reference Kafka is older than 4.4 (COMPAT_KAFKA_VERSION)")
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    ck = ck_admin(broker)
    name = unique_topic("configs44")
    fut = ck.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)],
                           operation_timeout=30)[name]
    assert ck_error(fut) is None
    wait_for(lambda: name in ck.list_topics(timeout=30).topics, f"{name} in metadata")
    resource = ConfigResource(ResourceType.TOPIC, name)

    def describe():
        (f,) = ck.describe_configs([resource]).values()
        return f.result(timeout=30)

    cfg = describe()
    for key, value, synonym in [("remote.copy.lag.bytes", "-1", "log.remote.copy.lag.bytes"),
                                ("remote.copy.lag.ms", "0", "log.remote.copy.lag.ms"),
                                ("errors.deadletterqueue.group.enable", "false", None)]:
        assert key in cfg, f"{key} missing from DescribeConfigs"
        assert cfg[key].value == value and cfg[key].is_default, (key, cfg[key].value)
        if synonym is not None:
            assert any(s.name == synonym for s in cfg[key].synonyms.values()), key

    def alter(value):
        r = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
            ConfigEntry("remote.copy.lag.ms", value, incremental_operation=AlterConfigOpType.SET)])
        (f,) = ck.incremental_alter_configs([r]).values()
        return ck_error(f)

    err = alter("-2")
    assert err is not None and err.code() == INVALID_CONFIG, err
    assert "remote.copy.lag.ms" in err.str(), err.str()
    assert alter("-1") is None
    wait_for(lambda: describe()["remote.copy.lag.ms"].value == "-1", "remote.copy.lag.ms=-1")
    assert not describe()["remote.copy.lag.ms"].is_default
    assert ck_error(ck.delete_topics([name], operation_timeout=30)[name]) is None


@pytest.mark.parametrize("client", ["confluent-kafka"])
def test_segment_bytes_minimum(broker, client):
    """Kafka 4 enforces segment.bytes >= 1 MiB (LogConfig: atLeast(1024 * 1024)) on CreateTopics
    and on config changes: INVALID_CONFIG "Invalid value 200 for configuration segment.bytes:
    Value must be at least 1048576". Kafka's own tests use the internal topic config
    `internal.segment.bytes` (no minimum, described only when set), which both brokers accept."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    ck = ck_admin(broker)
    name = unique_topic("segment-bytes")
    fut = ck.create_topics([NewTopic(name, num_partitions=1, replication_factor=1,
                                     config={"segment.bytes": "200"})], operation_timeout=30)[name]
    err = ck_error(fut)
    assert err is not None and err.code() == INVALID_CONFIG, err
    assert "Invalid value 200 for configuration segment.bytes: Value must be at least 1048576" in err.str(), err.str()
    assert ck_partition_count(broker, name, ck) is None

    fut = ck.create_topics([NewTopic(name, num_partitions=1, replication_factor=1,
                                     config={"segment.bytes": "1048576", "internal.segment.bytes": "300"})],
                           operation_timeout=30)[name]
    assert ck_error(fut) is None
    wait_for(lambda: ck_partition_count(broker, name, ck) == 1, f"{name} in metadata")
    resource = ConfigResource(ResourceType.TOPIC, name)
    (f,) = ck.describe_configs([resource]).values()
    cfg = f.result(timeout=30)
    assert cfg["segment.bytes"].value == "1048576"
    assert cfg["internal.segment.bytes"].value == "300"

    bad = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("segment.bytes", "1048575", incremental_operation=AlterConfigOpType.SET)])
    (f,) = ck.incremental_alter_configs([bad]).values()
    err = ck_error(f)
    assert err is not None and err.code() == INVALID_CONFIG, err
    assert "Value must be at least 1048576" in err.str(), err.str()
    (f,) = ck.describe_configs([resource]).values()
    assert f.result(timeout=30)["segment.bytes"].value == "1048576"
    assert ck_error(ck.delete_topics([name], operation_timeout=30)[name]) is None
