"""Hostile Produce requests (issue 14): batches no consumer could read, sent over a raw socket
as Produce v3 (classic encoding) and v9 (flexible). Each must be refused with the error code
the reference Kafka gives (one expected value for both brokers, so the test fails on
whichever differs), nothing of it may be stored, and real consumers must then read the
partition from the beginning to the end and get exactly the valid records produced around
the attempts — no stall, no error.

Run as a script to print what a broker answers for every case:
    python test_hostile_produce.py 127.0.0.1:24092
"""

from __future__ import annotations

import gzip
import os
import select
import socket
import struct
import sys
import time
import zlib

import pytest

from compat import (TIMEOUT, Broker, ck_consume, ck_produce, create_topic, kafka_version,
                    kp_consume, unique_topic)
from cli_scenarios import run_scenario
from kafka import codec as kcodec
from test_java import JAVA_DIR, java_compat  # noqa: F401 - the fixture java_consume asks for
from kafka.record.util import calc_crc32c

NONE, GZIP, SNAPPY, LZ4, ZSTD = range(5)
INVALID_RECORD, CORRUPT_MESSAGE, UNSUPPORTED_COMPRESSION, INVALID_TIMESTAMP = 87, 2, 76, 32
UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_SERVER_ERROR = 3, -1
# Raw requests go to the first bootstrap address: in a cluster it leads only some partitions.
pytestmark = pytest.mark.single_broker("raw produce requests to one address")


# ------------------------------------------------------------------------- record batches

def zigzag(v: int) -> bytes:
    z = (v << 1) ^ (v >> 63)
    z &= (1 << 64) - 1
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def record(offset_delta: int, key: bytes | None = b"k", value: bytes | None = b"v",
           headers=(), timestamp_delta: int = 0, length_adjust: int = 0) -> bytes:
    body = b"\x00" + zigzag(timestamp_delta) + zigzag(offset_delta)
    for field in (key, value):
        body += zigzag(-1) if field is None else zigzag(len(field)) + field
    body += zigzag(len(headers))
    for hk, hv in headers:
        body += zigzag(len(hk)) + hk + zigzag(len(hv)) + hv
    return zigzag(len(body) + length_adjust) + body


def records(n: int) -> bytes:
    return b"".join(record(i, b"key-%d" % i, b"value-%d" % i) for i in range(n))


def compress(codec: int, raw: bytes) -> bytes:
    if codec == GZIP:
        return gzip.compress(raw)
    if codec == SNAPPY:
        return kcodec.snappy_encode(raw)
    if codec == LZ4:
        return kcodec.lz4_encode(raw)
    if codec == ZSTD:
        return kcodec.zstd_encode(raw)
    return raw


def batch(payload: bytes, count: int, attributes: int = NONE, last_offset_delta: int | None = None,
          base_offset: int = 0, producer_id: int = -1, base_sequence: int = -1,
          timestamp: int | None = None) -> bytes:
    """A v2 record batch around `payload` (records, already compressed), CRC correct."""
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    lod = count - 1 if last_offset_delta is None else last_offset_delta
    after_crc = struct.pack(">hiqqqhii", attributes, lod, ts, ts, producer_id, -1,
                            base_sequence, count) + payload
    crc = calc_crc32c(after_crc)
    return struct.pack(">qiibI", base_offset, 4 + 1 + 4 + len(after_crc), 0, 2, crc) + after_crc


def built(codec: int, count: int, raw: bytes, **kw) -> bytes:
    return batch(compress(codec, raw), count, attributes=codec, **kw)


def garbage_headers(n: int) -> bytes:
    body = b"\x00" + zigzag(0) + zigzag(0) + zigzag(-1) + zigzag(-1) + zigzag(n)
    return zigzag(len(body)) + body


# Kafka before 4.4 accepts these (its compressed-record reader skips the record-length check)
# and stores a batch consumers fail on; gregor refuses them, and so does Kafka 4.4.0 (a known
# gap on the reference Kafka only when COMPAT_KAFKA_VERSION picks an older one).
KAFKA_STORES_POISON = "Kafka before 4.4 accepts a compressed record with a negative length (it " \
    "skips the length check when reading compressed records in place) and stores it"


