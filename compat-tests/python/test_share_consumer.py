"""KIP-932's share groups with librdkafka's share consumer (confluent-kafka 2.16's
`ShareConsumer`, librdkafka 2.16):

- `share_consumer_group`: the group's share.auto.offset.reset=earliest set with
  incremental_alter_configs on the GROUP resource; three share consumers (implicit
  acknowledgement) of one group on a 2-partition topic, polled in turn: 40 records are
  delivered exactly once across them.
"""

import uuid

import pytest
from confluent_kafka import ShareConsumer

from compat import (TIMEOUT, ck_conf, ck_produce, create_topic, set_group_config, unique_topic,
                    wait_for)

CLIENT = "confluent-kafka"


@pytest.mark.parametrize("client", [CLIENT])
def test_share_consumer_group(broker, client):
    topic = create_topic(broker, unique_topic("share"), 2)
    group = "compat-share-" + uuid.uuid4().hex[:10]
    set_group_config(broker, group, "share.auto.offset.reset", "earliest")
    consumers = []
    try:
        for name in ("a", "b", "c"):
            c = ShareConsumer(ck_conf(broker, **{"group.id": group, "client.id": f"compat-share-{name}"}))
            c.subscribe([topic])
            consumers.append(c)
        ck_produce(broker, topic, [(None, f"v{i}".encode(), [], i % 2, None) for i in range(40)])
        got = []

        def poll_all():
            for c in consumers:
                for m in c.poll(0.1) or []:
                    if m.error() is None:
                        got.append((m.partition(), m.offset()))
            return len(got) >= 40

        wait_for(poll_all, "40 records across the share consumers", timeout=TIMEOUT * 2, interval=0)
        assert sorted(got) == sorted((p, o) for p in (0, 1) for o in range(20)), got
    finally:
        for c in consumers:
            c.close()
