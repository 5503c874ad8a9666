"""The HTTP gateway's users (issue 19): REST API requests carry HTTP Basic credentials of the
broker's users and run as them, so the broker's ACLs decide what each may do, as for a Kafka
client. The broker is mqttbrokers' secured gregor (users alice, bob and admin; ACLs: alice
reads and writes `sensors` and reads the groups `mqtt-*`, bob only reads `sensors`), started
with --http-listen and --https-listen (the same endpoints over TLS, with the broker's
certificate). Without credentials a request gets 401 while the broker has users, unless
--http-allow-anonymous; /metrics and /health never ask.

gregor only (Kafka has no HTTP gateway)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
import requests

from compat import TIMEOUT, free_port
from mqttbrokers import USERS, MqttBroker

pytestmark = [pytest.mark.gregor_only, pytest.mark.client("requests"),
              pytest.mark.single_broker("starts a secured gregor of its own")]

V2 = "application/vnd.kafka.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"
ALICE = ("alice", USERS["alice"])
BOB = ("bob", USERS["bob"])


class Http:
    def __init__(self, *extra: str):
        self.port = free_port()
        self.https_port = free_port()
        self.broker = MqttBroker("gregor", secure=True,
                                 extra_args=("--http-listen", f"127.0.0.1:{self.port}",
                                             "--https-listen", f"127.0.0.1:{self.https_port}",
                                             *extra))

    def call(self, method: str, path: str, body=None, auth=None, content_type: str = V2,
             accept: str | None = None) -> requests.Response:
        headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
        return requests.request(method, f"http://127.0.0.1:{self.port}{path}", auth=auth,
                                data=None if body is None else json.dumps(body),
                                headers=headers, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def http():
    h = Http()
    yield h
    h.broker.close()


def produce(http: Http, auth, value: bytes) -> requests.Response:
    records = {"records": [{"value": base64.b64encode(value).decode()}]}
    return http.call("POST", "/topics/sensors/partitions/0", records, auth, BINARY)


def test_requests_without_or_with_wrong_credentials_get_401(broker, http):
    for auth in (None, ("alice", "wrong"), ("nobody", "x")):
        r = http.call("GET", "/topics", auth=auth)
        assert r.status_code == 401, r.text
        assert r.json()["error_code"] == 40101
        assert r.headers["WWW-Authenticate"].startswith("Basic")
    bearer = requests.get(f"http://127.0.0.1:{http.port}/topics", timeout=TIMEOUT,
                          headers={"Authorization": "Bearer abc"})
    assert bearer.status_code == 401
    # Prometheus and health checks need no password; nor does the API's description.
    for path in ("/metrics", "/health", "/openapi.json"):
        assert http.call("GET", path).status_code == 200, path


def test_each_user_does_what_the_acls_allow(broker, http):
    assert produce(http, ALICE, b"from alice").status_code == 200
    denied = produce(http, BOB, b"from bob")
    assert denied.status_code == 403, denied.text
    assert denied.json()["offsets"][0]["error_code"] == 40301
    # Topic lists are what each may describe: alice and bob see sensors, not alerts (no ACL).
    assert "sensors" in http.call("GET", "/topics", auth=BOB).json()
    assert "alerts" not in http.call("GET", "/topics", auth=ALICE).json()
    assert "alerts" in http.call("GET", "/topics", auth=("admin", "admin-secret")).json()

    # alice reads through a consumer instance in a group she may read.
    group = f"mqtt-http-{uuid.uuid4().hex[:8]}"
    r = http.call("POST", f"/consumers/{group}", {"name": "a", "format": "binary",
                                                  "auto.offset.reset": "earliest"}, ALICE)
    assert r.status_code == 200, r.text
    instance = f"/consumers/{group}/instances/a"
    partition = {"partitions": [{"topic": "sensors", "partition": 0}]}
    assert http.call("POST", f"{instance}/assignments", partition, ALICE).status_code == 204
    values: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    while b"from alice" not in values:
        assert time.monotonic() < deadline, values
        r = http.call("GET", f"{instance}/records?timeout=500", auth=ALICE, accept=BINARY)
        assert r.status_code == 200, r.text
        values += [base64.b64decode(x["value"]) for x in r.json()]
    assert b"from bob" not in values
    # The instance is alice's: bob may neither read from it nor delete it.
    for method, path in (("GET", f"{instance}/records"), ("DELETE", instance)):
        r = http.call(method, path, auth=BOB, accept=BINARY)
        assert (r.status_code, r.json()["error_code"]) == (403, 40301), (method, r.text)
    # Committing into that group needs READ on it: bob has none on mqtt-* groups.
    r = http.call("POST", f"/consumers/{group}", {"name": "b", "format": "binary"}, BOB)
    assert r.status_code == 200, r.text
    assert http.call("POST", f"/consumers/{group}/instances/b/assignments", partition,
                     BOB).status_code == 204
    r = http.call("POST", f"/consumers/{group}/instances/b/offsets",
                  {"offsets": [{"topic": "sensors", "partition": 0, "offset": 1}]}, BOB)
    assert r.status_code == 403, r.text
    assert http.call("DELETE", f"/consumers/{group}/instances/b", auth=BOB).status_code == 204
    assert http.call("DELETE", instance, auth=ALICE).status_code == 204


def test_anonymous_requests_when_allowed(broker):
    """--http-allow-anonymous: no credentials is User:ANONYMOUS, whom the ACLs allow nothing;
    wrong credentials are still refused."""
    h = Http("--http-allow-anonymous")
    try:
        assert h.call("GET", "/topics").json() == []
        r = produce(h, None, b"anonymous")
        assert r.status_code == 403, r.text
        assert produce(h, ("alice", "wrong"), b"x").status_code == 401
        assert produce(h, ALICE, b"from alice").status_code == 200
    finally:
        h.broker.close()


def test_https_serves_the_same_api_with_the_brokers_certificate(broker, http):
    base = f"https://127.0.0.1:{http.https_port}"
    ca = str(http.broker.certs.ca)
    records = {"records": [{"value": base64.b64encode(b"over tls").decode()}]}
    r = requests.post(f"{base}/topics/sensors/partitions/0", auth=ALICE, verify=ca,
                      data=json.dumps(records), headers={"Content-Type": BINARY}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    offset = r.json()["offsets"][0]["offset"]
    assert offset >= 0
    # The same users and ACLs as on the plain port.
    assert requests.get(f"{base}/topics", verify=ca, timeout=TIMEOUT).status_code == 401
    denied = requests.post(f"{base}/topics/sensors/partitions/0", auth=BOB, verify=ca,
                           data=json.dumps(records), headers={"Content-Type": BINARY},
                           timeout=TIMEOUT)
    assert denied.status_code == 403, denied.text
    assert requests.get(f"{base}/health", verify=ca, timeout=TIMEOUT).text.strip() == "ok"
    # One log behind both ports: the next record over plain HTTP lands right after it (if
    # no other test wrote in between: they run one at a time).
    after = produce(http, ALICE, b"over plain http")
    assert after.status_code == 200, after.text
    assert after.json()["offsets"][0]["offset"] == offset + 1
    # A client that does not trust the broker's CA is refused, and plain HTTP to it fails.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/health", timeout=TIMEOUT)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{http.https_port}/health", timeout=TIMEOUT)
