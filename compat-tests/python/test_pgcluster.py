"""Self-test of the PostgreSQL harness of issue 21's cluster tests (pgcluster.py, stallproxy.py):
real PostgreSQL servers (Debian's packages), a primary with a synchronous standby.

Not a broker scenario (no `broker` fixture, no matrix row): marked `once`, so run.sh runs it in
one of its pytest halves only. Ports from COMPAT_PG_PORT (default 25432) to COMPAT_PG_PORT + 6.
Every server started here is stopped, and checked gone, even when a test fails; a failing
test's work directory (server logs) is kept and named in the output.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from pgcluster import PgCluster, pg_bindir, port_open, psql, wait_until
from stallproxy import StallProxy

pytestmark = pytest.mark.once

BASE = int(os.environ.get("COMPAT_PG_PORT", "25432"))
HERE = Path(__file__).resolve().parent


@contextmanager
def running_cluster(request, primary_port: int, standby_port: int):
    # Under /tmp, not pytest's tmp_path: the servers run as `postgres`, and pytest makes its
    # base directory root-only again whenever another pytest (the suite's other half) starts.
    work = Path(tempfile.mkdtemp(prefix="gregor-pgcluster."))
    failed_before = request.session.testsfailed
    cluster = PgCluster(work, primary_port, standby_port)
    passed = False
    try:
        yield cluster.start()
        passed = True
    finally:
        cluster.stop()
        left = cluster.pids()
        if passed and request.session.testsfailed == failed_before and not left:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"pgcluster work directory kept: {work}", file=sys.stderr)
    assert not left, f"PostgreSQL processes left running: {left}"


@pytest.fixture(scope="module")
def cluster(request):
    with running_cluster(request, BASE, BASE + 1) as c:
        yield c


def fresh_table(cluster: PgCluster) -> str:
    name = f"t_{uuid.uuid4().hex[:10]}"
    cluster.psql(f"CREATE TABLE {name} (id int PRIMARY KEY)")
    return name


def count_on(cluster: PgCluster, table: str, port: int) -> int:
    return int(cluster.psql(f"SELECT count(*) FROM {table}", port=port))


def test_standby_sees_primary_commits(cluster):
    table = fresh_table(cluster)
    cluster.psql(f"INSERT INTO {table} SELECT generate_series(1, 100)")
    assert cluster.psql("SELECT pg_is_in_recovery()", port=cluster.standby.port) == "t"
    # synchronous_commit=on waits for the standby's flush, not its replay: poll briefly.
    wait_until("the standby to replay the rows", 10,
               lambda: count_on(cluster, table, cluster.standby.port) == 100)


def test_commit_waits_for_synchronous_standby(cluster):
    table = fresh_table(cluster)
    standby = cluster.standby
    standby.stop()
    result: dict = {}

    def insert():
        try:
            result["out"] = cluster.psql(f"INSERT INTO {table} VALUES (1) RETURNING id", timeout=90)
        except Exception as e:  # noqa: BLE001 - asserted below
            result["error"] = e

    t = threading.Thread(target=insert, daemon=True)
    t.start()
    try:
        t.join(3)
        assert t.is_alive(), f"the commit returned with the synchronous standby down: {result}"
        waiting = cluster.primary.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'gregor' AND wait_event = 'SyncRep'")
        assert waiting == "1", "the INSERT's backend is not waiting for synchronous replication"
    finally:
        standby.start()
    cluster.wait_sync()
    t.join(30)
    assert not t.is_alive(), "the commit did not return once the standby was back"
    assert result == {"out": "1"}
    wait_until("the row on the standby", 10, lambda: count_on(cluster, table, standby.port) == 1)


class PsqlSession:
    """One psql process over one connection: queries written to its stdin, results read."""

    def __init__(self, conninfo: str, password: str):
        env = {**os.environ, "PGPASSWORD": password}
        self.p = subprocess.Popen([str(pg_bindir() / "psql"), "-X", "-Atq", "-d", conninfo],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)

    def send(self, sql: str) -> None:
        self.p.stdin.write(sql + "\n")
        self.p.stdin.flush()

    def read_line(self, timeout: float) -> str | None:
        """The next output line, None if none within timeout."""
        readable, _, _ = select.select([self.p.stdout], [], [], timeout)
        return self.p.stdout.readline().strip() if readable else None

    def close(self) -> None:
        self.p.kill()
        self.p.wait()


def test_stall_proxy_holds_and_resumes_a_session(cluster):
    with StallProxy(BASE + 6, "127.0.0.1", cluster.primary.port) as proxy:
        s = PsqlSession(f"host=127.0.0.1 port={proxy.port} dbname=gregor user=gregor",
                        cluster.password)
        try:
            s.send("SELECT 1;")
            assert s.read_line(10) == "1"
            proxy.stall()
            s.send("SELECT 42;")
            assert s.read_line(3) is None, "a query went through a stalled proxy"
            assert s.p.poll() is None, "psql saw the connection end (a stall must be silence)"
            proxy.resume()
            assert s.read_line(10) == "42"
            # A connection opened during a stall waits too, and completes after it.
            proxy.stall()
            late: dict = {}
            t = threading.Thread(daemon=True, target=lambda: late.update(
                r=psql(f"postgres://gregor:{cluster.password}@127.0.0.1:{proxy.port}/gregor",
                       "SELECT 7", check=False, timeout=30)))
            t.start()
            t.join(2)  # below psql's PGCONNECT_TIMEOUT (5 s)
            assert t.is_alive(), f"a connection was made through a stalled proxy: {late}"
            proxy.resume()
            t.join(15)
            assert late["r"].returncode == 0 and late["r"].stdout.strip() == "7", late
        finally:
            s.close()
    assert not port_open(proxy.port), "the proxy still listens after close()"


def test_failover_keeps_committed_rows(request):
    with running_cluster(request, BASE + 2, BASE + 3) as c:
        table = fresh_table(c)
        for i in range(50):  # one transaction each: every one acknowledged by the standby
            c.psql(f"INSERT INTO {table} VALUES ({i})")
        old, new = c.primary, c.standby
        c.kill_primary()
        assert old.pids() == [] and not port_open(old.port)
        # Before the promotion the URL finds no writable server (the standby is read-only).
        r = psql(c.url(), "SELECT 1", check=False, timeout=30)
        assert r.returncode != 0, "target_session_attrs=read-write connected to a standby"
        c.promote_standby()
        assert c.primary is new
        out = psql(c.url(), f"INSERT INTO {table} VALUES (1000); "
                   f"SELECT count(*), min(id), max(id), inet_server_port() FROM {table}", timeout=30)
        assert out.stdout.strip() == f"51|0|1000|{new.port}"


def test_cli_start_url_stop(request):
    work = Path(tempfile.mkdtemp(prefix="gregor-pgcluster-cli.")) / "pair"
    cli = [sys.executable, str(HERE / "pgcluster.py")]
    ports = f"{BASE + 4},{BASE + 5}"
    try:
        r = subprocess.run(cli + ["start", str(work), "--ports", ports],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        url = r.stdout.strip()
        assert url == (f"postgres://gregor:gregor-secret@127.0.0.1:{BASE + 4},127.0.0.1:{BASE + 5}"
                       "/gregor?target_session_attrs=read-write")
        assert subprocess.run(cli + ["url", str(work)], capture_output=True, text=True,
                              timeout=30).stdout.strip() == url
        assert psql(url, "SELECT current_user", timeout=30).stdout.strip() == "gregor"
    finally:
        subprocess.run(cli + ["stop", str(work)], capture_output=True, timeout=120)
        pair = PgCluster(work, BASE + 4, BASE + 5)
        left = pair.pids()
        pair.stop()  # whatever `start` or `stop` left behind
        shutil.rmtree(work.parent, ignore_errors=True)
    assert not left, f"PostgreSQL processes left running after `stop`: {left}"
    assert not port_open(BASE + 4) and not port_open(BASE + 5)
