"""ACLs on authenticated principals (issue 16): a secured broker pair with an authorizer
(secured.py's listeners and users; gregor `--authorizer acl --super-user alice`, Kafka
StandardAuthorizer with super.users=User:alice — and User:ANONYMOUS for its own PLAINTEXT
listener), no allow-everyone default. alice is a super user; bob and the client certificate's
principal get only what ACLs grant.

| scenario | what is asserted |
|---|---|
| acl_sasl_principals | bob (SCRAM-SHA-512 on SASL_SSL) is refused produce on a topic alice made and sees no topics in Metadata; alice grants bob WRITE on a PREFIXED pattern with Kafka's kafka-acls over SASL_SSL (`--command-config`): bob produces there, not elsewhere, and sees only that topic; `--consumer` for bob and one group: bob consumes in that group, another group is GROUP_AUTHORIZATION_FAILED; a DENY READ for bob beats the ALLOW; alice, the super user, is never refused |
| secured_broker_configs | DescribeConfigs BROKER as alice: sasl.enabled.mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; listener.security.protocol.map names SASL_PLAINTEXT, SASL_SSL, SSL; an authorizer.class.name; bob (no cluster DESCRIBE_CONFIGS) refused |
| acl_certificate_principal | the SSL listener's client certificate is User:CN=client,OU=compat,O=gregor: refused without ACLs, allowed with an ALLOW for that principal (AdminClient create_acls as alice) |
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, NewTopic, ResourcePatternType, ResourceType)

import kafkatools
from compat import TIMEOUT
from secured import CLIENT_PRINCIPAL, make_fixture
from test_acls import consume_error, produce_error

acl_secured = make_fixture(
    "acl_secured", 100,
    gregor_args=["--authorizer", "acl", "--super-user", "alice"],
    kafka_props={"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                 "super.users": "User:alice;User:ANONYMOUS"})


def _name(kind: str) -> str:
    return f"compat.acl-sasl-{kind}.{uuid.uuid4().hex[:10]}"


def _create_topic(conf: dict, topic: str) -> None:
    admin = AdminClient(conf)  # kept referenced: the future fails if the handle is destroyed
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while topic not in admin.list_topics(timeout=TIMEOUT).topics:
        assert time.monotonic() < deadline, f"{topic} not in metadata after creation"
        time.sleep(0.2)


def _visible_topics(conf: dict) -> set[str]:
    return {t for t in AdminClient(conf).list_topics(timeout=TIMEOUT).topics
            if t.startswith("compat.acl-sasl-")}


def _kafka_acls(secured, tmp_path, *args: str) -> str:
    """Kafka's kafka-acls as alice over SASL_SSL (--command-config with her Java properties)."""
    props = tmp_path / "alice.properties"
    props.write_text(secured.java_properties("SASL_SSL", "SCRAM-SHA-512"))
    res = kafkatools.run("org.apache.kafka.tools.AclCommand", "--bootstrap-server",
                         secured.address("SASL_SSL"), "--command-config", str(props), *args,
                         timeout=120)
    assert res.returncode == 0, f"kafka-acls exited {res.returncode}\n{res.stdout}\n{res.stderr[-3000:]}"
    return res.stdout


def _eventually(fn, what: str):
    """fn() until it is None (no error): a new ACL reaches Kafka's authorizer through its
    metadata log a moment after CreateAcls answers."""
    deadline = time.monotonic() + 15
    while (err := fn()) is not None:
        assert time.monotonic() < deadline, f"{what}: still {err}"
        time.sleep(0.5)


def _refused(err: KafkaError | None, *codes: int) -> bool:
    return err is not None and err.code() in codes


