"""Log lifecycle with confluent-kafka (librdkafka): a compacted topic read back shows only the
latest value of each key; a topic with a small retention.ms loses its old segments while a
producer keeps writing (the earliest offset moves forward); DeleteRecords through the
AdminClient moves the low watermark; an empty cleanup.policy (Kafka 4: infinite retention) keeps
every segment until `delete` is back.

Both brokers run their retention check and log cleaner every 500 ms in this suite
(compat-tests/run.sh and reference-kafka.sh), and topics roll segments every 100 ms.
"""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from compat import TIMEOUT, ck_admin, ck_conf, ck_error, ck_produce, create_topic, unique_topic, wait_for

pytestmark = pytest.mark.client("confluent-kafka")


def watermarks(broker, topic):
    consumer = Consumer(ck_conf(broker, **{"group.id": "compat-lifecycle"}))
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)
    finally:
        consumer.close()


def read_all(broker, topic):
    """Every record of partition 0 from the beginning to the high watermark."""
    low, high = watermarks(broker, topic)
    consumer = Consumer(ck_conf(broker, **{
        "group.id": "compat-lifecycle", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100,
    }))
    try:
        consumer.assign([TopicPartition(topic, 0, -2)])
        out = []
        deadline = time.monotonic() + TIMEOUT
        while (not out or out[-1][0] < high - 1) and high > low:
            assert time.monotonic() < deadline, f"read {len(out)} records up to {high}"
            msgs = consumer.consume(num_messages=1000, timeout=0.5)
            for msg in msgs:
                assert msg.error() is None, msg.error()
                out.append((msg.offset(), msg.key(), msg.value()))
            if not msgs:
                # Retention may have removed the rest meanwhile: nothing left to read.
                low, _ = consumer.get_watermark_offsets(TopicPartition(topic, 0),
                                                        timeout=TIMEOUT, cached=False)
        return out
    finally:
        consumer.close()


def test_compacted_topic_keeps_latest_values(broker):
    topic = create_topic(broker, unique_topic("compacted"), 1, {
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.001",
        "delete.retention.ms": "100",
    })
    for round_ in range(5):
        records = [(f"k{i}".encode(), f"r{round_}".encode(), [], 0, None) for i in range(10)]
        ck_produce(broker, topic, records)
        time.sleep(0.2)  # past segment.ms: the next append rolls a new segment
    # Roll once more so that the last round sits in a cleanable (non-active) segment.
    ck_produce(broker, topic, [(b"roll", b"x", [], 0, None)])

    def compacted():
        rows = [r for r in read_all(broker, topic) if r[1].startswith(b"k")]
        return rows if len(rows) == 10 else None

    rows = wait_for(compacted, "one record per key after compaction", timeout=60, interval=0.5)
    assert sorted(r[1] for r in rows) == sorted(f"k{i}".encode() for i in range(10))
    assert all(value == b"r4" for _, _, value in rows)
    # Offsets are the ones the latest values were written at.
    assert [r[0] for r in rows] == list(range(40, 50))


def test_compaction_with_tiny_segments_converges(broker):
    """Issue 18: on a topic whose segments hold a few records each (Kafka's internal topic
    config `internal.segment.bytes`, as its own tests use; `segment.bytes` has a 1 MiB minimum)
    compaction still converges to one record per key, the latest; a batch larger than a segment
    is RECORD_LIST_TOO_LARGE (gregor appended it)."""
    keys, rounds = 20, 5
    topic = create_topic(broker, unique_topic("compacted-tiny"), 1, {
        "cleanup.policy": "compact",
        "segment.bytes": "1048576",
        "internal.segment.bytes": "300",
        "min.cleanable.dirty.ratio": "0.001",
        "delete.retention.ms": "100",
    })
    for round_ in range(rounds):
        records = [(f"k{i}".encode(), f"r{round_}".encode(), [], 0, None) for i in range(keys)]
        # One record per batch: a segment holds about three.
        ck_produce(broker, topic, records, **{"batch.num.messages": 1, "linger.ms": 0})
    # A batch larger than a segment is refused (Kafka's UnifiedLog.append:
    # RecordBatchTooLargeException).
    errors = []
    p = Producer(ck_conf(broker, **{"acks": "all", "message.timeout.ms": int(TIMEOUT * 1000)}))
    p.produce(topic, key=b"big", value=b"x" * 400, on_delivery=lambda err, _msg: errors.append(err))
    assert p.flush(TIMEOUT + 5) == 0
    assert errors[0] is not None and errors[0].code() == KafkaError.RECORD_LIST_TOO_LARGE, errors
    # The last round's records must leave the active segment to be cleaned.
    ck_produce(broker, topic, [(b"roll", b"x", [], 0, None)] * 5,
               **{"batch.num.messages": 1, "linger.ms": 0})

    def compacted():
        rows = [r for r in read_all(broker, topic) if r[1].startswith(b"k")]
        return rows if len(rows) == keys else None

    rows = wait_for(compacted, "one record per key after compaction", timeout=90, interval=1)
    assert sorted(r[1] for r in rows) == sorted(f"k{i}".encode() for i in range(keys))
    assert all(value == f"r{rounds - 1}".encode() for _, _, value in rows), rows
    first = (rounds - 1) * keys
    assert [r[0] for r in rows] == list(range(first, first + keys))


