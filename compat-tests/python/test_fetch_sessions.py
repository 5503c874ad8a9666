"""Incremental fetch sessions (KIP-227): Fetch with a session id and epoch.

| scenario | what is asserted |
|---|---|
| fetch_session_raw | raw Fetch v12 requests on a topic of 3 partitions (partition 0 holding a record) plus a partition 7 that does not exist: a full fetch at epoch 0 answers all four (7: UNKNOWN_TOPIC_OR_PARTITION) and opens a session (id ≠ 0); an incremental fetch (epoch 1) with nothing new answers only the erroneous partition, after its max wait (an unknown partition does not end it); after a record on partition 2, only 2 (its record, high watermark 1) and 7; epoch 2 again is INVALID_FETCH_SESSION_EPOCH (71), an unknown session id FETCH_SESSION_ID_NOT_FOUND (70), both with session id 0 and no topics, and the session still works; an incremental Fetch v13 in a session made by v12 (topic names) is FETCH_SESSION_TOPIC_ID_ERROR (106); forgotten partitions are no longer answered though they get records; epoch -1 naming the session answers in full with session id 0 and closes it (then 70); forgetting every partition closes a session (session id 0, then 70) |
| fetch_session_consumer | kafka-python's consumer (it keeps a session per broker, FetchSessionHandler) assigned 24 partitions while records arrive in rounds on a few of them: every record read exactly once, in order; the broker's answers opened a session and most fetches were incremental, some answering fewer partitions than the session holds, none refused with a session error; on gregor its /metrics count the session |
"""

from __future__ import annotations

import os
import socket
import struct
import time

import pytest
from kafka.consumer.fetcher import FetchSessionHandler
from kafka.structs import TopicPartition as KpTopicPartition

from compat import TIMEOUT, ck_produce, create_topic, kp_consumer, unique_topic, wait_for

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71
FETCH_SESSION_TOPIC_ID_ERROR = 106


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


def compact_string(s: str) -> bytes:
    b = s.encode()
    return uvarint(len(b) + 1) + b


def fetch_body(topic: str, session: int, epoch: int, parts=(), forget=(), wait_ms=0) -> bytes:
    """Fetch v12 (topics by name): `parts` [(partition, fetch offset)], `forget` [partition]."""
    body = struct.pack(">iiiibii", -1, wait_ms, 1, 50 << 20, 0, session, epoch)
    if parts:
        body += uvarint(2) + compact_string(topic) + uvarint(len(parts) + 1)
        for p, offset in parts:
            # partition, current leader epoch, fetch offset, last fetched epoch, log start
            # offset, partition max bytes, tags
            body += struct.pack(">iiqiqi", p, -1, offset, -1, -1, 1 << 20) + b"\x00"
        body += b"\x00"
    else:
        body += uvarint(1)
    if forget:
        body += uvarint(2) + compact_string(topic) + uvarint(len(forget) + 1)
        body += b"".join(struct.pack(">i", p) for p in forget) + b"\x00"
    else:
        body += uvarint(1)
    return body + compact_string("") + b"\x00"  # rack id, tags


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

    def skip(self, n: int):
        self.pos += n

    def string(self) -> str:
        n = self.uvarint()
        s = self.data[self.pos:self.pos + n - 1].decode()
        self.pos += n - 1
        return s

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def batch_count(records: bytes) -> int:
    """Record batches in a record set (each: base offset, length, then the batch)."""
    n, pos = 0, 0
    while pos + 12 <= len(records):
        length = struct.unpack_from(">i", records, pos + 8)[0]
        pos += 12 + length
        n += 1
    return n


