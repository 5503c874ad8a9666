#!/usr/bin/env python3
"""The homework's assertions through a running compose stack (run by docker/run-compose-test.sh,
which provides the engine, compose and the images). The checks, the order driving and the event
analysis are compat-tests/homework's (e2e.py's Homework, harness.py's Checks); here the services
are the stack's containers: loms on the host's port 8081, the notifiers' events from
`docker compose logs notifier`, their /healthz (partitions held) on each container's address.

  1. `up --build --wait`: the healthchecks turn healthy (kafka, postgres), the init job exits 0,
     loms and three notifiers run; loms.order-events has 2 partitions (gregor's CLI inside the
     network on kafka:29092, and from the host on localhost:9092: both listeners resolve).
  2. Exactly two notifiers hold a partition, one idles; orders go in over loms' HTTP port through
     every status; every event is in exactly one notifier's log, per order in order; the idle one
     logs none. gregor's /metrics (if published): the group Stable, lag 0; Prometheus (if in the
     file) scrapes gregor.
  3. An active notifier killed (docker kill: SIGKILL): the idle one takes over, nothing lost.
  4. `docker compose restart kafka`: the topic's log end offsets and the group's committed offsets
     are the same after it (the volume); new orders are delivered; nothing is redelivered.
  5. `docker compose stop`: every container exits 0 within its grace period ("shutdown complete"
     logged by loms and the notifiers); `docker compose down -v` leaves no container or volume.
With --readme (the drop-in file): its kafka service is the README's recipe, first.
Prints one line per check and "compose: N passed, N failed"; exit status 1 on failure.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HOMEWORK = Path(__file__).resolve().parents[2] / "compat-tests" / "homework"
sys.path.insert(0, str(HOMEWORK))
from brokers import TOPIC  # noqa: E402
from e2e import Homework, check_metrics  # noqa: E402
from harness import Checks, Failed, http, log, wait_for  # noqa: E402

# Services whose images cannot be made without a registry (no Debian package).
NO_IMAGE = {"kafka-ui", "grafana"}
LOMS_URL = "http://127.0.0.1:8081"


class Compose:
    def __init__(self, argv: list[str], file: str, project: str):
        self.base = [*argv, "-p", project, "-f", file]
        self.project = project

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        p = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise Failed(f"compose {' '.join(args)} → exit {p.returncode}: {(p.stderr + p.stdout)[-3000:]}")
        return p.stdout

    def ps(self, *services: str) -> list[dict]:
        out = self.run("ps", "-a", "--format", "json", *services)
        out = out.strip()
        if out.startswith("["):  # (older compose: one array)
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def logs(self, service: str) -> dict[str, list[str]]:
        """Lines per container, keyed by compose's prefix (notifier-1, ...)."""
        out: dict[str, list[str]] = {}
        for line in self.run("logs", "--no-color", service).splitlines():
            name, sep, rest = line.partition("|")
            if sep:
                out.setdefault(name.strip(), []).append(rest.strip())
        return out


def short(c: dict) -> str:
    """notifier-1 for gregor-compose-test-notifier-1 (compose's log prefix)."""
    return c["Name"].removeprefix(c["Project"] + "-")


def inspect(name: str) -> dict:
    p = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)[0]


class ComposeHomework(Homework):
    """e2e.py's Homework with the stack's containers as the services."""

    def __init__(self, checks: Checks, compose: Compose):
        super().__init__(checks, broker=None, pg=None, bindir=Path("."), logdir=Path("."))
        self.compose = compose
        self.loms_url = LOMS_URL
        self.addr: dict[str, str] = {}

    def find_notifiers(self) -> list[str]:
        self.addr = {}
        for c in self.compose.ps("notifier"):
            nets = inspect(c["Name"])["NetworkSettings"]["Networks"]
            self.addr[short(c)] = next(iter(nets.values()))["IPAddress"]
        return sorted(self.addr)

    def notifier_health(self, name: str) -> dict | None:
        try:
            code, body = http("GET", f"http://{self.addr[name]}:8082/healthz", timeout=2)
            return body if code == 200 else None
        except OSError:
            return None

    def logged(self, names=None) -> list[dict]:
        """The events the notifier containers logged (of `names` only, when given: the
        homework's signature)."""
        evs = []
        for name, lines in self.compose.logs("notifier").items():
            if names is not None and name not in names:
                continue
            i = 0
            for line in lines:
                if not line.startswith("{"):
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if rec.get("msg") == "order event":
                    evs.append({"n": name, "i": i, "order": rec["order_id"], "seq": rec["seq"],
                                "status": rec["status"], "partition": rec["partition"],
                                "offset": rec["offset"], "time": rec["time"]})
                    i += 1
        return evs


