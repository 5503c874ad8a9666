"""Limits on topic administration, the same requests to gregor and to Kafka: the per-request
limit of Kafka's controller (CreateTopics, CreatePartitions, validate_only included), topic
names colliding on '.' and '_' (created and auto-created), a name given twice, and Metadata
asked for one topic many times. gregor's own per-broker partition cap has a gregor-only
scenario (Kafka has no such cap).

Errors come through confluent-kafka's AdminClient where it can send the request, and through a
few lines of raw protocol where it cannot (auto-creating Metadata, duplicate names, which
librdkafka refuses before sending)."""

import socket
import struct
import time

import pytest
from confluent_kafka.admin import NewPartitions, NewTopic

from compat import (TIMEOUT, ck_admin, ck_error, ck_partition_count, create_topic, kafka_older_than,
                    unique_topic, wait_for)

pytestmark = pytest.mark.client("confluent-kafka")

NONE = 0
UNKNOWN_SERVER_ERROR = -1
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
INVALID_REQUEST = 42
POLICY_VIOLATION = 44
EXCESSIVE = "Unable to perform excessively large batch operation."
EXCESSIVE_PARTITIONS = "Excessively large number of additional partitions per request."


def create(broker, topics, validate_only=False, config=None):
    """{name: (code, message)} for NewTopic(name, partitions) of topics [(name, partitions)]."""
    admin = ck_admin(broker)
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=p, replication_factor=1, config=config or {}) for n, p in topics],
        operation_timeout=TIMEOUT, request_timeout=TIMEOUT, validate_only=validate_only)
    out = {}
    for name, fut in futures.items():
        err = ck_error(fut)
        out[name] = (NONE, "") if err is None else (err.code(), err.str())
    return out


def grow(broker, topic, total, validate_only=False):
    admin = ck_admin(broker)
    fut = admin.create_partitions([NewPartitions(topic, total)], operation_timeout=TIMEOUT,
                                  request_timeout=TIMEOUT, validate_only=validate_only)[topic]
    err = ck_error(fut)
    return (NONE, "") if err is None else (err.code(), err.str())


# ------------------------------------------------------------------ raw protocol (non-flexible)

def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _call(broker, api_key: int, version: int, body: bytes) -> bytes:
    header = struct.pack(">hhi", api_key, version, 7) + _string("limits-test")
    frame = header + body
    with socket.create_connection((broker.host, broker.port), timeout=TIMEOUT) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _read(s, 4))[0]
        response = _read(s, size)
    assert struct.unpack(">i", response[:4])[0] == 7, "correlation id"
    return response[4:]