class Conn:
    def __init__(self, broker):
        self.sock = socket.create_connection((broker.host, broker.port), timeout=TIMEOUT)
        self.correlation = 0

    def close(self):
        self.sock.close()

    def fetch(self, body: bytes, version: int = 12) -> dict:
        """One Fetch; {error, session, partitions: {partition: (error, high watermark,
        batches)}} (topics by name: v12 only; v13 answers are read only when without topics)."""
        self.correlation += 1
        header = struct.pack(">hhi", 1, version, self.correlation) + struct.pack(">h", 7)
        frame = header + b"session\x00" + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", self._read(4))[0]
        r = Reader(self._read(size))
        assert r.take(">i") == self.correlation
        r.tags()
        r.take(">i")  # throttle
        out = {"error": r.take(">h"), "session": r.take(">i"), "partitions": {}}
        for _ in range(r.uvarint() - 1):
            assert version == 12, "topics in a v13 answer"
            r.string()
            for _ in range(r.uvarint() - 1):
                index, error, hw = r.take(">i"), r.take(">h"), r.take(">q")
                r.take(">q"), r.take(">q")  # last stable offset, log start offset
                aborted = r.uvarint()
                r.skip(max(aborted - 1, 0) * 17)  # (none: read_uncommitted)
                r.take(">i")  # preferred read replica
                n = r.uvarint()
                records = r.data[r.pos:r.pos + max(n - 1, 0)]
                r.skip(max(n - 1, 0))
                r.tags()
                out["partitions"][index] = (error, hw, batch_count(records))
            r.tags()
        r.tags()
        assert r.pos == len(r.data), "bytes left after the response"
        return out

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            assert chunk, "connection closed"
            out += chunk
        return out


def produce_one(broker, topic: str, partition: int):
    ck_produce(broker, topic, [(b"k", b"v", None, partition, None)])


# ---------------------------------------------------------------------------------- scenarios

@pytest.mark.single_broker("raw requests to the first address, which leads only some partitions")
@pytest.mark.client("raw-protocol")
def test_fetch_session_raw(broker):
    topic = create_topic(broker, unique_topic("fetch-session"), 3)
    produce_one(broker, topic, 0)
    c = Conn(broker)
    try:
        everything = [(0, 0), (1, 0), (2, 0), (7, 0)]
        # A loaded Kafka's broker can answer NOT_LEADER_OR_FOLLOWER for a moment after its
        # metadata names it the leader: sessionless fetches (session 0, epoch -1) until not.
        wait_for(lambda: all(p[0] == NONE for p in c.fetch(
            fetch_body(topic, 0, -1, everything[:3]))["partitions"].values()),
            "the three partitions led where the metadata says")
        full = c.fetch(fetch_body(topic, 0, 0, everything))
        session = full["session"]
        assert full["error"] == NONE and session != 0, full
        assert full["partitions"] == {0: (NONE, 1, 1), 1: (NONE, 0, 0), 2: (NONE, 0, 0),
                                      7: (UNKNOWN_TOPIC_OR_PARTITION, -1, 0)}

        # Nothing new (partition 0 now asked from offset 1): only the error, after the wait.
        started = time.monotonic()
        quiet = c.fetch(fetch_body(topic, session, 1, [(0, 1)], wait_ms=600))
        assert time.monotonic() - started >= 0.5, "the unknown partition ended the wait"
        assert (quiet["error"], quiet["session"]) == (NONE, session)
        assert quiet["partitions"] == {7: (UNKNOWN_TOPIC_OR_PARTITION, -1, 0)}

        produce_one(broker, topic, 2)
        news = c.fetch(fetch_body(topic, session, 2, wait_ms=5000))
        assert (news["error"], news["session"]) == (NONE, session)
        assert news["partitions"] == {2: (NONE, 1, 1), 7: (UNKNOWN_TOPIC_OR_PARTITION, -1, 0)}

        again = c.fetch(fetch_body(topic, session, 2))
        assert again == {"error": INVALID_FETCH_SESSION_EPOCH, "session": 0, "partitions": {}}
        unknown = session + 1 if session < 2**31 - 1 else 1
        lost = c.fetch(fetch_body(topic, unknown, 3))
        assert lost == {"error": FETCH_SESSION_ID_NOT_FOUND, "session": 0, "partitions": {}}
        by_id = c.fetch(fetch_body(topic, session, 3), version=13)
        assert by_id == {"error": FETCH_SESSION_TOPIC_ID_ERROR, "session": 0, "partitions": {}}

        # Partitions 2 and 7 forgotten: no longer answered, even with a new record on 2.
        forgot = c.fetch(fetch_body(topic, session, 3, [(1, 0)], forget=[2, 7]))
        assert (forgot["error"], forgot["session"], forgot["partitions"]) == (NONE, session, {})
        produce_one(broker, topic, 2)
        later = c.fetch(fetch_body(topic, session, 4, wait_ms=300))
        assert (later["error"], later["session"], later["partitions"]) == (NONE, session, {})

        # Epoch -1 naming the session: a full answer without a session, and the session is gone.
        final = c.fetch(fetch_body(topic, session, -1, [(0, 0)]))
        assert (final["error"], final["session"]) == (NONE, 0)
        assert final["partitions"] == {0: (NONE, 1, 1)}
        closed = c.fetch(fetch_body(topic, session, 5))
        assert closed["error"] == FETCH_SESSION_ID_NOT_FOUND

        # Forgetting every partition closes a session too.
        second = c.fetch(fetch_body(topic, 0, 0, [(1, 0)]))["session"]
        assert second != 0
        emptied = c.fetch(fetch_body(topic, second, 1, forget=[1]))
        assert emptied == {"error": NONE, "session": 0, "partitions": {}}
        assert c.fetch(fetch_body(topic, second, 2))["error"] == FETCH_SESSION_ID_NOT_FOUND
    finally:
        c.close()