class Metrics:
    """gregor's /metrics through the published port (check_metrics's broker)."""

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen("http://127.0.0.1:9644/metrics", timeout=10) as r:
            text = r.read().decode()
        return {k: float(v) for k, _, v in (line.rpartition(" ") for line in text.splitlines()
                                             if line and not line.startswith("#"))}


def group_offsets(compose: Compose) -> dict[int, tuple[str, str]]:
    """partition → (committed offset, log end offset), from `gregor groups describe` in the
    kafka container."""
    out = compose.run("exec", "-T", "kafka", "gregor", "groups", "describe",
                      "--bootstrap-server=kafka:29092", "--group=notifier")
    got = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == TOPIC and f[1].isdigit():
            got[int(f[1])] = (f[2], f[3])
    return got


def partitions(out: str) -> int:
    m = re.search(r"PartitionCount:\s*(\d+)", out)
    return int(m.group(1)) if m else -1


def readme_dropin_matches(c: Checks, compose: Compose, readme: Path) -> None:
    """The drop-in file's kafka service is the README's recipe (as `docker compose config`
    resolves both), but for what the recipe tells students to keep from their own file."""
    text = readme.read_text()
    at = text.index("**Drop-in: gregor in your own homework compose file.**")
    block = text[text.index("```yaml\n", at) + 8:text.index("```", text.index("```yaml\n", at) + 8)]
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "compose.yaml"
        f.write_text(block + "volumes:\n  kafka-data:\n")
        mine = Compose([*compose.base[:compose.base.index("-p")]], str(f), "readme")
        want = json.loads(mine.run("config", "--format", "json"))["services"]["kafka"]
    got = json.loads(compose.run("config", "--format", "json"))["services"]["kafka"]
    keys = ("image", "command", "ports", "volumes", "healthcheck")
    diff = {k: (want.get(k), got.get(k)) for k in keys if want.get(k) != got.get(k)}
    c.ok(not diff, "the drop-in file's kafka service is the README's recipe (image, command, ports, volume, "
         "healthcheck)", f"README vs file: {diff}")


