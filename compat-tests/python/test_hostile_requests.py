"""Hostile and careless request frames, sent byte for byte to both brokers: Kafka's answer is
the expected one. A frame that cannot be decoded (an impossible count or length, a bad frame
length) closes that connection and nothing else; what Kafka decodes leniently (a negative
nullable length, malformed UTF-8 in a name) gets an answer. After each, the broker still serves
a new client."""

from __future__ import annotations

import socket
import struct

import pytest

pytestmark = pytest.mark.client("raw-socket")

HUGE = struct.pack(">i", 0x7FFFFFFF)
# 2^31 as an unsigned varint: a compact length of 2^31-1. (Kafka reads compact lengths as a
# signed int, so 2^31+1 and above are negative, i.e. null, and are answered.)
HUGE_VARINT = b"\x80\x80\x80\x80\x08"


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def header_v1(key: int, version: int, correlation: int = 7) -> bytes:
    return struct.pack(">hhih", key, version, correlation, 1) + b"t"


def header_v2(key: int, version: int, correlation: int = 7) -> bytes:
    return header_v1(key, version, correlation) + b"\x00"  # empty tagged fields


def connect(broker) -> socket.socket:
    s = socket.create_connection((broker.host, broker.port), timeout=10)
    s.settimeout(10)
    return s


