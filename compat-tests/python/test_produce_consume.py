"""Produce keyed records with headers under every compression codec and read them back, across
clients: what a consumer sees must be exactly what the producer sent (key, value, headers,
partition, offset, order), offsets contiguous from 0 on a fresh topic, one partition per key."""

import json
import time

import pytest

from compat import (CODECS, CONSUMERS, by_partition, ck_conf, ck_produce, create_topic,
                    kp_consumer, produce_with, unique_topic)

CLIENT_NAMES = ["confluent-kafka", "kafka-python"]
PAIRS = [f"{p}>{c}" for p in CLIENT_NAMES for c in CLIENT_NAMES]  # producer>consumer


def make_records(codec: str, n: int = 60):
    """n keyed records over 10 keys: JSON values (some unicode), headers of varied shape (none,
    empty value, repeated key, binary), one tombstone every 17 records."""
    records = []
    for i in range(n):
        key = f"order-{i % 10}".encode()
        if i % 17 == 16:
            value = None
        else:
            value = json.dumps({"order_id": i % 10, "seq": i, "status": ["new", "paid", "sent"][i % 3],
                                "codec": codec, "note": "ünïcødé ✓ " * (i % 4),
                                "pad": "x" * (i * 7 % 200)}, ensure_ascii=False).encode()
        if i % 7 == 3:
            headers = []
        else:
            headers = [("seq", str(i).encode()), ("codec", codec.encode()), ("empty", b"")]
            if i % 5 == 0:
                headers += [("seq", b"repeated"), ("bin", bytes(range(256)))]
        records.append((key, value, headers, None, None))
    return records


def check_reports(records, reports, partitions):
    """Delivery reports of a fresh topic: contiguous offsets from 0 per partition, in produce
    order, every key on one partition, and both partitions used."""
    per_part: dict[int, list[int]] = {}
    key_part: dict[bytes, int] = {}
    for (key, *_), (p, off) in zip(records, reports):
        assert 0 <= p < partitions
        per_part.setdefault(p, []).append(off)
        assert key_part.setdefault(key, p) == p, f"key {key!r} went to partitions {key_part[key]} and {p}"
    for p, offs in per_part.items():
        assert offs == list(range(len(offs))), f"partition {p}: offsets {offs[:20]}…"
    assert len(per_part) == partitions, f"only partitions {sorted(per_part)} used"


def expected_rows(records, reports):
    return [(p, off, key, value, list(headers)) for (key, value, headers, _, _), (p, off)
            in zip(records, reports)]


def strip_ts(rows):
    return [r[:5] for r in rows]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", PAIRS)
def test_roundtrip(broker, client, codec):
    producer, consumer = client.split(">")
    topic = create_topic(broker, unique_topic(f"rt-{codec}"), 2)
    records = make_records(codec)
    t0 = int(time.time() * 1000)
    reports = produce_with(producer, broker, topic, records, codec)
    t1 = int(time.time() * 1000)
    check_reports(records, reports, 2)

    got = CONSUMERS[consumer](broker, topic, 2, len(records))
    want = expected_rows(records, reports)
    got_pp, want_pp = by_partition(got), by_partition(want)
    assert sorted(got_pp) == sorted(want_pp)
    for p in want_pp:
        # in arrival order, exactly what was produced to that partition
        assert strip_ts([r for r in got if r[0] == p]) == want_pp[p], f"partition {p}"
    for row in got:  # CreateTime set by the producer, kept by the broker
        assert t0 - 1000 <= row[5] <= t1 + 1000, f"timestamp {row[5]} outside [{t0}, {t1}]"


# ----------------------------------------------------------------- 20,000 records via librdkafka

BULK_PER_CODEC = 4000


@pytest.fixture(scope="module")
def bulk(broker):
    """One topic (2 partitions) holding 4,000 records produced by librdkafka (acks=all) under
    each of the five codecs, one producer per codec, 20,000 in all."""
    topic = create_topic(broker, unique_topic("bulk"), 2)
    records, reports = [], []
    for codec in CODECS:
        batch = []
        for i in range(BULK_PER_CODEC):
            n = len(records) + len(batch)
            value = json.dumps({"order_id": n % 997, "seq": n, "codec": codec,
                                "status": ["new", "awaiting payment", "paid", "cancelled"][n % 4],
                                "items": list(range(n % 13))}).encode()
            batch.append((f"order-{n % 997}".encode(), value, [("codec", codec.encode())],
                          None, None))
        reports += ck_produce(broker, topic, batch, **{"compression.type": codec,
                                                        "linger.ms": 20})
        records += batch
    check_reports(records, reports, 2)
    return topic, expected_rows(records, reports)


@pytest.mark.parametrize("client", CLIENT_NAMES)
def test_bulk_20k(broker, bulk, client):
    """Read the 20,000 records back with each client; compare; check the watermarks."""
    topic, want = bulk
    assert len(want) == 5 * BULK_PER_CODEC
    got = CONSUMERS[client](broker, topic, 2, len(want))
    want_pp = by_partition(want)
    for p in want_pp:
        assert strip_ts([r for r in got if r[0] == p]) == want_pp[p], f"partition {p}"
    counts = {p: len(rows) for p, rows in want_pp.items()}
    assert watermarks(client, broker, topic, 2) == {p: (0, counts[p]) for p in (0, 1)}


def watermarks(client, broker, topic, partitions):
    """{partition: (low, high)} as the client's own offset API reports them."""
    if client == "confluent-kafka":
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer(ck_conf(broker, **{"group.id": "compat-wm", "enable.auto.commit": False}))
        try:
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)
                    for p in range(partitions)}
        finally:
            c.close()
    from kafka.structs import TopicPartition as TP
    c = kp_consumer(broker)
    try:
        tps = [TP(topic, p) for p in range(partitions)]
        low, high = c.beginning_offsets(tps), c.end_offsets(tps)
        return {tp.partition: (low[tp], high[tp]) for tp in tps}
    finally:
        c.close()
