"""Private PostgreSQL servers for the tests (standard library only; imported by the compat
suite and by compat-tests/homework).

- `PgServer`: one postmaster (a data directory, a loopback port), run as the `postgres` user
  when we are root (PostgreSQL refuses to run as root), from Debian's packages
  (/usr/lib/postgresql/<ver>/bin).
- `Postgres`: a throw-away single server for the homework end to end (no durability).
- `PgCluster`: a primary with one synchronous standby (pg_basebackup, synchronous_standby_names),
  an application role and database `gregor` with a password, the multi-host libpq URL gregor's
  `--storage postgres://...` takes, and failover: `kill_primary()` (kill -9) and
  `promote_standby()`.

For humans (issue 21's cluster mode; the broker side is in progress):
    python3 compat-tests/python/pgcluster.py start DIR [--ports 25432,25433]   prints the URL
    python3 compat-tests/python/pgcluster.py url|kill-primary|promote|stop DIR
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

APP_USER = "gregor"
APP_DB = "gregor"
STANDBY_NAME = "standby1"


def clean_env(**extra: str) -> dict:
    """The environment without GREGOR_* (gregor rejects unknown ones; none are for us)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
    env.update(extra)
    return env


def pg_bindir() -> Path:
    """Debian keeps initdb/pg_ctl under /usr/lib/postgresql/<ver>/bin (the newest is taken)."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                  key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if bins:
        return Path(bins[-1]).parent
    found = shutil.which("initdb")
    if not found:
        raise RuntimeError("PostgreSQL's initdb not found (apt-get install postgresql)")
    return Path(found).parent


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(what: str, timeout: float, fn, interval: float = 0.1):
    """fn() until truthy (exceptions count as not yet); TimeoutError with the last result."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            got = fn()
            if got:
                return got
            last = got
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a live process, None when gone (a zombie counts as gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return (None if fields[0] in "ZX" else (fields[0], int(fields[1])))


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _proc_stat(int(d))
            if st and st[1] == pid:
                out.append(int(d))
    return out


def _open_path_for(path: Path, user: str) -> None:
    """Make `path` (created here) the user's, and let it through every parent (o+x): runuser
    keeps no supplementary access to a root-only parent."""
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    p = path.parent
    while p != Path("/"):
        mode = os.stat(p).st_mode
        if mode & 0o001 == 0:
            os.chmod(p, mode | 0o011)
        p = p.parent


class PgServer:
    """One postmaster: data directory `data`, port `port` on 127.0.0.1, its unix socket and log
    beside the data directory. Server commands run as `postgres` when we are root; clients
    (psql) run as we are."""

    def __init__(self, data: Path, port: int, name: str = "postgres"):
        self.data, self.port, self.name = Path(data), port, name
        self.bin = pg_bindir()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.logfile = self.data.parent / f"{name}.log"

    def run(self, *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        r = subprocess.run(self.as_user + list(argv), capture_output=True, text=True,
                           env=clean_env(), cwd="/", timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def prepare_dir(self) -> None:
        """The directory holding the data directory, the socket and the log: the server's."""
        parent = self.data.parent
        parent.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            _open_path_for(parent, "postgres")

    def initdb(self, hba: list[str] | None = None, conf: dict[str, str] | None = None) -> None:
        """initdb (trust for everyone unless `hba` replaces pg_hba.conf), `conf` appended to
        postgresql.conf (inherited by a standby's base backup)."""
        self.prepare_dir()
        self.run(str(self.bin / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres",
                 "--no-sync", "-E", "UTF8", "--locale=C")
        if hba is not None:
            self._write_as_server(self.data / "pg_hba.conf", "".join(line + "\n" for line in hba))
        if conf:
            lines = "".join(f"{k} = '{v}'\n" for k, v in conf.items())
            with open(self.data / "postgresql.conf", "a") as f:
                f.write("\n# pgcluster.py\n" + lines)

    def _write_as_server(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self.as_user:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self, **settings: str) -> None:
        """Start on 127.0.0.1:port, settings as -c options (per server: not in the data dir's
        files, so a base backup does not carry them to another server)."""
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use (another PostgreSQL?)")
        opts = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1"
        opts += "".join(f" -c {k}={v}" for k, v in settings.items())
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                 "-o", opts, "-w", "-t", "60", "start")

    def postmaster_pid(self) -> int | None:
        """The live postmaster of this data directory (checked against its command line, so a
        stale postmaster.pid whose pid was reused is no match)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        if _proc_stat(pid) is None or str(self.data).encode() not in cmd:
            return None
        return pid

    def pids(self) -> list[int]:
        """The postmaster and its children, alive."""
        pm = self.postmaster_pid()
        return [pm] + _children(pm) if pm else []

    def alive(self) -> bool:
        return self.postmaster_pid() is not None

    def kill9(self, timeout: float = 30) -> None:
        """kill -9 of the postmaster and every child of it (stopped first, so it forks no new
        one while its children are listed); waits until all are gone."""
        pm = self.postmaster_pid()
        if pm is None:
            return
        os.kill(pm, signal.SIGSTOP)
        victims = [pm] + _children(pm)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(f"{self.name}'s processes to die", timeout,
                   lambda: all(_proc_stat(p) is None for p in victims))

    def stop(self) -> None:
        """Fast shutdown; immediate, then kill -9, if that does not end it. Idempotent."""
        for mode in ("fast", "immediate"):
            if not self.alive():
                return
            try:
                self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30",
                         "stop", check=False, timeout=40)
            except subprocess.TimeoutExpired:
                pass
        self.kill9()

    def psql(self, sql: str, db: str = "postgres", user: str = "postgres", password: str = "",
             check: bool = True, timeout: float = 60) -> str:
        """`psql -Atq` on this server; the output, stripped."""
        return psql(f"host=127.0.0.1 port={self.port} dbname={db} user={user}", sql,
                    password=password, check=check, timeout=timeout).stdout.strip()


def psql(conninfo: str, sql: str, password: str = "", check: bool = True, timeout: float = 60,
         bindir: Path | None = None) -> subprocess.CompletedProcess:
    """psql (no psqlrc, unaligned tuples only, stop on error) with a libpq conninfo or URL; a
    URL may name several hosts (target_session_attrs picks one). Blocks up to `timeout`."""
    env = clean_env(PGCONNECT_TIMEOUT="5")
    if password:
        env["PGPASSWORD"] = password
    argv = [str((bindir or pg_bindir()) / "psql"), "-X", "-Atq", "-v", "ON_ERROR_STOP=1",
            "-d", conninfo, "-c", sql]
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"psql {sql!r}: exit {r.returncode}: {r.stderr.strip()}")
    return r


class Postgres(PgServer):
    """A private throw-away server for the homework end to end: `workdir/pg`, trust auth,
    no durability (fsync and synchronous_commit off)."""

    def __init__(self, workdir: Path, port: int):
        self.dir = Path(workdir) / "pg"
        super().__init__(self.dir / "data", port, name="server")

    def start(self) -> None:
        self.initdb()
        super().start(fsync="off", synchronous_commit="off", full_page_writes="off")

    def create_db(self, name: str) -> str:
        self.psql(f"DROP DATABASE IF EXISTS {name}")
        self.psql(f"CREATE DATABASE {name}")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}?sslmode=disable"


class PgCluster:
    """A primary (workdir/primary) and one synchronous standby (workdir/standby) on
    127.0.0.1:primary_port and :standby_port. Role `gregor` (password auth, owner of database
    `gregor`); the superuser `postgres` is trusted on loopback (the harness's own psql).

        with PgCluster(dir, 25432, 25433) as pg:   # or pg.start() ... pg.stop()
            broker_args = ["--storage", pg.url()]
    """

    def __init__(self, workdir: Path, primary_port: int, standby_port: int,
                 password: str = "gregor-secret", fsync: bool = False):
        self.workdir = Path(workdir)
        self.password = password
        # fsync=off loses nothing on a kill -9 (the kernel keeps the written pages), only on a
        # machine crash; tests kill processes. Benchmarks want fsync=True.
        self.fsync = fsync
        self.nodes = [PgServer(self.workdir / "primary", primary_port, "primary"),
                      PgServer(self.workdir / "standby", standby_port, "standby")]
        self.primary: PgServer | None = self.nodes[0]
        self.standby: PgServer | None = self.nodes[1]

    # -------------------------------------------------------------------------- life cycle
    def __enter__(self) -> "PgCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "PgCluster":
        """initdb + start the primary, base-backup + start the standby, switch synchronous
        replication on; returns when the standby is the synchronous one. Stops what it started
        if any step fails."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._save()
        return self

    def _start(self) -> None:
        primary, standby = self.nodes
        hba = ["local all all trust",
               "host all postgres 127.0.0.1/32 trust",
               "host replication postgres 127.0.0.1/32 trust",
               "host all all 127.0.0.1/32 scram-sha-256"]
        primary.initdb(hba=hba, conf={
            "wal_level": "replica", "max_wal_senders": "10", "hot_standby": "on",
            "fsync": "on" if self.fsync else "off", "full_page_writes": "on",
            "password_encryption": "scram-sha-256"})
        primary.start()
        pw = self.password.replace("'", "''")
        primary.psql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{pw}'")
        primary.psql(f"CREATE DATABASE {APP_DB} OWNER {APP_USER}")
        primary.psql("CREATE TABLE pgcluster_probe (at timestamptz)")  # see promote_standby
        # Set before the base backup, so the standby carries it too (as a node of a real
        # cluster whose configuration is the same everywhere); see promote_standby.
        primary.psql(f"ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 ({STANDBY_NAME})'")
        primary.psql("ALTER SYSTEM SET synchronous_commit = 'on'")
        primary.psql("SELECT pg_reload_conf()")
        # -R: standby.signal + primary_conninfo (with application_name, the name
        # synchronous_standby_names lists); -C -S: a replication slot, so the primary keeps the
        # WAL a stopped standby still needs.
        standby.prepare_dir()
        standby.run(str(standby.bin / "pg_basebackup"), "-D", str(standby.data), "-R",
                    "-X", "stream", "-c", "fast", "-C", "-S", STANDBY_NAME, "--no-sync",
                    "-d", f"host=127.0.0.1 port={primary.port} user=postgres "
                          f"application_name={STANDBY_NAME}")
        standby.start()
        self.wait_sync()

    def wait_sync(self, timeout: float = 60) -> None:
        """Until the primary's pg_stat_replication shows the standby as the synchronous one."""
        wait_until("the standby to be synchronous", timeout, lambda: self.primary.psql(
            "SELECT sync_state FROM pg_stat_replication "
            f"WHERE application_name = '{STANDBY_NAME}'") == "sync")

    def stop(self) -> None:
        """Stops every server of the cluster (kill -9 where shutdown does not end it);
        idempotent, and a no-op for servers already gone."""
        for node in self.nodes:
            node.stop()

    def pids(self) -> list[int]:
        """Every live process of the cluster's servers (empty after stop())."""
        return [p for node in self.nodes for p in node.pids()]

    # ---------------------------------------------------------------------------- failover
    def kill_primary(self) -> None:
        """kill -9 of the primary's postmaster and all its children."""
        _need(self.primary, "a primary").kill9()
        self.primary = None

    def promote_standby(self, timeout: float = 60) -> None:
        """pg_ctl promote the standby; returns when it commits writes."""
        node = _need(self.standby, "a standby")
        node.run(str(node.bin / "pg_ctl"), "-D", str(node.data), "-w", "-t", str(int(timeout)),
                 "promote")
        # The promoted node has synchronous_standby_names (from the base backup) but no standby
        # of its own: every commit would wait forever for one. Run it alone, as failover tools
        # do when no synchronous standby is left (Patroni's non-strict synchronous_mode):
        # commits after the failover are on one server until a new standby is attached.
        node.psql("ALTER SYSTEM RESET synchronous_standby_names")
        node.psql("SELECT pg_reload_conf()")
        self.primary, self.standby = node, None

        # The reload reaches the backends asynchronously: commit until a commit returns. (A
        # commit waits for a standby only when its transaction wrote WAL: a real INSERT, in
        # the database `postgres`, so gregor's own database has no table of ours.)
        def commits() -> bool:
            try:
                node.psql("INSERT INTO pgcluster_probe VALUES (now())", timeout=5)
                return True
            except subprocess.TimeoutExpired:
                return False
        wait_until("the promoted standby to commit", timeout, commits, interval=0.2)

    # --------------------------------------------------------------------------- addresses
    def url(self) -> str:
        """The libpq URL over both servers (the writable one is picked at connect time)."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)
        return self._url(hosts) + "?target_session_attrs=read-write"

    def primary_url(self) -> str:
        return self._url(f"127.0.0.1:{_need(self.primary, 'a primary').port}")

    def _url(self, hosts: str) -> str:
        pw = urllib.parse.quote(self.password, safe="")
        return f"postgres://{APP_USER}:{pw}@{hosts}/{APP_DB}"

    def psql(self, sql: str, port: int | None = None, check: bool = True, timeout: float = 60) -> str:
        """psql as `gregor` on database `gregor`, on `port` (default: the current primary)."""
        if port is None:
            port = _need(self.primary, "a primary").port
        return psql(f"host=127.0.0.1 port={port} dbname={APP_DB} user={APP_USER}", sql,
                    password=self.password, check=check, timeout=timeout).stdout.strip()

    # ------------------------------------------------------------------------- CLI state
    def _save(self) -> None:
        path = self.workdir / "cluster.json"
        path.write_text(json.dumps({"ports": [n.port for n in self.nodes],
                                    "password": self.password, "fsync": self.fsync}) + "\n")
        path.chmod(0o600)

    @classmethod
    def load(cls, workdir: Path) -> "PgCluster":
        """The cluster `start` left in workdir (roles read from the servers' state)."""
        state = json.loads((Path(workdir) / "cluster.json").read_text())
        c = cls(workdir, *state["ports"], password=state["password"], fsync=state["fsync"])
        c.primary = c.standby = None
        for node in c.nodes:
            if node.alive():
                recovering = node.psql("SELECT pg_is_in_recovery()") == "t"
                if recovering:
                    c.standby = node
                else:
                    c.primary = node
        return c


def _need(node: PgServer | None, what: str) -> PgServer:
    if node is None:
        raise RuntimeError(f"the cluster has no {what} (after kill_primary / promote_standby?)")
    return node


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="A PostgreSQL primary with one synchronous standby on "
                                 "loopback, for gregor's cluster mode (--storage URL).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start", help="create and start the pair in DIR (empty or new), print the URL")
    st.add_argument("dir")
    st.add_argument("--ports", default="25432,25433", help="primary,standby (default 25432,25433)")
    st.add_argument("--password", default="gregor-secret", help="role gregor's password")
    st.add_argument("--fsync", action="store_true", help="fsync on (durable across machine crashes)")
    for cmd, what in [("url", "print the multi-host URL"), ("stop", "stop both servers"),
                      ("kill-primary", "kill -9 the primary"),
                      ("promote", "promote the standby (after kill-primary)")]:
        sub.add_parser(cmd, help=what).add_argument("dir")
    args = ap.parse_args(argv)
    workdir = Path(args.dir).resolve()
    if args.cmd == "start":
        ports = [int(p) for p in args.ports.split(",")]
        if len(ports) != 2:
            ap.error("--ports takes two ports: primary,standby")
        if workdir.exists() and any(workdir.iterdir()):
            ap.error(f"{workdir} is not empty")
        try:
            c = PgCluster(workdir, *ports, password=args.password, fsync=args.fsync).start()
        except RuntimeError as e:
            print(f"pgcluster: {e}", file=sys.stderr)
            return 1
        print(c.url())
        print(f"# logs: {workdir}/primary.log {workdir}/standby.log; stop: python3 "
              f"{Path(__file__).resolve()} stop {workdir}", file=sys.stderr)
        return 0
    if not (workdir / "cluster.json").exists():
        ap.error(f"no cluster was started in {workdir} (no cluster.json)")
    c = PgCluster.load(workdir)
    try:
        if args.cmd == "url":
            print(c.url())
        elif args.cmd == "stop":
            c.stop()
        elif args.cmd == "kill-primary":
            c.kill_primary()
        elif args.cmd == "promote":
            c.promote_standby()
    except RuntimeError as e:
        print(f"pgcluster: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
