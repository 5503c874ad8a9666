#!/usr/bin/env python3
"""The homework, end to end, as local processes: a broker (gregor, or the reference Apache
Kafka), a private PostgreSQL, `loms` and three `notifier` instances, driven through every order
status, with the issue's assertions. Run it through e2e.sh, which installs and builds what this
needs; standard library only.

Per broker, in order:
  A. loms (plain SyncProducer) + notifiers n1..n3: exactly two notifiers hold a partition, the
     third none, all three healthy; orders through new / awaiting payment / failed / payed /
     cancelled; every event logged by exactly one notifier, per order in order (seq 1, 2, ...);
     on gregor, /metrics shows the notifier group Stable with 3 members and its lag falling to 0.
  B. SIGTERM loms → clean exit; loms again in the idempotent mode (V1_0_0_0, Idempotent,
     MaxOpenRequests=1). kill -9 an active notifier: the idle one takes a partition and nothing
     is lost (redeliveries allowed).
  C. kill -9 the broker: loms keeps accepting orders (database write, events wait in the
     outbox); broker restarted on its data: the outbox drains, every event is logged.
  S. (share_phase.py) three more notifiers in share mode (KIP-932, franz-go) in the share
     group notifier-share, share.auto.offset.reset=earliest: they log the topic's whole history
     and the orders driven now, every record once, all three some; kill -9 of one while orders
     flow loses nothing (redeliveries allowed).
  D. SIGTERM loms and the notifiers: each exits 0 and logs "shutdown complete".
Secured brokers (gregor-sasl-ssl, kafka-sasl-ssl: compat-tests/python/tlsbrokers.py, a test CA,
users alice and bob) run A and D with loms and the notifiers on SASL_SSL with SCRAM-SHA-512,
configured as Kafka clients are (KAFKA_SECURITY_PROTOCOL, ...), plus a notifier with a wrong
password that never joins the group while the others are served. S runs on the plaintext
single brokers only (gregor, kafka): the share mode is PLAINTEXT only, and gregor's share
groups are single-broker in its cluster mode.
Prints one line per check and a closing "N passed, N failed" line; exit status 1 on failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from brokers import TOPIC, ClusterBroker, GregorBroker, KafkaBroker, SecuredBroker
from harness import T0, Checks, Failed, Postgres, Proc, clean_env, free_port, http, log, wait_for
from share_phase import SHARE_GROUP, share_phase

SESSION_TIMEOUT = "6s"
HEARTBEAT = "2s"


# ---------------------------------------------------------------------------- the homework

class Homework:
    def __init__(self, checks: Checks, broker, pg: Postgres, bindir: Path, logdir: Path):
        self.c, self.broker, self.pg, self.bindir, self.logdir = checks, broker, pg, bindir, logdir
        self.loms: Proc | None = None
        self.loms_url = ""
        self.notifiers: dict[str, Proc] = {}
        self.health: dict[str, int] = {}
        self.expected: dict[int, list[str]] = {}  # order id → statuses, seq 1..n
        self.dsn = ""
        self.user = 1

    # -- services
    def start_loms(self, idempotent: bool) -> None:
        port = free_port()
        self.loms_url = f"http://127.0.0.1:{port}"
        name = "loms-idempotent" if idempotent else "loms"
        self.loms = Proc(name, [str(self.bindir / "loms"), "-http-addr", f"127.0.0.1:{port}",
                                "-database-url", self.dsn, "-brokers", self.broker.bootstrap,
                                "-outbox-interval", "100ms",
                                f"-kafka-idempotent={'true' if idempotent else 'false'}"],
                         self.logdir, env=clean_env(**self.security("alice"))).start()
        wait_for(f"{name} /healthz", 30, lambda: self._loms_healthy())

    def _loms_healthy(self) -> bool:
        if not self.loms.alive():
            raise Failed("loms exited:\n" + self.loms.text()[-3000:])
        try:
            return http("GET", self.loms_url + "/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    def security(self, user: str, password: str | None = None) -> dict:
        """Kafka client security settings for a service (none on a plaintext broker)."""
        if isinstance(self.broker, SecuredBroker):
            return self.broker.client_env(user, password)
        return {}

    def start_notifier(self, name: str, password: str | None = None, share: bool = False) -> None:
        """A notifier in the consumer group notifier, or (share) in the share group."""
        port = free_port()
        self.health[name] = port
        # Settings through the environment here (flags are tested by loms above).
        env = clean_env(KAFKA_BROKERS=self.broker.bootstrap, NOTIFIER_ID=name,
                        NOTIFIER_GROUP_ID=SHARE_GROUP if share else "notifier",
                        NOTIFIER_SHARE="true" if share else "false", NOTIFIER_TOPIC=TOPIC,
                        NOTIFIER_HEALTH_ADDR=f"127.0.0.1:{port}",
                        NOTIFIER_SESSION_TIMEOUT=SESSION_TIMEOUT, NOTIFIER_HEARTBEAT_INTERVAL=HEARTBEAT,
                        **self.security("bob", password))
        self.notifiers[name] = Proc(name, [str(self.bindir / "notifier")], self.logdir, env=env).start()

    def notifier_health(self, name: str) -> dict | None:
        try:
            code, body = http("GET", f"http://127.0.0.1:{self.health[name]}/healthz", timeout=2)
            return body if code == 200 else None
        except OSError:
            return None

    def assignment(self, names) -> dict[str, list[int]] | None:
        """Partitions per notifier, or None while some have not joined the same generation."""
        out, gens = {}, set()
        for n in names:
            h = self.notifier_health(n)
            if h is None:
                raise RuntimeError(f"{n} is not healthy")
            if not h["member_id"]:
                return None
            gens.add(h["generation"])
            out[n] = h["partitions"]
        return out if len(gens) == 1 else None

    def wait_stable_assignment(self, names: list[str], timeout: float) -> dict[str, list[int]]:
        """Every partition owned by exactly one of names, unchanged for 1.5 s."""
        stable_since, last = None, None

        def check():
            nonlocal stable_since, last
            a = self.assignment(names)
            owned = sorted(p for ps in a.values() for p in ps) if a else None
            if owned != [0, 1]:
                stable_since, last = None, a
                return False
            if a != last:
                stable_since, last = time.monotonic(), a
                return False
            return time.monotonic() - stable_since >= 1.5 and a
        return wait_for(f"a stable assignment of partitions 0, 1 over {names} (one generation)", timeout,
                        check, 0.25)

    # -- orders
    def create(self, items) -> int:
        code, body = http("POST", self.loms_url + "/order/create", {"user": self.user, "items": items})
        self.user += 1
        if code != 200:
            raise Failed(f"OrderCreate → {code} {body}")
        oid = body["orderID"]
        self.expected[oid] = ["new", body["status"]]
        return oid

    def pay(self, oid: int) -> None:
        code, body = http("POST", self.loms_url + "/order/pay", {"orderID": oid})
        if code != 200:
            raise Failed(f"OrderPay {oid} → {code} {body}")
        self.expected[oid].append("payed")

    def cancel(self, oid: int) -> None:
        code, body = http("POST", self.loms_url + "/order/cancel", {"orderID": oid})
        if code != 200:
            raise Failed(f"OrderCancel {oid} → {code} {body}")
        self.expected[oid].append("cancelled")

    def drive(self, n: int) -> list[int]:
        """n orders through every status: every 5th fails (out-of-stock sku), the rest are paid,
        cancelled or left awaiting payment; creates and transitions interleave across orders."""
        ids = []
        for i in range(n):
            items = [{"sku": 1001 + i % 5, "count": 1 + i % 3}]
            if i % 5 == 4:
                items.append({"sku": 404, "count": 1})
            ids.append(self.create(items))
        for i, oid in enumerate(ids):
            if self.expected[oid][-1] != "awaiting payment":
                continue
            if i % 3 == 0:
                self.pay(oid)
            elif i % 3 == 1:
                self.cancel(oid)
        return ids

    def check_wrong_transitions(self, oid_payed: int, oid_failed: int) -> None:
        code, _ = http("POST", self.loms_url + "/order/pay", {"orderID": oid_payed})
        code2, _ = http("POST", self.loms_url + "/order/cancel", {"orderID": oid_failed})
        code3, _ = http("POST", self.loms_url + "/order/pay", {"orderID": 10**9})
        self.c.ok((code, code2, code3) == (409, 409, 404),
                  "loms refuses wrong transitions (409) and unknown orders (404) without events",
                  f"got {(code, code2, code3)}")

    # -- what the notifiers logged
    def logged(self, names=None) -> list[dict]:
        """The events logged by the notifiers names (default: all)."""
        evs = []
        for name, p in self.notifiers.items():
            if names is not None and name not in names:
                continue
            for i, rec in enumerate(p.lines()):
                if rec.get("msg") == "order event":
                    evs.append({"n": name, "i": i, "order": rec["order_id"], "seq": rec["seq"],
                                "status": rec["status"], "partition": rec["partition"],
                                "offset": rec["offset"], "time": rec["time"]})
        return evs

    def missing(self, evs) -> list[tuple[int, int]]:
        got = {(e["order"], e["seq"]) for e in evs}
        return [(o, s + 1) for o, sts in self.expected.items() for s in range(len(sts))
                if (o, s + 1) not in got]

    def wait_all_logged(self, timeout: float, names=None) -> list[dict]:
        state = {}

        def check():
            evs = self.logged(names)
            state["missing"] = self.missing(evs)
            return evs if not state["missing"] else False
        try:
            return wait_for(f"every event to be logged by one of {names or 'the notifiers'}", timeout, check, 0.2)
        except Failed as e:
            miss = state.get("missing", [])
            raise Failed(f"{e}: {len(miss)} events never logged, e.g. {miss[:5]}") from None

    def check_complete(self, evs, phase: str) -> None:
        """Every event loms answered was logged, and nothing else."""
        c = self.c
        miss = self.missing(evs)
        c.ok(not miss, f"{phase}: no event lost", f"{len(miss)} missing, e.g. {miss[:5]}")
        # Content: the status logged for (order, seq) is the one loms answered.
        wrong = [e for e in evs if e["order"] in self.expected and (
            e["seq"] > len(self.expected[e["order"]]) or self.expected[e["order"]][e["seq"] - 1] != e["status"])]
        unknown = [e for e in evs if e["order"] not in self.expected]
        c.ok(not wrong and not unknown, f"{phase}: every logged event is a real status change",
             f"wrong {wrong[:3]} unknown {unknown[:3]}")

    def check_events(self, evs, phase: str, allow_dups: bool) -> None:
        c = self.c
        self.check_complete(evs, phase)
        counts = defaultdict(list)
        for e in evs:
            counts[(e["order"], e["seq"])].append(e["n"])
        dups = {k: v for k, v in counts.items() if len(v) > 1}
        if allow_dups:
            c.ok(True, f"{phase}: {len(dups)} redelivered event(s) after the crash (at-least-once)")
        else:
            c.ok(not dups, f"{phase}: every event logged by exactly one notifier",
                 f"{len(dups)} logged more than once, e.g. {list(dups.items())[:3]}")
        # Chronological per order: within each notifier's log an order's events come in seq
        # order; a step back is allowed only as a redelivery (allow_dups) and never skips ahead
        # of what had been logged anywhere before.
        bad = []
        by_order = defaultdict(list)
        for e in evs:
            by_order[e["order"]].append(e)
        for order, es in by_order.items():
            per_n = defaultdict(list)
            for e in es:
                per_n[e["n"]].append(e)
            for n, mine in per_n.items():
                mine.sort(key=lambda e: e["i"])
                hi = 0
                for e in mine:
                    before = max([x["seq"] for x in es if x["n"] != n and x["time"] < e["time"]], default=0)
                    top = max(hi, before)
                    if e["seq"] > top + 1 or (e["seq"] <= hi and not allow_dups):
                        bad.append((n, order, [x["seq"] for x in mine]))
                        break
                    hi = max(hi, e["seq"])
        c.ok(not bad, f"{phase}: per order, events arrive in chronological order",
             f"{len(bad)} orders out of order, e.g. {bad[:3]}")
        # Each order's events stay in one partition (key = order id, hash partitioner).
        parts = {o: {e["partition"] for e in es} for o, es in by_order.items()}
        split = {o: p for o, p in parts.items() if len(p) > 1}
        c.ok(not split, f"{phase}: each order's events in one partition (key = order id)", str(split)[:300])

    def stats(self) -> dict:
        return http("GET", self.loms_url + "/stats")[1]


def check_metrics(checks: Checks, broker: "GregorBroker") -> None:
    """gregor's /metrics shows the notifier group: three members, Stable, and a lag per
    partition that falls to zero once the notifiers have committed what they logged."""
    lag = [f'gregor_group_lag{{group="notifier",topic="{TOPIC}",partition="{p}"}}' for p in (0, 1)]

    def caught_up():
        m = broker.metrics()
        return m if all(m.get(k) == 0 for k in lag) else None
    try:
        m = wait_for("the notifiers' lag in /metrics to reach 0", 30, caught_up, 0.5)
    except Failed as e:
        checks.ok(False, "gregor /metrics: the notifier group's lag falls to 0 on both partitions", str(e))
        return
    checks.ok(True, "gregor /metrics: the notifier group's lag falls to 0 on both partitions")
    checks.ok(m.get('gregor_group_members{group="notifier"}') == 3
              and m.get('gregor_group_state{group="notifier",state="Stable"}') == 1,
              "gregor /metrics: the notifier group is Stable with 3 members",
              str({k: v for k, v in m.items() if 'group="notifier"' in k and "lag" not in k}))


def crash_phases(checks: Checks, hw: Homework, broker, a: dict, names: list[str]) -> list[str]:
    """B and C: a notifier and then the broker killed; the notifiers left running."""
    active = [n for n in names if a[n]]
    idle = [n for n in names if not a[n]]
    # ---- B
    rc = hw.loms.terminate(20)
    checks.ok(rc == 0 and "shutdown complete" in hw.loms.text(), "SIGTERM: loms exits 0 after a graceful shutdown",
              f"exit {rc}")
    hw.start_loms(idempotent=True)
    victim = active[0]
    log(f"[{broker.name}] kill -9 {victim} (partitions {a[victim]})")
    hw.notifiers[victim].kill9()
    hw.drive(15)  # while the group has not noticed yet
    survivors = [n for n in names if n != victim]
    a2 = hw.wait_stable_assignment(survivors, 60)
    checks.ok(all(len(a2[n]) == 1 for n in survivors),
              f"after kill -9 of {victim}, the idle {idle[0]} took over a partition", str(a2))
    # Orders after the takeover land on both partitions: the former idle one logs some.
    hw.drive(10)
    evs = hw.wait_all_logged(60)
    hw.check_events(evs, "B", allow_dups=True)
    checks.ok(any(e["n"] == idle[0] for e in evs),
              f"the formerly idle {idle[0]} logs events now")
    checks.ok("producer ready" in hw.loms.text() and "idempotent\":true" in hw.loms.text(),
              "loms published in the idempotent mode (V1_0_0_0, Idempotent, MaxOpenRequests=1)")

    # ---- C
    if getattr(broker, "survives_crash", False):
        cluster_crash_phase(checks, hw, broker)
        return survivors
    log(f"[{broker.name}] stopping the broker (kill -9)")
    broker.crash()
    n_before = len(hw.expected)
    t_down = time.monotonic()
    hw.drive(10)
    checks.ok(len(hw.expected) == n_before + 10, "broker down: loms still accepts orders (database writes commit)")
    pending = hw.stats()["outbox_pending"]
    want = sum(len(hw.expected[o]) for o in list(hw.expected)[n_before:])
    checks.ok(pending >= want, f"broker down: the outbox holds the new events ({pending} pending, >= {want})")
    time.sleep(max(0.0, 3 - (time.monotonic() - t_down)))
    log(f"[{broker.name}] restarting the broker")
    broker.restart()
    evs = hw.wait_all_logged(90)
    checks.ok(True, f"broker back: the outbox drained and every event was logged "
                    f"({time.monotonic() - t_down:.1f}s after the stop)")
    hw.check_events(evs, "C", allow_dups=True)
    checks.ok(wait_for("outbox to drain", 30, lambda: hw.stats()["outbox_pending"] == 0), "outbox drained")

    return survivors


def cluster_crash_phase(checks: Checks, hw: Homework, broker) -> None:
    """C on a cluster: kill -9 of the broker holding the group coordinator while orders keep
    coming; the two others take its partitions and the group over (within the session timeout),
    every event is logged; the broker restarts and rejoins, and still every event is logged."""
    log(f"[{broker.name}] kill -9 of one broker of three")
    broker.crash()
    t_down = time.monotonic()
    log(f"[{broker.name}] killed gregor-{broker.victim} (the coordinator)")
    n_before = len(hw.expected)
    hw.drive(10)
    checks.ok(len(hw.expected) == n_before + 10, "one broker down: loms still accepts orders")
    evs = hw.wait_all_logged(90)
    checks.ok(True, f"one broker of three down: the others took over and every event was logged "
                    f"({time.monotonic() - t_down:.1f}s after the kill)")
    hw.check_events(evs, "C", allow_dups=True)
    log(f"[{broker.name}] restarting the killed broker")
    broker.restart()
    hw.drive(10)
    evs = hw.wait_all_logged(90)
    hw.check_events(evs, "C (after the restart)", allow_dups=True)
    checks.ok(wait_for("outbox to drain", 30, lambda: hw.stats()["outbox_pending"] == 0),
              "the killed broker rejoined: every event logged, outbox drained")


def check_wrong_password(checks: Checks, hw: Homework, names: list[str]) -> None:
    """A notifier with a wrong password is refused and never joins; the others are served."""
    on_tls = [p.name for p in [hw.loms, *hw.notifiers.values()] if '"security":"SASL_SSL"' in p.text()]
    checks.ok(len(on_tls) == 4, "loms and the three notifiers connected over SASL_SSL", str(on_tls))
    hw.start_notifier("n4", password="not-bob-secret")
    refused = wait_for("n4 to be refused", 60, lambda: "SASL" in hw.notifiers["n4"].text()
                       or "uthentication" in hw.notifiers["n4"].text())
    checks.ok(bool(refused), "a notifier with a wrong password is refused (SASL authentication failed)")
    hw.drive(5)
    evs = hw.wait_all_logged(60)
    hw.check_events(evs, "A (wrong password beside)", allow_dups=False)
    h = hw.notifier_health("n4") or {}
    checks.ok(not h.get("member_id") and not h.get("partitions") and not any(e["n"] == "n4" for e in evs),
              "the refused notifier holds no partition and logs no event; the others are served", str(h))
    hw.notifiers.pop("n4").kill9()


def run_broker(checks: Checks, broker, pg: Postgres, bindir: Path, logdir: Path) -> None:
    checks.broker = broker.name
    t0 = time.monotonic()
    hw = Homework(checks, broker, pg, bindir, logdir)
    try:
        hw.dsn = pg.create_db("loms_" + broker.name.replace("-", "_"))
        log(f"[{broker.name}] starting the broker")
        broker.start()
        log(f"[{broker.name}] broker up at {broker.bootstrap}; starting loms and notifiers n1..n3")
        hw.start_loms(idempotent=False)
        for n in ("n1", "n2", "n3"):
            hw.start_notifier(n)
        names = ["n1", "n2", "n3"]
        a = hw.wait_stable_assignment(names, 60)
        active = [n for n in names if a[n]]
        idle = [n for n in names if not a[n]]
        checks.must(len(active) == 2 and len(idle) == 1 and all(len(a[n]) == 1 for n in active),
                    "three notifiers, two partitions: two hold one each, one idles", str(a))

        # ---- A
        ids = hw.drive(30)
        statuses = {s for o in ids for s in hw.expected[o]}
        checks.ok(statuses == {"new", "awaiting payment", "failed", "payed", "cancelled"},
                  "orders went through every status", str(statuses))
        payed = next(o for o in ids if hw.expected[o][-1] == "payed")
        failed = next(o for o in ids if hw.expected[o][-1] == "failed")
        hw.check_wrong_transitions(payed, failed)
        evs = hw.wait_all_logged(60)
        hw.check_events(evs, "A", allow_dups=False)
        senders = {e["n"] for e in evs}
        checks.ok(senders == set(active), "exactly the two active notifiers logged events, the idle one none",
                  f"logged by {sorted(senders)}, active {active}")
        checks.ok(all(p.alive() for p in hw.notifiers.values()) and all(hw.notifier_health(n) for n in names),
                  "all three notifiers alive and healthy")
        # loms marks an outbox row sent after the broker's answer, which may come after a
        # notifier already logged the event: wait for it as the other phases do.
        checks.ok(wait_for("outbox to drain", 30, lambda: hw.stats()["outbox_pending"] == 0),
                  "outbox drained")
        if isinstance(broker, GregorBroker):
            check_metrics(checks, broker)

        if isinstance(broker, SecuredBroker):
            survivors = names
            check_wrong_password(checks, hw, names)
        else:
            survivors = crash_phases(checks, hw, broker, a, names)
        if isinstance(broker, (GregorBroker, KafkaBroker)):
            survivors += share_phase(checks, hw, broker)

        # ---- D
        for name in survivors:
            p = hw.notifiers[name]
            rc = p.terminate(30)
            checks.ok(rc == 0 and "shutdown complete" in p.text(), f"SIGTERM: {name} exits 0 after leaving the group",
                      f"exit {rc}")
        rc = hw.loms.terminate(20)
        checks.ok(rc == 0 and "shutdown complete" in hw.loms.text(), f"SIGTERM: {hw.loms.name} exits 0", f"exit {rc}")
        panics = [p.name for p in list(hw.notifiers.values()) + [hw.loms] if "panic:" in p.text()]
        checks.ok(not panics, "no service panicked", str(panics))
        log(f"[{broker.name}] done in {time.monotonic() - t0:.1f}s: {len(hw.expected)} orders, "
            f"{sum(len(v) for v in hw.expected.values())} events")
    except Failed as e:
        if not checks.failed or str(e) not in checks.failed[-1]:
            checks.failed.append(f"[{broker.name}] {e}")
            log(f"FAIL [{broker.name}] {e}")
    finally:
        for p in list(hw.notifiers.values()) + ([hw.loms] if hw.loms else []):
            p.kill9()
        try:
            broker.stop()
        except Exception as e:  # noqa: BLE001
            log(f"[{broker.name}] stopping the broker: {e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", required=True, help="directory with the loms and notifier binaries")
    ap.add_argument("--brokers", default="gregor,kafka,gregor-sasl-ssl,kafka-sasl-ssl",
                    help="comma-separated: gregor, kafka, gregor-sasl-ssl, kafka-sasl-ssl, gregor-cluster")
    ap.add_argument("--gregor-bin", default="")
    ap.add_argument("--gregor-port", type=int, default=19692)
    ap.add_argument("--gregor-metrics-port", type=int, default=0, help="gregor's --metrics-listen port "
                    "(default: --gregor-port + 1)")
    ap.add_argument("--kafka-port", type=int, default=24692)
    ap.add_argument("--kafka-controller-port", type=int, default=24693)
    ap.add_argument("--kafka-state", default="/tmp/homework-kafka")
    ap.add_argument("--secured-port", type=int, default=19720,
                    help="first of the secured brokers' ports (gregor 5 from here, Kafka 5 from here + 10)")
    ap.add_argument("--cluster-port", type=int, default=19740,
                    help="gregor-cluster: its three brokers' first port")
    ap.add_argument("--cluster-pg-port", type=int, default=25472,
                    help="gregor-cluster: its PostgreSQL primary's port (the standby's is the next)")
    ap.add_argument("--pg-port", type=int, default=0, help="PostgreSQL port (default: a free one)")
    ap.add_argument("--logdir", default="", help="keep service logs here (default: a temp dir, kept on failure)")
    args = ap.parse_args()
    if args.gregor_bin:  # tlsbrokers.start_gregor's binary
        os.environ["COMPAT_GREGOR_BIN"] = args.gregor_bin

    work = Path(tempfile.mkdtemp(prefix="homework-e2e."))
    logdir = Path(args.logdir) if args.logdir else work / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    checks = Checks()
    pg = Postgres(work, args.pg_port or free_port())
    try:
        pg.start()
        log(f"postgres up on 127.0.0.1:{pg.port} ({pg.dir})")
        for name in [b.strip() for b in args.brokers.split(",") if b.strip()]:
            if name == "gregor":
                broker = GregorBroker(args.gregor_bin, args.gregor_port,
                                      args.gregor_metrics_port or args.gregor_port + 1, work, logdir)
            elif name == "gregor-cluster":
                broker = ClusterBroker(args.gregor_bin, args.cluster_port,
                                       (args.cluster_pg_port, args.cluster_pg_port + 1), work, logdir)
            elif name == "kafka":
                broker = KafkaBroker(args.kafka_port, args.kafka_controller_port, args.kafka_state, logdir)
            elif name in ("gregor-sasl-ssl", "kafka-sasl-ssl"):
                # Listener ports from --secured-port (gregor) / --secured-port + 10 (Kafka) on.
                kind = name.split("-")[0]
                base = args.secured_port + (0 if kind == "gregor" else 10)
                broker = SecuredBroker(kind, base, work)
            else:
                raise SystemExit(f"unknown broker {name!r}")
            bl = logdir / name
            bl.mkdir(exist_ok=True)
            broker.__dict__.setdefault("logdir", bl)
            if isinstance(broker, GregorBroker):
                broker.proc.logfile = bl / "gregor.log"
            else:
                broker.logdir = bl
            run_broker(checks, broker, pg, Path(args.bindir), bl)
    except Failed as e:
        checks.failed.append(str(e))
        log(f"FAIL {e}")
    finally:
        pg.stop()
    log(f"total {time.monotonic() - T0:.1f}s; logs in {logdir}")
    for f in checks.failed:
        print(f"FAILED: {f}")
    print(f"homework: {checks.passed} passed, {len(checks.failed)} failed")
    if not checks.failed:  # (a --logdir outside the work dir stays)
        shutil.rmtree(work, ignore_errors=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
