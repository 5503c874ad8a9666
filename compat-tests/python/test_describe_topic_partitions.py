"""DescribeTopicPartitions (API 75, KIP-966), which Kafka 4's AdminClient `describeTopics` (and
so `kafka-topics --describe`) sends instead of Metadata, paged by a cursor.

| scenario | what is asserted |
|---|---|
| dtp_paging | raw requests (v0) naming topics a (3 partitions), b (2), a missing bz and c (1), in another order: topics sorted by name; `response_partition_limit` 4 cuts b after its first partition (cursor b/1), 5 ends the page between topics (cursor bz/0), 0 counts as 1; continuing from each cursor gives the rest; no topics named: every topic from the cursor's on (a cursor topic that does not exist is fine, missing topics are not shown); the missing topic is UNKNOWN_TOPIC_OR_PARTITION with a zero id and takes no room; partitions: leader, replicas = isr = [leader], empty (not null) ELR lists, leader epoch 0; topic ids as Metadata's; a cursor topic not asked for, or a negative cursor partition, is INVALID_REQUEST for every topic named and no cursor; a bad name is INVALID_TOPIC_EXCEPTION; every topic shown carries Kafka's authorized operations (all topic operations without an authorizer) |
| kafka_topics_describe | Kafka's `kafka-topics --describe` (TopicCommand) of two topics with `--partition-size-limit-per-response 2` (the AdminClient pages with the cursor): the lines equal Kafka's but for topic ids and node ids (`Elr: ` and `LastKnownElr: ` empty, as only DescribeTopicPartitions answers them: over Metadata they read N/A) and the configs set on the topic are listed |
| dtp_authorization | brokers with an authorizer (test_acls' `anonymous` pair: allow everyone if no ACL): a topic whose DESCRIBE is denied to User:ANONYMOUS is TOPIC_AUTHORIZATION_FAILED with a zero id and no operations, after the others, when named, and left out when every topic is asked for; a topic with ALL allowed but WRITE denied shows its authorized operations without WRITE |
"""

from __future__ import annotations

import base64
import re
import socket
import struct
import uuid

import pytest

import kafkatools
from compat import TIMEOUT, create_topic, unique_topic, wait_for

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
TOPIC_AUTHORIZATION_FAILED = 29
INVALID_REQUEST = 42
ZERO_ID = "00000000-0000-0000-0000-000000000000"
# AclOperation codes a topic supports: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE,
# DESCRIBE_CONFIGS, ALTER_CONFIGS.
TOPIC_OPS = {3, 4, 5, 6, 7, 8, 10, 11}
OMITTED = -2147483648


def bits(ops) -> int:
    return sum(1 << op for op in ops)


# ------------------------------------------------------------------ raw protocol (flexible)

def uvarint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def compact_string(s: str | None) -> bytes:
    if s is None:
        return b"\x00"
    b = s.encode()
    return uvarint(len(b) + 1) + b


def request(names, limit=2000, cursor=None) -> bytes:
    body = uvarint(len(names) + 1) + b"".join(compact_string(n) + b"\x00" for n in names)
    body += struct.pack(">i", limit)
    if cursor is None:
        body += b"\xff"  # null struct
    else:
        body += b"\x01" + compact_string(cursor[0]) + struct.pack(">i", cursor[1]) + b"\x00"
    return body + b"\x00"


class Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def uvarint(self) -> int:
        shift = value = 0
        while True:
            b = self.take(">B")
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def string(self) -> str | None:
        n = self.uvarint()
        if n == 0:
            return None
        s = self.data[self.pos:self.pos + n - 1].decode()
        self.pos += n - 1
        return s

    def ints(self) -> list[int] | None:
        n = self.uvarint()
        return None if n == 0 else [self.take(">i") for _ in range(n - 1)]

    def uuid(self) -> str:
        raw = self.data[self.pos:self.pos + 16]
        self.pos += 16
        return str(uuid.UUID(bytes=raw))

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def call(broker, body: bytes) -> dict:
    """One DescribeTopicPartitions v0; the decoded response."""
    header = struct.pack(">hhi", 75, 0, 7) + struct.pack(">h", 8) + b"dtp-test" + b"\x00"
    frame = header + body
    with socket.create_connection((broker.host, broker.port), timeout=TIMEOUT) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _read(s, 4))[0]
        data = _read(s, size)
    r = Reader(data)
    assert r.take(">i") == 7, "correlation id"
    r.tags()
    r.take(">i")  # throttle
    topics = []
    for _ in range(r.uvarint() - 1):
        t = {"error": r.take(">h"), "name": r.string(), "id": r.uuid(), "internal": r.take(">?")}
        partitions = []
        for _ in range(r.uvarint() - 1):
            p = {"error": r.take(">h"), "index": r.take(">i"), "leader": r.take(">i"),
                 "epoch": r.take(">i"), "replicas": r.ints(), "isr": r.ints(), "elr": r.ints(),
                 "last_known_elr": r.ints(), "offline": r.ints()}
            r.tags()
            partitions.append(p)
        t["partitions"] = partitions
        t["ops"] = r.take(">i")
        r.tags()
        topics.append(t)
    cursor = None
    if r.take(">b") == 1:
        cursor = (r.string(), r.take(">i"))
        r.tags()
    r.tags()
    assert r.pos == len(data), "bytes left after the response"
    return {"topics": topics, "cursor": cursor}


