package main

// franz-go transactions: a kgo client with a TransactionalID (InitProducerId with the id,
// AddPartitionsToTxn, EndTxn) runs three transactions — commit, abort, commit — and
// read_committed / read_uncommitted readers see exactly the committed / all records.

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("franz-go", "transactions", franzTransactions)
}

func franzTransactions(s *Scenario) {
	adm, done := franzAdminClient(s)
	defer done()
	topic := UniqueName(s.Client, "txn")
	franzCreateTopic(s, adm, topic, 2, nil)
	cl := franzClient(s, kgo.TransactionalID(UniqueName(s.Client, "txn-id")), kgo.TransactionTimeout(30*time.Second))
	defer cl.Close()
	rounds := []struct {
		tag    string
		commit bool
	}{{"one", true}, {"two", false}, {"three", true}}
	var committed, all []string
	for _, r := range rounds {
		s.NoErr(cl.BeginTransaction(), "BeginTransaction %s", r.tag)
		var krs []*kgo.Record
		for i := 0; i < 20; i++ {
			v := fmt.Sprintf("%s-%d", r.tag, i)
			krs = append(krs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint("k", i%4)), Value: []byte(v)})
			all = append(all, v)
			if r.commit {
				committed = append(committed, v)
			}
		}
		s.NoErr(cl.ProduceSync(s.Ctx, krs...).FirstErr(), "ProduceSync %s", r.tag)
		end := kgo.TryAbort
		if r.commit {
			end = kgo.TryCommit
		}
		s.NoErr(cl.EndTransaction(s.Ctx, end), "EndTransaction %s (commit %v)", r.tag, r.commit)
	}
	s.Okf("three transactions of 20 records: commit, abort, commit")

	read := func(isolation kgo.IsolationLevel, want int) []string {
		rc := franzClient(s, kgo.FetchIsolationLevel(isolation),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}))
		defer rc.Close()
		var got []string
		ctx, cancel := context.WithTimeout(s.Ctx, 15*time.Second)
		defer cancel()
		for len(got) < want && ctx.Err() == nil {
			rc.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		ctx2, cancel2 := context.WithTimeout(s.Ctx, 500*time.Millisecond)
		defer cancel2()
		rc.PollFetches(ctx2).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		sort.Strings(got)
		return got
	}
	sort.Strings(committed)
	sort.Strings(all)
	got := read(kgo.ReadCommitted(), len(committed))
	s.Check(fmt.Sprint(got) == fmt.Sprint(committed), "read_committed: %d records %v, want the %d committed", len(got), got, len(committed))
	got = read(kgo.ReadUncommitted(), len(all))
	s.Check(fmt.Sprint(got) == fmt.Sprint(all), "read_uncommitted: %d records, want all %d", len(got), len(all))
	s.Okf("read_committed sees the 40 committed records, read_uncommitted all 60")
}
