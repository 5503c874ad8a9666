"""Secured brokers for tests: a test CA and certificates made with openssl, and a gregor or a
reference Apache Kafka started with SASL_PLAINTEXT, SASL_SSL and SSL listeners configured the
same way (see secured.py for the listeners, users and ports). Plain Python, no client library
or pytest: the homework end to end (compat-tests/homework/e2e.py) uses it too.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPAT_DIR = HERE.parent
# Client timeouts (seconds), as compat.TIMEOUT.
TIMEOUT = float(os.environ.get("COMPAT_TIMEOUT", "30"))

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
LISTENERS = ["SASL_PLAINTEXT", "SASL_SSL", "SSL"]
# The client certificate's subject, and the principal Kafka makes of it.
CLIENT_SUBJECT = "/O=gregor/OU=compat/CN=client"
CLIENT_PRINCIPAL = "User:CN=client,OU=compat,O=gregor"


# ------------------------------------------------------------------------------ certificates

@dataclass
class Certs:
    dir: Path
    ca: Path  # the CA the brokers and clients trust
    server_cert: Path  # server certificate + CA (a chain)
    server_key: Path  # PKCS#8
    server_keystore: Path  # key + chain in one file (Kafka's PEM keystore)
    client_cert: Path
    client_key: Path
    untrusted_cert: Path  # a client certificate from a CA the brokers do not trust
    untrusted_key: Path


def listener_ports(base: int) -> dict:
    """The ports of a secured broker from `base` on: its three listeners, then (Kafka) its
    controller and its own PLAINTEXT listener (gregor has one there too)."""
    return {"SASL_PLAINTEXT": base, "SASL_SSL": base + 1, "SSL": base + 2,
            "CONTROLLER": base + 3, "INTERNAL": base + 4}


def _openssl(*args: str, cwd: Path):
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"openssl {' '.join(args)}: {proc.stderr}"


def make_certs(directory: Path) -> Certs:
    """A test CA, the server's certificate (127.0.0.1, localhost), a client certificate, and an
    untrusted CA with a client certificate of its own. EC P-256 keys, PKCS#8 PEM."""
    assert shutil.which("openssl"), "openssl is needed to make the test certificates"
    d = directory
    d.mkdir(parents=True, exist_ok=True)

    def key(name):
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", f"{name}.key", cwd=d)

    def ca(name, subject):
        key(name)
        _openssl("req", "-x509", "-new", "-key", f"{name}.key", "-sha256", "-days", "30",
                 "-subj", subject, "-out", f"{name}.pem",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)

    def leaf(name, subject, ca_name, ext):
        key(name)
        _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(ext)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca_name}.pem", "-CAkey",
                 f"{ca_name}.key", "-CAcreateserial", "-days", "30", "-sha256",
                 "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)

    ca("ca", "/O=gregor/CN=compat test CA")
    ca("other-ca", "/O=elsewhere/CN=untrusted CA")
    leaf("server", "/O=gregor/CN=localhost", "ca",
         "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
         "basicConstraints=CA:FALSE\n")
    leaf("client", CLIENT_SUBJECT, "ca", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    leaf("untrusted", "/O=elsewhere/CN=mallory", "other-ca",
         "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    chain = (d / "server.crt").read_text() + (d / "ca.pem").read_text()
    (d / "server-chain.pem").write_text(chain)
    (d / "server-keystore.pem").write_text((d / "server.key").read_text() + chain)
    return Certs(dir=d, ca=d / "ca.pem", server_cert=d / "server-chain.pem",
                 server_key=d / "server.key", server_keystore=d / "server-keystore.pem",
                 client_cert=d / "client.crt", client_key=d / "client.key",
                 untrusted_cert=d / "untrusted.crt", untrusted_key=d / "untrusted.key")


# ------------------------------------------------------------------------------ brokers

def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not _port_open(port):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited during start-up:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")
        time.sleep(0.1)


@dataclass
class SecuredBroker:
    """One running secured broker: its listeners' addresses and client settings for them."""
    name: str  # "gregor" or "kafka"
    addresses: dict  # listener name → "127.0.0.1:PORT"
    certs: Certs
    proc: subprocess.Popen | None = None
    log: Path | None = None
    internal: str | None = None  # the PLAINTEXT listener (Kafka's own use; gregor's alike)
    cleanup: list = field(default_factory=list)

    def address(self, listener: str) -> str:
        return self.addresses[listener]

    def broker(self, listener: str):
        """The listener as a compat.Broker (for helpers that take one)."""
        from compat import Broker
        return Broker(self.name, self.addresses[listener])

    def ck(self, listener: str, mechanism: str | None = "SCRAM-SHA-512", user: str = "alice",
           password: str | None = None, client_cert: str = "client", **extra) -> dict:
        """confluent-kafka (librdkafka) settings for `listener`: SASL with `mechanism` as
        `user` (password from USERS unless given) on SASL listeners, the CA on TLS ones, the
        client certificate ("client", "untrusted" or None) on SSL."""
        conf = {"bootstrap.servers": self.addresses[listener], "broker.address.family": "v4",
                "security.protocol": listener, "socket.timeout.ms": int(TIMEOUT * 1000)}
        if listener.startswith("SASL"):
            conf.update({"sasl.mechanisms": mechanism, "sasl.username": user,
                         "sasl.password": USERS.get(user, "") if password is None else password})
        if listener.endswith("SSL"):
            conf["ssl.ca.location"] = str(self.certs.ca)
        if listener == "SSL" and client_cert:
            conf["ssl.certificate.location"] = str(getattr(self.certs, f"{client_cert}_cert"))
            conf["ssl.key.location"] = str(getattr(self.certs, f"{client_cert}_key"))
        conf.update(extra)
        return conf

    def kp(self, listener: str, mechanism: str | None = "SCRAM-SHA-512", user: str = "alice",
           password: str | None = None, client_cert: str = "client", **extra) -> dict:
        """kafka-python settings, as `ck`."""
        conf = {"bootstrap_servers": self.addresses[listener], "security_protocol": listener,
                "request_timeout_ms": int(TIMEOUT * 1000)}
        if listener.startswith("SASL"):
            conf.update({"sasl_mechanism": mechanism, "sasl_plain_username": user,
                         "sasl_plain_password": USERS.get(user, "") if password is None else password})
        if listener.endswith("SSL"):
            conf["ssl_cafile"] = str(self.certs.ca)
        if listener == "SSL" and client_cert:
            conf["ssl_certfile"] = str(getattr(self.certs, f"{client_cert}_cert"))
            conf["ssl_keyfile"] = str(getattr(self.certs, f"{client_cert}_key"))
        conf.update(extra)
        return conf

    def java_properties(self, listener: str, mechanism: str | None = "SCRAM-SHA-512",
                        user: str = "alice", password: str | None = None) -> str:
        """Java client properties (as a file's text), as `ck`: PEM trust and key stores."""
        lines = [f"security.protocol={listener}"]
        if listener.startswith("SASL"):
            pw = USERS.get(user, "") if password is None else password
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule"
                      if mechanism == "PLAIN" else "org.apache.kafka.common.security.scram.ScramLoginModule")
            lines += [f"sasl.mechanism={mechanism}",
                      f'sasl.jaas.config={module} required username="{user}" password="{pw}";']
        if listener.endswith("SSL"):
            lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={self.certs.ca}"]
        if listener == "SSL":
            keystore = self.certs.dir / "client-keystore.pem"
            keystore.write_text(self.certs.client_key.read_text() + self.certs.client_cert.read_text())
            lines += ["ssl.keystore.type=PEM", f"ssl.keystore.location={keystore}"]
        return "\n".join(lines) + "\n"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in self.cleanup:
            f()


def start_gregor(ports: dict, certs: Certs, state: Path, extra_args: list[str]) -> SecuredBroker:
    binary = os.environ.get("COMPAT_GREGOR_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/gregor/target")) / "debug/gregor")
    assert os.access(binary, os.X_OK), f"gregor binary {binary} (COMPAT_GREGOR_BIN) is missing"
    args = [binary, "--storage", "disk", "--data-dir", str(state / "data"),
            "--group-initial-rebalance-delay-ms", "0",
            "--ssl-cert", str(certs.server_cert), "--ssl-key", str(certs.server_key),
            "--ssl-client-ca", str(certs.ca)]
    for listener in LISTENERS:
        args += ["--listen", f"{listener}://127.0.0.1:{ports[listener]}"]
    # A PLAINTEXT listener as Kafka's own INTERNAL one (what PLAINTEXT clients are refused).
    args += ["--listen", f"INTERNAL://127.0.0.1:{ports['INTERNAL']}",
             "--listener-security-protocol", "INTERNAL:PLAINTEXT"]
    for user, password in USERS.items():
        args += ["--user", f"{user}:{password}"]
    args += extra_args
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
    env["NO_COLOR"] = "1"
    log = state / "gregor.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env)
    addresses = {l: f"127.0.0.1:{ports[l]}" for l in LISTENERS}
    b = SecuredBroker("gregor", addresses, certs, proc, log, internal=f"127.0.0.1:{ports['INTERNAL']}")
    try:
        for listener in LISTENERS:
            _wait_port(ports[listener], proc, "gregor", log, 30)
    except Exception:
        b.stop()
        raise
    return b