def hostile_cases() -> dict[str, tuple[bytes, int, str | None]]:
    """name -> (records bytes, error code Apache Kafka 4.3 and 4.4 answer on Produce v9, known gap
    on Kafka or None). On v3, zstd batches get UNSUPPORTED_COMPRESSION_TYPE first."""
    one = records(1)
    three = records(3)
    rand = bytes.fromhex("2291ff13074200990a0b0c0d0e0f")
    good = batch(one, 1)
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 1
    short = bytearray(good)
    short[8:12] = struct.pack(">i", 20)
    lz = bytearray(kcodec.lz4_encode(one))
    lz[4] &= ~0x20  # LZ4 frame with dependent blocks

    def magic(m):
        b = bytearray(good)
        b[16] = m
        return bytes(b)

    junk = bytes(range(7, 7 + 200))
    cases = {
        "empty_records": (b"", INVALID_RECORD, None),
        "partial_batch": (good[:-3], INVALID_RECORD, None),
        "two_batches": (good + good, INVALID_RECORD, None),
        "magic_1": (magic(1), INVALID_RECORD, None),
        "magic_3": (magic(3), CORRUPT_MESSAGE, None),
        "bad_crc": (bytes(bad_crc), CORRUPT_MESSAGE, None),
        "batch_length_20": (bytes(short), CORRUPT_MESSAGE, None),
        "control_batch": (batch(one, 1, attributes=0x20), INVALID_RECORD, None),
        "count_0": (batch(b"", 0), INVALID_RECORD, None),
        "count_negative": (batch(one, -1, last_offset_delta=-2), INVALID_RECORD, None),
        "negative_record_length": (batch(zigzag(-5) + one[1:], 1), INVALID_RECORD, None),
        "record_longer_than_batch": (batch(record(0, length_adjust=500), 1), INVALID_RECORD, None),
        "value_past_record": (batch(record(0, value=b"vvvv", length_adjust=-3), 1),
                              INVALID_RECORD, None),
        "random_record_body": (batch(rand, 1), INVALID_RECORD, None),
        "count_max_one_record": (batch(one, 2**31 - 1), INVALID_RECORD, None),
        "count_1_three_records": (batch(three, 1), INVALID_RECORD, None),
        "base_offset_not_zero": (batch(one, 1, base_offset=42), INVALID_RECORD, None),
        "negative_header_count": (batch(garbage_headers(-3), 1), INVALID_RECORD, None),
        "huge_header_count": (batch(garbage_headers(1 << 30), 1), INVALID_RECORD, None),
        "trailing_bytes_in_batch": (batch(one + b"\x00\x00\x00", 1), INVALID_RECORD, None),
        "producer_id_without_sequence": (batch(one, 1, producer_id=4242), INVALID_RECORD, None),
        "timestamp_far_future": (batch(one, 1, timestamp=int(time.time() * 1000) + 7_200_000),
                                 INVALID_TIMESTAMP, None),
        "lz4_dependent_blocks": (batch(bytes(lz), 1, attributes=LZ4), UNKNOWN_SERVER_ERROR, None),
    }
    for name, codec in (("gzip", GZIP), ("snappy", SNAPPY), ("lz4", LZ4), ("zstd", ZSTD)):
        cases[f"{name}_count_mismatch"] = (built(codec, 2, three), INVALID_RECORD, None)
        cases[f"{name}_trailing_records"] = (built(codec, 1, one + b"\x00\x00"),
                                             INVALID_RECORD, None)
        cases[f"{name}_garbage"] = (batch(junk, 3, attributes=codec), UNKNOWN_SERVER_ERROR, None)
        cases[f"{name}_negative_record_length"] = (
            built(codec, 1, zigzag(-5) + one[1:]), INVALID_RECORD, KAFKA_STORES_POISON)
    for codec in (5, 6, 7):
        # Kafka's reader throws on an unknown codec id before anything else.
        cases[f"codec_{codec}"] = (batch(one, 1, attributes=codec), UNKNOWN_SERVER_ERROR, None)
    return cases