def run(c: Checks, compose: Compose, build: bool, readme: Path | None) -> None:
    if readme:
        readme_dropin_matches(c, compose, readme)
    services = [s for s in compose.run("config", "--services").split() if s not in NO_IMAGE]
    log(f"services: {' '.join(services)} (not started, no image here: {', '.join(sorted(NO_IMAGE))})")
    compose.run("down", "-v", "--remove-orphans")
    t = time.monotonic()
    compose.run("up", "-d", "--wait", *(["--build"] if build else []), *services)
    log(f"up --wait took {time.monotonic() - t:.1f}s")
    ps = {short(x): x for x in compose.ps()}
    for name in ("kafka-1", "postgres-1"):
        c.ok(ps.get(name, {}).get("Health") == "healthy", f"{name}: its healthcheck turns healthy",
             str(ps.get(name, {}).get("Status")))
    init = ps.get("kafka-init-1", {})
    c.ok(init.get("State") == "exited" and init.get("ExitCode") == 0, "kafka-init exits 0", str(init.get("Status")))
    running = sorted(n for n, x in ps.items() if x["State"] == "running")
    c.must(all(n in running for n in ("kafka-1", "loms-1", "notifier-1", "notifier-2", "notifier-3")),
           "kafka, loms and three notifiers run", str(running))

    out = compose.run("exec", "-T", "kafka", "gregor", "topics", "describe",
                      "--bootstrap-server=kafka:29092", f"--topic={TOPIC}")
    c.ok(partitions(out) == 2, f"{TOPIC} has 2 partitions (gregor's CLI in the network, kafka:29092)", out)
    image = inspect(ps["kafka-1"]["Name"])["Config"]["Image"]
    p = subprocess.run(["docker", "run", "--rm", "--network=host", "--entrypoint=gregor", image, "topics",
                        "describe", "--bootstrap-server=localhost:9092", f"--topic={TOPIC}"],
                       capture_output=True, text=True, timeout=60)
    c.ok(partitions(p.stdout) == 2, f"{TOPIC} has 2 partitions from the host (localhost:9092)", p.stdout + p.stderr)

    hw = ComposeHomework(c, compose)
    wait_for("loms /healthz", 60, lambda: http("GET", LOMS_URL + "/healthz", timeout=2)[0] == 200, 0.5)
    names = hw.find_notifiers()
    a = hw.wait_stable_assignment(names, 90)
    active = [n for n in names if a[n]]
    idle = [n for n in names if not a[n]]
    c.must(len(active) == 2 and len(idle) == 1 and all(len(a[n]) == 1 for n in active),
           "three notifiers, two partitions: two hold one each, one idles", str(a))

    ids = hw.drive(30)
    statuses = {s for o in ids for s in hw.expected[o]}
    c.ok(statuses == {"new", "awaiting payment", "failed", "payed", "cancelled"},
         "orders over loms' HTTP port went through every status", str(statuses))
    payed = next(o for o in ids if hw.expected[o][-1] == "payed")
    failed = next(o for o in ids if hw.expected[o][-1] == "failed")
    hw.check_wrong_transitions(payed, failed)
    evs = hw.wait_all_logged(60)
    hw.check_events(evs, "A", allow_dups=False)
    senders = {e["n"] for e in evs}
    c.ok(senders == set(active), "exactly the two active notifiers logged events, the idle one none",
         f"logged by {sorted(senders)}, active {active}")
    if any(p.get("PublishedPort") == 9644 for p in ps["kafka-1"].get("Publishers") or []):
        check_metrics(c, Metrics())
    if "prometheus" in services:
        q = "http://127.0.0.1:9090/api/v1/query?query=" + urllib.request.quote('gregor_group_lag{group="notifier"}')

        def scraped():
            up = http("GET", "http://127.0.0.1:9090/api/v1/query?query=up", timeout=5)[1]
            lag = http("GET", q, timeout=5)[1]
            ok = [r for r in up["data"]["result"] if r["metric"].get("job") == "gregor" and r["value"][1] == "1"]
            return ok and len(lag["data"]["result"]) == 2
        try:
            wait_for("Prometheus to scrape gregor", 30, scraped, 1)
            c.ok(True, "Prometheus scrapes gregor (kafka:9644): up, and the notifiers' lag per partition")
        except Failed as e:
            c.ok(False, "Prometheus scrapes gregor (kafka:9644)", str(e))

    # ---- an active notifier killed: the idle one takes over
    victim = active[0]
    log(f"docker kill {ps[victim]['Name']} (partitions {a[victim]})")
    subprocess.run(["docker", "kill", ps[victim]["Name"]], check=True, capture_output=True)
    hw.drive(15)
    survivors = [n for n in names if n != victim]
    a2 = hw.wait_stable_assignment(survivors, 60)
    c.ok(all(len(a2[n]) == 1 for n in survivors), f"after the kill of {victim}, the idle {idle[0]} took over a partition",
         str(a2))
    hw.drive(10)
    evs = hw.wait_all_logged(60)
    hw.check_events(evs, "B", allow_dups=True)
    c.ok(any(e["n"] == idle[0] for e in evs), f"the formerly idle {idle[0]} logs events now")
    c.ok(compose.ps("notifier") and short_state(compose, victim) == "exited",
         f"{victim} stays down (a killed container is not restarted by `restart: unless-stopped`)")

    # ---- restart kafka: the data survives (the volume)
    before = wait_for("the notifiers to commit everything (lag 0)", 30,
                      lambda: (o := group_offsets(compose)) and all(x[0] == x[1] for x in o.values()) and o, 0.5)
    pre = hw.logged()
    seen = {(e["order"], e["seq"]) for e in pre}
    count = {n: sum(1 for e in pre if e["n"] == n) for n in names}
    t = time.monotonic()
    compose.run("restart", "kafka")
    wait_for("kafka healthy again", 60, lambda: short_health(compose, "kafka-1") == "healthy", 0.5)
    log(f"restart kafka: healthy again after {time.monotonic() - t:.1f}s")
    after = group_offsets(compose)
    c.ok(after == before, "restart kafka: the log end offsets and the committed offsets survive (the volume)",
         f"before {before} after {after}")
    hw.drive(10)
    evs = hw.wait_all_logged(90)
    again = [e for e in evs if e["i"] >= count.get(e["n"], 0) and (e["order"], e["seq"]) in seen]
    c.ok(not again, "after the restart the notifiers resume at their committed offsets (nothing redelivered)",
         f"{len(again)} redelivered, e.g. {again[:3]}")
    hw.check_events(evs, "C", allow_dups=True)

    # ---- stop, then down
    t = time.monotonic()
    compose.run("stop")
    took = time.monotonic() - t
    ps = {short(x): x for x in compose.ps()}
    bad = {n: x["ExitCode"] for n, x in ps.items() if n != victim and x["ExitCode"] != 0}
    c.ok(not bad, f"docker compose stop: every container exits 0 ({took:.1f}s)", str(bad))
    logs = compose.logs("loms")
    logs.update(compose.logs("notifier"))
    unclean = [n for n, lines in logs.items() if n != victim and not any("shutdown complete" in x for x in lines)]
    c.ok(not unclean, "loms and the running notifiers log \"shutdown complete\" on SIGTERM", str(unclean))
    compose.run("down", "-v")
    left = compose.ps()
    vols = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={compose.project}"],
                          capture_output=True, text=True).stdout.split()
    c.ok(not left and not vols, "docker compose down -v: no container or volume left", f"{left} {vols}")


