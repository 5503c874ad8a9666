"""gregor's HTTP gateway (--http-listen): REST Proxy v2 produce, v3 admin and produce, the
OpenAPI document, checked against real Kafka clients: records produced over HTTP are read back
with confluent-kafka (librdkafka), records produced with librdkafka are seen through v3, and
consumer-group lag over v3 matches what a librdkafka consumer committed. Keys go to the
partition Kafka's default partitioner (murmur2; librdkafka's `murmur2_random`) picks.

gregor only (Kafka has no HTTP gateway): the `gregor_only` marker makes conftest run these
against the gregor broker alone. compat-tests/run.sh starts gregor with --http-listen and
exports COMPAT_GREGOR_HTTP (HOST:PORT)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

from compat import TIMEOUT, Broker, ck_conf, ck_consume, ck_produce, create_topic, unique_topic, wait_for

pytestmark = [pytest.mark.gregor_only, pytest.mark.client("confluent-kafka")]

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"


def base() -> str:
    address = os.environ.get("COMPAT_GREGOR_HTTP")
    assert address, "COMPAT_GREGOR_HTTP (HOST:PORT of gregor's --http-listen) is not set"
    return f"http://{address}"


def post(path: str, body, content_type: str = JSON_V2) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(base() + path, data=data, headers={"Content-Type": content_type}, timeout=TIMEOUT)


def get(path: str) -> requests.Response:
    return requests.get(base() + path, timeout=TIMEOUT)


def cluster_id() -> str:
    r = get("/v3/clusters")
    assert r.status_code == 200, r.text
    return r.json()["data"][0]["cluster_id"]


def murmur2_partitions(broker: Broker, keys: list[bytes], partitions: int) -> dict[bytes, int]:
    """Where librdkafka's Java-compatible partitioner puts each key: produced to a scratch topic."""
    scratch = create_topic(broker, unique_topic("http-murmur"), partitions)
    reports = ck_produce(broker, scratch, [(k, b"x", None, None, None) for k in keys],
                         partitioner="murmur2_random")
    return {k: p for k, (p, _) in zip(keys, reports)}


def test_json_produce_is_read_by_librdkafka_with_kafkas_key_partitions(broker: Broker):
    topic = create_topic(broker, unique_topic("http-json"), 4)
    keys = [f"user-{i}" for i in range(12)]
    records = [{"key": k, "value": {"n": i, "tags": ["a", "b"]}} for i, k in enumerate(keys)]
    r = post(f"/topics/{topic}", {"records": records})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/vnd.kafka.v2+json")
    body = r.json()
    assert body["key_schema_id"] is None and body["value_schema_id"] is None
    offsets = body["offsets"]
    assert len(offsets) == len(records)
    assert all(o["error_code"] is None and o["error"] is None for o in offsets), offsets
    # The JSON format stores a key's JSON text ("user-0" with its quotes), as REST Proxy does.
    stored_keys = [json.dumps(k).encode() for k in keys]
    expected = murmur2_partitions(broker, stored_keys, 4)
    assert [o["partition"] for o in offsets] == [expected[k] for k in stored_keys]
    read = ck_consume(broker, topic, 4, len(records))
    by_position = {(p, off): (key, value) for p, off, key, value, _, _ in read}
    for i, o in enumerate(offsets):
        key, value = by_position[(o["partition"], o["offset"])]
        assert key == stored_keys[i]
        assert json.loads(value) == records[i]["value"]


def test_binary_and_plain_json_and_explicit_partitions(broker: Broker):
    topic = create_topic(broker, unique_topic("http-binary"), 3)
    raw = [(b"\x00\x01key", b"\xffbinary\x00value"), (None, b"no key")]
    records = [{"key": base64.b64encode(k).decode() if k else None, "value": base64.b64encode(v).decode()}
               for k, v in raw]
    r = post(f"/topics/{topic}/partitions/2", {"records": records}, BINARY_V2)
    assert r.status_code == 200, r.text
    assert [(o["partition"], o["offset"]) for o in r.json()["offsets"]] == [(2, 0), (2, 1)]
    # v2 topic metadata: the names, and the topic's partitions and configs.
    assert topic in get("/topics").json()
    described = get(f"/topics/{topic}").json()
    assert described["name"] == topic and "cleanup.policy" in described["configs"]
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    assert described["partitions"][0]["replicas"][0]["leader"] is True
    assert get(f"/topics/{unique_topic('http-none')}").json()["error_code"] == 40401
    # A record's own partition wins over none; plain application/json is the json format.
    r = post(f"/topics/{topic}", {"records": [{"value": "text", "partition": 1}]}, "application/json")
    assert r.status_code == 200, r.text
    assert r.json()["offsets"][0]["partition"] == 1
    read = sorted((p, off, k, v) for p, off, k, v, _, _ in ck_consume(broker, topic, 3, 3))
    assert read == [(1, 0, None, b'"text"'), (2, 0, raw[0][0], raw[0][1]), (2, 1, None, raw[1][1])]