def expected_code(case: str, version: int) -> int:
    data, code, _ = CASES[case]
    if case.startswith("zstd_") and version < 7:
        return UNSUPPORTED_COMPRESSION
    return code


# ------------------------------------------------------------------------- raw Produce


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


class RawProducer:
    """Produce requests built by hand, one connection, acks=1."""

    def __init__(self, broker: Broker):
        self.sock = socket.create_connection((broker.host, broker.port), timeout=TIMEOUT)
        self.correlation = 0

    def close(self):
        self.sock.close()

    def _recv(self, n: int) -> bytes:
        return self._recv_from(self.sock, n)

    @staticmethod
    def _recv_from(sock: socket.socket, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            out += chunk
        return out

    def produce(self, version: int, topic: str, partition: int, data: bytes):
        """Returns (error_code, error_message, [(batch_index, message)])."""
        self.send(version, topic, partition, data)
        return self.response(version)

    def send(self, version: int, topic: str, partition: int, data: bytes):
        self.correlation += 1
        flexible = version >= 9
        header = struct.pack(">hhi", 0, version, self.correlation) + _str("hostile")
        if flexible:
            t = topic.encode()
            body = (b"\x00" + struct.pack(">hi", 1, int(TIMEOUT * 1000)) + _uvarint(2)
                    + _uvarint(len(t) + 1) + t + _uvarint(2) + struct.pack(">i", partition)
                    + _uvarint(len(data) + 1) + data + b"\x00" + b"\x00" + b"\x00")
            header += b"\x00"
        else:
            body = (struct.pack(">hhi", -1, 1, int(TIMEOUT * 1000)) + struct.pack(">i", 1)
                    + _str(topic) + struct.pack(">i", 1) + struct.pack(">i", partition)
                    + struct.pack(">i", len(data)) + data)
        msg = header + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)

    def response(self, version: int):
        flexible = version >= 9
        size = struct.unpack(">i", self._recv(4))[0]
        resp = self._recv(size)
        assert struct.unpack(">i", resp[:4])[0] == self.correlation
        pos = 4
        if flexible:
            pos += 1  # header tagged fields
            _, pos = _read_uvarint(resp, pos)  # topics
            n, pos = _read_uvarint(resp, pos)
            pos += n - 1
            _, pos = _read_uvarint(resp, pos)  # partitions
            pos += 4
            code = struct.unpack(">h", resp[pos:pos + 2])[0]
            pos += 2 + 8 + 8 + 8
            n_err, pos = _read_uvarint(resp, pos)
            record_errors = []
            for _ in range(n_err - 1):
                idx = struct.unpack(">i", resp[pos:pos + 4])[0]
                pos += 4
                n, pos = _read_uvarint(resp, pos)
                text = resp[pos:pos + n - 1].decode() if n else None
                pos += max(n - 1, 0)
                pos += 1  # tagged fields
                record_errors.append((idx, text))
            n, pos = _read_uvarint(resp, pos)
            message = resp[pos:pos + n - 1].decode() if n else None
            return code, message, record_errors
        pos += 4  # topics
        n = struct.unpack(">h", resp[pos:pos + 2])[0]
        pos += 2 + n + 4 + 4
        code = struct.unpack(">h", resp[pos:pos + 2])[0]
        return code, None, []


# ------------------------------------------------------------------------- scenarios

VALID = [(b"before-%d" % i, b"value-%d" % i, [], None, None) for i in range(3)]
VALID_AFTER = [(b"after-%d" % i, b"value-%d" % i, [], None, None) for i in range(3)]

CASES = hostile_cases()


def _case_params():
    out = []
    for case in sorted(CASES):
        for version in (3, 9):
            gap = CASES[case][2]
            if expected_code(case, version) == UNSUPPORTED_COMPRESSION:
                gap = None  # refused before Kafka reads any record
            if gap == KAFKA_STORES_POISON and kafka_version() >= (4, 4):
                gap = None  # Kafka 4.4 refuses them as gregor does
            marks = [pytest.mark.known_gap(gap, broker="kafka")] if gap else []
            out.append(pytest.param(case, version, marks=marks, id=f"{case}-v{version}"))
    return out


@pytest.fixture(scope="module")
def hostile_topic(broker):
    return create_topic(broker, unique_topic("hostile"), 1)


