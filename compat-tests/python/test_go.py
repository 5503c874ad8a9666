"""Go clients: IBM/sarama (Version left at its default, and fixed at V1_0_0_0 like the homework's
old services: "sarama-v1"), segmentio/kafka-go and twmb/franz-go (kgo + kadm, defaults kept).

The scenarios are Go code in compat-tests/go/ (one module, one binary `compat-go <client>
<scenario> <bootstrap>`, which prints one "ok" line per check and exits non-zero with
"FAIL: ..." on the first failed one). A session fixture builds it once with the pinned go.mod /
go.sum; each test runs one (client, scenario) against one broker. Matrix rows are scenario ×
client, e.g. `group | sarama-v1`.

What each scenario asserts is in compat-tests/go/*.go and the README; in short:
- metadata: one broker (the dialled address, the controller); loms.order-events = partitions
  [0 1] led by it; a created topic shows its partitions.
- produce_consume: 40 keyed records with headers (repeated, empty, binary) and explicit
  timestamps under none/gzip/snappy/lz4/zstd (sarama-v1: no zstd, which needs V2_1), read back
  identical, in order per partition, offsets contiguous from 0 and as the producer reported,
  one partition per key (kafka-go: Hash balancer, plus RoundRobin alternating partitions).
- idempotent_produce (sarama): Idempotent=true, MaxOpenRequests=1 as the homework's loms sets it.
- list_offsets: earliest/latest, by timestamp (exact, between records, across batches, past
  the end, empty partition; franz-go also out-of-order timestamps and max-timestamp).
- client_fetch (kafka-go): Client.Fetch (Fetch v11, session id -1 and epoch -1: a sessionless
  full fetch) reads what a Writer wrote, from the first offset, mid-batch, read_committed, at
  the end (nothing) and past it (OFFSET_OUT_OF_RANGE).
- group: 3 members on 2 partitions → exactly 2 hold one each; records consumed once each by
  the owner and committed; an owner leaves → its partition moves; a new member resumes
  exactly after the committed offsets.
- admin: create (and its error codes) / create partitions / delete topics, describe / list /
  delete groups; admin_configs: DescribeConfigs (and franz-go IncrementalAlterConfigs).
- transactions (franz-go): a TransactionalID client commits, aborts, commits 20 records each;
  read_committed readers see exactly the 40 committed, read_uncommitted all 60.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from compat import TIMEOUT

GO_DIR = Path(__file__).resolve().parent.parent / "go"
CACHE = Path(os.environ.get("COMPAT_CACHE_DIR") or Path.home() / ".cache" / "gregor")
BINARY = CACHE / "go" / "compat-go"
# Deadline of one scenario inside compat-go; the subprocess gets a little more.
DEADLINE = max(60.0, 2 * TIMEOUT)

# pytest-timeout's per-test backstop (180 s in pytest.ini) also covers the session fixture's
# `go build`, which the first Go test pays for: a cold one (module downloads, compiling three
# client libraries on 2 busy cores) can take minutes. Each scenario is bounded by DEADLINE.
pytestmark = pytest.mark.timeout(900)

# Which client runs which scenario (where the client has the feature and the reference Kafka
# accepts the versions it sends). `compat-go list` prints the same pairs.
SCENARIOS = {
    "sarama": ["metadata", "produce_consume", "idempotent_produce", "list_offsets", "group", "admin", "admin_configs"],
    # DescribeConfigs at V1_0_0_0 is v0, which Kafka 4 removed: no admin_configs.
    "sarama-v1": ["metadata", "produce_consume", "idempotent_produce", "list_offsets", "group", "admin"],
    "kafka-go": ["metadata", "produce_consume", "list_offsets", "client_fetch", "group", "admin"],
    "franz-go": ["metadata", "produce_consume", "list_offsets", "group", "admin", "admin_configs",
                 "admin_cluster", "transactions"],
}

# (client, scenario) → why it is an expected failure on gregor (known_gap, see conftest.py).
KNOWN_GAPS: dict = {}


def clients_for(scenario: str):
    params = []
    for client, scenarios in SCENARIOS.items():
        if scenario in scenarios:
            gap = KNOWN_GAPS.get((client, scenario))
            marks = [pytest.mark.known_gap(gap)] if gap else []
            params.append(pytest.param(client, marks=marks, id=client))
    return pytest.mark.parametrize("client", params)


@pytest.fixture(scope="session")
def compat_go() -> Path:
    """Build compat-go once per session (go's own build cache makes rebuilds quick)."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("the go toolchain is not on PATH (the Go clients need Go >= 1.26, see "
                    "compat-tests/go/go.mod)")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # The pinned go.sum is the truth: never rewrite go.mod/go.sum; no VCS stamping (a CI clone
    # may lack what `git status` needs).
    env["GOFLAGS"] = "-mod=readonly -buildvcs=false"
    # Build beside the cached binary and rename it into place: another session may be running
    # the old one right now.
    tmp = BINARY.with_name(f"{BINARY.name}.{os.getpid()}.tmp")
    proc = subprocess.run([go, "build", "-o", str(tmp), "."], cwd=GO_DIR, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        pytest.fail(f"go build in {GO_DIR} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    os.replace(tmp, BINARY)
    return BINARY


def run_go(binary: Path, client: str, scenario: str, broker) -> None:
    env = dict(os.environ, COMPAT_GO_DEADLINE=str(DEADLINE))
    try:
        proc = subprocess.run([str(binary), client, scenario, broker.address], env=env,
                              capture_output=True, text=True, timeout=DEADLINE + 15)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        raise AssertionError(f"compat-go {client} {scenario} still running after {DEADLINE + 15:.0f}s:\n{out}")
    output = proc.stdout + (f"\n--- stderr ---\n{proc.stderr}" if proc.stderr.strip() else "")
    print(output)  # every check it made: shown by pytest on failure (and with -rA)
    if proc.returncode != 0:
        failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
        raise AssertionError(
            f"compat-go {client} {scenario} {broker.address} exited {proc.returncode}: "
            + ("\n".join(failed) if failed else output[-3000:]))


@clients_for("metadata")
@pytest.mark.single_broker("checks a one-node cluster")
def test_metadata(broker, compat_go, client):
    run_go(compat_go, client, "metadata", broker)


@clients_for("produce_consume")
def test_produce_consume(broker, compat_go, client):
    run_go(compat_go, client, "produce_consume", broker)


@clients_for("idempotent_produce")
def test_idempotent_produce(broker, compat_go, client):
    run_go(compat_go, client, "idempotent_produce", broker)


@clients_for("list_offsets")
def test_list_offsets(broker, compat_go, client):
    run_go(compat_go, client, "list_offsets", broker)


@clients_for("client_fetch")
def test_client_fetch(broker, compat_go, client):
    run_go(compat_go, client, "client_fetch", broker)


@clients_for("group")
def test_group(broker, compat_go, client):
    run_go(compat_go, client, "group", broker)


@clients_for("admin")
def test_admin(broker, compat_go, client):
    run_go(compat_go, client, "admin", broker)


@clients_for("admin_configs")
def test_admin_configs(broker, compat_go, client):
    run_go(compat_go, client, "admin_configs", broker)


@clients_for("admin_cluster")
def test_admin_cluster(broker, compat_go, client):
    run_go(compat_go, client, "admin_cluster", broker)


@clients_for("transactions")
def test_transactions(broker, compat_go, client):
    run_go(compat_go, client, "transactions", broker)


@pytest.mark.once
def test_go_scenario_list(compat_go):
    """SCENARIOS above and the binary's own list agree (not a broker test: no matrix row)."""
    proc = subprocess.run([str(compat_go), "list"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    listed = sorted(proc.stdout.split("\n"))
    wanted = sorted(f"{c} {s}" for c, ss in SCENARIOS.items() for s in ss)
    assert [x for x in listed if x] == wanted