def test_errors_are_rest_proxy_bodies(broker: Broker):
    topic = create_topic(broker, unique_topic("http-errors"), 2)
    missing = unique_topic("http-missing")
    compacted = create_topic(broker, unique_topic("http-compacted"), 1, {"cleanup.policy": "compact"})
    cases = [
        (post(f"/topics/{missing}", {"records": [{"value": 1}]}), 404, 40401),
        (post(f"/topics/{topic}/partitions/7", {"records": [{"value": 1}]}), 404, 40402),
        (post(f"/topics/{topic}/partitions/-1", {"records": [{"value": 1}]}), 404, 40402),
        (post(f"/topics/{topic}", b'{"records": [{"value": '), 400, 400),
        (post(f"/topics/{topic}", {"records": "nope"}), 422, 42203),
        (post(f"/topics/{topic}", {"records": []}), 422, 42206),
        (post(f"/topics/{topic}", {"records": [{"value": "%%%"}]}, BINARY_V2), 422, 42207),
        (post(f"/topics/{topic}", {"records": [{"value": 1}]}, "text/plain"), 415, 415),
        (post(f"/topics/{topic}", {"records": [{"value": 1}]}, "application/vnd.kafka.avro.v2+json"), 415, 415),
        # Bodies are bounded by max_message_bytes (1 MiB by default).
        (post(f"/topics/{topic}", b"x" * (2 << 20)), 413, 413),
        (get("/no/such/path"), 404, 404),
        (requests.delete(base() + "/metrics", timeout=TIMEOUT), 405, 405),
        (get(f"/v3/clusters/not-this-cluster/topics"), 404, 404),
        (get(f"/v3/clusters/{cluster_id()}/topics/{missing}"), 404, 404),
        # A record Kafka refuses (no key on a compacted topic) is the client's error, not 5xx.
        (post(f"/v3/clusters/{cluster_id()}/topics/{compacted}/records",
              {"value": {"type": "JSON", "data": 1}}, "application/json"), 400, 40002),
    ]
    for r, status, code in cases:
        assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
        body = r.json()
        assert body["error_code"] == code, body
        assert isinstance(body["message"], str) and body["message"], body
    # Nothing was appended by the refused requests.
    offsets = post(f"/topics/{topic}/partitions/0", {"records": [{"value": 1}]}).json()["offsets"]
    assert offsets[0]["offset"] == 0


def test_v3_sees_librdkafka_records_topics_and_configs(broker: Broker):
    cid = cluster_id()
    v3 = f"/v3/clusters/{cid}"
    r = get(v3)
    assert r.status_code == 200 and r.json()["kind"] == "KafkaCluster"
    assert r.json()["metadata"]["self"] == f"{base()}{v3}"
    topic = create_topic(broker, unique_topic("http-v3"), 3, {"retention.ms": "3600000"})
    ck_produce(broker, topic, [(None, b"v", None, 1, None)] * 4)
    listed = get(f"{v3}/topics").json()
    assert listed["kind"] == "KafkaTopicList"
    mine = [t for t in listed["data"] if t["topic_name"] == topic]
    assert len(mine) == 1 and mine[0]["partitions_count"] == 3 and mine[0]["kind"] == "KafkaTopic"
    partitions = get(f"{v3}/topics/{topic}/partitions").json()["data"]
    assert [p["partition_id"] for p in partitions] == [0, 1, 2]
    configs = {c["name"]: c for c in get(f"{v3}/topics/{topic}/configs").json()["data"]}
    assert configs["retention.ms"]["value"] == "3600000"
    assert configs["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert configs["cleanup.policy"]["is_default"] is True
    # v3 produce lands after librdkafka's four records, on the partition asked for.
    r = post(f"{v3}/topics/{topic}/records",
             {"partition_id": 1, "headers": [{"name": "h", "value": base64.b64encode(b"hv").decode()}],
              "key": {"type": "STRING", "data": "k"}, "value": {"type": "JSON", "data": {"a": 1}}},
             "application/json")
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["error_code"], report["partition_id"], report["offset"]) == (200, 1, 4)
    assert report["value"] == {"type": "JSON", "size": 7}
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", report["timestamp"])
    last = [row for row in ck_consume(broker, topic, 3, 5) if row[1] == 4][0]
    assert last[2:5] == (b"k", b'{"a":1}', [("h", b"hv")])