@pytest.mark.client("raw")
@pytest.mark.parametrize("case,version", _case_params())
def test_hostile_produce_refused(broker, hostile_topic, case, version):
    data = CASES[case][0]
    expected = expected_code(case, version)
    raw = RawProducer(broker)
    try:
        code, message, record_errors = raw.produce(version, hostile_topic, 0, data)
    finally:
        raw.close()
    assert code == expected, f"{case} v{version}: error {code} ({message}), expected {expected}"
    if expected == INVALID_TIMESTAMP and version >= 9:
        assert [i for i, _ in record_errors] == [0], record_errors


@pytest.mark.client("raw")
def test_hostile_compacted_topic_needs_keys(broker):
    topic = create_topic(broker, unique_topic("hostile.compact"), 1, {"cleanup.policy": "compact"})
    raw = RawProducer(broker)
    try:
        data = batch(record(0, key=b"k") + record(1, key=None) + record(2, key=None), 3)
        code, message, record_errors = raw.produce(9, topic, 0, data)
        assert code == INVALID_RECORD, (code, message)
        assert [i for i, _ in record_errors] == [1, 2], record_errors
        code, _, _ = raw.produce(3, topic, 0, data)
        assert code == INVALID_RECORD
    finally:
        raw.close()


@pytest.mark.client("raw")
def test_hostile_produce_to_missing_topic(broker):
    topic = unique_topic("hostile.missing")
    raw = RawProducer(broker)
    try:
        for version in (3, 9):
            code, _, _ = raw.produce(version, topic, 0, batch(records(1), 1))
            assert code == UNKNOWN_TOPIC_OR_PARTITION, (version, code)
    finally:
        raw.close()
    from compat import ck_partition_count
    assert ck_partition_count(broker, topic) is None, "produce must not create the topic"


def gzip_bomb(zeros: int) -> bytes:
    """A gzip batch that declares 2 records and holds 3, the first with a value of `zeros`
    zero bytes: about 1/1000 of that on the wire, refused (INVALID_RECORD) only after the
    whole stream has been inflated and walked."""
    body = b"\x00" + zigzag(0) + zigzag(0) + zigzag(-1) + zigzag(zeros)
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing, best ratio (~1000:1)
    out = [z.compress(zigzag(len(body) + zeros + 1) + body)]
    chunk = bytes(1 << 20)
    for _ in range(zeros >> 20):
        out.append(z.compress(chunk))
    out.append(z.compress(zigzag(0) + record(1) + record(2)))
    out.append(z.flush())
    return batch(b"".join(out), 2, attributes=GZIP)


@pytest.mark.client("raw")
def test_decompression_bombs_do_not_stall_other_connections(broker, hostile_topic):
    """Four connections each send a 512 MiB gzip bomb (~0.5 MB on the wire; more bombs than
    the broker has cores). A new connection's ApiVersions is answered before any bomb is:
    walking a bomb must not hold the threads other connections are served on."""
    bomb = gzip_bomb(512 << 20)
    assert len(bomb) < 1 << 20
    bombers = [RawProducer(broker) for _ in range(4)]
    try:
        for b in bombers:
            b.send(9, hostile_topic, 0, bomb)
        with socket.create_connection((broker.host, broker.port), timeout=TIMEOUT) as s:
            req = struct.pack(">hhi", 18, 0, 7) + _str("bystander")
            s.sendall(struct.pack(">i", len(req)) + req)
            size = struct.unpack(">i", RawProducer._recv_from(s, 4))[0]
            assert struct.unpack(">ih", RawProducer._recv_from(s, size)[:6]) == (7, 0)
        ready, _, _ = select.select([b.sock for b in bombers], [], [], 0)
        assert not ready, f"{len(ready)} bomb(s) answered before the bystander's ApiVersions"
        for b in bombers:
            code, message, _ = b.response(9)
            assert code == INVALID_RECORD, f"bomb: error {code} ({message})"
    finally:
        for b in bombers:
            b.close()


