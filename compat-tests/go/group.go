package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// The `group` scenario is the same for every client; GroupDriver supplies the client-specific
// parts. Members are told apart in DescribeGroups by their client id (the member name).
//
//  1. three members join one group over a fresh 2-partition topic: the group becomes Stable
//     with 3 members, exactly 2 of which hold one partition each;
//  2. 10 records per partition are consumed, each partition by its owner only, exactly once,
//     and committed (OffsetFetch: 10/10);
//  3. a member holding a partition leaves: the group is Stable with the 2 others holding one
//     partition each (with a sticky balancer: the idle member took the leaver's partition and
//     the other kept its own; an eager Range assignor may swap them);
//  4. 5 more records per partition are consumed exactly once, each by its new owner from
//     offset 10, and committed (15/15);
//  5. all leave; 2 more records per partition; a new member of the same group reads exactly
//     offsets 15 and 16 of each partition: it resumed after the committed offsets.
type GroupDriver struct {
	Group, Topic string
	// NewMember starts a member with client id `name` consuming Topic in Group from the
	// earliest offset, recording each record and committing it (synchronously or by the
	// client's auto-commit).
	NewMember func(name string) *Member
	// Describe returns the group state and each member's partitions of Topic by client id.
	Describe func() (state string, members map[string][]int32, err error)
	// Committed returns the group's committed offsets for Topic's partitions.
	Committed func() (map[int32]int64, error)
	// Produce writes values to one partition, in order (acks=all).
	Produce func(partition int32, values []string) error
	// Sticky: the client's balancer keeps partitions where they are (cooperative-sticky).
	Sticky bool
	// HoldIdle > 0: once the 3 members are Stable, wait this long (longer than the session
	// timeout) and check that nothing changed: same owners, no new assignment callbacks.
	HoldIdle time.Duration
}

// Member is one consumer-group member as the scenario observes it; the client-specific code
// fills it in from its callbacks and consume loop.
type Member struct {
	Name string
	// Close leaves the group (and closes the client).
	Close func() error

	mu       sync.Mutex
	assigned []int32 // as the member itself last saw it (nil until known)
	hasLocal bool    // the client reports its own assignment
	setups   int     // assignment callbacks so far
	received []Rec
	errs     []string
	closed   bool
}

func NewMember(name string) *Member {
	return &Member{Name: name}
}

// Assigned records the member's own view of its assignment (from a rebalance callback).
func (m *Member) Assigned(ps []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assigned = append([]int32{}, ps...)
	m.hasLocal = true
	m.setups++
}

// Got records one consumed record.
func (m *Member) Got(r Rec) {
	if debugLogs {
		fmt.Printf("     %s %s got %s\n", time.Now().Format("15:04:05.000000"), m.Name, r)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.received = append(m.received, r)
}

// Error records an error seen by the member's consume loop (it fails the scenario).
func (m *Member) Error(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs = append(m.errs, err.Error())
}

func (m *Member) snapshot() (assigned []int32, hasLocal bool, received []Rec, errs []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int32{}, m.assigned...), m.hasLocal, append([]Rec{}, m.received...), append([]string{}, m.errs...)
}

func (m *Member) close(s *Scenario) {
	done := make(chan error, 1)
	go func() { done <- m.Close() }()
	select {
	case err := <-done:
		s.NoErr(err, "closing member %s", m.Name)
	case <-time.After(15 * time.Second):
		s.Fatalf("closing member %s did not return within 15s", m.Name)
	}
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
}

func describeString(state string, members map[string][]int32) string {
	names := make([]string, 0, len(members))
	for n := range members {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s:%s", n, PartitionSet(members[n]))
	}
	return fmt.Sprintf("state=%s members={%s}", state, strings.Join(parts, " "))
}

