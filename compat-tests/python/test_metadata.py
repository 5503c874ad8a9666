"""Metadata: the homework topic exists with 2 partitions, and the cluster is exactly one broker
advertising the address the client dialled."""

import pytest

from compat import HOMEWORK_TOPIC, ck_admin, kp_admin


@pytest.mark.single_broker("checks a one-node cluster")
@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python"])
def test_metadata(broker, client):
    if client == "confluent-kafka":
        check_confluent(broker)
    else:
        check_kafka_python(broker)


def check_confluent(broker):
    md = ck_admin(broker).list_topics(timeout=30)
    assert [(b.host, b.port) for b in md.brokers.values()] == [(broker.host, broker.port)]
    (node_id,) = md.brokers
    assert md.controller_id == node_id
    assert md.cluster_id, "cluster id should be set"

    t = md.topics.get(HOMEWORK_TOPIC)
    assert t is not None, f"{HOMEWORK_TOPIC} missing; topics: {sorted(md.topics)}"
    assert t.error is None
    assert sorted(t.partitions) == [0, 1]
    for p in t.partitions.values():
        assert p.error is None
        assert p.leader == node_id
        assert p.replicas == [node_id]
        assert p.isrs == [node_id]


def check_kafka_python(broker):
    admin = kp_admin(broker)
    try:
        cluster = admin.describe_cluster()
        brokers = [(b["host"], b["port"]) for b in cluster["brokers"]]
        assert brokers == [(broker.host, broker.port)]
        node_id = cluster["brokers"][0]["broker_id"]
        assert cluster["controller_id"] == node_id
        assert cluster["cluster_id"]

        assert HOMEWORK_TOPIC in admin.list_topics()
        (t,) = admin.describe_topics([HOMEWORK_TOPIC])
        assert t["error_code"] == 0
        assert t["is_internal"] is False
        parts = sorted(t["partitions"], key=lambda p: p["partition_index"])
        assert [p["partition_index"] for p in parts] == [0, 1]
        for p in parts:
            assert p["error_code"] == 0
            assert p["leader_id"] == node_id
            assert p["replica_nodes"] == [node_id]
            assert p["isr_nodes"] == [node_id]
    finally:
        admin.close()
