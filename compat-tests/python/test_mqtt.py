"""gregor's MQTT listener (--mqtt-listen), checked with real MQTT clients — paho-mqtt (3.1.1 and
5) and Mosquitto's mosquitto_pub/mosquitto_sub — against gregor and, as the oracle, a real
Mosquitto: the same scenarios pass on both (publish and subscribe at QoS 0/1, retained and will
messages, keep-alive, persistent sessions across a reconnect and a broker restart, session
takeover, malformed and oversized packets) and, on secured brokers (`secured_mqtt`: TLS,
passwords, ACLs configured alike, see mqttbrokers.py), TLS connections, good and bad passwords,
anonymous clients refused, and an ACL-denied publish and subscribe. The Kafka bridging (a Kafka producer's records
reach an MQTT subscriber; an MQTT publish is read by a Kafka consumer, confluent-kafka) is
asserted on gregor only.

Each broker is the test's own (mqttbrokers.py), on free loopback ports, so restarting it
disturbs no other scenario. gregor_only: the suite's Kafka target has no MQTT; the Mosquitto
oracle runs inside the gregor pytest process."""

from __future__ import annotations

import queue
import socket
import ssl
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from compat import TIMEOUT, wait_for
from mqttbrokers import (MAX_PACKET, USERS, Collector, MqttBroker, closed_by_peer,
                         connect_packet, raw_connect, remaining_length)

pytestmark = [pytest.mark.gregor_only, pytest.mark.client("paho-mqtt"),
              pytest.mark.single_broker("starts and restarts MQTT brokers of its own")]


@pytest.fixture(scope="module", params=["gregor", "mosquitto"])
def mqtt(request):
    b = MqttBroker(request.param)
    yield b
    b.close()


@pytest.fixture(scope="module", params=["gregor", "mosquitto"])
def secured_mqtt(request):
    b = MqttBroker(request.param, secure=True)
    yield b
    b.close()


def code(c) -> int:
    """A reason code's value (paho gives ReasonCode objects, or ints)."""
    return int(getattr(c, "value", c))


def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_publish_and_subscribe_at_qos_0_and_1(broker, mqtt, version):
    v5 = version == "5"
    base = f"t/{uid()}"
    sub = Collector(mqtt, f"sub-{uid()}", v5=v5)
    pub = Collector(mqtt, f"pub-{uid()}", v5=v5)
    try:
        codes = sub.subscribe(f"{base}/#", qos=1)
        assert [c.value for c in codes] == [1]
        pub.publish(f"{base}/a", b"zero", qos=0)
        pub.publish(f"{base}/b/c", b"one", qos=1)
        pub.publish(f"t/{uid()}/other", b"elsewhere", qos=1)
        got = sorted((m.topic, m.payload, m.qos) for m in sub.take(2))
        assert got == [(f"{base}/a", b"zero", 0), (f"{base}/b/c", b"one", 1)]
        sub.nothing_more()
    finally:
        sub.disconnect()
        pub.disconnect()


def test_mosquitto_pub_and_sub(broker, mqtt):
    topic = f"m/{uid()}/x"

    def pub(*args):
        subprocess.run(["mosquitto_pub", "-p", str(mqtt.port), "-t", topic, *args], check=True,
                       timeout=TIMEOUT)

    # A retained message first: the subscriber's first line says it has subscribed.
    pub("-q", "1", "-r", "-m", "ready")
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(mqtt.port), "-t", "m/+/x", "-q", "1",
                            "-C", "3", "-v", "-W", str(int(TIMEOUT))],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sub.stdout.readline().rstrip("\n") == f"{topic} ready"
        for i, qos in enumerate(["0", "1"]):
            pub("-q", qos, "-m", f"reading {i}")
        out, err = sub.communicate(timeout=TIMEOUT + 5)
    finally:
        sub.kill()
        pub("-r", "-n")  # clears the retained message
    assert out.splitlines() == [f"{topic} reading 0", f"{topic} reading 1"], err


