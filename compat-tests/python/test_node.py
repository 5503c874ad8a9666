"""kafkajs 2.2.4 (its current release), through compat-tests/node's
`node compat.js kafkajs SCENARIO HOST:PORT`. Codecs beyond kafkajs's built-in gzip come from
pure-JS/WebAssembly packages (kafkajs-snappy, lz4js, zstd-codec; see node/codecs.js).

| scenario | what is asserted |
|---|---|
| metadata | describeCluster (one broker at the dialled host:port, the controller, a cluster id); listTopics; fetchTopicMetadata of loms.order-events (partitions [0, 1], leader/replicas/ISR = the broker) and of all topics; createTopics → true, again → false; the new topic's 3 partitions |
| produce_consume[codec] | 60 records (keyed, key-less on pinned partitions, tombstones, explicit timestamps, headers incl. repeated, empty, binary) in 2 requests with the idempotent producer: exact per-partition base offsets (keys on murmur2 % 2); a group consumer reads them back identical and in order, nothing more; fetchTopicOffsets low/high |
| list_offsets | fetchTopicOffsets and fetchTopicOffsetsByTimestamp over 3 batches (one record out of order), past the end (→ high watermark) and on an empty partition |
| group | 3 consumers (round robin) on 2 partitions: describeGroups Stable with exactly 2 active; records go to the owners; commitOffsets 7 and 3 (fetchOffsets agrees); the owner of p0 leaves → the other two own both and resume exactly at 7 and 3; commit 10; a new member reads exactly offsets 10..13 |
| admin | createTopics, fetchTopicMetadata, createPartitions (fewer → INVALID_PARTITIONS), listGroups, describeGroups (Stable, member, decoded assignment and subscription), deleteGroups of a live group → NON_EMPTY_GROUP, fetchOffsets, describeGroups Empty, resetOffsets (→ -2) and fetchOffsets(resolveOffsets) → 0 through setOffsets, deleteGroups (again → GROUP_ID_NOT_FOUND), deleteTopics (again → UNKNOWN_TOPIC_OR_PARTITION) |
| configs | createTopics with configEntries; describeConfigs shows them as topic configs; alterConfigs replaces them; broker configs (known gap on gregor: no DescribeConfigs / AlterConfigs yet) |
| reject_lz4_dependent | a Produce whose LZ4 frame leaves the block-independence flag clear (lz4js's raw output, unreadable by Java's decompressor) is refused and nothing is appended, as Kafka does (it decompresses every compressed batch on append) |
"""

import shutil

import pytest

from cli_scenarios import COMPAT_DIR, build, run_scenario, tree_digest
from compat import CODECS

NODE_DIR = COMPAT_DIR / "node"
CLIENT = "kafkajs"


@pytest.fixture(scope="session")
def node_compat():
    """`node compat.js` as a command prefix; `npm ci` runs once, when package-lock.json changed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed (apt-get install -y nodejs npm)")
    digest = tree_digest(NODE_DIR, ["package.json", "package-lock.json"], [])
    # The stamp (and the lock beside it) live outside node_modules: `npm ci` deletes that
    # directory, and with it a lock the other broker's pytest would then not wait on.
    build([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], NODE_DIR,
          NODE_DIR / ".compat-install-stamp", digest, "npm ci in compat-tests/node",
          outputs=[NODE_DIR / "node_modules" / "kafkajs"])
    return [node, str(NODE_DIR / "compat.js")]


def run(node_compat, scenario, broker):
    __tracebackhide__ = True
    run_scenario(node_compat, CLIENT, scenario, broker, NODE_DIR)


@pytest.mark.single_broker("checks a one-node cluster")
@pytest.mark.parametrize("client", [CLIENT])
def test_metadata(node_compat, broker, client):
    run(node_compat, "metadata", broker)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", [CLIENT])
def test_produce_consume(node_compat, broker, client, codec):
    run(node_compat, f"produce_consume:{codec}", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_list_offsets(node_compat, broker, client):
    run(node_compat, "list_offsets", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_group(node_compat, broker, client):
    run(node_compat, "group", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_admin(node_compat, broker, client):
    run(node_compat, "admin", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_configs(node_compat, broker, client):
    run(node_compat, "configs", broker)


@pytest.mark.parametrize("client", [CLIENT])
def test_reject_lz4_dependent(node_compat, broker, client):
    run(node_compat, "reject_lz4_dependent", broker)
