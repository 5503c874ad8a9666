"""REST Proxy v2 consumer instances on gregor's HTTP gateway (--http-listen): create, subscribe
(the instance joins its group with the KIP-848 protocol), read, commit, resume after a commit,
assign and seek, delete — the calls Confluent REST Proxy's users make, as its documentation
gives them. Records come from librdkafka, and what an instance commits is what a librdkafka
consumer of the same group reads from.

gregor only (Kafka has no HTTP gateway)."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

from compat import TIMEOUT, Broker, ck_conf, ck_produce, create_topic, unique_topic
from test_http_gateway import base

pytestmark = [pytest.mark.gregor_only, pytest.mark.client("confluent-kafka")]

V2 = "application/vnd.kafka.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"
JSON = "application/vnd.kafka.json.v2+json"


def call(method: str, path: str, body=None, accept: str | None = None) -> requests.Response:
    headers = {"Content-Type": V2}
    if accept:
        headers["Accept"] = accept
    return requests.request(method, base() + path, data=None if body is None else json.dumps(body),
                            headers=headers, timeout=TIMEOUT)


def make(group: str, name: str, **settings) -> str:
    r = call("POST", f"/consumers/{group}", {"name": name, **settings})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["instance_id"] == name
    assert body["base_uri"].endswith(f"/consumers/{group}/instances/{name}"), body
    return f"/consumers/{group}/instances/{name}"


def read_until(instance: str, count: int, accept: str = BINARY) -> list[dict]:
    """GET records until `count` have come (each call waits at most a second)."""
    got: list[dict] = []
    deadline = time.monotonic() + TIMEOUT * 2
    while len(got) < count:
        assert time.monotonic() < deadline, f"read {len(got)} of {count} records"
        r = call("GET", f"{instance}/records?timeout=1000", accept=accept)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith(accept)
        got.extend(r.json())
    return got


def test_a_subscribed_instance_reads_commits_and_the_group_resumes(broker: Broker):
    topic = create_topic(broker, unique_topic("http-consumer"), 2)
    group = unique_topic("http-group")
    sent = [(f"k{i}".encode(), b"\x00value-" + str(i).encode(), None, i % 2, None) for i in range(20)]
    reports = ck_produce(broker, topic, sent)
    instance = make(group, "first", format="binary", **{"auto.offset.reset": "earliest",
                                                         "auto.commit.enable": "false"})
    assert call("POST", f"{instance}/subscription", {"topics": [topic]}).status_code == 204
    assert call("GET", f"{instance}/subscription").json() == {"topics": [topic]}
    records = read_until(instance, len(sent))
    assert len(records) == len(sent)
    got = {(r["partition"], r["offset"]): (base64.b64decode(r["key"]), base64.b64decode(r["value"]))
           for r in records}
    assert all(r["topic"] == topic for r in records)
    assert got == {report: (k, v) for report, (k, v, _, _, _) in zip(reports, sent)}
    assignment = call("GET", f"{instance}/assignments").json()["partitions"]
    assert sorted((p["topic"], p["partition"]) for p in assignment) == [(topic, 0), (topic, 1)]
    # Nothing committed yet (auto commit off); then commit every position read.
    asked = {"partitions": [{"topic": topic, "partition": p} for p in (0, 1)]}
    assert call("GET", f"{instance}/offsets", asked).json() == {"offsets": []}
    assert call("POST", f"{instance}/offsets").status_code == 200
    committed = call("GET", f"{instance}/offsets", asked).json()["offsets"]
    assert sorted((o["partition"], o["offset"]) for o in committed) == [(0, 10), (1, 10)]
    # A librdkafka consumer of the group sees the same commits.
    reader = Consumer(ck_conf(broker, **{"group.id": group}))
    try:
        seen = reader.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=TIMEOUT)
        assert sorted((tp.partition, tp.offset) for tp in seen) == [(0, 10), (1, 10)]
    finally:
        reader.close()
    assert call("DELETE", instance).status_code == 204
    assert call("GET", f"{instance}/records", accept=BINARY).json()["error_code"] == 40403

    # A new instance of the group resumes after the commit: only what came since.
    later = [(b"late", f"late-{i}".encode(), None, i % 2, None) for i in range(4)]
    ck_produce(broker, topic, later)
    again = make(group, "second", **{"auto.offset.reset": "earliest"})
    assert call("POST", f"{again}/subscription", {"topics": [topic]}).status_code == 204
    rest = read_until(again, len(later))
    assert sorted(base64.b64decode(r["value"]) for r in rest) == sorted(v for _, v, _, _, _ in later)
    # Auto commit (the default) commits what was read at the next read and at close.
    call("GET", f"{again}/records?timeout=0", accept=BINARY)
    assert call("DELETE", again).status_code == 204
    reader = Consumer(ck_conf(broker, **{"group.id": group}))
    try:
        seen = reader.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=TIMEOUT)
        assert sorted((tp.partition, tp.offset) for tp in seen) == [(0, 12), (1, 12)]
    finally:
        reader.close()


def test_an_assigned_json_instance_seeks_and_answers_errors_as_rest_proxy(broker: Broker):
    topic = create_topic(broker, unique_topic("http-assign"), 1)
    values = [{"n": i} for i in range(5)]
    ck_produce(broker, topic, [(None, json.dumps(v).encode(), None, 0, None) for v in values])
    group = unique_topic("http-group")
    instance = make(group, "json", format="json")
    # Errors before it reads anything: REST Proxy's codes.
    again = call("POST", f"/consumers/{group}", {"name": "json"})
    assert (again.status_code, again.json()["error_code"]) == (409, 40902)
    idle = call("GET", f"{instance}/records", accept=JSON)
    assert (idle.status_code, idle.json()["error_code"]) == (409, 40903)
    bad = call("POST", f"/consumers/{group}", {"format": "avro"})
    assert (bad.status_code, bad.json()["error_code"]) == (422, 42204)
    gone = call("POST", f"/consumers/{group}/instances/nobody/subscription", {"topics": [topic]})
    assert (gone.status_code, gone.json()["error_code"]) == (404, 40403)

    partitions = {"partitions": [{"topic": topic, "partition": 0}]}
    assert call("POST", f"{instance}/assignments", partitions).status_code == 204
    assert call("GET", f"{instance}/assignments").json() == partitions
    # auto.offset.reset is latest by default: nothing to read until it seeks.
    assert call("GET", f"{instance}/records?timeout=200", accept=JSON).json() == []
    assert call("POST", f"{instance}/positions/beginning", partitions).status_code == 204
    records = read_until(instance, len(values), accept=JSON)
    assert [(r["offset"], r["value"], r["key"]) for r in records] == [
        (i, v, None) for i, v in enumerate(values)]
    assert call("POST", f"{instance}/positions",
                {"offsets": [{"topic": topic, "partition": 0, "offset": 3}]}).status_code == 204
    assert [r["offset"] for r in read_until(instance, 2, accept=JSON)] == [3, 4]
    assert call("POST", f"{instance}/positions/beginning", partitions).status_code == 204
    # max_bytes bounds an answer (at least one record comes).
    first = call("GET", f"{instance}/records?timeout=1000&max_bytes=1", accept=JSON).json()
    assert [r["offset"] for r in first] == [0]
    # The other embedded format is refused; so is a partition not assigned.
    wrong = call("GET", f"{instance}/records", accept=BINARY)
    assert (wrong.status_code, wrong.json()["error_code"]) == (406, 40601)
    elsewhere = call("POST", f"{instance}/positions", {"offsets": [{"topic": topic, "partition": 5, "offset": 0}]})
    assert (elsewhere.status_code, elsewhere.json()["error_code"]) == (409, 40903)
    # An explicit commit, read back.
    assert call("POST", f"{instance}/offsets",
                {"offsets": [{"topic": topic, "partition": 0, "offset": 2}]}).status_code == 200
    assert call("GET", f"{instance}/offsets", partitions).json()["offsets"] == [
        {"topic": topic, "partition": 0, "offset": 2, "metadata": ""}]
    assert call("DELETE", instance).status_code == 204
    assert call("DELETE", instance).json()["error_code"] == 40403


def test_a_topic_pattern_subscription_reads_every_matching_topic(broker: Broker):
    """`{"topic_pattern": ...}`: the group's coordinator matches the regex (KIP-848's
    SubscribedTopicRegex, whole names) and assigns the matching topics' partitions."""
    prefix = unique_topic("http-pattern")
    topics = [create_topic(broker, f"{prefix}-{s}", 2) for s in ("a", "b")]
    other = create_topic(broker, f"{prefix}x-c", 1)
    for t in (*topics, other):
        ck_produce(broker, t, [(None, f"{t}/{i}".encode(), None, i % 2 if t != other else 0, None)
                               for i in range(4)])
    group = unique_topic("http-group")
    instance = make(group, "pattern", format="binary", **{"auto.offset.reset": "earliest"})
    wrong = call("POST", f"{instance}/subscription", {"topic_pattern": "("})
    assert (wrong.status_code, wrong.json()["error_code"]) == (422, 42204), wrong.text
    both = call("POST", f"{instance}/subscription", {"topics": [other], "topic_pattern": ".*"})
    assert (both.status_code, both.json()["error_code"]) == (409, 40903), both.text
    pattern = re.escape(prefix) + "-[ab]"
    assert call("POST", f"{instance}/subscription", {"topic_pattern": pattern}).status_code == 204
    records = read_until(instance, 8)
    assert sorted(base64.b64decode(r["value"]).decode() for r in records) == sorted(
        f"{t}/{i}" for t in topics for i in range(4))
    assert call("GET", f"{instance}/subscription").json() == {"topics": sorted(topics)}
    assert call("DELETE", instance).status_code == 204
