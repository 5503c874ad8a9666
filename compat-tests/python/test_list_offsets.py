"""ListOffsets: earliest, latest and by timestamp, over records with explicit CreateTime
timestamps, through each client's offset API (consumers, and confluent-kafka's AdminClient,
which also asks for the max-timestamp offset).

Topic of 3 partitions:
  p0: 10 records, timestamps T0, T0+1s, ..., T0+9s (two produce calls, so two batches)
  p1: 3 records, out-of-order timestamps T0+50s, T0+90s, T0+70s
  p2: empty
"""

import time

import pytest

from compat import CONSUMERS, ck_conf, create_topic, kp_consumer, produce_with, unique_topic

CLIENTS = ["confluent-kafka", "kafka-python"]
NO_OFFSET = None  # "no record at or after that timestamp", normalised across clients


@pytest.fixture
def timed_topic(broker, client):
    # 10 minutes in the past, on a whole second: inside every default timestamp bound.
    t0 = (int(time.time()) - 600) * 1000
    topic = create_topic(broker, unique_topic("offsets"), 3)
    p0 = [(b"k0", f"v{i}".encode(), [], 0, t0 + i * 1000) for i in range(10)]
    p1 = [(b"k1", f"w{i}".encode(), [], 1, t0 + d) for i, d in enumerate(P1_DELTAS)]
    reports = produce_with(client, broker, topic, p0[:4])
    reports += produce_with(client, broker, topic, p0[4:] + p1)
    assert reports == [(0, i) for i in range(10)] + [(1, i) for i in range(3)]
    return topic, t0


def queries(t0):
    """[(partition, timestamp, expected offset or NO_OFFSET)] for offsets_for_times."""
    return [
        (0, t0 - 5000, 0),       # before everything: the first record
        (0, t0, 0),              # exact hit
        (0, t0 + 3000, 3),
        (0, t0 + 3500, 4),       # between records: the next one
        (0, t0 + 4000, 4),       # first record of the second batch
        (0, t0 + 9000, 9),       # last record
        (0, t0 + 9001, NO_OFFSET),
        (1, t0 + 60_000, 1),     # first record whose timestamp is >= target, in offset order
        (1, t0 + 80_000, 1),
        (1, t0 + 90_001, NO_OFFSET),
        (2, t0, NO_OFFSET),      # empty partition
    ]


P1_DELTAS = [50_000, 90_000, 70_000]


def record_ts(t0, partition, offset):
    return t0 + (offset * 1000 if partition == 0 else P1_DELTAS[offset])


EXPECTED_WATERMARKS = {0: (0, 10), 1: (0, 3), 2: (0, 0)}


@pytest.mark.parametrize("client", CLIENTS)
def test_list_offsets(broker, client, timed_topic):
    topic, t0 = timed_topic
    rows = CONSUMERS[client](broker, topic, 3, 13)  # the explicit timestamps come back as sent
    assert sorted((p, off, ts) for p, off, _, _, _, ts in rows) == (
        [(0, i, record_ts(t0, 0, i)) for i in range(10)] + [(1, i, record_ts(t0, 1, i)) for i in range(3)])
    if client == "confluent-kafka":
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer(ck_conf(broker, **{"group.id": "compat-lo", "enable.auto.commit": False}))
        try:
            marks = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)
                     for p in range(3)}
            assert marks == EXPECTED_WATERMARKS
            for p, ts, want in queries(t0):
                (res,) = c.offsets_for_times([TopicPartition(topic, p, ts)], timeout=30)
                assert res.error is None, res.error
                got = NO_OFFSET if res.offset == -1 else res.offset  # -1: OFFSET_END, none
                assert got == want, f"p{p} ts=T0{ts - t0:+d}ms: offset {got}, expected {want}"
        finally:
            c.close()
    else:
        from kafka.structs import TopicPartition as TP
        c = kp_consumer(broker)
        try:
            tps = [TP(topic, p) for p in range(3)]
            low, high = c.beginning_offsets(tps), c.end_offsets(tps)
            assert {tp.partition: (low[tp], high[tp]) for tp in tps} == EXPECTED_WATERMARKS
            for p, ts, want in queries(t0):
                res = c.offsets_for_times({TP(topic, p): ts})[TP(topic, p)]
                got = NO_OFFSET if res is None else res.offset
                assert got == want, f"p{p} ts=T0{ts - t0:+d}ms: offset {got}, expected {want}"
                if res is not None:
                    assert res.timestamp == record_ts(t0, p, want)
        finally:
            c.close()


@pytest.mark.parametrize("client", ["confluent-kafka"])
def test_list_offsets_admin(broker, client, timed_topic):
    """AdminClient.list_offsets: earliest, latest, for_timestamp, max_timestamp (KIP-734)."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    topic, t0 = timed_topic
    admin = AdminClient(ck_conf(broker))

    def ask(spec, partitions=(0, 1, 2)):
        futs = admin.list_offsets({TopicPartition(topic, p): spec for p in partitions},
                                  request_timeout=30)
        return {tp.partition: f.result(timeout=30) for tp, f in futs.items()}

    assert {p: r.offset for p, r in ask(OffsetSpec.earliest()).items()} == {0: 0, 1: 0, 2: 0}
    assert {p: r.offset for p, r in ask(OffsetSpec.latest()).items()} == {0: 10, 1: 3, 2: 0}
    by_ts = ask(OffsetSpec.for_timestamp(t0 + 3500), (0,))[0]
    assert (by_ts.offset, by_ts.timestamp) == (4, t0 + 4000)
    by_ts = ask(OffsetSpec.for_timestamp(t0 + 60_000), (1,))[1]
    assert (by_ts.offset, by_ts.timestamp) == (1, t0 + 90_000)
    mx = ask(OffsetSpec.max_timestamp(), (0, 1))
    assert (mx[0].offset, mx[0].timestamp) == (9, t0 + 9000)
    assert (mx[1].offset, mx[1].timestamp) == (1, t0 + 90_000)  # not the last record