def _read(s, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s


def metadata(broker, names, auto_create: bool):
    """Metadata v4: [(name, error code, partitions)] as answered."""
    body = struct.pack(">i", len(names)) + b"".join(_string(n) for n in names)
    body += struct.pack(">?", auto_create)
    r = _Reader(_call(broker, 3, 4, body))
    r.take(">i")  # throttle
    for _ in range(r.take(">i")):  # brokers
        r.take(">i"), r.string(), r.take(">i"), r.string()
    r.string()  # cluster id
    r.take(">i")  # controller
    topics = []
    for _ in range(r.take(">i")):
        error, name, _internal = r.take(">h"), r.string(), r.take(">?")
        partitions = r.take(">i")
        for _ in range(partitions):
            r.take(">h"), r.take(">i"), r.take(">i")
            for _ in range(2):  # replicas, isr
                for _ in range(r.take(">i")):
                    r.take(">i")
        topics.append((name, error, partitions))
    return topics


def create_raw(broker, topics, validate_only=False):
    """CreateTopics v4: [(name, error code, message)] as answered."""
    body = struct.pack(">i", len(topics))
    for name, partitions in topics:
        body += _string(name) + struct.pack(">ihii", partitions, 1, 0, 0)
    body += struct.pack(">i?", int(TIMEOUT * 1000), validate_only)
    r = _Reader(_call(broker, 19, 4, body))
    r.take(">i")  # throttle
    return [(r.string(), r.take(">h"), r.string()) for _ in range(r.take(">i"))]


# ---------------------------------------------------------------------------------- scenarios

@pytest.mark.parametrize("validate_only", [True, False], ids=["validate_only", "create"])
def test_limits_create_topics_over_the_request_limit(broker, validate_only):
    one = unique_topic("limit-one")
    assert create(broker, [(one, 10_000)], validate_only) == {one: (POLICY_VIOLATION, EXCESSIVE)}
    a, b = unique_topic("limit-a"), unique_topic("limit-b")
    both = create(broker, [(a, 5_000), (b, 5_000)], validate_only)
    assert both == {a: (POLICY_VIOLATION, EXCESSIVE), b: (POLICY_VIOLATION, EXCESSIVE)}
    for name in (one, a, b):
        assert ck_partition_count(broker, name) is None, f"{name} must not exist"


def test_limits_count_kafkas_records(broker):
    """A record per topic, per config and per partition: 3,333 topics of one partition and one
    config are 9,999 records (allowed), 3,334 are 10,002 (refused) — few partitions either way."""
    config = {"retention.ms": "60000"}
    fits = [(unique_topic("rec"), 1) for _ in range(3_333)]
    answers = create(broker, fits, validate_only=True, config=config)
    assert set(answers.values()) == {(NONE, "")}
    over = fits + [(unique_topic("rec"), 1)]
    answers = create(broker, over, validate_only=True, config=config)
    assert set(answers.values()) == {(POLICY_VIOLATION, EXCESSIVE)}


def test_limits_create_partitions_over_the_request_limit(broker):
    """Kafka 4.4 answers POLICY_VIOLATION "Excessively large number of additional partitions
    per request." when one CreatePartitions adds more than 10,000 partitions. (Kafka 4.3 answered UNKNOWN_SERVER_ERROR and, without
    validate_only, kept the first 10,000 — a partial growth gregor never copied. Growth without
    validate_only is not sent to Kafka here, as creating 10,000 partitions holds its metadata
    up for minutes.)"""
    topic = create_topic(broker, unique_topic("limit-grow"), 1)
    code, message = grow(broker, topic, 10_002, validate_only=True)
    if kafka_older_than(broker, (4, 4)):
        assert code == UNKNOWN_SERVER_ERROR
    else:
        assert (code, message) == (POLICY_VIOLATION, EXCESSIVE_PARTITIONS)
    assert ck_partition_count(broker, topic) == 1
    if broker.name == "gregor":
        assert grow(broker, topic, 10_002) == (POLICY_VIOLATION, EXCESSIVE_PARTITIONS)
        assert ck_partition_count(broker, topic) == 1


def test_limits_colliding_names(broker):
    dotted = unique_topic("coll")  # compat.coll.<hex>: '.' separated
    underscored = dotted.replace(".", "_")
    assert create(broker, [(dotted, 1)]) == {dotted: (NONE, "")}
    wait_for(lambda: ck_partition_count(broker, dotted) == 1, f"{dotted} in metadata")
    message = f"Topic '{underscored}' collides with existing topic: {dotted}"
    for validate_only in (True, False):
        assert create(broker, [(underscored, 1)], validate_only) == {
            underscored: (INVALID_TOPIC_EXCEPTION, message)}
    # Auto-creation: Kafka's Metadata answers UNKNOWN_TOPIC_OR_PARTITION and its controller
    # refuses the creation; the topic never appears.
    assert metadata(broker, [underscored], auto_create=True) == [
        (underscored, UNKNOWN_TOPIC_OR_PARTITION, 0)]
    time.sleep(1)
    assert metadata(broker, [underscored], auto_create=False) == [
        (underscored, UNKNOWN_TOPIC_OR_PARTITION, 0)]


def test_limits_duplicate_names_in_create_topics(broker):
    twice, once = unique_topic("dup"), unique_topic("dup-once")
    answer = create_raw(broker, [(twice, 1), (once, 1), (twice, 1)], validate_only=True)
    assert sorted(answer) == sorted([(once, NONE, None),
                                     (twice, INVALID_REQUEST, "Duplicate topic name.")])


def test_limits_metadata_answers_each_topic_once(broker):
    topic = create_topic(broker, unique_topic("asked"), 2)
    answer = metadata(broker, [topic] * 20_000, auto_create=False)
    assert answer == [(topic, NONE, 2)]


@pytest.mark.gregor_only
def test_limits_broker_partition_cap(broker):
    """gregor's max_broker_partitions (derived from the open-file limit: 5000 for 20000) refuses
    up front what Kafka's per-request limit would let through."""
    topic = unique_topic("cap")
    (code, message), = create(broker, [(topic, 9_999)], validate_only=True).values()
    assert code == POLICY_VIOLATION
    assert "max_broker_partitions" in message
    assert ck_partition_count(broker, topic) is None


def test_limits_metadata_auto_creates_on_a_later_request(broker):
    """Kafka's Metadata answers a topic it auto-creates UNKNOWN_TOPIC_OR_PARTITION
    (AutoTopicCreationManager sends the creation to its controller and answers at once); a later
    request finds it. The same for a topic deleted a moment ago: never created and described
    in one answer."""
    fresh = unique_topic("auto")
    assert metadata(broker, [fresh], auto_create=True) == [(fresh, UNKNOWN_TOPIC_OR_PARTITION, 0)]
    wait_for(lambda: metadata(broker, [fresh], auto_create=False)[0][1:] == (NONE, 1),
             f"{fresh} auto-created with 1 partition")

    admin = ck_admin(broker)
    assert ck_error(admin.delete_topics([fresh], operation_timeout=TIMEOUT)[fresh]) is None
    wait_for(lambda: ck_partition_count(broker, fresh, admin) is None, f"{fresh} gone")
    assert metadata(broker, [fresh], auto_create=True) == [(fresh, UNKNOWN_TOPIC_OR_PARTITION, 0)]
    wait_for(lambda: metadata(broker, [fresh], auto_create=False)[0][1:] == (NONE, 1),
             f"{fresh} auto-created again")
