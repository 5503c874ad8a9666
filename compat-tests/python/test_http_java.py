"""The HTTP gateway and the Java client (issue 19): records produced over HTTP (REST Proxy v2
json and binary, v3 records) are read by the Java client's KafkaConsumer, and records the Java
client's KafkaProducer writes are read back through a v2 consumer instance, with their offsets,
keys and values. compat-tests/java's `write` and `read` scenarios are the Java side.

gregor only (Kafka has no HTTP gateway)."""

from __future__ import annotations

import base64

import pytest

from compat import Broker, create_topic, unique_topic
from test_http_consumers import BINARY, call, make, read_until
from test_http_gateway import BINARY_V2, cluster_id, post
from test_hostile_produce import java_consume
from test_java import java_compat  # noqa: F401 - the fixture java_consume and the writer ask for
from cli_scenarios import run_scenario
from test_java import JAVA_DIR

pytestmark = [pytest.mark.gregor_only, pytest.mark.client("java")]


def test_http_produced_records_are_read_by_the_java_consumer(request, broker: Broker):
    topic = create_topic(broker, unique_topic("http-java"), 1)
    binary = [{"key": base64.b64encode(f"bk{i}".encode()).decode(),
               "value": base64.b64encode(f"bv{i}".encode()).decode()} for i in range(3)]
    r = post(f"/topics/{topic}", {"records": binary}, BINARY_V2)
    assert r.status_code == 200, r.text
    r = post(f"/topics/{topic}/partitions/0", {"records": [{"key": "jk", "value": {"n": 7}}]})
    assert r.status_code == 200, r.text
    v3 = {"key": {"type": "STRING", "data": "sk"}, "value": {"type": "STRING", "data": "sv"}}
    r = post(f"/v3/clusters/{cluster_id()}/topics/{topic}/records", v3, "application/json")
    assert r.status_code == 200, r.text
    assert (r.json()["partition_id"], r.json()["offset"]) == (0, 4)

    got = java_consume(request, broker, topic, 5)
    assert [(offset, key, value) for _, offset, key, value in got] == [
        (0, b"bk0", b"bv0"), (1, b"bk1", b"bv1"), (2, b"bk2", b"bv2"),
        (3, b'"jk"', b'{"n":7}'), (4, b"sk", b"sv")]


def test_java_produced_records_are_read_over_http(request, broker: Broker):
    topic = create_topic(broker, unique_topic("java-http"), 1)
    count = 25
    out = run_scenario(request.getfixturevalue("java_compat"), "java", f"write:{topic}:{count}",
                       broker, JAVA_DIR)
    acks = [int(line.split()[1]) for line in out.splitlines() if line.startswith("ack ")]
    assert acks == list(range(count))

    instance = make(unique_topic("java-http-group"), "reader", format="binary")
    partition = {"partitions": [{"topic": topic, "partition": 0}]}
    assert call("POST", f"{instance}/assignments", partition).status_code == 204
    assert call("POST", f"{instance}/positions/beginning", partition).status_code == 204
    records = read_until(instance, count, accept=BINARY)
    assert [(r["partition"], r["offset"], base64.b64decode(r["key"]), base64.b64decode(r["value"]))
            for r in records] == [(0, i, f"jk{i}".encode(), f"jv{i}".encode()) for i in range(count)]
    assert call("DELETE", instance).status_code == 204