def test_retained_messages(broker, mqtt):
    topic = f"r/{uid()}/state"
    pub = Collector(mqtt, f"pub-{uid()}")
    try:
        pub.publish(topic, b"on", qos=1, retain=True)
        late = Collector(mqtt, f"late-{uid()}")
        late.subscribe(topic.rsplit("/", 1)[0] + "/+", qos=1)
        [m] = late.take(1)
        assert (m.topic, m.payload, m.retain) == (topic, b"on", True)
        late.disconnect()
        pub.publish(topic, b"", qos=1, retain=True)  # clears it
        later = Collector(mqtt, f"later-{uid()}")
        later.subscribe(topic, qos=1)
        assert later.nothing_more()
        later.disconnect()
    finally:
        pub.disconnect()


def test_will_on_a_lost_connection_and_keep_alive(broker, mqtt):
    base = f"w/{uid()}"
    watcher = Collector(mqtt, f"watch-{uid()}")
    try:
        watcher.subscribe(f"{base}/#", qos=1)
        # Dropped without DISCONNECT: the will goes out.
        s = raw_connect(mqtt, f"dev-{uid()}", will=(f"{base}/dropped", b"gone", 1, False))
        s.close()
        [m] = watcher.take(1)
        assert (m.topic, m.payload) == (f"{base}/dropped", b"gone")
        # Silent past 1.5 x its keep-alive (1 s): closed, and the will goes out.
        s = raw_connect(mqtt, f"dev-{uid()}", keep_alive=1, will=(f"{base}/silent", b"timeout", 0, False))
        started = time.monotonic()
        assert closed_by_peer(s, timeout=10)
        assert time.monotonic() - started >= 1.0
        [m] = watcher.take(1)
        assert (m.topic, m.payload) == (f"{base}/silent", b"timeout")
        # A clean DISCONNECT: no will.
        s = raw_connect(mqtt, f"dev-{uid()}", will=(f"{base}/clean", b"no", 1, False))
        s.sendall(b"\xe0\x00")
        s.close()
        assert watcher.nothing_more()
    finally:
        watcher.disconnect()


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_persistent_session_across_reconnect_and_restart(broker, mqtt, version):
    v5 = version == "5"
    base = f"p/{uid()}"
    client_id = f"persist-{uid()}"
    expiry = 3600 if v5 else 0

    def connect():
        return Collector(mqtt, client_id, v5=v5, clean=False, session_expiry=expiry)

    c = connect()
    c.subscribe(f"{base}/#", qos=1)
    c.disconnect()
    pub = Collector(mqtt, f"pub-{uid()}")
    pub.publish(f"{base}/1", b"while away 1", qos=1)
    pub.disconnect()
    c = connect()
    assert c.session_present
    assert [m.payload for m in c.take(1)] == [b"while away 1"]
    c.disconnect()
    pub = Collector(mqtt, f"pub-{uid()}")
    pub.publish(f"{base}/2", b"while away 2", qos=1)
    pub.disconnect()
    mqtt.restart()
    c = connect()
    try:
        assert c.session_present
        assert [m.payload for m in c.take(1)] == [b"while away 2"]
        c.nothing_more()
    finally:
        c.disconnect()
    # A clean session ends it.
    c = Collector(mqtt, client_id, v5=v5, clean=True)
    assert not c.session_present
    c.disconnect()


def test_an_mqtt_5_client_without_a_client_id_is_given_one(broker, mqtt):
    c = Collector(mqtt, "", v5=True)
    try:
        assigned = c.connack_properties.AssignedClientIdentifier
        assert assigned
        topic = f"e/{uid()}"
        c.subscribe(topic, qos=1)
        c.publish(topic, b"mine", qos=1)
        assert [m.payload for m in c.take(1)] == [b"mine"]
    finally:
        c.disconnect()


def test_a_second_connect_with_the_same_client_id_takes_over(broker, mqtt):
    client_id = f"twin-{uid()}"
    first = raw_connect(mqtt, client_id)
    second = raw_connect(mqtt, client_id)
    try:
        assert closed_by_peer(first, timeout=10)
        second.sendall(b"\xc0\x00")  # PINGREQ
        second.settimeout(TIMEOUT)
        assert second.recv(2) == b"\xd0\x00"
    finally:
        first.close()
        second.close()