def test_retention_moves_earliest_offset(broker):
    # Retention of 3 s: old segments go while the producer writes, and a read right after
    # still finds the newest records (with 1 s, a slow machine saw them all go first).
    topic = create_topic(broker, unique_topic("retention"), 1, {
        "retention.ms": "3000",
        "segment.ms": "100",
    })
    sent = 0
    deadline = time.monotonic() + 60
    while True:
        ck_produce(broker, topic, [(b"k", f"v{sent + i}".encode(), [], 0, None) for i in range(5)])
        sent += 5
        low, high = watermarks(broker, topic)
        if low > 0:
            break
        assert time.monotonic() < deadline, f"earliest offset still 0 after {sent} records"
        time.sleep(0.2)
    assert 0 < low <= high <= sent
    # Retention keeps running: a read from the beginning starts at or after that low mark and
    # is contiguous from there.
    rows = read_all(broker, topic)
    assert rows, "retention removed every record before the read"
    first = rows[0][0]
    assert first >= low
    assert [r[2] for r in rows] == [f"v{o}".encode() for o in range(first, first + len(rows))]


def test_delete_records(broker):
    topic = create_topic(broker, unique_topic("delete-records"), 1)
    ck_produce(broker, topic, [(b"k", f"v{i}".encode(), [], 0, None) for i in range(10)])
    admin = ck_admin(broker)
    result = admin.delete_records([TopicPartition(topic, 0, 4)])
    deleted = list(result.values())[0].result(timeout=TIMEOUT)
    assert deleted.low_watermark == 4
    assert watermarks(broker, topic) == (4, 10)
    rows = read_all(broker, topic)
    assert [r[0] for r in rows] == list(range(4, 10))
    # Beyond the high watermark: OFFSET_OUT_OF_RANGE.
    result = admin.delete_records([TopicPartition(topic, 0, 11)])
    with pytest.raises(Exception) as err:
        list(result.values())[0].result(timeout=TIMEOUT)
    assert "OFFSET_OUT_OF_RANGE" in str(err.value) or "out of range" in str(err.value).lower()
    # -1 (OFFSET_END): up to the high watermark.
    result = admin.delete_records([TopicPartition(topic, 0, -1)])
    assert list(result.values())[0].result(timeout=TIMEOUT).low_watermark == 10


def test_empty_cleanup_policy_keeps_everything(broker):
    """Kafka 4 accepts an empty cleanup.policy (IncrementalAlterConfigs SUBTRACT of `delete`, or
    SET ""): no retention and no compaction, segments kept indefinitely (TopicConfig's doc,
    UnifiedLog.deleteOldSegments); keyless records are fine (not compacted) and DeleteRecords
    still moves the low watermark (Partition.deleteRecordsOnLeader refuses only compact without
    delete). Putting `delete` back lets retention.ms take the old segments."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    topic = create_topic(broker, unique_topic("empty-policy"), 1, {
        "retention.ms": "1000",
        "segment.ms": "100",
    })
    admin = ck_admin(broker)
    resource = ConfigResource(ResourceType.TOPIC, topic)

    def alter(op, value):
        r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry("cleanup.policy", value, incremental_operation=op)])
        (f,) = admin.incremental_alter_configs([r]).values()
        return ck_error(f)

    def policy():
        (f,) = admin.describe_configs([resource]).values()
        return f.result(timeout=TIMEOUT)["cleanup.policy"].value

    assert alter(AlterConfigOpType.SUBTRACT, "delete") is None
    wait_for(lambda: policy() == "", "cleanup.policy empty after SUBTRACT delete")

    # Keyless records (the topic is not compacted), 5 at a time, segments rolling every 100 ms,
    # for 3 s: with retention.ms=1000 and the 500 ms retention check, `delete` would have
    # dropped the first segments by then.
    sent = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        ck_produce(broker, topic, [(None, f"v{sent + i}".encode(), [], 0, None) for i in range(5)])
        sent += 5
        time.sleep(0.2)
    time.sleep(1.5)
    assert watermarks(broker, topic) == (0, sent)
    rows = read_all(broker, topic)
    assert [r[2] for r in rows] == [f"v{o}".encode() for o in range(sent)]

    result = admin.delete_records([TopicPartition(topic, 0, 3)])
    assert list(result.values())[0].result(timeout=TIMEOUT).low_watermark == 3
    assert watermarks(broker, topic) == (3, sent)

    assert alter(AlterConfigOpType.SET, "") is None
    assert policy() == ""

    # `delete` back: retention takes the old segments.
    assert alter(AlterConfigOpType.APPEND, "delete") is None
    wait_for(lambda: policy() == "delete", "cleanup.policy delete again")
    low = wait_for(lambda: (lambda w: w[0] if w[0] > 3 else None)(watermarks(broker, topic)),
                   "retention to move the low watermark once delete is back", timeout=60, interval=0.5)
    assert 3 < low <= sent
