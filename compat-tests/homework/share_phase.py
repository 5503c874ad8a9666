"""Phase S of the homework end to end (e2e.py): the notifier's share mode. Three notifiers
(s1..s3, `NOTIFIER_SHARE=true`, franz-go's share consumer) join the KIP-932 share group
notifier-share beside the consumer group's notifiers, after its share.auto.offset.reset was
set to earliest (a share group's default, latest, would skip the topic's history):

  - every event of the topic's history (phases A-C) and of 30 new orders is logged by one of
    them, every record (partition, offset) exactly once, and all three logged some (a share
    group hands the records of one partition to several members);
  - each partition is shared by two of the three (Kafka's SimpleAssignor: ceil(members /
    partitions) members per partition);
  - kill -9 of one whose partitions are shared while orders flow: nothing is lost, and within
    15 s: the broker releases what the dead member held when its connection closes (Kafka's
    share session is the connection's) and the others get it, well before the 30 s acquisition
    lock would expire; some records may be logged twice.

The topic itself may hold an event twice (loms' outbox re-sends after the broker crash of
phase C), so "exactly once" is per record, not per (order, seq). Order across members is not
a share group's promise, so no per-order sequence check here."""

from __future__ import annotations

import time
from collections import Counter

from groupconfig import set_group_config
from harness import log, wait_for

SHARE_GROUP = "notifier-share"
NAMES = ["s1", "s2", "s3"]


def _wait_stable_assignment(hw, timeout: float) -> dict[str, list[int]]:
    """Every share notifier holds partitions, together both, unchanged for 6 s (longer than
    the 5 s heartbeat interval that brings a member its new assignment)."""
    state = {"since": None, "last": None}

    def check():
        hs = {n: hw.notifier_health(n) for n in NAMES}
        a = {n: h["partitions"] for n, h in hs.items() if h and h["member_id"] and h["generation"] > 0}
        covered = len(a) == len(NAMES) and all(a.values()) and {p for ps in a.values() for p in ps} == {0, 1}
        if not covered or a != state["last"]:
            state["since"], state["last"] = time.monotonic(), a if covered else None
            return False
        return time.monotonic() - state["since"] >= 6 and a
    return wait_for(f"a stable share assignment over {NAMES}", timeout, check, 0.25)


def _check_records_once(checks, evs, phase: str, allow_dups: bool) -> None:
    per_record = Counter((e["partition"], e["offset"]) for e in evs)
    dups = {r: n for r, n in per_record.items() if n > 1}
    if allow_dups:
        checks.ok(True, f"{phase}: {len(dups)} record(s) redelivered after the crash (at-least-once)")
    else:
        checks.ok(not dups, f"{phase}: every record logged exactly once by one share notifier",
                  f"{len(dups)} records logged more than once, e.g. {list(dups.items())[:5]}")
    twice = sum(1 for n in Counter((e["order"], e["seq"]) for e in evs).values() if n > 1)
    log(f"[{checks.broker}] {phase}: {len(per_record)} records, {len(evs)} lines, "
        f"{twice} events logged more than once (the topic's duplicates included)")


def share_phase(checks, hw, broker) -> list[str]:
    """Runs S; returns the share notifiers still running (for D)."""
    set_group_config(broker.bootstrap, SHARE_GROUP, "share.auto.offset.reset", "earliest")
    checks.ok(True, f"share group {SHARE_GROUP}: share.auto.offset.reset=earliest set (IncrementalAlterConfigs)")
    log(f"[{broker.name}] starting share notifiers {NAMES}")
    for n in NAMES:
        hw.start_notifier(n, share=True)
    a = _wait_stable_assignment(hw, 60)
    checks.ok(True, "three share notifiers joined, each with partitions, together both")
    log(f"[{broker.name}] share assignment {a}")

    hw.drive(30)
    evs = hw.wait_all_logged(90, NAMES)
    hw.check_complete(evs, "S (share group, history + 30 orders)")
    _check_records_once(checks, evs, "S", allow_dups=False)
    per_member = Counter(e["n"] for e in evs)
    checks.ok(all(per_member[n] > 0 for n in NAMES), "S: all three share notifiers logged events",
              str(dict(per_member)))

    holders = Counter(p for ps in a.values() for p in ps)
    checks.ok(all(holders[p] >= 2 for p in (0, 1)),
              "S: each partition shared by two of the three share notifiers (SimpleAssignor: ceil(3/2))", str(a))
    victim = next((n for n in NAMES if all(holders[p] >= 2 for p in a[n])), NAMES[0])
    hw.drive(10)
    log(f"[{broker.name}] kill -9 {victim} (partitions {a[victim]}) while orders flow")
    hw.notifiers[victim].kill9()
    t_kill = time.monotonic()
    hw.drive(10)
    survivors = [n for n in NAMES if n != victim]
    # (A partition only the victim held would wait for its session timeout, 45 s by default.)
    evs = hw.wait_all_logged(120, NAMES)
    took = time.monotonic() - t_kill
    checks.ok(took < 15, f"S: the others logged every event within 15 s of the kill -9 of {victim} (its "
              "records released when its connection closed, not after the 30 s acquisition lock)", f"{took:.1f}s")
    hw.check_complete(evs, f"S (after kill -9 of {victim})")
    _check_records_once(checks, evs, f"S (after kill -9 of {victim})", allow_dups=True)
    checks.ok(all(hw.notifiers[n].alive() and hw.notifier_health(n) for n in survivors),
              f"S: {survivors} alive and healthy")
    return survivors
