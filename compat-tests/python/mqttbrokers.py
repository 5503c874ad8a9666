"""The MQTT brokers of test_mqtt.py, started by the test on loopback ports of their own: a gregor
with --mqtt-listen (and a Kafka listener, for the bridging scenarios) and the oracle, a real
Mosquitto (Debian's `mosquitto`, persistence on so that sessions and retained messages survive
its restart as gregor's do). Both take the same packet size limit (MAX_PACKET).

A secured broker (`MqttBroker(kind, secure=True)`) adds a TLS listener (tlsbrokers.make_certs'
server certificate), users with passwords (gregor's --user; Mosquitto's password_file) and
anonymous clients refused, and ACLs: alice reads and writes `sensors/#`, bob only reads it,
nobody else anything (gregor: Kafka ACLs on the topics the map gives,
`--authorizer acl`, set by the super user admin over SASL; Mosquitto: the equivalent
acl_file).

`MqttBroker.restart()` stops a broker cleanly (SIGTERM) and starts it again on the same data and
ports. Helpers: `Collector` (a paho-mqtt client that queues what it receives) and raw-socket
MQTT 3.1.1 packets for what a well-behaved client library will not send (a connection dropped
without DISCONNECT, garbage, an oversized packet)."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from compat import TIMEOUT, free_port, port_open
from tlsbrokers import make_certs

MAX_PACKET = 10_000
# The secured brokers' users (gregor's admin sets the ACLs over Kafka).
USERS = {"alice": "alice-secret", "bob": "bob-secret"}
ADMIN = ("admin", "admin-secret")
MOSQUITTO_ACL = "user alice\ntopic readwrite sensors/#\nuser bob\ntopic read sensors/#\n"
COMPAT_DIR = Path(__file__).resolve().parent.parent


class MqttBroker:
    def __init__(self, kind: str, secure: bool = False, client_ca: bool = False,
                 extra_args: tuple = ()):
        """`client_ca` (gregor): --ssl-client-ca, TLS clients need a certificate. `extra_args`:
        more gregor flags."""
        self.kind = kind
        self.secure = secure
        self.client_ca = client_ca
        self.extra_args = list(extra_args)
        self.state = Path(tempfile.mkdtemp(prefix=f"gregor-compat-mqtt-{kind}."))
        self.port = free_port()
        self.kafka_port = free_port() if kind == "gregor" else None
        self.tls_port = free_port() if secure else None
        self.certs = make_certs(self.state / "certs") if secure else None
        self.log = self.state / "broker.log"
        self.proc: subprocess.Popen | None = None
        self.start()
        if secure and kind == "gregor":
            self._grant_acls()

    @property
    def ready_login(self) -> dict:
        return {"username": "alice", "password": USERS["alice"]} if self.secure else {}

    def kafka_config(self) -> dict:
        """confluent-kafka settings of this broker's Kafka listener (as admin when secured)."""
        config = {"bootstrap.servers": self.kafka}
        if self.secure:
            config.update({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                           "sasl.username": ADMIN[0], "sasl.password": ADMIN[1]})
        return config

    def _grant_acls(self):
        """The Kafka side of MOSQUITTO_ACL, for the map's topics; alice may also keep
        persistent sessions (READ on the groups mqtt-*)."""
        from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType,
                                           AdminClient, NewTopic, ResourcePatternType,
                                           ResourceType)
        admin = AdminClient(self.kafka_config())
        for f in admin.create_topics([NewTopic(t, 1, 1) for t in ("sensors", "alerts")]).values():
            f.result(timeout=TIMEOUT)

        def allow(rt, name, principal, op, pattern=ResourcePatternType.LITERAL):
            return AclBinding(rt, name, pattern, principal, "*", op, AclPermissionType.ALLOW)

        bindings = [allow(ResourceType.TOPIC, "sensors", "User:alice", AclOperation.READ),
                    allow(ResourceType.TOPIC, "sensors", "User:alice", AclOperation.WRITE),
                    allow(ResourceType.GROUP, "mqtt-", "User:alice", AclOperation.READ,
                          ResourcePatternType.PREFIXED),
                    allow(ResourceType.TOPIC, "sensors", "User:bob", AclOperation.READ)]
        for f in admin.create_acls(bindings).values():
            f.result(timeout=TIMEOUT)

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def _command(self) -> list[str]:
        if self.kind == "gregor":
            binary = os.environ.get("COMPAT_GREGOR_BIN")
            assert binary, "COMPAT_GREGOR_BIN is not set (compat-tests/run.sh sets it)"
            command = [binary, "--listen", self.kafka, "--data-dir", str(self.state / "data"),
                       "--storage", "disk", "--group-initial-rebalance-delay-ms", "0",
                       "--mqtt-listen", f"127.0.0.1:{self.port}",
                       "--mqtt-topic-map", "sensors/#=sensors",
                       "--mqtt-max-packet-bytes", str(MAX_PACKET)]
            if self.secure:
                command[1:3] = ["--listen", f"SASL_PLAINTEXT://{self.kafka}"]
                command += ["--mqtt-tls-listen", f"127.0.0.1:{self.tls_port}",
                            "--ssl-cert", str(self.certs.server_cert),
                            "--ssl-key", str(self.certs.server_key),
                            *(["--ssl-client-ca", str(self.certs.ca)] if self.client_ca else []),
                            "--authorizer", "acl", "--super-user", ADMIN[0],
                            "--user", ":".join(ADMIN)]
                for user, password in USERS.items():
                    command += ["--user", f"{user}:{password}"]
            return command + self.extra_args
        conf = self.state / "mosquitto.conf"
        text = (f"per_listener_settings false\nlistener {self.port} 127.0.0.1\n"
                f"persistence true\npersistence_location {self.state}/\n"
                f"max_packet_size {MAX_PACKET}\nlog_dest stderr\n"
                + ("user root\n" if os.geteuid() == 0 else ""))
        if self.secure:
            passwords = self.state / "passwd"
            passwords.write_text("".join(f"{u}:{p}\n" for u, p in USERS.items()))
            subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True)
            (self.state / "acl").write_text(MOSQUITTO_ACL)
            text += (f"allow_anonymous false\npassword_file {passwords}\n"
                     f"acl_file {self.state / 'acl'}\n"
                     f"listener {self.tls_port} 127.0.0.1\ncafile {self.certs.ca}\n"
                     f"certfile {self.certs.server_cert}\nkeyfile {self.certs.server_key}\n")
        else:
            text += "allow_anonymous true\n"
        conf.write_text(text)
        return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)]

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
        env["NO_COLOR"] = "1"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + TIMEOUT
        while not port_open(self.port):
            assert self.proc.poll() is None, f"{self.kind} exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"{self.kind} did not listen on {self.port}"
            time.sleep(0.05)
        # gregor accepts MQTT clients once its store is read: a CONNACK says it is ready.
        c = Collector(self, "ready-check", **self.ready_login)
        c.disconnect()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        self.stop()
        results = COMPAT_DIR / "results"
        results.mkdir(exist_ok=True)
        if self.log.exists():
            shutil.copy(self.log, results / f"mqtt-{self.kind}.log")
        shutil.rmtree(self.state, ignore_errors=True)


