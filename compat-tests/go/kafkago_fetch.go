package main

// kafka-go's Client.Fetch: one Fetch v11 per call with SessionId -1 and SessionEpoch -1, which
// Kafka serves as a sessionless full fetch (FetchManager.newContext: epoch -1 is FINAL_EPOCH,
// whatever the session id). Issue 18: gregor answered FETCH_SESSION_ID_NOT_FOUND (70) with no
// topics, so Client.Fetch could not read at all.

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

func init() {
	register("kafka-go", "client_fetch", kgoClientFetch)
}

// kgoFetch calls Client.Fetch on partition 0 of topic and drains the records it returns (a
// batch may start before the asked offset: kgoCheckFetched skips those).
func kgoFetch(s *Scenario, topic string, offset int64, isolation kafka.IsolationLevel) (*kafka.FetchResponse, []Rec) {
	res, err := kgoClient(s).Fetch(s.Ctx, &kafka.FetchRequest{Topic: topic, Partition: 0, Offset: offset,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 300 * time.Millisecond, IsolationLevel: isolation})
	s.NoErr(err, "Client.Fetch %s/0 at %d", topic, offset)
	var out []Rec
	for {
		r, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		s.NoErr(err, "Client.Fetch %s/0 at %d: reading the record set", topic, offset)
		key, err := protocol.ReadAll(r.Key)
		s.NoErr(err, "record key")
		value, err := protocol.ReadAll(r.Value)
		s.NoErr(err, "record value")
		hs := make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = Header{h.Key, h.Value}
		}
		out = append(out, Rec{Partition: 0, Offset: r.Offset, Key: key, Value: value, Headers: hs, Timestamp: r.Time})
	}
	return res, out
}

func kgoCheckFetched(s *Scenario, what string, sent, got []Rec, from int64) {
	var kept []Rec
	for _, r := range got {
		if r.Offset >= from {
			kept = append(kept, r)
		}
	}
	want := sent[from:]
	s.Check(len(kept) == len(want), "%s: %d records from offset %d, want %d: %v", what, len(kept), from, len(want), kept)
	for i, r := range kept {
		s.Check(r.Offset == from+int64(i), "%s: record #%d at offset %d, want %d", what, i, r.Offset, from+int64(i))
		s.Check(SameRecord(r, want[i]), "%s: offset %d differs: read %s, sent %s", what, r.Offset, r, want[i])
	}
}

func kgoClientFetch(s *Scenario) {
	conn := kgoDial(s)
	defer conn.Close()
	topic := UniqueName(s.Client, "fetch")
	kgoCreateTopic(s, conn, topic, 1)
	sent := KeyedRecords(s.Client, "lz4", 20)
	w := &kafka.Writer{Addr: kafka.TCP(s.Seeds...), Topic: topic, Balancer: &kafka.Hash{}, Transport: kgoTransport(),
		RequiredAcks: kafka.RequireAll, Compression: kafka.Lz4, BatchTimeout: 5 * time.Millisecond}
	kgoWrite(s, w, sent, 10)
	for i, r := range sent {
		s.Check(r.Partition == 0 && r.Offset == int64(i), "the Writer reported %s for record #%d", r, i)
	}

	res, got := kgoFetch(s, topic, kafka.FirstOffset, kafka.ReadUncommitted)
	s.NoErr(res.Error, "Client.Fetch(FirstOffset): partition error")
	s.Check(res.Topic == topic && res.Partition == 0, "answer for %s/%d", res.Topic, res.Partition)
	s.Check(res.HighWatermark == 20 && res.LastStableOffset == 20 && res.LogStartOffset == 0,
		"high watermark %d, last stable %d, log start %d; want 20, 20, 0", res.HighWatermark, res.LastStableOffset, res.LogStartOffset)
	kgoCheckFetched(s, "Client.Fetch(FirstOffset)", sent, got, 0)
	s.Okf("Client.Fetch (v11, session id -1, epoch -1) from FirstOffset: the 20 records (2 lz4 batches), identical, " +
		"high watermark 20, last stable 20, log start 0")

	res, got = kgoFetch(s, topic, 13, kafka.ReadUncommitted)
	s.NoErr(res.Error, "Client.Fetch(13): partition error")
	kgoCheckFetched(s, "Client.Fetch(13)", sent, got, 13)
	s.Okf("Client.Fetch from offset 13 (inside the second batch): records 13..19")

	res, got = kgoFetch(s, topic, 0, kafka.ReadCommitted)
	s.NoErr(res.Error, "Client.Fetch(0, read_committed): partition error")
	kgoCheckFetched(s, "Client.Fetch(0, read_committed)", sent, got, 0)
	s.Okf("Client.Fetch read_committed: the same 20 records")

	res, got = kgoFetch(s, topic, kafka.LastOffset, kafka.ReadUncommitted)
	s.NoErr(res.Error, "Client.Fetch(LastOffset): partition error")
	s.Check(len(got) == 0 && res.HighWatermark == 20, "Client.Fetch(LastOffset): %d records, high watermark %d; want none, 20",
		len(got), res.HighWatermark)
	s.Okf("Client.Fetch from LastOffset (20): no records after the 300 ms wait, high watermark 20")

	res, _ = kgoFetch(s, topic, 21, kafka.ReadUncommitted)
	s.Check(errors.Is(res.Error, kafka.OffsetOutOfRange), "Client.Fetch(21): error %v, want OFFSET_OUT_OF_RANGE (1)", res.Error)
	s.Okf("Client.Fetch past the end: %s", fmt.Sprint(res.Error))
}