def test_malformed_and_oversized_packets_close_that_connection_only(broker, mqtt):
    bystander = Collector(mqtt, f"ok-{uid()}")
    try:
        bystander.subscribe(f"x/{uid()}", qos=0)
        bad = raw_connect(mqtt, f"bad-{uid()}")
        bad.sendall(b"\x00\xff\xff\xff\xff\x7f")  # packet type 0, an over-long length
        assert closed_by_peer(bad, timeout=10)
        big = raw_connect(mqtt, f"big-{uid()}")
        # A PUBLISH announcing more than the limit: refused before its body arrives.
        big.sendall(b"\x30" + remaining_length(MAX_PACKET * 4))
        assert closed_by_peer(big, timeout=10)
        garbage = raw_connect_bytes(mqtt, b"\x10\x05garbage")
        assert closed_by_peer(garbage, timeout=10)
        topic = f"x/{uid()}"
        bystander.subscribe(topic, qos=1)
        bystander.publish(topic, b"still here", qos=1)
        assert [m.payload for m in bystander.take(1)] == [b"still here"]
    finally:
        bystander.disconnect()


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_shared_subscriptions_give_each_message_to_one_member(broker, mqtt, version):
    """$share/GROUP/FILTER: each message reaches one member of the group (Mosquitto: round
    robin; gregor: by Kafka partition, so here, one partition, one member) while a plain
    subscriber gets them all; when a member leaves, the one that stays gets what follows, once."""
    v5 = version == "5"
    base, group = f"sensors/{uid()}", f"g{uid()}"
    members = [Collector(mqtt, f"m{i}-{uid()}", v5=v5) for i in range(2)]
    plain = Collector(mqtt, f"plain-{uid()}", v5=v5)
    pub = Collector(mqtt, f"pub-{uid()}", v5=v5)
    try:
        for m in members:
            assert [code(c) for c in m.subscribe(f"$share/{group}/{base}/#", qos=1)] == [1]
        assert [code(c) for c in plain.subscribe(f"{base}/#", qos=1)] == [1]
        sent = [f"reading {i}".encode() for i in range(10)]
        for payload in sent:
            pub.publish(f"{base}/temp", payload, qos=1)
        assert sorted(m.payload for m in plain.take(10)) == sorted(sent)
        assert sorted(taken_by_any(members, 10)) == sorted(sent)
        assert all(m.nothing_more(0.5) for m in members)
        members[0].disconnect()
        # The leave and the next publishes come on different connections, which a broker may
        # take in either order (Mosquitto once gave "later 0" to the leaving member): let the
        # DISCONNECT be taken first.
        time.sleep(0.5)
        later = [f"later {i}".encode() for i in range(4)]
        for payload in later:
            pub.publish(f"{base}/temp", payload, qos=1)
        assert sorted(m.payload for m in members[1].take(4)) == sorted(later)
        assert members[1].nothing_more()
    finally:
        for c in (members[1], plain, pub):
            c.disconnect()


def taken_by_any(collectors: list, n: int) -> list:
    """The payloads of `n` messages, whichever of `collectors` received them."""
    got = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < n:
        assert time.monotonic() < deadline, f"got {len(got)} of {n}: {got}"
        for c in collectors:
            try:
                got.append(c.messages.get(timeout=0.05).payload)
            except queue.Empty:
                pass
    return got


