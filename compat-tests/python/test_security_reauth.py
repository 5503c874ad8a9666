"""KIP-368 re-authentication (connections.max.reauth.ms = 6000 on both brokers; gregor:
`--connections-max-reauth-ms 6000`) beside OAUTHBEARER (test_security_oauth.py's keys and
settings), and an OAUTHBEARER session's end from its token on the `oauth` pair (no max).

| scenario | what is asserted |
|---|---|
| reauth_clients[mechanism] | a confluent-kafka producer and consumer (SCRAM-SHA-512, OAUTHBEARER) keep working for ~15 s across re-authentications: every record is delivered and read back, librdkafka logs "session lifetime 6000 ms" and at least 2 re-authentications; on gregor its metrics count them and no connection was closed as expired |
| reauth_wire | raw protocol: PLAIN → session_lifetime_ms 6000; OAUTHBEARER with a 600 s token → 6000, with a token ending in ~2 s → at most that; a second SaslHandshake + SaslAuthenticate after 1 s re-authenticates (6000 again); past the end a Metadata request closes the connection unanswered; another user on re-authentication → 58 and closed |
| oauth_session_lifetime | without connections.max.reauth.ms, an OAUTHBEARER session's lifetime is its token's remaining life (Kafka's SaslServerAuthenticator) |
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import time
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from compat import TIMEOUT
from test_security_authn import create, frame, handshake, recv_frame
from test_security_oauth import authenticate, ck_oauth, client_first, oauth, oauth_fixture, token  # noqa: F401

pytestmark = pytest.mark.timeout(300)

# Long enough that a client re-authenticating at 85–95% of it keeps a margin of ≥ 300 ms on a
# loaded CI machine; short enough for a few re-authentications within the test.
REAUTH_MS = 6000

METRICS_PORT = int(os.environ.get("COMPAT_GREGOR_PORT", "19092")) + 75
reauth = oauth_fixture("reauth", 70,
                       ["--connections-max-reauth-ms", str(REAUTH_MS), "--metrics-listen",
                        f"127.0.0.1:{METRICS_PORT}"],
                       {"connections.max.reauth.ms": str(REAUTH_MS)})


def gregor_metric(name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in gregor's metrics")


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.mark.client("confluent-kafka")
@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "OAUTHBEARER"])
def test_reauth_clients(broker, reauth, mechanism):
    base = reauth.ck("SASL_SSL") if mechanism != "OAUTHBEARER" else ck_oauth(reauth, "SASL_SSL")
    topic = f"compat.reauth-{mechanism.lower()}.{uuid.uuid4().hex[:10]}"
    create(reauth.ck("SASL_SSL"), topic)
    before = (gregor_metric("gregor_sasl_reauthentications_total"),
              gregor_metric("gregor_connections_expired_total")) if broker.name == "gregor" else None
    log = Lines()
    logger = logging.getLogger(f"rdkafka-reauth-{uuid.uuid4().hex}")
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    conf = {**base, "debug": "security,broker"}
    producer = Producer({**conf, "acks": "all", "linger.ms": 5}, logger=logger)
    consumer = Consumer({**conf, "group.id": "reauth-" + uuid.uuid4().hex, "enable.auto.commit": False},
                        logger=logger)
    consumer.assign([TopicPartition(topic, p, -2) for p in range(2)])
    errors, sent, got = [], 0, []
    try:
        start = time.monotonic()
        while time.monotonic() - start < 2.5 * REAUTH_MS / 1000:
            producer.produce(topic, value=f"v{sent}".encode(), on_delivery=lambda e, m: e and errors.append(e))
            sent += 1
            producer.poll(0)
            for m in consumer.consume(100, 0.2):
                if not m.error():
                    got.append(m.value())
        assert producer.flush(TIMEOUT) == 0 and not errors, errors
        deadline = time.monotonic() + TIMEOUT
        while len(got) < sent and time.monotonic() < deadline:
            got += [m.value() for m in consumer.consume(100, 0.5) if not m.error()]
        assert sorted(got) == sorted(f"v{i}".encode() for i in range(sent)), f"read {len(got)}/{sent}"
    finally:
        consumer.close()
    lifetimes = [l for l in log.lines if f"Received session lifetime {REAUTH_MS} ms" in l]
    reauths = [l for l in log.lines if "UP -> REAUTH" in l]
    assert len(lifetimes) >= 3 and len(reauths) >= 2, (len(lifetimes), len(reauths))
    if before is not None:
        assert gregor_metric("gregor_sasl_reauthentications_total") - before[0] >= 2
        assert gregor_metric("gregor_connections_expired_total") == before[1]


@pytest.mark.client("raw")
def test_reauth_wire(broker, reauth):
    host, port = reauth.address("SASL_PLAINTEXT").rsplit(":", 1)
    connect = lambda: socket.create_connection((host, int(port)), timeout=TIMEOUT)  # noqa: E731

    def plain(s, user, cid):
        assert handshake(s, "PLAIN", 1, cid)[0] == 0
        return authenticate(s, f"\0{user}\0{user}-secret".encode(), cid + 1)

    with connect() as s:
        error, _, _, lifetime = plain(s, "alice", 1)
        assert (error, lifetime) == (0, REAUTH_MS)
        time.sleep(1.2)
        error, _, _, lifetime = plain(s, "alice", 3)
        assert (error, lifetime) == (0, REAUTH_MS), "re-authentication"
        s.sendall(frame(3, 1, 5, struct.pack(">i", -1)))
        resp = recv_frame(s)
        assert resp is not None and struct.unpack(">i", resp[:4]) == (5,)
        time.sleep(REAUTH_MS / 1000 + 0.5)
        s.sendall(frame(3, 1, 6, struct.pack(">i", -1)))
        assert recv_frame(s) is None, "answered after the session ended"
    # OAUTHBEARER: the least of the maximum and the token's remaining life.
    with connect() as s:
        assert handshake(s, "OAUTHBEARER", 1)[0] == 0
        error, _, _, lifetime = authenticate(s, client_first(token(lifetime=600)), 2)
        assert (error, lifetime) == (0, REAUTH_MS)
    with connect() as s:
        assert handshake(s, "OAUTHBEARER", 1)[0] == 0
        error, _, _, lifetime = authenticate(s, client_first(token(lifetime=2)), 2)
        assert error == 0 and 0 <= lifetime <= 2000, lifetime
    # Another principal on re-authentication: refused, closed.
    with connect() as s:
        assert plain(s, "alice", 1)[0] == 0
        time.sleep(1.2)
        error, message, _, _ = plain(s, "bob", 3)
        assert error == 58 and "alice" in message and "bob" in message, message
        assert recv_frame(s) is None


@pytest.mark.client("raw")
def test_oauth_session_lifetime(broker, oauth):
    host, port = oauth.address("SASL_PLAINTEXT").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
        assert handshake(s, "OAUTHBEARER", 1)[0] == 0
        error, _, _, lifetime = authenticate(s, client_first(token(lifetime=600)), 2)
        assert error == 0 and 590_000 <= lifetime <= 600_000, lifetime
