"""The homework end to end's plumbing (standard library only): checks and their report,
waiting, ports, child processes with their logs, and a private PostgreSQL cluster."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Failed(AssertionError):
    pass


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.broker = ""

    def ok(self, cond: bool, what: str, detail: str = "") -> bool:
        if cond:
            self.passed += 1
            log(f"ok   [{self.broker}] {what}")
        else:
            self.failed.append(f"[{self.broker}] {what}: {detail}")
            log(f"FAIL [{self.broker}] {what}: {detail}")
        return cond

    def must(self, cond: bool, what: str, detail: str = "") -> None:
        if not self.ok(cond, what, detail):
            raise Failed(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(what: str, timeout: float, fn, interval: float = 0.1):
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
            raise Failed(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def clean_env(**extra: str) -> dict:
    """The environment without GREGOR_* (gregor rejects unknown ones; none are for us)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
    env.update(extra)
    return env


def http(method: str, url: str, body: dict | None = None, timeout: float = 10.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


# ---------------------------------------------------------------------------- processes

class Proc:
    def __init__(self, name: str, argv: list[str], logdir: Path, env: dict | None = None):
        self.name, self.argv = name, argv
        self.logfile = logdir / f"{name}.log"
        self.env = env or clean_env()
        self.p: subprocess.Popen | None = None

    def start(self) -> "Proc":
        f = open(self.logfile, "ab")
        self.p = subprocess.Popen(self.argv, stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=self.env)
        f.close()
        return self

    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM; the exit status, or None if it had to be killed."""
        if not self.alive():
            return self.p.returncode if self.p else None
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None

    def kill9(self) -> None:
        if self.alive():
            self.p.kill()
            self.p.wait()

    def lines(self) -> list[dict]:
        out = []
        try:
            text = self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Postgres:
    """A private cluster: initdb in a temp dir, on its own port, as the postgres user when root."""

    def __init__(self, workdir: Path, port: int):
        self.port = port
        self.dir = workdir / "pg"
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        self.bin = Path(bins[-1]).parent if bins else Path(shutil.which("initdb") or "initdb").parent
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(self.as_user + list(argv), capture_output=True, text=True, check=check,
                              env=clean_env(), cwd="/")

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        if self.as_user:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            # runuser keeps no supplementary access to a root-only parent: open the path up.
            p = self.dir.parent
            while p != Path("/"):
                os.chmod(p, os.stat(p).st_mode | 0o011)
                p = p.parent
        data = self.dir / "data"
        self.run(str(self.bin / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres",
                 "--no-sync", "-E", "UTF8", "--locale=C")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off")
        self.run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "server.log"),
                 "-o", opts, "-w", "-t", "60", "start")
        log(f"postgres up on 127.0.0.1:{self.port} ({self.dir})")

    def psql(self, sql: str, db: str = "postgres") -> str:
        r = self.run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                     "-d", db, "-Atqc", sql)
        return r.stdout.strip()

    def create_db(self, name: str) -> str:
        self.psql(f"DROP DATABASE IF EXISTS {name}")
        self.psql(f"CREATE DATABASE {name}")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}?sslmode=disable"

    def stop(self) -> None:
        if (self.dir / "data" / "postmaster.pid").exists():
            self.run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop",
                     check=False)