def test_v3_creates_and_deletes_topics(broker: Broker):
    v3 = f"/v3/clusters/{cluster_id()}"
    topic = unique_topic("http-created")
    r = post(f"{v3}/topics", {"topic_name": topic, "partitions_count": 2,
                              "configs": [{"name": "cleanup.policy", "value": "compact"}]}, "application/json")
    assert r.status_code == 201, r.text
    assert r.json()["partitions_count"] == 2 and r.headers["Location"].endswith(f"/topics/{topic}")
    again = post(f"{v3}/topics", {"topic_name": topic}, "application/json")
    assert (again.status_code, again.json()["error_code"]) == (400, 40002)
    # librdkafka sees the new topic.
    ck_produce(broker, topic, [(b"k", b"v", None, None, None)])
    assert get(f"{v3}/topics/{topic}").json()["partitions_count"] == 2
    assert requests.delete(f"{base()}{v3}/topics/{topic}", timeout=TIMEOUT).status_code == 204
    wait_for(lambda: get(f"{v3}/topics/{topic}").status_code == 404, "the topic gone")
    gone = requests.delete(f"{base()}{v3}/topics/{topic}", timeout=TIMEOUT)
    assert (gone.status_code, gone.json()["error_code"]) == (404, 40403)


def test_v3_consumer_group_lag_after_a_librdkafka_commit(broker: Broker):
    v3 = f"/v3/clusters/{cluster_id()}"
    topic = create_topic(broker, unique_topic("http-lag"), 2)
    group = f"compat-http-{uuid.uuid4().hex[:8]}"
    ck_produce(broker, topic, [(None, b"v", None, i % 2, None) for i in range(10)])
    consumer = Consumer(ck_conf(broker, **{
        "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 10000, "client.id": "lag-client",
    }))
    try:
        consumer.subscribe([topic])
        wait_for(lambda: consumer.poll(0.2) is not None and consumer.assignment(), "an assignment")
        consumer.commit(offsets=[TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 1)], asynchronous=False)
        g = get(f"{v3}/consumer-groups/{group}").json()
        assert g["kind"] == "KafkaConsumerGroup" and g["state"] == "STABLE", g
        assert g["partition_assignor"] and g["is_simple"] is False
        assert group in [x["consumer_group_id"] for x in get(f"{v3}/consumer-groups").json()["data"]]
        lags = get(f"{v3}/consumer-groups/{group}/lags").json()["data"]
        got = {(x["topic_name"], x["partition_id"]): (x["current_offset"], x["log_end_offset"], x["lag"]) for x in lags}
        assert got == {(topic, 0): (2, 5, 3), (topic, 1): (1, 5, 4)}, got
        assert all(x["client_id"] == "lag-client" and x["consumer_id"] for x in lags), lags
        summary = get(f"{v3}/consumer-groups/{group}/lag-summary").json()
        assert (summary["total_lag"], summary["max_lag"], summary["max_lag_partition_id"]) == (7, 4, 1)
        assert summary["max_lag_topic_name"] == topic
    finally:
        consumer.close()
    missing = get(f"{v3}/consumer-groups/no-such-group-{uuid.uuid4().hex[:6]}")
    assert (missing.status_code, missing.json()["error_code"]) == (404, 404)