@pytest.mark.client("kafka-acls")
def test_acl_sasl_principals(broker, acl_secured, tmp_path):
    alice = acl_secured.ck("SASL_SSL", "SCRAM-SHA-512", user="alice")
    bob = acl_secured.ck("SASL_SSL", "SCRAM-SHA-512", user="bob")
    closed, prefix = _name("closed"), _name("bob")
    mine, group = prefix + ".mine", _name("group")
    _create_topic(alice, closed)
    _create_topic(alice, mine)

    # No ACLs and no default: bob may neither write nor see anything; alice (super) may.
    err = produce_error(bob, closed)
    assert _refused(err, KafkaError.TOPIC_AUTHORIZATION_FAILED), err
    assert _visible_topics(bob) == set()
    assert produce_error(alice, closed) is None

    # A PREFIXED ALLOW WRITE for bob, through kafka-acls over SASL_SSL.
    _kafka_acls(acl_secured, tmp_path, "--add", "--allow-principal", "User:bob", "--operation", "Write",
                "--topic", prefix, "--resource-pattern-type", "prefixed")
    listed = _kafka_acls(acl_secured, tmp_path, "--list", "--topic", prefix, "--resource-pattern-type",
                         "prefixed")
    assert "(principal=User:bob, host=*, operation=WRITE, permissionType=ALLOW)" in listed, listed
    _eventually(lambda: produce_error(bob, mine), "bob produces to his prefix")
    err = produce_error(bob, closed)
    assert _refused(err, KafkaError.TOPIC_AUTHORIZATION_FAILED), err
    # WRITE implies DESCRIBE: Metadata shows bob the topic he may write, not the other.
    assert _visible_topics(bob) == {mine}

    # --consumer for one group: that group reads, another is refused.
    err = consume_error(bob, mine, group)
    assert _refused(err, KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED), err
    _kafka_acls(acl_secured, tmp_path, "--add", "--allow-principal", "User:bob", "--consumer",
                "--topic", mine, "--group", group)
    _eventually(lambda: consume_error(bob, mine, group), "bob consumes in his group")
    err = consume_error(bob, mine, group + ".other")
    assert _refused(err, KafkaError.GROUP_AUTHORIZATION_FAILED), err

    # A DENY READ beats the ALLOW.
    _kafka_acls(acl_secured, tmp_path, "--add", "--deny-principal", "User:bob", "--operation", "Read",
                "--topic", mine)
    deadline = time.monotonic() + 15
    while not _refused(err := consume_error(bob, mine, group), KafkaError.TOPIC_AUTHORIZATION_FAILED):
        assert time.monotonic() < deadline, f"bob still reads past the DENY: {err}"
        time.sleep(0.5)
    assert consume_error(alice, mine, group + ".alice") is None

    for args in (["--topic", mine], ["--topic", prefix, "--resource-pattern-type", "prefixed"],
                 ["--group", group]):
        _kafka_acls(acl_secured, tmp_path, "--remove", "--force", *args)


@pytest.mark.client("confluent-kafka")
def test_acl_certificate_principal(broker, acl_secured):
    alice = acl_secured.ck("SASL_SSL", "SCRAM-SHA-512", user="alice")
    cert = acl_secured.ck("SSL")
    topic = _name("cert")
    _create_topic(alice, topic)
    err = produce_error(cert, topic)
    assert _refused(err, KafkaError.TOPIC_AUTHORIZATION_FAILED), err

    binding = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, CLIENT_PRINCIPAL, "*",
                         AclOperation.WRITE, AclPermissionType.ALLOW)
    admin = AdminClient(alice)
    admin.create_acls([binding])[binding].result(timeout=TIMEOUT)
    _eventually(lambda: produce_error(cert, topic), "the certificate's principal produces")
    f = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, CLIENT_PRINCIPAL, "*",
                         AclOperation.WRITE, AclPermissionType.ALLOW)
    assert len(admin.delete_acls([f])[f].result(timeout=TIMEOUT)) == 1


@pytest.mark.client("confluent-kafka")
def test_secured_broker_configs(broker, acl_secured):
    """DescribeConfigs (BROKER) as alice shows the listeners' protocols and the SASL mechanisms;
    bob, without DESCRIBE_CONFIGS on the cluster, is refused."""
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource(ConfigResource.Type.BROKER, _node_id(acl_secured))
    admin = AdminClient(acl_secured.ck("SASL_SSL", user="alice"))  # kept alive for its futures
    configs = admin.describe_configs([res])[res].result(timeout=TIMEOUT)
    mechanisms = set(configs["sasl.enabled.mechanisms"].value.split(","))
    assert mechanisms == {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, mechanisms
    protocols = dict(e.split(":") for e in configs["listener.security.protocol.map"].value.split(","))
    for listener in ("SASL_PLAINTEXT", "SASL_SSL", "SSL"):
        assert protocols.get(listener) == listener, protocols
    assert configs["authorizer.class.name"].value, "an authorizer is configured"
    bob = AdminClient(acl_secured.ck("SASL_SSL", user="bob"))
    with pytest.raises(Exception) as refused:
        bob.describe_configs([res])[res].result(timeout=TIMEOUT)
    assert "CLUSTER_AUTHORIZATION_FAILED" in str(refused.value) or "uthoriz" in str(refused.value), refused.value


def _node_id(secured) -> str:
    md = AdminClient(secured.ck("SASL_SSL", user="alice")).list_topics(timeout=TIMEOUT)
    return str(next(iter(md.brokers)))