def start_kafka(ports: dict, certs: Certs, state: Path, extra_props: dict,
                jvm_options: list[str] | None = None) -> SecuredBroker:
    libs = subprocess.run([str(COMPAT_DIR / "kafka" / "reference-kafka.sh"), "libs"],
                          capture_output=True, text=True, check=True).stdout.strip()
    cport, iport = ports["CONTROLLER"], ports["INTERNAL"]
    jaas_plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                  + " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")
    jaas_scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{cport}",
        "listeners": ",".join([f"{l}://127.0.0.1:{ports[l]}" for l in LISTENERS]
                              + [f"CONTROLLER://127.0.0.1:{cport}", f"INTERNAL://127.0.0.1:{iport}"]),
        "advertised.listeners": ",".join([f"{l}://127.0.0.1:{ports[l]}" for l in LISTENERS]
                                         + [f"INTERNAL://127.0.0.1:{iport}"]),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "INTERNAL",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,"
                                          "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL",
        "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(certs.server_keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(certs.ca),
        "listener.name.ssl.ssl.client.auth": "required",
        "log.dirs": str(state / "data"),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
    }
    for listener in ("sasl_plaintext", "sasl_ssl"):
        props[f"listener.name.{listener}.plain.sasl.jaas.config"] = jaas_plain
        for m in ("scram-sha-256", "scram-sha-512"):
            props[f"listener.name.{listener}.{m}.sasl.jaas.config"] = jaas_scram
    props.update(extra_props)
    (state / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    (state / "log4j2.properties").write_text(
        "status = warn\nappender.file.type = File\nappender.file.name = file\n"
        f"appender.file.fileName = {state}/server.log\nappender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\nrootLogger.level = warn\n"
        "rootLogger.appenderRef.file.ref = file\n")
    java = ["java", f"-Dlog4j2.configurationFile={state}/log4j2.properties", "-cp", f"{libs}/*"]
    cluster_id = "-"
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    scram = []
    for user, password in USERS.items():
        for m in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            scram += ["--add-scram", f"{m}=[name={user},password={password}]"]
    fmt = subprocess.run([*java, "-Xmx256m", "kafka.tools.StorageTool", "format",
                          f"--cluster-id={cluster_id}", f"--config={state}/server.properties",
                          "--standalone", *scram], capture_output=True, text=True)
    assert fmt.returncode == 0, f"kafka-storage format: {fmt.stdout}{fmt.stderr}"
    log = state / "stdout.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*java, *(jvm_options or []), "-Xms384m", "-Xmx384m", "-XX:+UseG1GC",
                                 "kafka.Kafka",
                                 str(state / "server.properties")],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    addresses = {l: f"127.0.0.1:{ports[l]}" for l in LISTENERS}
    b = SecuredBroker("kafka", addresses, certs, proc, log, internal=f"127.0.0.1:{iport}")
    try:
        for listener in LISTENERS:
            _wait_port(ports[listener], proc, "kafka", log, 120)
    except Exception:
        b.stop()
        raise
    return b