def fill(path: str, values: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_openapi_lists_every_route_and_each_answers(broker: Broker):
    doc = get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    topic = create_topic(broker, unique_topic("http-openapi"), 1)
    values = {"cluster_id": cluster_id(), "topic_name": topic, "partition_id": "0",
              "consumer_group_id": "no-such-group", "group_name": unique_topic("http-openapi-group"),
              "instance": "openapi"}
    instance = "/consumers/{group_name}/instances/{instance}"
    partition = [{"topic": topic, "partition": 0}]
    bodies = {"/topics/{topic_name}": {"records": [{"value": 1}]},
              "/topics/{topic_name}/partitions/{partition_id}": {"records": [{"value": 1}]},
              "/v3/clusters/{cluster_id}/topics": {"topic_name": unique_topic("http-openapi-new")},
              "/v3/clusters/{cluster_id}/topics/{topic_name}/records": {"value": {"data": 1}},
              "/consumers/{group_name}": {"name": "openapi", "auto.offset.reset": "earliest"},
              instance + "/subscription": {"topics": [topic]},
              instance + "/assignments": {"partitions": partition},
              instance + "/positions": {"offsets": [{**partition[0], "offset": 0}]},
              instance + "/positions/beginning": {"partitions": partition},
              instance + "/positions/end": {"partitions": partition},
              instance + "/offsets": {"partitions": partition}}
    # A subscribed instance cannot also assign: it unsubscribes first.
    before = {("post", instance + "/assignments"): ("DELETE", instance + "/subscription")}
    posted = {("post", instance + "/offsets"): {"offsets": [{**partition[0], "offset": 1}]}}
    seen = 0
    # Deletions last (the subscription, the instance, then the topic the other routes use).
    deleted = {instance + "/subscription": 0, instance: 1}
    order = sorted(((p, m) for p, item in doc["paths"].items() for m in item),
                   key=lambda pm: (pm[1] == "delete", deleted.get(pm[0], 2) if pm[1] == "delete" else 0))
    for path, method in order:
        url = base() + fill(path, values)
        if (method, path) in before:
            how, where = before[(method, path)]
            requests.request(how, base() + fill(where, values), timeout=TIMEOUT)
        body = posted.get((method, path), bodies.get(path))
        r = requests.request(method.upper(), url, timeout=TIMEOUT,
                             data=json.dumps(body) if body is not None else None,
                             headers={"Content-Type": "application/json"})
        documented = doc["paths"][path][method]["responses"]
        assert str(r.status_code) in documented, (method, path, r.status_code, r.text)
        assert r.status_code < 400 or method == "get" and "group" in path, (method, path, r.status_code, r.text)
        seen += 1
    assert seen >= 32
    # And the router has no route the document does not list: an undocumented path is the
    # router's own 404 (the unit test in src/http/openapi.rs compares the route table too).
    assert get("/v3/clusters/x/brokers").json()["message"] == "HTTP 404 Not Found"


def test_schemathesis_finds_no_server_error_or_schema_violation(broker: Broker):
    """Schemathesis (PyPI) generates requests from /openapi.json: none may get a 5xx, and every
    answer must be one the document lists, with its content type and schema. The path
    parameters name real things (a topic with records, a group with commits, a subscribed
    consumer instance), so the generated requests reach the handlers, not only their 404s."""
    topic = create_topic(broker, unique_topic("http-fuzz"), 2)
    ck_produce(broker, topic, [(f"k{i}".encode(), json.dumps({"n": i}).encode(), None, i % 2, None)
                               for i in range(20)])
    lagging = unique_topic("http-fuzz-lag")
    committer = Consumer(ck_conf(broker, **{"group.id": lagging}))
    try:
        committer.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 4)],
                         asynchronous=False)
    finally:
        committer.close()
    group = unique_topic("http-fuzz-group")
    v2 = "application/vnd.kafka.v2+json"
    r = post(f"/consumers/{group}", {"name": "fuzzed", "format": "json"}, v2)
    assert r.status_code == 200, r.text
    r = post(f"/consumers/{group}/instances/fuzzed/subscription", {"topics": [topic]}, v2)
    assert r.status_code == 204, r.text
    config = "\n".join(["[parameters]", f'cluster_id = "{cluster_id()}"', f'topic_name = "{topic}"',
                        f'consumer_group_id = "{lagging}"', f'group_name = "{group}"',
                        'instance = "fuzzed"', ""])
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    with tempfile.TemporaryDirectory() as scratch:  # its example database stays out of the tree
        (Path(scratch) / "schemathesis.toml").write_text(config)
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", base() + "/openapi.json",
               "--checks", checks, "--max-examples", "15", "--request-timeout", "20",
               "--exclude-method", "DELETE", "--suppress-health-check", "all",
               "--phases", "coverage,fuzzing"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=scratch,
                                env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Configuration:" in result.stdout, result.stdout[-3000:]  # it read the parameters
    generated = re.search(r"(\d+) generated", result.stdout)
    assert generated and int(generated.group(1)) > 500, result.stdout[-3000:]
    assert "Missing test data" not in result.stdout, result.stdout[-3000:]
