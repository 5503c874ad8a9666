"""Delegation tokens (KIP-48; issue 18) on the secured broker of each kind (secured.py, which
sets `delegation.token.secret.key` on both), driven by Kafka's own tools from the reference
jars: `kafka-delegation-tokens` (DelegationTokenCommand, the AdminClient's token calls) and the
console producer and consumer (Java clients: librdkafka and kafka-python have no `tokenauth`
SCRAM extension).

| scenario | what is asserted |
|---|---|
| delegation_tokens | as alice over SASL_PLAINTEXT SCRAM-SHA-512: `--create --renewer-principal User:bob` prints Kafka's token table (TOKENID, HMAC, OWNER User:alice, REQUESTER User:alice, RENEWERS [User:bob], expiry = issue + 1 day, max = issue + 7 days); the console producer authenticated with the token (ScramLoginModule username=<token id> password=<hmac> tokenauth=true, SCRAM-SHA-256 and -512) writes 3 records that the console consumer, also with the token, reads back; `--describe` (Kafka 4.4's tool then sends an empty owner list) shows 0 tokens, `--describe --owner-principal User:alice` (and `User:bob`, its renewer) the token with the same row; `--renew --renew-time-period 3600000` → "Completed renew operation" and describe shows the expiry one hour on; creating with the token's connection and creating over PLAINTEXT → Kafka's DelegationTokenRequestNotAllowed message; `--expire --expiry-time-period -1` → "Completed expire operation", describe shows 0 tokens, and a new connection with the token fails SASL authentication |

Cost per broker: 13 tool runs in the warm JVM of kafkatools.py: 2 s (gregor) and 9 s (Kafka)
with run.sh's two pytests side by side; no broker of its own (the shared `secured` pair).
"""

from __future__ import annotations

import datetime
import re
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafkatools
from compat import TIMEOUT, wait_for
from secured import secured  # noqa: F401 - the fixture

pytestmark = [pytest.mark.timeout(300), pytest.mark.client("kafka-delegation-tokens")]

TOKENS = "org.apache.kafka.tools.DelegationTokenCommand"
PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
TOPICS = "org.apache.kafka.tools.TopicCommand"
NOT_ALLOWED = ("Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and "
               "on delegation token authenticated channels.")
HEADER = ["TOKENID", "HMAC", "OWNER", "REQUESTER", "RENEWERS", "ISSUEDATE", "EXPIRYDATE",
          "MAXDATE"]


