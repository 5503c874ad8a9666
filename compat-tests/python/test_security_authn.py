"""Authentication against a secured gregor and a secured reference Kafka configured alike
(secured.py): SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 on SASL_PLAINTEXT and SASL_SSL, mutual
TLS on SSL, with real clients; wrong passwords, unknown users, clients without credentials,
untrusted certificates, garbage and plaintext on TLS ports fail cleanly and the broker keeps
serving others; SCRAM credentials managed through the Admin API and kafka-configs.

| scenario | what is asserted |
|---|---|
| sasl_roundtrip[listener,mechanism] | confluent-kafka produces 20 keyed records and reads them back over the listener as alice |
| kafka_python_roundtrip[listener,mechanism] | the same with kafka-python |
| kcat_roundtrip[listener,mechanism] | the same with kcat (-X security settings; PLAIN: Debian's kcat fails SCRAM on Kafka too) |
| ssl_client_certificate | confluent-kafka, kafka-python and kcat produce and consume over SSL with the client certificate |
| bad_credentials[mechanism,who] | a wrong password / an unknown user: librdkafka reports an authentication error (SASL_AUTHENTICATION_FAILED, a message naming no user), alice still works |
| no_credentials | a PLAINTEXT client on the SASL port gets nothing; an SSL client without a certificate or with an untrusted one fails the handshake; alice still works |
| garbage_and_plaintext_on_tls | random bytes and a plaintext ApiVersions request on the SSL and SASL_SSL ports are not answered with a Kafka response and the connection closes; alice still works |
| sasl_wire | raw protocol: SaslHandshake v1 lists the mechanisms, an unknown one → UNSUPPORTED_SASL_MECHANISM (33) and close; Metadata before authentication → closed unanswered; SaslHandshake v0 + raw PLAIN token authenticates; SaslAuthenticate with a bad SCRAM proof → 58 |
| scram_admin | describe alice (SCRAM-SHA-256 and -512, 4096 iterations); confluent-kafka alter: upsert carol → carol authenticates with SCRAM-SHA-512, not with PLAIN; delete → she no longer can; describing an unknown user → RESOURCE_NOT_FOUND |
| kafka_configs_scram | Kafka's kafka-configs (org.apache.kafka.tools.ConfigCommand) --alter --add-config 'SCRAM-SHA-512=[password=...]' --entity-type users over SASL_SSL; dave then authenticates |
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)

import kafka  # kafka-python
import kafkatools
from compat import TIMEOUT, wait_for
from secured import USERS, secured  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(300)

ROUNDTRIPS = [("SASL_PLAINTEXT", m) for m in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")] + [
    ("SASL_SSL", m) for m in ("PLAIN", "SCRAM-SHA-512")]


def topic_name(label: str) -> str:
    return f"compat.authn-{label}.{uuid.uuid4().hex[:10]}"


def create(conf: dict, topic: str, partitions: int = 2):
    admin = AdminClient(conf)
    fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                              operation_timeout=TIMEOUT)[topic]
    fut.result(timeout=TIMEOUT)
    wait_for(lambda: topic in admin.list_topics(timeout=TIMEOUT).topics and all(
        p.leader >= 0 for p in admin.list_topics(timeout=TIMEOUT).topics[topic].partitions.values()),
        f"{topic} in metadata")


def records(n: int = 20):
    return [(f"k{i}".encode(), f"value {i}".encode()) for i in range(n)]


def ck_roundtrip(conf: dict, label: str):
    topic = topic_name(label)
    create(conf, topic)
    producer = Producer({**conf, "acks": "all", "linger.ms": 5})
    errors = []
    for k, v in records():
        producer.produce(topic, key=k, value=v, on_delivery=lambda e, m: e and errors.append(e))
    assert producer.flush(TIMEOUT) == 0 and not errors, errors
    consumer = Consumer({**conf, "group.id": "authn-" + uuid.uuid4().hex, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, -2) for p in range(2)])
        got, eof = [], set()
        deadline = time.monotonic() + TIMEOUT
        while len(got) < 20 or len(eof) < 2:
            assert time.monotonic() < deadline, f"consumed {len(got)}/20"
            for m in consumer.consume(100, 0.5):
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    eof.add(m.partition())
                    continue
                got.append((m.key(), m.value()))
        assert sorted(got) == sorted(records())
    finally:
        consumer.close()


def kp_roundtrip(conf: dict, label: str, ck_conf: dict):
    topic = topic_name(label)
    create(ck_conf, topic)
    producer = kafka.KafkaProducer(**conf, acks="all", enable_idempotence=False)
    try:
        for k, v in records():
            producer.send(topic, key=k, value=v).get(timeout=TIMEOUT)
    finally:
        producer.close(timeout=TIMEOUT)
    consumer = kafka.KafkaConsumer(**conf, auto_offset_reset="earliest", enable_auto_commit=False,
                                   consumer_timeout_ms=int(TIMEOUT * 1000))
    try:
        consumer.assign([kafka.TopicPartition(topic, p) for p in range(2)])
        consumer.seek_to_beginning()
        got = []
        for m in consumer:
            got.append((m.key, m.value))
            if len(got) == 20:
                break
        assert sorted(got) == sorted(records())
    finally:
        consumer.close()


def kcat_args(conf: dict) -> list[str]:
    out = ["-b", conf["bootstrap.servers"]]
    for k, v in conf.items():
        if k not in ("bootstrap.servers", "socket.timeout.ms"):
            out += ["-X", f"{k}={v}"]
    return out


def kcat_roundtrip(conf: dict, label: str):
    exe = shutil.which("kcat") or shutil.which("kafkacat")
    assert exe, "kcat is not installed (compat-tests/run.sh installs it)"
    topic = topic_name(label)
    create(conf, topic)
    stdin = "".join(f"{k.decode()}:{v.decode()}\n" for k, v in records())
    p = subprocess.run([exe, *kcat_args(conf), "-t", topic, "-P", "-K:", "-X", "acks=all"],
                       input=stdin.encode(), capture_output=True, timeout=TIMEOUT * 2)
    assert p.returncode == 0, p.stderr.decode()
    p = subprocess.run([exe, *kcat_args(conf), "-t", topic, "-C", "-e", "-o", "beginning", "-q",
                        "-f", "%k:%s\\n"], capture_output=True, timeout=TIMEOUT * 2)
    assert p.returncode == 0, p.stderr.decode()
    got = sorted(tuple(line.encode().split(b":", 1)) for line in p.stdout.decode().splitlines() if line)
    assert got == sorted(records())


def still_serves(secured):
    """Alice can still list topics over every listener."""
    for listener in ("SASL_PLAINTEXT", "SASL_SSL", "SSL"):
        AdminClient(secured.ck(listener)).list_topics(timeout=TIMEOUT)


def auth_error(conf: dict) -> list:
    """The errors librdkafka reports when `conf` tries to list topics (which must fail)."""
    errors = []
    admin = AdminClient({**conf, "error_cb": errors.append})
    with pytest.raises(Exception):
        admin.list_topics(timeout=5)
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        admin.poll(0.2)
    return errors


@pytest.mark.client("confluent-kafka")
@pytest.mark.parametrize("listener,mechanism", ROUNDTRIPS)
def test_sasl_roundtrip(broker, secured, listener, mechanism):
    ck_roundtrip(secured.ck(listener, mechanism), f"ck-{mechanism}")


@pytest.mark.client("kafka-python")
@pytest.mark.parametrize("listener,mechanism", ROUNDTRIPS)
def test_kafka_python_roundtrip(broker, secured, listener, mechanism):
    kp_roundtrip(secured.kp(listener, mechanism), f"kp-{mechanism}", secured.ck(listener, mechanism))


@pytest.mark.client("kcat")
# PLAIN only: Debian's kcat (its librdkafka) fails SCRAM against the reference Kafka as well
# (SASL_AUTHENTICATION_FAILED); confluent-kafka's bundled librdkafka covers SCRAM.
@pytest.mark.parametrize("listener,mechanism", [("SASL_SSL", "PLAIN")])
def test_kcat_roundtrip(broker, secured, listener, mechanism):
    kcat_roundtrip(secured.ck(listener, mechanism), f"kcat-{mechanism}")


@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python", "kcat"])
def test_ssl_client_certificate(broker, secured, client):
    if client == "confluent-kafka":
        ck_roundtrip(secured.ck("SSL"), "ck-ssl")
    elif client == "kafka-python":
        kp_roundtrip(secured.kp("SSL"), "kp-ssl", secured.ck("SSL"))
    else:
        kcat_roundtrip(secured.ck("SSL"), "kcat-ssl")


@pytest.mark.client("confluent-kafka")
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("who", ["wrong-password", "unknown-user"])
def test_bad_credentials(broker, secured, mechanism, who):
    user, password = ("alice", "not-her-password") if who == "wrong-password" else ("mallory", "x")
    for listener in ("SASL_PLAINTEXT", "SASL_SSL"):
        errors = auth_error(secured.ck(listener, mechanism, user=user, password=password))
        auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        assert auth, f"no authentication error reported: {errors}"
        text = " ".join(e.str() for e in auth)
        assert "Authentication failed" in text, text
        assert "mallory" not in text and "exist" not in text, text
    still_serves(secured)


@pytest.mark.client("confluent-kafka")
def test_no_credentials(broker, secured):
    # A plaintext client on the SASL listener: closed after ApiVersions, nothing listed.
    conf = {"bootstrap.servers": secured.address("SASL_PLAINTEXT"), "broker.address.family": "v4",
            "security.protocol": "PLAINTEXT"}
    with pytest.raises(Exception):
        AdminClient(conf).list_topics(timeout=5)
    # SSL without a client certificate, and with one the brokers do not trust.
    for cert in (None, "untrusted"):
        with pytest.raises(Exception):
            AdminClient(secured.ck("SSL", client_cert=cert)).list_topics(timeout=5)
    still_serves(secured)


def api_versions_request(correlation_id: int = 7) -> bytes:
    """ApiVersions v0: key 18, version 0, correlation id, client id "authn"."""
    body = struct.pack(">hhih", 18, 0, correlation_id, 5) + b"authn"
    return struct.pack(">i", len(body)) + body


def read_some(sock: socket.socket, timeout: float = 10) -> bytes:
    """What the broker sends until it closes the connection (or `timeout`)."""
    sock.settimeout(timeout)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        except socket.timeout:
            raise AssertionError(f"connection still open after {timeout}s (got {out[:40]!r})")
        if not chunk:
            break
        out += chunk
    return out


@pytest.mark.client("raw")
def test_garbage_and_plaintext_on_tls(broker, secured):
    for listener in ("SSL", "SASL_SSL"):
        host, port = secured.address(listener).rsplit(":", 1)
        for payload in (os.urandom(64) + b"\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n", api_versions_request()):
            with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
                s.sendall(payload)
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                got = read_some(s)
                # Nothing that reads as a Kafka response to correlation id 7: at most a TLS alert.
                assert got[4:8] != struct.pack(">i", 7), f"{listener}: answered {got[:16]!r}"
                assert not got or got[0] in (0x15, 0x16), f"{listener}: not a TLS record: {got[:16]!r}"
    still_serves(secured)


# ------------------------------------------------------------------------------ raw protocol

def frame(key: int, version: int, correlation_id: int, body: bytes, flexible: bool = False) -> bytes:
    header = struct.pack(">hhih", key, version, correlation_id, 5) + b"authn"
    if flexible:
        header += b"\x00"  # no tagged fields
    data = header + body
    return struct.pack(">i", len(data)) + data


def recv_frame(sock: socket.socket) -> bytes | None:
    sock.settimeout(TIMEOUT)
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (n,) = struct.unpack(">i", head)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def kstr(s: str) -> bytes:
    return struct.pack(">h", len(s)) + s.encode()


def handshake(sock, mechanism: str, version: int, correlation_id: int = 1):
    sock.sendall(frame(17, version, correlation_id, kstr(mechanism)))
    resp = recv_frame(sock)
    assert resp is not None, "closed instead of answering SaslHandshake"
    cid, error, count = struct.unpack(">ihi", resp[:10])
    assert cid == correlation_id
    mechanisms, rest = [], resp[10:]
    for _ in range(count):
        (n,) = struct.unpack(">h", rest[:2])
        mechanisms.append(rest[2:2 + n].decode())
        rest = rest[2 + n:]
    return error, mechanisms


@pytest.mark.client("raw")
def test_sasl_wire(broker, secured):
    host, port = secured.address("SASL_PLAINTEXT").rsplit(":", 1)
    connect = lambda: socket.create_connection((host, int(port)), timeout=TIMEOUT)  # noqa: E731
    # The enabled mechanisms, and an unknown one refused with them, then closed.
    with connect() as s:
        error, mechanisms = handshake(s, "GSSAPI", 1)
        # (Kafka lists them in an order of its own.)
        assert (error, sorted(mechanisms)) == (33, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        assert recv_frame(s) is None, "still open after an unsupported mechanism"
    # Metadata (v1, all topics) before authenticating: closed, no answer.
    with connect() as s:
        s.sendall(frame(3, 1, 9, struct.pack(">i", -1)))
        assert recv_frame(s) is None, "Metadata answered before authentication"
    # ApiVersions first is allowed; then SaslHandshake v0 and a raw PLAIN token.
    with connect() as s:
        s.sendall(api_versions_request(3))
        resp = recv_frame(s)
        assert resp is not None and struct.unpack(">ih", resp[:6]) == (3, 0)
        assert handshake(s, "PLAIN", 0, 4)[0] == 0
        token = b"\0alice\0" + USERS["alice"].encode()
        s.sendall(struct.pack(">i", len(token)) + token)
        assert recv_frame(s) == b"", "a raw PLAIN token is answered with an empty token"
        # Authenticated: Metadata v1 is answered.
        s.sendall(frame(3, 1, 5, struct.pack(">i", -1)))
        resp = recv_frame(s)
        assert resp is not None and struct.unpack(">i", resp[:4]) == (5,)
    # SaslAuthenticate (v1) with a SCRAM client-first, then a wrong proof: error 58, closed.
    with connect() as s:
        assert handshake(s, "SCRAM-SHA-256", 1, 1)[0] == 0
        first = b"n,,n=alice,r=clientnonce"
        s.sendall(frame(36, 1, 2, struct.pack(">i", len(first)) + first))
        resp = recv_frame(s)
        cid, error = struct.unpack(">ih", resp[:6])
        assert (cid, error) == (2, 0)
        (mlen,) = struct.unpack(">h", resp[6:8])
        rest = resp[8 + max(mlen, 0):]
        (blen,) = struct.unpack(">i", rest[:4])
        server_first = rest[4:4 + blen].decode()
        assert server_first.startswith("r=clientnonce") and ",s=" in server_first and ",i=4096" in server_first
        nonce = server_first.split(",")[0][2:]
        final = f"c=biws,r={nonce},p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".encode()
        s.sendall(frame(36, 1, 3, struct.pack(">i", len(final)) + final))
        resp = recv_frame(s)
        assert resp is not None
        cid, error = struct.unpack(">ih", resp[:6])
        assert (cid, error) == (3, 58)
        assert recv_frame(s) is None, "still open after a failed authentication"
    still_serves(secured)


# ------------------------------------------------------------------------------ credentials admin

@pytest.mark.client("confluent-kafka")
def test_scram_admin(broker, secured):
    admin = AdminClient(secured.ck("SASL_SSL"))
    described = admin.describe_user_scram_credentials(["alice"])["alice"].result(timeout=TIMEOUT)
    infos = sorted((i.mechanism, i.iterations) for i in described.scram_credential_infos)
    assert infos == [(ScramMechanism.SCRAM_SHA_256, 4096), (ScramMechanism.SCRAM_SHA_512, 4096)]
    everyone = admin.describe_user_scram_credentials().result(timeout=TIMEOUT)
    assert {"alice", "bob"} <= set(everyone)
    with pytest.raises(Exception) as unknown:
        admin.describe_user_scram_credentials(["nobody"])["nobody"].result(timeout=TIMEOUT)
    assert "RESOURCE_NOT_FOUND" in str(unknown.value) or "does not exist" in str(unknown.value)

    user = "carol" + uuid.uuid4().hex[:6]
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upsert = UserScramCredentialUpsertion(user, info, b"carol-secret", b"carol-salt-0123")
    admin.alter_user_scram_credentials([upsert])[user].result(timeout=TIMEOUT)

    def can_login(mechanism, password):
        try:
            AdminClient(secured.ck("SASL_SSL", mechanism, user=user, password=password)).list_topics(timeout=5)
            return True
        except Exception:  # noqa: BLE001
            return False

    assert wait_for(lambda: can_login("SCRAM-SHA-512", "carol-secret"), f"{user} logging in")
    assert not can_login("SCRAM-SHA-512", "wrong")
    assert not can_login("SCRAM-SHA-256", "carol-secret"), "no SCRAM-SHA-256 credential was set"
    assert not can_login("PLAIN", "carol-secret"), "PLAIN passwords are not SCRAM credentials"
    described = admin.describe_user_scram_credentials([user])[user].result(timeout=TIMEOUT)
    assert [(i.mechanism, i.iterations) for i in described.scram_credential_infos] == [
        (ScramMechanism.SCRAM_SHA_512, 8192)]
    # Too few iterations are refused.
    weak = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100), b"x")
    with pytest.raises(Exception) as refused:
        admin.alter_user_scram_credentials([weak])[user].result(timeout=TIMEOUT)
    assert "iterations" in str(refused.value).lower(), refused.value
    admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)])[user].result(timeout=TIMEOUT)
    assert wait_for(lambda: not can_login("SCRAM-SHA-512", "carol-secret"), f"{user} locked out")


@pytest.mark.client("kafka-configs")
def test_kafka_configs_scram(broker, secured, tmp_path):
    props = tmp_path / "client.properties"
    props.write_text(secured.java_properties("SASL_SSL", "SCRAM-SHA-512"))
    user = "dave" + uuid.uuid4().hex[:6]
    cmd = ["org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", secured.address("SASL_SSL"),
           "--command-config", str(props)]
    p = kafkatools.run(*cmd, "--alter", "--add-config", "SCRAM-SHA-512=[password=dave-secret]",
                       "--entity-type", "users", "--entity-name", user, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    p = kafkatools.run(*cmd, "--describe", "--entity-type", "users", "--entity-name", user,
                       timeout=120)
    assert p.returncode == 0 and "SCRAM-SHA-512=iterations=4096" in p.stdout, p.stdout + p.stderr
    conf = secured.ck("SASL_SSL", "SCRAM-SHA-512", user=user, password="dave-secret")
    wait_for(lambda: AdminClient(conf).list_topics(timeout=5) is not None, f"{user} logging in")