def java_consume(request, broker, topic: str, count: int):
    """The Java client's KafkaConsumer (compat-tests/java `read` scenario): (partition, offset,
    key, value) of partition 0's first `count` records; fails on any exception or a stall."""
    out = run_scenario(request.getfixturevalue("java_compat"), "java", f"read:{topic}:{count}",
                       broker, JAVA_DIR)
    got = []
    for line in out.splitlines():
        if line.startswith("record "):
            _, offset, key, value = line.split(" ", 3)
            got.append((0, int(offset), key.encode(), value.encode()))
    return got


@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python", "java"])
def test_hostile_produce_leaves_partition_readable(request, broker, client):
    """Valid records, every hostile batch, valid records: consumers read exactly the valid
    ones, from the beginning to the end, in bounded time."""
    topic = create_topic(broker, unique_topic("hostile.readable"), 1)
    ck_produce(broker, topic, VALID)
    raw = RawProducer(broker)
    try:
        for name, (data, _, gap) in sorted(CASES.items()):
            if gap and broker.name == "kafka":
                continue  # Kafka stores these; see test_hostile_produce_refused
            for version in (3, 9):
                code, message, _ = raw.produce(version, topic, 0, data)
                assert code != 0, f"{name} v{version} was accepted"
    finally:
        raw.close()
    ck_produce(broker, topic, VALID_AFTER)
    count = len(VALID) + len(VALID_AFTER)
    if client == "java":
        got = java_consume(request, broker, topic, count)
    else:
        consume = ck_consume if client == "confluent-kafka" else kp_consume
        got = consume(broker, topic, 1, count)
    assert [(r[1], r[2], r[3]) for r in got] == [
        (i, k, v) for i, (k, v, *_rest) in enumerate(VALID + VALID_AFTER)]


if __name__ == "__main__":
    # Probe: print what a broker answers for every case (creates one topic).
    target = Broker("probe", sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:24092")
    topic = create_topic(target, unique_topic("hostile.probe"), 1)
    compacted = create_topic(target, unique_topic("hostile.probe.c"), 1, {"cleanup.policy": "compact"})
    for name, (data, _, _gap) in sorted(CASES.items()):
        for version in (3, 9):
            expected = expected_code(name, version)
            p = RawProducer(target)
            try:
                print(name, f"v{version}", p.produce(version, topic, 0, data), "expected", expected)
            except Exception as e:  # noqa: BLE001 - probe output
                print(name, f"v{version}", "EXCEPTION", e)
            finally:
                p.close()
    p = RawProducer(target)
    data = batch(record(0, key=b"k") + record(1, key=None), 2)
    print("compacted no key v9", p.produce(9, compacted, 0, data))
    print("missing topic v9", p.produce(9, unique_topic("hostile.missing"), 0, batch(records(1), 1)))
    extra = {
        "offset_delta_wrong": batch(record(0) + record(0), 2),
        "key_len_minus_2": batch(record(0, key=None)[:4] + zigzag(-2) + record(0, key=None)[5:], 1),
        "header_value_minus_5": batch(record(0, headers=[(b"h", b"")])[:-1] + zigzag(-5), 1),
        "zstd_offset_delta_wrong": built(ZSTD, 2, record(0) + record(0)),
        "gzip_trailing_garbage": batch(gzip.compress(records(1)) + b"junk", 1, attributes=GZIP),
        "lz4_trailing_garbage": batch(kcodec.lz4_encode(records(1)) + b"junk", 1, attributes=LZ4),
        "zstd_v3": built(ZSTD, 1, records(1)),
        "ts_minus_one": batch(records(1), 1, timestamp=-1),
        "lat_bit": batch(records(1), 1, attributes=8),
        "two_batches": batch(records(1), 1) + batch(records(1), 1),
        "truncated_batch": batch(records(1), 1)[:-3],
        "empty": b"",
        "magic_1": batch(records(1), 1)[:16] + b"\x01" + batch(records(1), 1)[17:],
    }
    for name, data in extra.items():
        for version in (3, 9):
            p = RawProducer(target)
            try:
                print(name, f"v{version}", p.produce(version, topic, 0, data))
            except Exception as e:  # noqa: BLE001
                print(name, f"v{version}", "EXCEPTION", e)
            finally:
                p.close()
    os._exit(0)