def java(cls: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return kafkatools.run(cls, *args, stdin=stdin)


def ok(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 0, f"exited {res.returncode}:\n{res.stdout}\n{res.stderr[-3000:]}"
    return res.stdout


def token_props(path, token_id: str, hmac: str, mechanism: str = "SCRAM-SHA-512") -> str:
    path.write_text(
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism={mechanism}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{token_id}" password="{hmac}" tokenauth=true;\n')
    return str(path)


def token_rows(out: str) -> list[dict[str, str]]:
    """The token table DelegationTokenCommand prints: its header, then a row per token."""
    lines = [l for l in out.splitlines() if l.strip()]
    at = next(i for i, l in enumerate(lines) if l.split() == HEADER)
    rows = []
    for line in lines[at + 1:]:
        cells = line.split()
        if len(cells) != len(HEADER):
            break
        rows.append(dict(zip(HEADER, cells)))
    return rows


def log_end(secured, topic: str) -> int:
    consumer = Consumer({**secured.ck("SASL_PLAINTEXT"), "group.id": "unused"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)[1]
    finally:
        consumer.close()


def authenticates(sasl: list[str], config: str) -> None:
    """Waits until the broker accepts the token. Kafka's broker learns of a new token from its
    metadata log, which may lag the controller's answer to the create: a connection made at
    once may fail authentication (a console producer then logs the failed sends, exits 0 after
    half a minute, and has written nothing, as CI saw twice). The topic listing fails fast."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        res = java(TOPICS, *sasl, "--command-config", config, "--list")
        if res.returncode == 0:
            return
        assert time.monotonic() < deadline, f"the token never authenticated:\n{res.stderr[-3000:]}"
        time.sleep(0.5)


def minutes(row: dict, column: str) -> datetime.datetime:
    return datetime.datetime.strptime(row[column], "%Y-%m-%dT%H:%M")


def test_delegation_tokens(broker, secured, tmp_path):
    alice = tmp_path / "alice.properties"
    alice.write_text(secured.java_properties("SASL_PLAINTEXT", "SCRAM-SHA-512"))
    sasl = ["--bootstrap-server", secured.address("SASL_PLAINTEXT")]

    def tokens(*args: str, config=alice) -> subprocess.CompletedProcess:
        return java(TOKENS, *sasl, "--command-config", str(config), *args)

    created = ok(tokens("--create", "--max-life-time-period", "-1",
                        "--renewer-principal", "User:bob"))
    assert "Calling create token operation with renewers :[User:bob]" in created, created
    m = re.search(r"Created delegation token with tokenId : (\S+)", created)
    assert m, created
    [row] = token_rows(created)
    token_id, hmac = row["TOKENID"], row["HMAC"]
    assert token_id == m.group(1)
    assert (row["OWNER"], row["REQUESTER"], row["RENEWERS"]) == (
        "User:alice", "User:alice", "[User:bob]"), row
    issued = minutes(row, "ISSUEDATE")
    day, week = datetime.timedelta(days=1), datetime.timedelta(days=7)
    assert abs(minutes(row, "EXPIRYDATE") - issued - day) <= datetime.timedelta(minutes=1), row
    assert abs(minutes(row, "MAXDATE") - issued - week) <= datetime.timedelta(minutes=1), row

    # A producer and a consumer authenticated by the token (both SCRAM mechanisms).
    topic = f"tokens-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(secured.ck("SASL_PLAINTEXT"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT)
    by256 = token_props(tmp_path / "t256.properties", token_id, hmac, "SCRAM-SHA-256")
    by512 = token_props(tmp_path / "t512.properties", token_id, hmac)
    for config in (by256, by512):
        authenticates(sasl, config)
    res = java(PRODUCER, *sasl, "--topic", topic, "--command-config", by256,
               stdin="one\ntwo\nthree\n")
    # The console producer logs a failed send and still exits 0.
    written = log_end(secured, topic)
    assert written == 3, f"{written} of 3 records written:\n{res.stdout}\n{res.stderr[-3000:]}"
    # Assigned, not subscribed: a group would add the coordinator's start-up to the wait (on a
    # loaded machine Kafka's first group took longer than TIMEOUT once in CI).
    consumed = ok(java(CONSUMER, *sasl, "--topic", topic, "--partition", "0",
                       "--offset", "earliest", "--max-messages", "3", "--timeout-ms", str(int(TIMEOUT * 1000)),
                       "--command-config", by512))
    assert consumed.splitlines() == ["one", "two", "three"], consumed

    # Kafka 4.4's tool sends an empty owner list for "current user", which the broker answers
    # with no tokens (KafkaApis: ownersListEmpty); by owner it finds the token.
    described = ok(tokens("--describe"))
    assert "Calling describe token operation for current user." in described, described
    assert "Total number of tokens : 0" in described, described
    described = ok(tokens("--describe", "--owner-principal", "User:alice"))
    assert "Calling describe token operation for owners: [User:alice]" in described, described
    assert "Total number of tokens : 1" in described, described
    assert token_rows(described) == [row], described
    # bob renews it: it is among his too.
    assert token_rows(ok(tokens("--describe", "--owner-principal", "User:bob"))) == [row]

    renewed = ok(tokens("--renew", "--hmac", hmac, "--renew-time-period", "3600000"))
    assert "Completed renew operation. New expiry date : " in renewed, renewed
    # Kafka answers once its controller has the change; the broker that describes learns it from
    # the metadata log a moment later (once in CI the first describe still had the old expiry).
    hour = datetime.timedelta(hours=1)

    def renewed_row():
        [after] = token_rows(ok(tokens("--describe", "--owner-principal", "User:alice")))
        now = datetime.datetime.now().replace(second=0, microsecond=0)
        near = abs(minutes(after, "EXPIRYDATE") - now - hour) <= datetime.timedelta(minutes=2)
        return after if near else None

    after = wait_for(renewed_row, "the renewed expiry (now + 1 h) in describe")
    assert after["MAXDATE"] == row["MAXDATE"]

    # Token requests: not with a token, not over PLAINTEXT (Kafka's own listener; gregor's
    # INTERNAL one in the fixture).
    with_token = java(TOKENS, *sasl, "--command-config", by512, "--create",
                      "--max-life-time-period", "-1")
    assert NOT_ALLOWED in with_token.stdout + with_token.stderr, with_token.stdout + with_token.stderr
    plain = tmp_path / "plain.properties"
    plain.write_text("security.protocol=PLAINTEXT\n")
    over_plaintext = java(TOKENS, "--bootstrap-server", secured.internal, "--command-config",
                          str(plain), "--create", "--max-life-time-period", "-1")
    out = over_plaintext.stdout + over_plaintext.stderr
    assert NOT_ALLOWED in out, out

    expired = ok(tokens("--expire", "--hmac", hmac, "--expiry-time-period", "-1"))
    assert "Completed expire operation. New expiry date : " in expired, expired
    wait_for(lambda: "Total number of tokens : 0" in ok(tokens("--describe", "--owner-principal",
                                                               "User:alice")),
             "no token of alice in describe after expiring it")

    def refused() -> str | None:
        res = java(TOKENS, *sasl, "--command-config", by512, "--describe", "--owner-principal",
                   "User:alice")
        out = res.stdout + res.stderr
        return out if res.returncode != 0 and "SaslAuthenticationException" in out else None

    wait_for(refused, "the expired token refused at authentication")
