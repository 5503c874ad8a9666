"""Idempotent producing (InitProducerId, then Produce with producer id, epoch and sequence
numbers): librdkafka with enable.idempotence=true, and kafka-python with its defaults (≥3.0 is
idempotent by default, like the Java client; CLIENTS.md gotcha 8)."""

import pytest

from compat import CONSUMERS, by_partition, ck_produce, create_topic, kp_produce, unique_topic


@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python"])
def test_idempotent_produce(broker, client):
    topic = create_topic(broker, unique_topic("idem"), 2)
    records = [(f"order-{i % 8}".encode(), f"event {i}".encode(), [("seq", str(i).encode())],
                None, None) for i in range(200)]
    if client == "confluent-kafka":
        reports = ck_produce(broker, topic, records, **{"enable.idempotence": True})
    else:
        # the client's defaults: idempotence on, acks=all
        reports = kp_produce(broker, topic, records, enable_idempotence=True)
    per_part = by_partition([(p, o) for p, o in reports])
    for p, rows in per_part.items():
        assert [o for _, o in rows] == list(range(len(rows))), f"partition {p}"
    got = CONSUMERS[client](broker, topic, 2, len(records))
    want = sorted((p, o, k, v, h) for (k, v, h, _, _), (p, o) in zip(records, reports))
    assert sorted(r[:5] for r in got) == want
