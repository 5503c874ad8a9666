"""SASL/OAUTHBEARER against a secured gregor and a secured reference Kafka configured alike:
the test makes an RSA key, writes its JWKS file and signs JWTs (PyJWT); gregor validates them
with `--oauth-jwks FILE --oauth-expected-issuer --oauth-expected-audience`, Kafka with its
OAuthBearerValidatorCallbackHandler (sasl.oauthbearer.jwks.endpoint.url=file:..., expected
issuer and audience). Clients hand their token over with confluent-kafka's oauth_cb.

| scenario | what is asserted |
|---|---|
| oauth_roundtrip[listener] | confluent-kafka produces 20 records and reads them back with a good token (SASL_PLAINTEXT, SASL_SSL) |
| oauth_bad_token[kind] | expired, not yet valid, wrong issuer, wrong audience, bad signature, unknown kid, alg none, no sub: librdkafka reports an authentication error; a good token still works |
| oauth_java | the Java client's own produce_consume scenario over SASL_SSL with OAUTHBEARER, its token read from a file (sasl.oauthbearer.token.endpoint.url=file:..., OAuthBearerLoginCallbackHandler) |
| oauth_wire | raw protocol: a good token → error 0; a bad one → the challenge {"status":"invalid_token"}, the client's ^A → SASL_AUTHENTICATION_FAILED (58) with that message, closed; a malformed message → 58, closed |
"""

from __future__ import annotations

import atexit
import base64
import json
import shutil
import socket
import struct
import tempfile
import time
import uuid
from pathlib import Path

import jwt  # PyJWT
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from cryptography.hazmat.primitives.asymmetric import rsa

from cli_scenarios import run_scenario
from compat import TIMEOUT
from secured import make_fixture
from test_java import JAVA_DIR, java_compat  # noqa: F401 - the fixture
from test_security_authn import create, frame, handshake, kstr, recv_frame

pytestmark = pytest.mark.timeout(300)

ISSUER = "https://idp.compat.test"
AUDIENCE = "gregor-compat"
MECHANISMS = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"

# ------------------------------------------------------------------------------ keys and tokens

KEY_DIR = Path(tempfile.mkdtemp(prefix="gregor-compat-oauth."))
atexit.register(shutil.rmtree, KEY_DIR, True)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not in the JWKS