def raw_connect_bytes(mqtt: MqttBroker, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", mqtt.port), timeout=TIMEOUT)
    s.sendall(data)
    return s


# ----------------------------------------------------------------------------- gregor only
@pytest.mark.parametrize("mqtt", ["gregor"], indirect=True)  # Kafka bridging is gregor's own
def test_kafka_records_reach_mqtt_subscribers(broker, mqtt):
    sub = Collector(mqtt, f"sub-{uid()}", v5=True)
    try:
        sub.subscribe("sensors/#", qos=1)
        producer = Producer({"bootstrap.servers": mqtt.kafka})
        key = f"sensors/{uid()}/temp"
        producer.produce("sensors", key=key.encode(), value=b"19.5", headers=[("unit", b"C")])
        producer.produce("sensors", key=b"not-an-mqtt-key", value=b"plain")
        assert producer.flush(TIMEOUT) == 0
        got = {m.topic: m for m in sub.take(2)}
        assert got[key].payload == b"19.5"
        assert ("unit", "C") in got[key].properties.UserProperty
        # A key the map does not send to this topic: the record's MQTT topic is the topic's name.
        assert got["sensors"].payload == b"plain"
    finally:
        sub.disconnect()


@pytest.mark.parametrize("mqtt", ["gregor"], indirect=True)  # Kafka bridging is gregor's own
def test_mqtt_publishes_reach_kafka_consumers(broker, mqtt):
    device = uid()
    pub = Collector(mqtt, f"sensor-{device}", v5=True)
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("unit", "C")
    try:
        pub.publish(f"sensors/{device}/temp", b"21.5", qos=1, properties=props)
        pub.publish(f"kitchen/{device}/humidity", b"40", qos=1)  # default rule: topic "kitchen"
    finally:
        pub.disconnect()
    for topic, key, value in [("sensors", f"sensors/{device}/temp", b"21.5"),
                              ("kitchen", f"kitchen/{device}/humidity", b"40")]:
        consumer = Consumer({"bootstrap.servers": mqtt.kafka, "group.id": f"g-{uid()}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe([topic])
        found = []

        def read():
            m = consumer.poll(0.5)
            if m is not None and m.error() is None and m.key() == key.encode():
                found.append(m)
            return bool(found)

        try:
            wait_for(read, f"the MQTT publish in Kafka topic {topic}")
        finally:
            consumer.close()
        m = found[0]
        assert m.value() == value
        headers = dict(m.headers() or [])
        assert headers["mqtt.qos"] == b"1"
        if topic == "sensors":
            assert headers["unit"] == b"C"


@pytest.mark.parametrize("mqtt", ["gregor"], indirect=True)  # a bound of gregor's own
def test_a_session_holds_a_bounded_number_of_filters(broker, mqtt):
    """1024 filters per session: the next new one is refused (quota exceeded, 0x97), one
    already held is granted again."""
    sub = Collector(mqtt, f"many-{uid()}", v5=True)
    try:
        for chunk in range(8):  # several SUBSCRIBEs: each stays under MAX_PACKET
            codes = sub.subscribe([(f"cap/{chunk * 128 + i}", 0) for i in range(128)])
            assert [int(getattr(c, "value", c)) for c in codes] == [0] * 128
        codes = sub.subscribe([("cap/new", 0), ("cap/0", 1)])
        assert [int(getattr(c, "value", c)) for c in codes] == [0x97, 1]
    finally:
        sub.disconnect()


# ----------------------------------------------------------------------------- secured
def login(user: str) -> dict:
    return {"username": user, "password": USERS[user]}


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_tls_and_passwords(broker, secured_mqtt, version):
    """A user with its password over TLS; a wrong password, an unknown user or a missing
    password is refused, and so is a client without a user name, on the TLS and the TCP
    listener alike. The codes differ: gregor answers a bad login "bad user name or password"
    (3.1.1: 4, 5: 0x86) and an anonymous client "not authorized" (5, 0x87), as the MQTT specs
    describe them; Mosquitto 2.0 answers both "not authorized". (paho reports 3.1.1's 4 and 5
    as 5's 0x86 and 0x87; codec_tests.rs checks the 3.1.1 bytes.)"""
    v5 = version == "5"
    m = secured_mqtt
    topic = f"sensors/{uid()}/t"
    alice = Collector(m, f"alice-{uid()}", v5=v5, tls=True, **login("alice"))
    try:
        assert [code(c) for c in alice.subscribe(topic, qos=1)] == [1]
        alice.publish(topic, b"over tls", qos=1)
        assert [x.payload for x in alice.take(1)] == [b"over tls"]
    finally:
        alice.disconnect()
    bad_login, not_authorized = (0x86 if m.kind == "gregor" else 0x87), 0x87
    for tls in (True, False):
        for user, password in [("alice", "wrong"), ("mallory", "alice-secret"), ("alice", None)]:
            c = Collector(m, f"bad-{uid()}", v5=v5, tls=tls, username=user, password=password,
                          refused=True)
            assert c.refusal == bad_login, (user, password, tls)
        c = Collector(m, f"anon-{uid()}", v5=v5, tls=tls, refused=True)
        assert c.refusal == not_authorized, tls


def test_mosquitto_clients_over_tls_with_passwords(broker, secured_mqtt):
    m = secured_mqtt
    topic = f"sensors/{uid()}/cli"
    tls = ["-h", "127.0.0.1", "-p", str(m.tls_port), "--cafile", str(m.certs.ca), "-t", topic]

    def pub(user, password, *args):
        return subprocess.run(["mosquitto_pub", *tls, "-u", user, "-P", password, *args],
                              capture_output=True, text=True, timeout=TIMEOUT)

    assert pub("alice", USERS["alice"], "-q", "1", "-r", "-m", "hello").returncode == 0
    try:
        sub = subprocess.run(["mosquitto_sub", *tls, "-u", "bob", "-P", USERS["bob"], "-q", "1",
                              "-C", "1", "-W", str(int(TIMEOUT))],
                             capture_output=True, text=True, timeout=TIMEOUT + 5)
        assert sub.stdout == "hello\n", sub.stderr
        bad = pub("alice", "wrong", "-m", "x")
        why = "bad user name or password" if m.kind == "gregor" else "not authorised"
        assert bad.returncode != 0 and why in bad.stderr.lower(), bad
    finally:
        pub("alice", USERS["alice"], "-r", "-n")  # clears the retained message


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_acl_denied_publish_and_subscribe(broker, secured_mqtt, version):
    """bob may only read sensors/#: his QoS 1 publish is dropped (5: PUBACK 0x87; 3.1.1 has no
    negative PUBACK), what alice publishes reaches him, and on gregor his SUBSCRIBE to alerts/#
    is refused (3.1.1: 0x80, 5: 0x87 not authorized). Mosquitto's acl_file does not check
    subscriptions (only each message's read access), so there it is granted."""
    v5 = version == "5"
    m = secured_mqtt
    base = f"sensors/{uid()}"
    bob = Collector(m, f"bob-{uid()}", v5=v5, **login("bob"))
    alice = Collector(m, f"alice-{uid()}", v5=v5, **login("alice"))
    try:
        codes = bob.subscribe([(f"{base}/#", 1), ("alerts/#", 1)])
        refused = (0x87 if v5 else 0x80) if m.kind == "gregor" else 1
        assert [code(c) for c in codes] == [1, refused]
        assert [code(c) for c in alice.subscribe(f"{base}/#", qos=1)] == [1]
        assert code(bob.publish(f"{base}/from-bob", b"denied", qos=1)) == (0x87 if v5 else 0)
        assert code(alice.publish(f"{base}/from-alice", b"allowed", qos=1)) == 0
        assert [x.payload for x in bob.take(1)] == [b"allowed"]
        assert [x.payload for x in alice.take(1)] == [b"allowed"]
        assert bob.nothing_more() and alice.nothing_more()
    finally:
        bob.disconnect()
        alice.disconnect()


@pytest.mark.parametrize("secured_mqtt", ["gregor"], indirect=True)  # Kafka's group ACLs
def test_a_persistent_session_needs_read_on_its_group(broker, secured_mqtt):
    """A persistent session's positions are its group mqtt-<client id>'s offsets: bob, who may
    read the topic but no group, is refused the subscription, and a shared one (the group
    mqtt-share-<group>); alice (READ on mqtt-*) has them, and her session resumes with what was
    published while she was away."""
    m = secured_mqtt
    base = f"sensors/{uid()}"
    bob = Collector(m, f"bob-{uid()}", clean=False, **login("bob"))
    try:
        assert [code(c) for c in bob.subscribe(f"{base}/#", qos=1)] == [0x80]
    finally:
        bob.disconnect()
    # So does a shared subscription: its group is mqtt-share-<group>.
    for user, granted in [("bob", 0x80), ("alice", 1)]:
        c = Collector(m, f"{user}-{uid()}", **login(user))
        try:
            assert [code(x) for x in c.subscribe(f"$share/g/{base}/#", qos=1)] == [granted]
        finally:
            c.disconnect()
    client_id = f"alice-{uid()}"
    alice = Collector(m, client_id, clean=False, **login("alice"))
    assert [code(c) for c in alice.subscribe(f"{base}/#", qos=1)] == [1]
    alice.disconnect()
    pub = Collector(m, f"pub-{uid()}", **login("alice"))
    pub.publish(f"{base}/1", b"while away", qos=1)
    pub.disconnect()
    alice = Collector(m, client_id, clean=False, **login("alice"))
    try:
        assert alice.session_present
        assert [x.payload for x in alice.take(1)] == [b"while away"]
    finally:
        alice.disconnect()


def test_client_certificates_are_principals(broker):
    """gregor with --ssl-client-ca: a TLS client's certificate is its principal, as on a Kafka
    SSL listener (User:CN=client,OU=compat,O=gregor; no password needed although users exist),
    authorized by the Kafka ACLs; a TLS client without a certificate is refused in the
    handshake. (gregor only: Mosquitto's use_identity_as_username takes the CN alone.)"""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                       ResourcePatternType, ResourceType)
    from tlsbrokers import CLIENT_PRINCIPAL
    m = MqttBroker("gregor", secure=True, client_ca=True)
    try:
        identity = (m.certs.client_cert, m.certs.client_key)
        topic = f"sensors/{uid()}/cert"
        c = Collector(m, f"dev-{uid()}", v5=True, tls=True, certificate=identity)
        try:
            assert code(c.publish(topic, b"no ACL yet", qos=1)) == 0x87
            binding = AclBinding(ResourceType.TOPIC, "sensors", ResourcePatternType.LITERAL,
                                 CLIENT_PRINCIPAL, "*", AclOperation.WRITE,
                                 AclPermissionType.ALLOW)
            admin = AdminClient(m.kafka_config())
            admin.create_acls([binding])[binding].result(timeout=TIMEOUT)
            assert code(c.publish(topic, b"allowed", qos=1)) == 0
        finally:
            c.disconnect()
        # Without a certificate: no CONNACK, the TLS connection is closed (TLS 1.3: an alert).
        context = ssl.create_default_context(cafile=str(m.certs.ca))
        with socket.create_connection(("127.0.0.1", m.tls_port), timeout=TIMEOUT) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                try:
                    s.sendall(connect_packet(f"nocert-{uid()}"))
                    answer = s.recv(4)
                except (ssl.SSLError, ConnectionResetError):
                    answer = b""
        assert answer == b""
    finally:
        m.close()


@pytest.mark.parametrize("secured_mqtt", ["gregor"], indirect=True)  # gregor's users
def test_scram_users_and_the_311_return_codes(broker, secured_mqtt):
    """A user that has only a SCRAM credential (set over Kafka, AlterUserScramCredentials) logs
    in with its password; on the wire a 3.1.1 CONNACK says 4 (bad user name or password) for a
    wrong one and 5 (not authorized) for an anonymous client."""
    from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    m = secured_mqtt
    user = f"carol{uid()}"
    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"carol-secret")
    admin = AdminClient(m.kafka_config())
    admin.alter_user_scram_credentials([upsert])[user].result(timeout=TIMEOUT)
    Collector(m, f"carol-{uid()}", username=user, password="carol-secret").disconnect()
    refused = Collector(m, f"carol-{uid()}", username=user, password="wrong", refused=True)
    assert refused.refusal == 0x86

    def connack(**login) -> bytes:
        with socket.create_connection(("127.0.0.1", m.port), timeout=TIMEOUT) as s:
            s.sendall(connect_packet(f"raw-{uid()}", **login))
            answer = s.recv(4)
            assert closed_by_peer(s)
            return answer

    assert connack(login=("alice", "wrong")) == b"\x20\x02\x00\x04"
    assert connack() == b"\x20\x02\x00\x05"


def test_anonymous_clients_when_allowed(broker):
    """--mqtt-allow-anonymous: a client without a user name is let in although users exist
    (User:ANONYMOUS, which the ACLs allow nothing: its subscription is refused); a user name
    with a wrong password is still refused."""
    m = MqttBroker("gregor", secure=True, extra_args=("--mqtt-allow-anonymous",))
    try:
        c = Collector(m, f"anon-{uid()}", v5=True)
        try:
            assert [code(x) for x in c.subscribe("sensors/#", qos=1)] == [0x87]
        finally:
            c.disconnect()
        bad = Collector(m, f"bad-{uid()}", v5=True, username="alice", password="x", refused=True)
        assert bad.refusal == 0x86
    finally:
        m.close()