def short_state(compose: Compose, name: str) -> str:
    return next((x["State"] for x in compose.ps() if short(x) == name), "")


def short_health(compose: Compose, name: str) -> str:
    return next((x.get("Health", "") for x in compose.ps() if short(x) == name), "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", required=True, help="the compose file")
    ap.add_argument("--project", default="gregor-compose-test")
    ap.add_argument("--build", default="yes", help="yes: up --build")
    ap.add_argument("--readme", default="", help="check the file's kafka service against this README's drop-in recipe")
    ap.add_argument("compose", nargs="+", help="the compose command (docker compose, or a docker-compose v2 binary)")
    args = ap.parse_args()
    compose = Compose(args.compose, args.file, args.project)
    c = Checks()
    c.broker = Path(args.file).name
    t0 = time.monotonic()
    try:
        run(c, compose, args.build == "yes", Path(args.readme) if args.readme else None)
    except Failed as e:
        if not c.failed or str(e) not in c.failed[-1]:
            c.failed.append(f"[{c.broker}] {e}")
            log(f"FAIL [{c.broker}] {e}")
        for name, lines in list(compose.logs("kafka").items())[:1]:
            print("\n".join(f"{name} | {x}" for x in lines[-30:]))
    finally:
        compose.run("down", "-v", "--remove-orphans", check=False)
    log(f"{c.broker}: {time.monotonic() - t0:.1f}s")
    for f in c.failed:
        print(f"FAILED: {f}")
    print(f"compose ({c.broker}): {c.passed} passed, {len(c.failed)} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