def scrape_sessions() -> float | None:
    address = os.environ.get("COMPAT_GREGOR_METRICS")
    if not address:
        return None
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: gregor\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    for line in data.decode().splitlines():
        if line.startswith("gregor_fetch_sessions "):
            return float(line.split()[1])
    raise AssertionError("gregor_fetch_sessions missing from /metrics")


@pytest.mark.client("kafka-python")
def test_fetch_session_consumer(broker, monkeypatch):
    partitions = 24
    topic = create_topic(broker, unique_topic("fetch-session-consumer"), partitions)
    seen = {"full_with_session": 0, "incremental": 0, "partial": 0, "errors": []}
    handle = FetchSessionHandler.handle_response

    def spy(self, response):
        answered = sum(len(t.partitions) for t in response.responses)
        if response.error_code:
            seen["errors"].append(response.error_code)
        elif self.next_metadata.is_full and response.session_id > 0:
            seen["full_with_session"] += 1
        elif not self.next_metadata.is_full:
            seen["incremental"] += 1
            if answered < len(self.session_partitions):
                seen["partial"] += 1
        return handle(self, response)

    monkeypatch.setattr(FetchSessionHandler, "handle_response", spy)
    consumer = kp_consumer(broker)
    try:
        consumer.assign([KpTopicPartition(topic, p) for p in range(partitions)])
        produced: list[tuple] = []
        got: list[tuple] = []
        sessions_metric = None
        for round_ in range(5):
            targets = [(round_ * 5 + i) % partitions for i in range(3)]
            records = [(b"k", f"{round_}-{p}-{i}".encode(), None, p, None)
                       for p in targets for i in range(4)]
            reports = ck_produce(broker, topic, records)
            produced += [(p, o, r[1]) for (p, o), r in zip(reports, records)]
            deadline = time.monotonic() + TIMEOUT
            while len(got) < len(produced):
                assert time.monotonic() < deadline, f"consumed {len(got)}/{len(produced)}"
                for tp, rows in consumer.poll(timeout_ms=300).items():
                    got += [(r.partition, r.offset, r.value) for r in rows]
            if broker.name == "gregor" and round_ == 2:
                sessions_metric = scrape_sessions()
        # Nothing more arrives.
        extra = sum(len(v) for v in consumer.poll(timeout_ms=500).values())
        assert extra == 0
        assert sorted(got) == sorted(produced)
        for p in range(partitions):
            offsets = [o for q, o, _ in got if q == p]
            assert offsets == sorted(offsets) == list(range(len(offsets))), (p, offsets)
    finally:
        consumer.close()
    assert seen["errors"] == [], seen
    assert seen["full_with_session"] >= 1, seen
    assert seen["incremental"] >= 5 and seen["partial"] >= 1, seen
    if sessions_metric is not None:
        assert sessions_metric >= 1