// waitStable waits until DescribeGroups shows the group Stable with exactly the members
// `live`, each holding at most one partition, partitions {0,1} covered once, and every member
// that reports its own assignment agreeing with the coordinator. Returns owner by partition.
func waitStable(s *Scenario, d *GroupDriver, live []*Member, what string) map[int32]*Member {
	var owners map[int32]*Member
	s.WaitFor(what, 30*time.Second, func() (bool, string) {
		for _, m := range live {
			if _, _, _, errs := m.snapshot(); len(errs) > 0 {
				s.Fatalf("member %s: %s", m.Name, strings.Join(errs, "; "))
			}
		}
		state, members, err := d.Describe()
		if err != nil {
			return false, "describe: " + err.Error()
		}
		desc := describeString(state, members)
		if state != "Stable" || len(members) != len(live) {
			return false, desc
		}
		owners = map[int32]*Member{}
		for _, m := range live {
			ps, ok := members[m.Name]
			if !ok {
				return false, desc + " (missing " + m.Name + ")"
			}
			if len(ps) > 1 {
				return false, desc
			}
			for _, p := range ps {
				if owners[p] != nil {
					return false, desc
				}
				owners[p] = m
			}
			local, hasLocal, _, _ := m.snapshot()
			if hasLocal && PartitionSet(local) != PartitionSet(ps) {
				return false, fmt.Sprintf("%s; %s itself has %s", desc, m.Name, PartitionSet(local))
			}
		}
		return owners[0] != nil && owners[1] != nil && len(owners) == 2, desc
	})
	return owners
}

// receivedFrom returns the records of partition p that member m got with offset ≥ from.
func receivedFrom(m *Member, p int32, from int64) []Rec {
	_, _, recs, _ := m.snapshot()
	var out []Rec
	for _, r := range recs {
		if r.Partition == p && r.Offset >= from {
			out = append(out, r)
		}
	}
	return out
}

func groupValues(p int32, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("group p%d #%d", p, from+i)
	}
	return out
}

// waitConsumed waits until, over all members, partition p was read from offset `from` to
// `to`-1 exactly once each, by `owner` only, with the expected values, then until the group's
// committed offsets are `to` for both partitions.
func waitConsumed(s *Scenario, d *GroupDriver, all []*Member, owners map[int32]*Member, from, to int64) {
	for p := int32(0); p < 2; p++ {
		want := groupValues(p, int(from), int(to-from))
		owner := owners[p]
		s.WaitFor(fmt.Sprintf("%s to read p%d offsets %d..%d", owner.Name, p, from, to-1), 20*time.Second,
			func() (bool, string) {
				got := receivedFrom(owner, p, from)
				return len(got) >= len(want), fmt.Sprintf("%d of %d", len(got), len(want))
			})
		for _, m := range all {
			got := receivedFrom(m, p, from)
			if m != owner {
				s.Check(len(got) == 0, "member %s (not the owner of p%d) read %d of its records from offset %d: %v",
					m.Name, p, len(got), from, got)
				continue
			}
			vals := make([]string, len(got))
			for i, r := range got {
				vals[i] = string(r.Value)
				s.Check(r.Offset == from+int64(i), "%s read p%d offsets out of order or twice: %v", m.Name, p, got)
			}
			s.Check(strings.Join(vals, "|") == strings.Join(want, "|"), "%s read p%d values %q, want %q", m.Name, p, vals, want)
		}
	}
	s.Okf("partition 0 read by %s, partition 1 by %s: offsets %d..%d exactly once, in order",
		owners[0].Name, owners[1].Name, from, to-1)
	var last map[int32]int64
	s.WaitFor(fmt.Sprintf("committed offsets %d/%d", to, to), 15*time.Second, func() (bool, string) {
		var err error
		last, err = d.Committed()
		if err != nil {
			return false, err.Error()
		}
		return last[0] == to && last[1] == to, fmt.Sprint(last)
	})
	s.Okf("committed offsets (OffsetFetch): %v", last)
}