class Collector:
    """A connected paho-mqtt client whose received messages wait in a queue."""

    def __init__(self, broker: MqttBroker, client_id: str, *, v5: bool = False, clean: bool = True,
                 session_expiry: int = 0, will: tuple | None = None, username: str | None = None,
                 password: str | None = None, tls: bool = False, refused: bool = False,
                 certificate: tuple | None = None):
        """`tls`: to the broker's TLS listener, trusting its test CA. `refused`: the CONNACK is
        expected to refuse; its reason code is `self.refusal`. `certificate`: (cert, key) files."""
        self.messages: queue.Queue = queue.Queue()
        # Each QoS 1 publish's PUBACK reason code, by message id.
        self.acks: dict = {}
        self.connected: queue.Queue = queue.Queue()
        self.disconnected = False
        protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        kwargs = {} if v5 else {"clean_session": clean}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=protocol, **kwargs)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_connect = lambda c, u, flags, rc, props=None: self.connected.put(
            (flags.session_present, rc, props))
        self.client.on_disconnect = lambda *a: setattr(self, "disconnected", True)
        self.client.on_publish = lambda c, u, mid, rc, props=None: self.acks.__setitem__(mid, rc)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls:
            cert, key = certificate or (None, None)
            self.client.tls_set(ca_certs=str(broker.certs.ca), certfile=cert and str(cert),
                                keyfile=key and str(key))
        if will:
            self.client.will_set(*will)
        props = None
        connect_kwargs = {}
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = session_expiry
            connect_kwargs = {"clean_start": clean, "properties": props}
        port = broker.tls_port if tls else broker.port
        self.client.connect("127.0.0.1", port, keepalive=30, **connect_kwargs)
        self.client.loop_start()
        self.session_present, rc, self.connack_properties = self.connected.get(timeout=TIMEOUT)
        if refused:
            assert rc.is_failure, f"CONNACK {rc}: not refused"
            self.refusal = rc.value
            self.disconnect()
            return
        assert not rc.is_failure, f"CONNACK {rc}"

    def subscribe(self, topic, qos: int = 1):
        """One SUBSCRIBE (`topic` may be a list of (filter, qos)); returns the SUBACK's codes."""
        done: queue.Queue = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, codes, props=None: done.put(codes)
        if isinstance(topic, list):
            self.client.subscribe(topic)
        else:
            self.client.subscribe(topic, qos)
        return done.get(timeout=TIMEOUT)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                properties=None):
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()
        return self.acks.get(info.mid)

    def take(self, n: int, timeout: float = TIMEOUT) -> list:
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            assert left > 0, f"got {len(out)} of {n} messages: {[(m.topic, m.payload) for m in out]}"
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                pass
        return out

    def nothing_more(self, wait: float = 1.0) -> bool:
        try:
            m = self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message {m.topic} {m.payload!r}")

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()


# ----------------------------------------------------------------------------- raw packets
def _string(s: bytes) -> bytes:
    return struct.pack(">H", len(s)) + s


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str, keep_alive: int = 30, will: tuple | None = None,
                   login: tuple | None = None) -> bytes:
    """An MQTT 3.1.1 CONNECT (clean session), with a will (topic, payload, qos, retain) and a
    login (user name, password)."""
    flags = 0x02
    payload = _string(client_id.encode())
    if will:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _string(topic.encode()) + _string(message)
    if login:
        flags |= 0xC0
        payload += _string(login[0].encode()) + _string(login[1].encode())
    body = _string(b"MQTT") + bytes([4, flags]) + struct.pack(">H", keep_alive) + payload
    return bytes([0x10]) + remaining_length(len(body)) + body


def raw_connect(broker: MqttBroker, client_id: str, **kw) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT)
    s.sendall(connect_packet(client_id, **kw))
    connack = s.recv(4)
    assert connack[:1] == b"\x20" and connack[3:4] == b"\x00", connack
    return s


def closed_by_peer(s: socket.socket, timeout: float = TIMEOUT) -> bool:
    """Whether the broker closes the connection within `timeout` (reading whatever it sends)."""
    s.settimeout(timeout)
    try:
        while s.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