def _b64u_int(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def write_jwks(path: Path, key, kid: str = "k1"):
    numbers = key.public_key().public_numbers()
    doc = {"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                     "n": _b64u_int(numbers.n), "e": _b64u_int(numbers.e)}]}
    path.write_text(json.dumps(doc))


JWKS = KEY_DIR / "jwks.json"
write_jwks(JWKS, KEY)


def token(sub: str = "alice", lifetime: float = 600, key=None, kid: str = "k1", alg: str = "RS256",
          **claims) -> str:
    now = int(time.time())
    body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": int(now + lifetime),
            "scope": "kafka"}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    if alg == "none":
        header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": kid}).encode()).rstrip(b"=")
        payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=")
        return (header + b"." + payload + b".").decode()
    return jwt.encode(body, key or KEY, algorithm=alg, headers={"kid": kid})


def oauth_fixture(name: str, port_offset: int, gregor_extra=(), kafka_extra=None):
    """A secured broker pair with OAUTHBEARER beside PLAIN and SCRAM on both SASL listeners."""
    kafka_props = {"sasl.enabled.mechanisms": MECHANISMS,
                   "sasl.oauthbearer.jwks.endpoint.url": JWKS.as_uri(),
                   "sasl.oauthbearer.expected.issuer": ISSUER,
                   "sasl.oauthbearer.expected.audience": AUDIENCE}
    for listener in ("sasl_plaintext", "sasl_ssl"):
        prefix = f"listener.name.{listener}.oauthbearer."
        kafka_props[prefix + "sasl.server.callback.handler.class"] = (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler")
        kafka_props[prefix + "sasl.jaas.config"] = (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;")
    kafka_props.update(kafka_extra or {})
    gregor_args = ["--sasl-mechanisms", MECHANISMS, "--oauth-jwks", str(JWKS),
                   "--oauth-expected-issuer", ISSUER, "--oauth-expected-audience", AUDIENCE,
                   *gregor_extra]
    # Kafka 4 reads OAuth URLs and files only when the JVM allows them.
    jvm = [f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={JWKS.as_uri()}",
           f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.files={JWKS}"]
    return make_fixture(name, port_offset, gregor_args, kafka_props, jvm)


oauth = oauth_fixture("oauth", 60)


def ck_oauth(secured, listener: str, make_token=token, **extra) -> dict:
    """confluent-kafka settings: OAUTHBEARER with the token `make_token()` returns."""
    conf = secured.ck(listener, "OAUTHBEARER")
    for k in ("sasl.username", "sasl.password"):
        conf.pop(k, None)

    def oauth_cb(_config):
        t = make_token()
        claims = jwt.decode(t, options={"verify_signature": False}) if t.count(".") == 2 else {}
        # librdkafka refuses a token whose lifetime has passed, so an expired one is handed
        # over as if it were still good (the broker is what must refuse it).
        return t, max(float(claims.get("exp", 0)), time.time() + 60), "alice"

    conf["oauth_cb"] = oauth_cb
    conf.update(extra)
    return conf


def roundtrip(conf: dict, admin_conf: dict, label: str, n: int = 20):
    topic = f"compat.oauth-{label}.{uuid.uuid4().hex[:10]}"
    create(admin_conf, topic)
    producer = Producer({**conf, "acks": "all", "linger.ms": 5})
    producer.poll(0)
    errors = []
    for i in range(n):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                         on_delivery=lambda e, m: e and errors.append(e))
    assert producer.flush(TIMEOUT) == 0 and not errors, errors
    consumer = Consumer({**conf, "group.id": "oauth-" + uuid.uuid4().hex, "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, p, -2) for p in range(2)])
        got = []
        deadline = time.monotonic() + TIMEOUT
        while len(got) < n:
            assert time.monotonic() < deadline, f"consumed {len(got)}/{n}"
            for m in consumer.consume(100, 0.5):
                if not m.error():
                    got.append(m.value())
        assert sorted(got) == sorted(f"v{i}".encode() for i in range(n))
    finally:
        consumer.close()


def auth_errors(conf: dict) -> list:
    """The errors librdkafka reports when `conf` tries to list topics (which must fail)."""
    errors = []
    admin = AdminClient({**conf, "error_cb": errors.append})
    admin.poll(0)
    with pytest.raises(Exception):
        admin.list_topics(timeout=5)
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        admin.poll(0.2)
    return errors


@pytest.mark.client("confluent-kafka")
@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_oauth_roundtrip(broker, oauth, listener):
    roundtrip(ck_oauth(oauth, listener), oauth.ck(listener), listener.lower())


BAD_TOKENS = {
    "expired": lambda: token(lifetime=-120, iat=int(time.time()) - 600),
    "not_yet_valid": lambda: token(nbf=int(time.time()) + 600),
    "wrong_issuer": lambda: token(iss="https://elsewhere.test"),
    "wrong_audience": lambda: token(aud="someone-else"),
    "bad_signature": lambda: token(key=OTHER_KEY),
    "unknown_kid": lambda: token(kid="nope"),
    "alg_none": lambda: token(alg="none"),
    "no_sub": lambda: token(sub=None),
}


@pytest.mark.client("confluent-kafka")
@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_oauth_bad_token(broker, oauth, kind):
    errors = auth_errors(ck_oauth(oauth, "SASL_SSL", BAD_TOKENS[kind]))
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    # The broker keeps serving: a good token and a SCRAM user still work.
    AdminClient(oauth.ck("SASL_SSL")).list_topics(timeout=TIMEOUT)
    admin = AdminClient(ck_oauth(oauth, "SASL_SSL"))
    admin.poll(0)
    admin.list_topics(timeout=TIMEOUT)


def authenticate(sock, payload: bytes, correlation_id: int, version: int = 1):
    """SaslAuthenticate v1: (error, message, auth bytes, session lifetime ms) or None if closed."""
    sock.sendall(frame(36, version, correlation_id, struct.pack(">i", len(payload)) + payload))
    resp = recv_frame(sock)
    if resp is None:
        return None
    cid, error, mlen = struct.unpack(">ihh", resp[:8])
    assert cid == correlation_id
    message = resp[8:8 + mlen].decode() if mlen >= 0 else None
    rest = resp[8 + max(mlen, 0):]
    (blen,) = struct.unpack(">i", rest[:4])
    auth, rest = rest[4:4 + blen], rest[4 + blen:]
    lifetime = struct.unpack(">q", rest[:8])[0] if version >= 1 else None
    return error, message, auth, lifetime


def client_first(t: str) -> bytes:
    return f"n,,\x01auth=Bearer {t}\x01\x01".encode()


@pytest.mark.client("raw")
def test_oauth_wire(broker, oauth):
    host, port = oauth.address("SASL_PLAINTEXT").rsplit(":", 1)
    connect = lambda: socket.create_connection((host, int(port)), timeout=TIMEOUT)  # noqa: E731
    # A good token: authenticated.
    with connect() as s:
        error, mechanisms = handshake(s, "OAUTHBEARER", 1)
        assert error == 0 and "OAUTHBEARER" in mechanisms
        error, _, auth, lifetime = authenticate(s, client_first(token(lifetime=600)), 2)
        assert (error, auth) == (0, b"")
        s.sendall(frame(3, 1, 3, struct.pack(">i", -1)))
        resp = recv_frame(s)
        assert resp is not None and struct.unpack(">i", resp[:4]) == (3,)
    # A bad token: the error challenge, then the client's ^A fails the exchange with it.
    with connect() as s:
        assert handshake(s, "OAUTHBEARER", 1)[0] == 0
        error, _, auth, _ = authenticate(s, client_first(token(aud="someone-else")), 2)
        assert (error, json.loads(auth)) == (0, {"status": "invalid_token"})
        error, message, _, _ = authenticate(s, b"\x01", 3)
        assert (error, json.loads(message)) == (58, {"status": "invalid_token"})
        assert recv_frame(s) is None, "still open after a failed authentication"
    # Not an OAUTHBEARER message at all: 58 at once, closed.
    with connect() as s:
        assert handshake(s, "OAUTHBEARER", 1)[0] == 0
        error, message, _, _ = authenticate(s, b"n,,auth=Bearer x", 2)
        assert error == 58 and "OAUTHBEARER" in message
        assert recv_frame(s) is None, "still open after a failed authentication"
    AdminClient(oauth.ck("SASL_PLAINTEXT")).list_topics(timeout=TIMEOUT)


@pytest.mark.client("java")
def test_oauth_java(broker, oauth, java_compat, tmp_path, monkeypatch):
    jwt_file = tmp_path / "token.jwt"
    jwt_file.write_text(token(lifetime=600))
    props = tmp_path / "client.properties"
    props.write_text("\n".join([
        "security.protocol=SASL_SSL", "sasl.mechanism=OAUTHBEARER",
        "ssl.truststore.type=PEM", f"ssl.truststore.location={oauth.certs.ca}",
        "sasl.login.callback.handler.class="
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
        f"sasl.oauthbearer.token.endpoint.url={jwt_file.as_uri()}",
        "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;",
    ]) + "\n")
    monkeypatch.setenv("COMPAT_CLIENT_PROPERTIES", str(props))
    # The Java client, like the broker, reads an OAuth file only when the JVM allows it.
    program = [java_compat[0], f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={jwt_file.as_uri()}",
               f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.files={jwt_file}", *java_compat[1:]]
    run_scenario(program, "java", "produce_consume:none", oauth.broker("SASL_SSL"), JAVA_DIR)