def read_frame(s: socket.socket) -> bytes | None:
    """The next response frame, or None once the broker closed the connection."""
    def exactly(n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    size = exactly(4)
    if size is None:
        return None
    return exactly(struct.unpack(">i", size)[0])


def still_serves(broker):
    """ApiVersions v0 from a new connection is answered with error 0."""
    with connect(broker) as s:
        s.sendall(frame(header_v1(18, 0, 99)))
        resp = read_frame(s)
        assert resp is not None, "a new client is still answered"
        assert struct.unpack(">ih", resp[:6]) == (99, 0)


UNDECODABLE = {
    # The probe's 23 bytes: Metadata v4 asking for 2^31-1 topics.
    "metadata_v4_topic_count": header_v1(3, 4) + HUGE + b"\x00\x01a\x00",
    # Flexible Metadata v10: a compact topic count of 2^31-1.
    "metadata_v10_compact_count": header_v2(3, 10) + HUGE_VARINT + b"\x00\x01\x00\x00",
    # Metadata v10: one topic (id, name) whose compact name claims 2^31-1 bytes.
    "metadata_v10_name_length": header_v2(3, 10) + b"\x02" + b"\x00" * 16 + HUGE_VARINT,
    # Produce v3: transactional id null, acks -1, timeout, then 2^31-1 topics.
    "produce_v3_topic_count": header_v1(0, 3) + struct.pack(">hhi", -1, -1, 5000) + HUGE,
    # SyncGroup v0: group, generation, member, then 2^31-1 assignments.
    "sync_group_v0_assignments": header_v1(14, 0) + b"\x00\x01g" + struct.pack(">i", 1)
    + b"\x00\x01m" + HUGE,
    # SyncGroup v0: one assignment whose bytes claim 2^31-1.
    "sync_group_v0_assignment_bytes": header_v1(14, 0) + b"\x00\x01g" + struct.pack(">i", 1)
    + b"\x00\x01m" + struct.pack(">i", 1) + b"\x00\x01m" + HUGE,
    # OffsetCommit v2: group, generation, member, retention, then 2^31-1 topics.
    "offset_commit_v2_topics": header_v1(8, 2) + b"\x00\x01g" + struct.pack(">i", 1)
    + b"\x00\x01m" + struct.pack(">q", -1) + HUGE,
    # DescribeConfigs v1: 2^31-1 resources.
    "describe_configs_v1_resources": header_v1(32, 1) + HUGE + b"\x00",
}


@pytest.mark.parametrize("case", sorted(UNDECODABLE))
def test_undecodable_request_closes_only_its_connection(broker, case):
    with connect(broker) as s:
        s.sendall(frame(UNDECODABLE[case]))
        assert read_frame(s) is None, "the broker closes the connection"
    still_serves(broker)


@pytest.mark.parametrize("length", [-1, 0x7FFFFFFF], ids=["negative", "2GiB"])
def test_impossible_frame_length_closes_the_connection(broker, length):
    with connect(broker) as s:
        s.sendall(struct.pack(">i", length) + header_v1(18, 0))
        assert read_frame(s) is None
    still_serves(broker)


def test_compact_count_above_2_pow_31_is_null(broker):
    """Metadata v10 with a compact topic count of 2^32-2 is read (as Kafka does) as a null
    topic list — all topics — and answered."""
    with connect(broker) as s:
        s.sendall(frame(header_v2(3, 10) + b"\xff\xff\xff\xff\x0f" + b"\x00\x00\x00\x00"))
        resp = read_frame(s)
        assert resp is not None, "answered, not closed"
        assert struct.unpack(">i", resp[:4]) == (7,)


def test_negative_client_id_length_is_answered(broker):
    """Kafka reads any negative nullable-string length as null."""
    with connect(broker) as s:
        s.sendall(frame(struct.pack(">hhih", 18, 1, 7, -2)))
        resp = read_frame(s)
        assert resp is not None, "answered, not closed"
        assert struct.unpack(">ih", resp[:6]) == (7, 0)


def test_invalid_utf8_topic_name_is_an_invalid_topic(broker):
    """Kafka decodes malformed UTF-8 with replacement characters and refuses the name."""
    with connect(broker) as s:
        # Metadata v1: one topic whose two-byte name is not UTF-8.
        s.sendall(frame(header_v1(3, 1) + struct.pack(">ih", 1, 2) + b"\xff\xfe"))
        resp = read_frame(s)
        assert resp is not None, "answered, not closed"
    (correlation,) = struct.unpack(">i", resp[:4])
    assert correlation == 7
    body = resp[4:]
    # Metadata v1 response: brokers[], controller id, topics[].
    pos = 4
    (brokers,) = struct.unpack(">i", body[:4])
    for _ in range(brokers):
        pos += 4  # node id
        (host_len,) = struct.unpack(">h", body[pos:pos + 2])
        pos += 2 + host_len + 4  # host, port
        (rack_len,) = struct.unpack(">h", body[pos:pos + 2])
        pos += 2 + max(rack_len, 0)
    pos += 4  # controller id
    (topics,) = struct.unpack(">i", body[pos:pos + 4])
    assert topics == 1
    (error,) = struct.unpack(">h", body[pos + 4:pos + 6])
    assert error == 17, f"INVALID_TOPIC_EXCEPTION expected, got {error}"


def compact(text: str) -> bytes:
    data = text.encode()
    return bytes([len(data) + 1]) + data  # a varint: these names are short


SOFTWARE = {
    # KIP-511: letters, digits, '-' and '.', starting and ending with a letter or digit.
    "java": ("apache-kafka-java", "4.4.0", 0),
    "snapshot": ("librdkafka", "2.6.1-RC2.x", 0),
    "one_char": ("k", "1", 0),
    "empty_name": ("", "1.0", 42),
    "space": ("my client", "1.0", 42),
    "underscore": ("kafka_go", "1.0", 42),
    "trailing_dash": ("sarama-", "1.0", 42),
    "leading_dot_version": ("sarama", ".1", 42),
    "empty_version": ("sarama", "", 42),
}


@pytest.mark.parametrize("case", sorted(SOFTWARE))
def test_api_versions_v3_client_software_name(broker, case):
    """ApiVersions v3 with a client software name and version that Kafka's pattern refuses is
    answered INVALID_REQUEST (42) with no APIs; the connection stays usable."""
    name, version, code = SOFTWARE[case]
    with connect(broker) as s:
        s.sendall(frame(header_v2(18, 3) + compact(name) + compact(version) + b"\x00"))
        resp = read_frame(s)
        assert resp is not None, "answered, not closed"
        assert struct.unpack(">ih", resp[:6]) == (7, code)
        # v3 body: error code, then the compact API array (its length + 1 as a varint).
        assert (resp[6] == 1) == (code != 0), f"APIs listed: {resp[6] - 1}"
        s.sendall(frame(header_v1(18, 0, 8)))
        again = read_frame(s)
        assert again is not None and struct.unpack(">ih", again[:6]) == (8, 0)