func RunGroupScenario(s *Scenario, d *GroupDriver) {
	names := []string{"m1-" + s.Client, "m2-" + s.Client, "m3-" + s.Client}
	var members []*Member
	defer func() { // on failure: leave the group quietly so the process can exit
		for _, m := range members {
			m.mu.Lock()
			closed := m.closed
			m.mu.Unlock()
			if !closed {
				go func(m *Member) { _ = m.Close() }(m)
			}
		}
	}()
	for _, n := range names {
		members = append(members, d.NewMember(n))
	}
	owners := waitStable(s, d, members, "3 members Stable with 2 of them holding one partition each")
	var idle *Member
	for _, m := range members {
		if owners[0] != m && owners[1] != m {
			idle = m
		}
	}
	s.Okf("3 members joined %s: %s has p0, %s has p1, %s has none", d.Group, owners[0].Name, owners[1].Name, idle.Name)
	if d.HoldIdle > 0 {
		// The broker is Stable once the last SyncGroup is answered; a member's client may run
		// its setup for that generation a moment later (seen under load: sarama's for a member
		// whose partitions did not change). Count from when no member has set up for 1 s.
		setups := func() map[*Member]int {
			counts := map[*Member]int{}
			for _, m := range members {
				m.mu.Lock()
				counts[m] = m.setups
				m.mu.Unlock()
			}
			return counts
		}
		before := setups()
		for settle := time.Now().Add(10 * time.Second); time.Now().Before(settle); {
			time.Sleep(time.Second)
			now := setups()
			if fmt.Sprint(now) == fmt.Sprint(before) {
				break
			}
			before = now
		}
		time.Sleep(d.HoldIdle)
		again := waitStable(s, d, members, "the 3 members still Stable after the hold")
		s.Check(again[0] == owners[0] && again[1] == owners[1], "during %s idle the assignment changed: p0 %s→%s, p1 %s→%s",
			d.HoldIdle, owners[0].Name, again[0].Name, owners[1].Name, again[1].Name)
		for _, m := range members {
			m.mu.Lock()
			n := m.setups
			m.mu.Unlock()
			s.Check(n == before[m], "member %s went through %d more rebalances during %s idle", m.Name, n-before[m], d.HoldIdle)
		}
		s.Okf("held %s (> session timeout) with no traffic: same 3 members and owners, no rebalance, no errors", d.HoldIdle)
	}

	for p := int32(0); p < 2; p++ {
		s.NoErr(d.Produce(p, groupValues(p, 0, 10)), "producing 10 records to p%d", p)
	}
	waitConsumed(s, d, members, owners, 0, 10)

	// The owner of partition 1 leaves: its partition must move to the idle member.
	leaver := owners[1]
	leaver.close(s)
	var live []*Member
	for _, m := range members {
		if m != leaver {
			live = append(live, m)
		}
	}
	newOwners := waitStable(s, d, live, "2 members Stable holding one partition each after "+leaver.Name+" left")
	if d.Sticky {
		s.Check(newOwners[1] == idle, "after %s left, p1 went to %s, want the idle member %s (sticky balancer)",
			leaver.Name, newOwners[1].Name, idle.Name)
		s.Check(newOwners[0] == owners[0], "after %s left, p0 moved from %s to %s (sticky balancer)",
			leaver.Name, owners[0].Name, newOwners[0].Name)
	}
	s.Okf("%s (p1) left: now %s has p0, %s has p1", leaver.Name, newOwners[0].Name, newOwners[1].Name)

	for p := int32(0); p < 2; p++ {
		s.NoErr(d.Produce(p, groupValues(p, 10, 5)), "producing 5 more records to p%d", p)
	}
	waitConsumed(s, d, members, newOwners, 10, 15)

	for _, m := range live {
		m.close(s)
	}
	committed, err := d.Committed()
	s.NoErr(err, "OffsetFetch after every member left")
	s.Check(committed[0] == 15 && committed[1] == 15, "committed offsets after every member left: %v, want 15/15", committed)
	s.Okf("all members left; committed offsets still %v", committed)

	for p := int32(0); p < 2; p++ {
		s.NoErr(d.Produce(p, groupValues(p, 15, 2)), "producing 2 more records to p%d", p)
	}
	late := d.NewMember("m4-" + s.Client)
	members = append(members, late)
	s.WaitFor("the new member to read 4 records", 30*time.Second, func() (bool, string) {
		_, _, recs, errs := late.snapshot()
		if len(errs) > 0 {
			s.Fatalf("member %s: %s", late.Name, strings.Join(errs, "; "))
		}
		return len(recs) >= 4, fmt.Sprint(recs)
	})
	time.Sleep(300 * time.Millisecond) // anything beyond the 4 would be re-delivered records
	_, _, recs, _ := late.snapshot()
	by := ByPartition(recs)
	for p := int32(0); p < 2; p++ {
		got := by[p]
		s.Check(len(got) == 2 && got[0].Offset == 15 && got[1].Offset == 16,
			"the new member read p%d %v, want exactly offsets 15 and 16", p, got)
		want := groupValues(p, 15, 2)
		s.Check(string(got[0].Value) == want[0] && string(got[1].Value) == want[1], "the new member read p%d values %v", p, got)
	}
	s.Check(len(recs) == 4, "the new member read %d records, want 4: %v", len(recs), recs)
	late.close(s)
	s.Okf("a new member of %s resumed at the committed offsets: read exactly offsets 15,16 of p0 and p1", d.Group)
}