def _read(s, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out


def shown(answer) -> list:
    """[(name, error, [partition indexes])] of an answer."""
    return [(t["name"], t["error"], [p["index"] for p in t["partitions"]]) for t in answer["topics"]]


def metadata_ids(broker, names) -> dict[str, str]:
    """The topic ids the AdminClient (librdkafka) describes."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": broker.address})
    futures = admin.describe_topics(TopicCollection(names))
    # librdkafka prints a topic id in standard base64 (Kafka: URL-safe): as a UUID.
    return {n: str(uuid.UUID(bytes=base64.b64decode(str(f.result(timeout=TIMEOUT).topic_id) + "==")))
            for n, f in futures.items()}


# ---------------------------------------------------------------------------------- scenarios

@pytest.mark.single_broker("expects leader epoch 0 and one leader")
@pytest.mark.client("raw-protocol")
def test_dtp_paging(broker):
    prefix = unique_topic("dtp")
    a, b, bz, c = f"{prefix}-a", f"{prefix}-b", f"{prefix}-bz", f"{prefix}-c"
    for name, n in [(a, 3), (b, 2), (c, 1)]:
        create_topic(broker, name, n)
    asked = [c, bz, b, a]

    first = call(broker, request(asked, limit=4))
    assert shown(first) == [(a, NONE, [0, 1, 2]), (b, NONE, [0])]
    assert first["cursor"] == (b, 1)
    rest = call(broker, request(asked, limit=4, cursor=first["cursor"]))
    assert shown(rest) == [(b, NONE, [1]), (bz, UNKNOWN_TOPIC_OR_PARTITION, []), (c, NONE, [0])]
    assert rest["cursor"] is None

    between = call(broker, request(asked, limit=5))
    assert shown(between) == [(a, NONE, [0, 1, 2]), (b, NONE, [0, 1])]
    assert between["cursor"] == (bz, 0)
    assert shown(call(broker, request(asked, limit=5, cursor=(bz, 0)))) == [
        (bz, UNKNOWN_TOPIC_OR_PARTITION, []), (c, NONE, [0])]

    one = call(broker, request(asked, limit=0))
    assert shown(one) == [(a, NONE, [0])] and one["cursor"] == (a, 1)

    # No topics named: every topic from the cursor's on (this test's names sort together);
    # the cursor's topic need not exist, missing ones are not shown.
    every = call(broker, request([], limit=3, cursor=(a, 1)))
    assert shown(every) == [(a, NONE, [1, 2]), (b, NONE, [0])] and every["cursor"] == (b, 1)
    every = call(broker, request([], limit=1, cursor=(bz, 0)))
    assert shown(every)[0] == (c, NONE, [0])
    assert every["cursor"] is None or every["cursor"][0] > c

    whole = call(broker, request(asked))
    assert shown(whole) == [(a, NONE, [0, 1, 2]), (b, NONE, [0, 1]),
                            (bz, UNKNOWN_TOPIC_OR_PARTITION, []), (c, NONE, [0])]
    assert whole["cursor"] is None
    ids = metadata_ids(broker, [a, b, c])
    for t in whole["topics"]:
        assert t["id"] == ids.get(t["name"], ZERO_ID), t
        assert t["internal"] is False
        assert t["ops"] == bits(TOPIC_OPS), (t["name"], t["ops"])
        for p in t["partitions"]:
            assert p["error"] == NONE and p["leader"] >= 0 and p["epoch"] == 0, p
            assert p["replicas"] == p["isr"] == [p["leader"]], p
            assert p["elr"] == [] and p["last_known_elr"] == [] and p["offline"] == [], p

    # A cursor outside the topics named, or with a negative partition: INVALID_REQUEST for
    # every topic named (as asked, in order), nothing else.
    for cursor in [(f"{prefix}-zzz", 0), (b, -1)]:
        bad = call(broker, request([b, a], cursor=cursor))
        assert shown(bad) == [(b, INVALID_REQUEST, []), (a, INVALID_REQUEST, [])], cursor
        assert bad["cursor"] is None
        assert all(t["id"] == ZERO_ID and t["ops"] == OMITTED for t in bad["topics"])

    invalid = call(broker, request(["bad name!"]))
    assert shown(invalid) == [("bad name!", INVALID_TOPIC_EXCEPTION, [])]


# ------------------------------------------------------------------ kafka-topics --describe

def kafka_topics(broker, *args: str) -> str:
    res = kafkatools.run("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                         broker.address, *args)
    assert res.returncode == 0, f"kafka-topics {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr[-3000:]}"
    return res.stdout


@pytest.mark.single_broker("compares the leader column with one node")
@pytest.mark.client("kafka-topics")
def test_kafka_topics_describe(broker):
    prefix = unique_topic("dtp-cli")
    wide, narrow = f"{prefix}-wide", f"{prefix}-narrow"
    create_topic(broker, wide, 5, {"retention.ms": "3600000"})
    create_topic(broker, narrow, 1, {"cleanup.policy": "compact"})
    out = kafka_topics(broker, "--describe", "--topic", f"{re.escape(prefix)}-.*",
                       "--partition-size-limit-per-response", "2")
    lines = [line for line in out.splitlines() if line.strip()]
    header = {}
    partitions = []
    for line in lines:
        fields = dict(f.split(": ", 1) if ": " in f else (f.rstrip(":"), "")
                      for f in line.strip().split("\t"))
        if "PartitionCount" in fields:
            assert re.fullmatch(r"[0-9A-Za-z_-]{22}", fields.pop("TopicId")), line
            header[fields.pop("Topic")] = fields
        else:
            partitions.append(fields)
    configs = {name: set(h.pop("Configs").split(",")) for name, h in header.items()}
    assert header == {narrow: {"PartitionCount": "1", "ReplicationFactor": "1"},
                      wide: {"PartitionCount": "5", "ReplicationFactor": "1"}}, out
    # Both brokers list the topic's own configs; a broker's settings that differ from Kafka's
    # defaults are listed too (not compared).
    assert "retention.ms=3600000" in configs[wide], configs
    assert "cleanup.policy=compact" in configs[narrow], configs
    leader = partitions[0]["Leader"]
    partitions.sort(key=lambda p: (p["Topic"], int(p["Partition"])))
    assert partitions == [
        {"Topic": t, "Partition": str(i), "Leader": leader, "Replicas": leader, "Isr": leader,
         "Elr": "", "LastKnownElr": ""}
        for t, count in [(narrow, 1), (wide, 5)] for i in range(count)], out


# ------------------------------------------------------------------ authorization

@pytest.mark.client("raw-protocol")
def test_dtp_authorization(broker, acl_brokers):
    from test_acls import kafka_acls, ok
    target = acl_brokers.get(broker.name, "anonymous").broker
    prefix = f"compat.dtp-acl.{uuid.uuid4().hex[:12]}"
    hidden, readonly, open_ = f"{prefix}-hidden", f"{prefix}-readonly", f"{prefix}-open"
    for name in (hidden, readonly, open_):
        create_topic(target, name, 1)
    ok(kafka_acls(target, "--add", "--deny-principal", "User:ANONYMOUS", "--operation", "Describe",
                  "--topic", hidden))
    # A topic with ACLs is open only to what they allow (allow.everyone.if.no.acl.found covers
    # topics without any): ALL allowed, WRITE denied.
    ok(kafka_acls(target, "--add", "--allow-principal", "User:ANONYMOUS", "--operation", "All",
                  "--topic", readonly))
    ok(kafka_acls(target, "--add", "--deny-principal", "User:ANONYMOUS", "--operation", "Write",
                  "--topic", readonly))

    def settled():
        return shown(call(target, request([readonly, hidden, open_])))

    wait_for(lambda: settled()[-1][1] == TOPIC_AUTHORIZATION_FAILED, "the DENY DESCRIBE applied")
    answer = call(target, request([readonly, hidden, open_]))
    assert shown(answer) == [(open_, NONE, [0]), (readonly, NONE, [0]),
                             (hidden, TOPIC_AUTHORIZATION_FAILED, [])]
    by_name = {t["name"]: t for t in answer["topics"]}
    assert by_name[hidden]["id"] == ZERO_ID and by_name[hidden]["ops"] == OMITTED
    assert by_name[open_]["ops"] == bits(TOPIC_OPS)
    assert by_name[readonly]["ops"] == bits(TOPIC_OPS - {4}), by_name[readonly]["ops"]

    every = call(target, request([], limit=2000))
    names = [t["name"] for t in every["topics"]]
    assert open_ in names and readonly in names and hidden not in names
    assert names == sorted(names)
    ok(kafka_acls(target, "--remove", "--force", "--topic", hidden))
    ok(kafka_acls(target, "--remove", "--force", "--topic", readonly))


@pytest.fixture(scope="module")
def acl_brokers():
    from test_acls import AclBrokers
    brokers = AclBrokers()
    try:
        yield brokers
    finally:
        brokers.stop_all()
