package main

// twmb/franz-go with its defaults: kgo's producer is idempotent with acks=all (InitProducerId
// first) and its key partitioner is Kafka's murmur2; groups use the cooperative-sticky
// balancer; requests go at the highest versions both sides support. kadm does the admin.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("franz-go", "metadata", franzMetadata)
	register("franz-go", "produce_consume", franzProduceConsume)
	register("franz-go", "list_offsets", franzListOffsets)
	register("franz-go", "group", franzGroup)
	register("franz-go", "admin", franzAdmin)
	register("franz-go", "admin_configs", franzAdminConfigs)
	register("franz-go", "admin_cluster", franzAdminCluster)
}

func franzClient(s *Scenario, opts ...kgo.Opt) *kgo.Client {
	base := []kgo.Opt{kgo.SeedBrokers(s.Seeds...), kgo.ClientID("compat-go-franz-go"),
		kgo.RetryTimeout(20 * time.Second), kgo.FetchMaxWait(100 * time.Millisecond),
		// kgo answers Metadata requests from a cache younger than this (default 5 s): the
		// admin scenarios look at metadata right after changing it.
		kgo.MetadataMinAge(50 * time.Millisecond)}
	if debugLogs {
		base = append(base, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	}
	base = append(base, franzSecurity()...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	s.NoErr(err, "kgo.NewClient")
	return cl
}

func franzAdminClient(s *Scenario) (*kadm.Client, func()) {
	cl := franzClient(s)
	return kadm.NewClient(cl), cl.Close
}

func franzCreateTopic(s *Scenario, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	res, err := adm.CreateTopic(s.Ctx, partitions, 1, configs, topic)
	s.NoErr(err, "kadm CreateTopic %s", topic)
	s.NoErr(res.Err, "kadm CreateTopic %s", topic)
	s.WaitFor(fmt.Sprintf("%s with %d partitions in metadata", topic, partitions), 10*time.Second, func() (bool, string) {
		n, err := franzPartitions(s, adm, topic)
		return err == nil && n == int(partitions), fmt.Sprint(n, err)
	})
	return res
}

// franzPartitions: partitions of topic with a leader per kadm.ListTopics (Metadata without
// auto-creation), or the topic's error.
func franzPartitions(s *Scenario, adm *kadm.Client, topic string) (int, error) {
	tds, err := adm.ListTopics(s.Ctx) // all topics: asking for a missing one retries until timeout
	if err != nil {
		return 0, err
	}
	td, ok := tds[topic]
	if !ok {
		return 0, kerr.UnknownTopicOrPartition
	}
	if td.Err != nil {
		return 0, td.Err
	}
	for _, p := range td.Partitions {
		if p.Leader < 0 || p.Err != nil {
			return -1, fmt.Errorf("partition %d leader %d err %v", p.Partition, p.Leader, p.Err)
		}
	}
	return len(td.Partitions), nil
}

func franzMetadata(s *Scenario) {
	adm, done := franzAdminClient(s)
	defer done()
	md, err := adm.BrokerMetadata(s.Ctx)
	s.NoErr(err, "kadm BrokerMetadata")
	s.Check(len(md.Brokers) == 1, "brokers %v, want one", md.Brokers)
	b := md.Brokers[0]
	s.Check(fmt.Sprintf("%s:%d", b.Host, b.Port) == s.Bootstrap, "broker advertises %s:%d, want %s", b.Host, b.Port, s.Bootstrap)
	s.Check(md.Controller == b.NodeID, "controller %d, broker %d", md.Controller, b.NodeID)
	s.Check(md.Cluster != "", "empty cluster id")
	s.Okf("one broker %d at %s, the controller; cluster id %s", b.NodeID, s.Bootstrap, md.Cluster)

	tmd, err := adm.Metadata(s.Ctx, HomeworkTopic)
	s.NoErr(err, "kadm Metadata(%s)", HomeworkTopic)
	td := tmd.Topics[HomeworkTopic]
	s.NoErr(td.Err, "%s", HomeworkTopic)
	var ids []int32
	for id, p := range td.Partitions {
		ids = append(ids, id)
		s.Check(p.Leader == b.NodeID && fmt.Sprint(p.Replicas) == fmt.Sprint([]int32{b.NodeID}) &&
			fmt.Sprint(p.ISR) == fmt.Sprint([]int32{b.NodeID}) && p.Err == nil, "partition %+v", p)
	}
	s.Check(PartitionSet(ids) == "[0 1]", "%s partitions %v, want [0 1]", HomeworkTopic, ids)
	var zero kadm.TopicID
	s.Check(td.ID != zero, "%s has a zero topic id", HomeworkTopic)
	s.Okf("%s: partitions [0 1], leader/replicas/ISR = broker %d, topic id %s", HomeworkTopic, b.NodeID, td.ID)

	topic := UniqueName(s.Client, "metadata")
	res := franzCreateTopic(s, adm, topic, 3, nil)
	tds, err := adm.ListTopics(s.Ctx)
	s.NoErr(err, "kadm ListTopics()")
	s.Check(len(tds[topic].Partitions) == 3 && tds[topic].ID == res.ID && res.ID != zero,
		"ListTopics: %s has %d partitions and id %s; CreateTopics returned id %s", topic, len(tds[topic].Partitions), tds[topic].ID, res.ID)
	s.Check(len(tds[HomeworkTopic].Partitions) == 2, "ListTopics: %s has %d partitions", HomeworkTopic, len(tds[HomeworkTopic].Partitions))
	s.Okf("CreateTopic %s (3 partitions) → ListTopics shows 3 partitions and the topic id CreateTopics returned", topic)

	// Producing to a topic nobody created with kgo.AllowAutoTopicCreation: the broker creates
	// it with its default partition count (1 on both brokers).
	auto := UniqueName(s.Client, "auto")
	cl := franzClient(s, kgo.AllowAutoTopicCreation())
	recs := []Rec{{Partition: -1, Key: []byte("k"), Value: []byte("auto-created")}}
	franzProduce(s, cl, auto, recs, 1)
	cl.Close()
	s.Check(recs[0].Partition == 0 && recs[0].Offset == 0, "first record of an auto-created topic at p%d@%d, want p0@0",
		recs[0].Partition, recs[0].Offset)
	s.WaitFor("the auto-created topic in ListTopics with 1 partition", 10*time.Second, func() (bool, string) {
		n, err := franzPartitions(s, adm, auto)
		return err == nil && n == 1, fmt.Sprint(n, err)
	})
	s.Okf("producing with AllowAutoTopicCreation to a missing topic auto-creates it (1 partition); the record is at p0@0")
}

func franzCodec(codec string) kgo.CompressionCodec {
	return map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}[codec]
}

func franzRecords(recs []Rec, topic string) []*kgo.Record {
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		hs := make([]kgo.RecordHeader, len(r.Headers))
		for j, h := range r.Headers {
			hs[j] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
		out[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: r.Timestamp}
		if r.Partition >= 0 {
			out[i].Partition = r.Partition
		}
	}
	return out
}

func franzRec(r *kgo.Record) Rec {
	hs := make([]Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = Header{h.Key, h.Value}
	}
	return Rec{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: r.Timestamp}
}

// franzProduce produces recs with ProduceSync (one call per `chunk`) and fills in the
// partition and offset of each.
func franzProduce(s *Scenario, cl *kgo.Client, topic string, recs []Rec, chunk int) {
	for start := 0; start < len(recs); start += chunk {
		end := min(start+chunk, len(recs))
		krs := franzRecords(recs[start:end], topic)
		s.NoErr(cl.ProduceSync(s.Ctx, krs...).FirstErr(), "ProduceSync to %s", topic)
		for i, kr := range krs {
			recs[start+i].Partition, recs[start+i].Offset = kr.Partition, kr.Offset
		}
	}
}

// franzReadAll reads every partition of topic from the start up to the end offsets, with a
// group-less client (ConsumePartitions), then checks that nothing follows.
func franzReadAll(s *Scenario, adm *kadm.Client, topic string, opts ...kgo.Opt) []Rec {
	ends, err := adm.ListEndOffsets(s.Ctx, topic)
	s.NoErr(err, "kadm ListEndOffsets %s", topic)
	want := int64(0)
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		want += o.Offset
		offsets[o.Partition] = kgo.NewOffset().AtStart()
	})
	cl := franzClient(s, append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})}, opts...)...)
	defer cl.Close()
	var out []Rec
	ctx, cancel := context.WithTimeout(s.Ctx, 15*time.Second)
	defer cancel()
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			s.Fatalf("consuming %s: %d of %d records after 15s", topic, len(out), want)
		}
		fs.EachError(func(t string, p int32, err error) { s.Fatalf("fetching %s/%d: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, franzRec(r)) })
	}
	ctx2, cancel2 := context.WithTimeout(s.Ctx, 150*time.Millisecond)
	defer cancel2()
	extra := cl.PollFetches(ctx2).Records()
	s.Check(len(extra) == 0, "%d records beyond the end offsets, first %s", len(extra), func() string {
		if len(extra) > 0 {
			return franzRec(extra[0]).String()
		}
		return ""
	}())
	return out
}

// franzReadFrom reads n records of topic/p from offset `from` (ConsumePartitions, no group).
func franzReadFrom(s *Scenario, topic string, p int32, from int64, n int) []Rec {
	cl := franzClient(s, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}}))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(s.Ctx, 15*time.Second)
	defer cancel()
	var out []Rec
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			s.Fatalf("consuming %s/%d from %d: %d of %d records after 15s", topic, p, from, len(out), n)
		}
		fs.EachError(func(t string, p int32, err error) { s.Fatalf("fetching %s/%d: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, franzRec(r)) })
	}
	return out
}

func franzProduceConsume(s *Scenario) {
	adm, done := franzAdminClient(s)
	defer done()
	for _, codec := range Codecs {
		topic := UniqueName(s.Client, "pc-"+codec)
		franzCreateTopic(s, adm, topic, 2, nil)
		sent := KeyedRecords(s.Client, codec, 40)
		cl := franzClient(s, kgo.ProducerBatchCompression(franzCodec(codec)), kgo.ProducerLinger(5*time.Millisecond))
		franzProduce(s, cl, topic, sent, 20)
		cl.Close()
		got := franzReadAll(s, adm, topic)
		VerifyRoundTrip(s, codec, sent, got, 2)
		VerifyReadFrom(s, codec, got, func(p int32, from int64, n int) []Rec { return franzReadFrom(s, topic, p, from, n) })
		if codec == "none" {
			// Fetch limits far below one record batch: the broker must still return the
			// first batch whole (KIP-74), or the consumer cannot make progress.
			small := franzReadAll(s, adm, topic, kgo.FetchMaxBytes(512), kgo.FetchMaxPartitionBytes(512))
			VerifyRoundTrip(s, codec+" with 512-byte fetch limits", sent, small, 2)
			s.Logf("none: read again with FetchMaxBytes = FetchMaxPartitionBytes = 512 (batches are larger): identical")
		}
		s.Okf("%s: 40 keyed records with headers (default idempotent producer, 2 ProduceSync calls) read back identical; "+
			"per-partition order kept, offsets contiguous and as reported, one partition per key; mid-batch read exact", codec)
	}
	franzLogAppendTime(s, adm)
}

// franzLogAppendTime: on a topic with message.timestamp.type=LogAppendTime the broker stamps
// every record with its own clock, whatever time the producer set; consumers see that time.
func franzLogAppendTime(s *Scenario, adm *kadm.Client) {
	topic := UniqueName(s.Client, "logappend")
	franzCreateTopic(s, adm, topic, 1, map[string]*string{"message.timestamp.type": kadm.StringPtr("LogAppendTime")})
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	sent := KeyedRecords(s.Client, "lz4", 10)
	for i := range sent {
		sent[i].Timestamp = old.Add(time.Duration(i) * time.Millisecond)
	}
	before := time.Now().Add(-time.Second)
	cl := franzClient(s, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	franzProduce(s, cl, topic, sent, 10)
	cl.Close()
	after := time.Now().Add(time.Second)
	got := franzReadAll(s, adm, topic)
	s.Check(len(got) == len(sent), "LogAppendTime: read %d records, sent %d", len(got), len(sent))
	for i, r := range got {
		s.Check(r.Timestamp.After(before) && r.Timestamp.Before(after),
			"LogAppendTime: record %d has timestamp %s, want the broker's append time (between %s and %s), not the producer's %s",
			i, r.Timestamp.Format(time.RFC3339Nano), before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano),
			sent[i].Timestamp.Format(time.RFC3339Nano))
		r.Timestamp = time.Time{}
		want := sent[i]
		want.Timestamp = time.Time{}
		s.Check(SameRecord(r, want), "LogAppendTime: record %d differs: %s vs %s", i, r, want)
	}
	s.Okf("message.timestamp.type=LogAppendTime: 10 records produced with 2-day-old timestamps read back with the broker's append time")
}

func franzListOffsets(s *Scenario) {
	adm, done := franzAdminClient(s)
	defer done()
	topic := UniqueName(s.Client, "offsets")
	franzCreateTopic(s, adm, topic, 2, nil)
	base := TimestampBase()
	recs := make([]Rec, 10)
	for i := range recs {
		// Out of order in the second batch: record 7 is the newest.
		ts := base.Add(time.Duration(i) * time.Second)
		if i == 7 {
			ts = base.Add(20 * time.Second)
		}
		recs[i] = Rec{Partition: 0, Key: []byte("k"), Value: []byte(fmt.Sprint("v", i)), Timestamp: ts}
	}
	cl := franzClient(s, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	franzProduce(s, cl, topic, recs, 5) // two zstd batches of 5: lookups must find records inside them
	cl.Close()

	lookup := func(l kadm.ListedOffsets, p int32) kadm.ListedOffset {
		o, ok := l.Lookup(topic, p)
		s.Check(ok, "no result for %s/%d", topic, p)
		s.NoErr(o.Err, "%s/%d", topic, p)
		return o
	}
	starts, err := adm.ListStartOffsets(s.Ctx, topic)
	s.NoErr(err, "kadm ListStartOffsets")
	ends, err := adm.ListEndOffsets(s.Ctx, topic)
	s.NoErr(err, "kadm ListEndOffsets")
	s.Check(lookup(starts, 0).Offset == 0 && lookup(ends, 0).Offset == 10, "p0 start/end %d/%d, want 0/10",
		lookup(starts, 0).Offset, lookup(ends, 0).Offset)
	s.Check(lookup(starts, 1).Offset == 0 && lookup(ends, 1).Offset == 0, "empty p1 start/end %d/%d, want 0/0",
		lookup(starts, 1).Offset, lookup(ends, 1).Offset)
	s.Okf("ListStartOffsets/ListEndOffsets: p0 0/10, empty p1 0/0")

	ms := base.UnixMilli()
	cases := []struct {
		at, want, wantTs int64
		what             string
	}{
		{ms - 3_600_000, 0, ms, "an hour before the first record"},
		{ms + 3000, 3, ms + 3000, "exactly record 3's timestamp"},
		{ms + 3500, 4, ms + 4000, "between records 3 and 4"},
		{ms + 6500, 7, ms + 20000, "after record 6: the out-of-order newest record 7 comes first"},
		{ms + 9000, 7, ms + 20000, "record 9's timestamp: record 7 (+20 s) is the first at or after it"},
		{ms + 20001, 10, -1, "after the newest record (broker: -1; kadm reports the end offset)"},
	}
	for _, c := range cases {
		l, err := adm.ListOffsetsAfterMilli(s.Ctx, c.at, topic)
		s.NoErr(err, "kadm ListOffsetsAfterMilli(%d)", c.at)
		o := lookup(l, 0)
		s.Check(o.Offset == c.want && o.Timestamp == c.wantTs, "ListOffsetsAfterMilli at %s: offset %d timestamp %d, want %d / %d",
			c.what, o.Offset, o.Timestamp, c.want, c.wantTs)
	}
	l, err := adm.ListOffsetsAfterMilli(s.Ctx, ms, topic)
	s.NoErr(err, "kadm ListOffsetsAfterMilli")
	o1 := lookup(l, 1)
	s.Check(o1.Offset == 0 && o1.Timestamp == -1, "ListOffsetsAfterMilli on the empty partition: offset %d timestamp %d, want 0 (the end) / -1",
		o1.Offset, o1.Timestamp)
	s.Okf("ListOffsetsAfterMilli: %d lookups incl. an out-of-order timestamp, past the end, empty partition", len(cases)+1)

	mx, err := adm.ListMaxTimestampOffsets(s.Ctx, topic)
	s.NoErr(err, "kadm ListMaxTimestampOffsets (ListOffsets v7+, timestamp -3)")
	o := lookup(mx, 0)
	s.Check(o.Offset == 7 && o.Timestamp == ms+20000, "max timestamp p0: offset %d timestamp %d, want 7 / %d", o.Offset, o.Timestamp, ms+20000)
	s.Okf("ListMaxTimestampOffsets: p0 → offset 7, the record with the largest timestamp")
}

// ---------------------------------------------------------------------------- group

func franzStartMember(s *Scenario, group, topic, name string) *Member {
	m := NewMember(name)
	var amu sync.Mutex
	owned := map[int32]bool{}
	report := func() {
		ps := []int32{}
		for p := range owned {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		m.Assigned(ps)
	}
	cl := franzClient(s,
		kgo.ClientID(name),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(time.Second), kgo.RebalanceTimeout(10*time.Second),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			amu.Lock()
			defer amu.Unlock()
			for _, p := range a[topic] {
				owned[p] = true
			}
			report()
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, c *kgo.Client, r map[string][]int32) {
			amu.Lock()
			defer amu.Unlock()
			for _, p := range r[topic] {
				delete(owned, p)
			}
			report()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			amu.Lock()
			defer amu.Unlock()
			for _, p := range l[topic] {
				delete(owned, p)
			}
			report()
		}),
	)
	ctx, cancel := context.WithCancel(s.Ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			fs.EachError(func(t string, p int32, err error) { m.Error(fmt.Errorf("fetch %s/%d: %w", t, p, err)) })
			recs := fs.Records()
			for _, r := range recs {
				m.Got(franzRec(r))
			}
			if len(recs) > 0 {
				if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
					m.Error(fmt.Errorf("CommitRecords: %w", err))
				}
			}
		}
	}()
	m.Close = func() error {
		cancel()
		<-done
		cl.Close() // leaves the group
		return nil
	}
	return m
}

func franzDescribe(s *Scenario, adm *kadm.Client, group, topic string) (string, map[string][]int32, error) {
	ds, err := adm.DescribeGroups(s.Ctx, group)
	if err != nil {
		return "", nil, err
	}
	d, ok := ds[group]
	if !ok {
		return "", nil, fmt.Errorf("DescribeGroups: no %s", group)
	}
	if d.Err != nil {
		return "", nil, d.Err
	}
	members := map[string][]int32{}
	for _, m := range d.Members {
		ps := []int32{}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if t.Topic == topic {
					ps = append(ps, t.Partitions...)
				}
			}
		}
		members[m.ClientID] = ps
	}
	return d.State, members, nil
}

func franzCommitted(s *Scenario, adm *kadm.Client, group, topic string) (map[int32]int64, error) {
	os, err := adm.FetchOffsets(s.Ctx, group)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p := int32(0); p < 2; p++ {
		if o, ok := os.Lookup(topic, p); ok {
			if o.Err != nil {
				return nil, o.Err
			}
			out[p] = o.At
		}
	}
	return out, nil
}

func franzGroup(s *Scenario) {
	adm, done := franzAdminClient(s)
	defer done()
	topic := UniqueName(s.Client, "group")
	group := UniqueName(s.Client, "group")
	franzCreateTopic(s, adm, topic, 2, nil)
	producer := franzClient(s, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer producer.Close()
	RunGroupScenario(s, &GroupDriver{
		Group: group, Topic: topic, Sticky: true,
		NewMember: func(name string) *Member { return franzStartMember(s, group, topic, name) },
		Describe:  func() (string, map[string][]int32, error) { return franzDescribe(s, adm, group, topic) },
		Committed: func() (map[int32]int64, error) { return franzCommitted(s, adm, group, topic) },
		Produce: func(p int32, values []string) error {
			recs := make([]*kgo.Record, len(values))
			for i, v := range values {
				recs[i] = &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}
			}
			return producer.ProduceSync(s.Ctx, recs...).FirstErr()
		},
	})
}

// ---------------------------------------------------------------------------- admin

func franzAdmin(s *Scenario) {
	adm, done := franzAdminClient(s)
	defer done()
	topic := UniqueName(s.Client, "admin")
	franzCreateTopic(s, adm, topic, 2, nil)
	s.Okf("CreateTopic %s (2 partitions) → ListTopics shows 2", topic)

	rs, err := adm.CreateTopics(s.Ctx, 2, 1, nil, topic)
	s.NoErr(err, "kadm CreateTopics")
	s.Check(errors.Is(rs[topic].Err, kerr.TopicAlreadyExists), "CreateTopics again: %v, want TOPIC_ALREADY_EXISTS (36)", rs[topic].Err)
	rs, err = adm.CreateTopics(s.Ctx, 0, 1, nil, topic+".zero")
	s.NoErr(err, "kadm CreateTopics")
	s.Check(errors.Is(rs[topic+".zero"].Err, kerr.InvalidPartitions), "CreateTopics with 0 partitions: %v, want INVALID_PARTITIONS (37)", rs[topic+".zero"].Err)
	// One more replica than brokers (a cluster target names them all).
	rs, err = adm.CreateTopics(s.Ctx, 1, int16(len(s.Seeds)+2), nil, topic+".rf3")
	s.NoErr(err, "kadm CreateTopics")
	s.Check(errors.Is(rs[topic+".rf3"].Err, kerr.InvalidReplicationFactor), "CreateTopics with RF %d: %v, want INVALID_REPLICATION_FACTOR (38)", len(s.Seeds)+2, rs[topic+".rf3"].Err)
	rs, err = adm.CreateTopics(s.Ctx, 1, 1, nil, "bad name!")
	s.NoErr(err, "kadm CreateTopics")
	s.Check(errors.Is(rs["bad name!"].Err, kerr.InvalidTopicException), "CreateTopics 'bad name!': %v, want INVALID_TOPIC_EXCEPTION (17)", rs["bad name!"].Err)
	s.Okf("CreateTopics: again → 36, 0 partitions → 37, RF 3 → 38, 'bad name!' → 17")

	cp, err := adm.CreatePartitions(s.Ctx, 2, topic)
	s.NoErr(err, "kadm CreatePartitions +2")
	s.NoErr(cp[topic].Err, "CreatePartitions +2")
	s.WaitFor("4 partitions in metadata", 10*time.Second, func() (bool, string) {
		n, err := franzPartitions(s, adm, topic)
		return err == nil && n == 4, fmt.Sprint(n, err)
	})
	cp, err = adm.UpdatePartitions(s.Ctx, 4, topic, topic+".missing")
	s.NoErr(err, "kadm UpdatePartitions")
	s.Check(errors.Is(cp[topic].Err, kerr.InvalidPartitions), "UpdatePartitions to the same count: %v, want INVALID_PARTITIONS (37)", cp[topic].Err)
	s.Check(errors.Is(cp[topic+".missing"].Err, kerr.UnknownTopicOrPartition), "UpdatePartitions of a missing topic: %v, want 3", cp[topic+".missing"].Err)
	s.Okf("CreatePartitions +2 → 4 partitions; UpdatePartitions 4→4 → 37; missing topic → 3")

	group := UniqueName(s.Client, "admin-group")
	m := franzStartMember(s, group, topic, "admin-member-"+s.Client)
	var desc string
	s.WaitFor("the one-member group Stable with all 4 partitions", 20*time.Second, func() (bool, string) {
		state, members, err := franzDescribe(s, adm, group, topic)
		if err != nil {
			return false, err.Error()
		}
		desc = describeString(state, members)
		return state == "Stable" && len(members) == 1 && PartitionSet(members[m.Name]) == "[0 1 2 3]", desc
	})
	ds, err := adm.DescribeGroups(s.Ctx, group)
	s.NoErr(err, "kadm DescribeGroups")
	s.Check(ds[group].ProtocolType == "consumer" && ds[group].Protocol == "cooperative-sticky",
		"group protocol %q/%q, want consumer/cooperative-sticky", ds[group].ProtocolType, ds[group].Protocol)
	lg, err := adm.ListGroups(s.Ctx)
	s.NoErr(err, "kadm ListGroups")
	s.Check(lg[group].ProtocolType == "consumer" && lg[group].State == "Stable", "ListGroups: %s → %+v, want consumer/Stable", group, lg[group])
	s.Okf("DescribeGroups: %s, consumer/cooperative-sticky; ListGroups: consumer, Stable", desc)

	// Commit an offset with kadm for the live group's partitions? No: kadm commits as an
	// admin (generation -1), which a live classic group rejects; commit after it empties.
	m.close(s)
	state, members, err := franzDescribe(s, adm, group, topic)
	s.NoErr(err, "DescribeGroups after the member left")
	s.Check(state == "Empty" && len(members) == 0, "after the member left: %s, want Empty", describeString(state, members))
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 1, At: 5, LeaderEpoch: -1, Metadata: "by kadm"})
	s.NoErr(adm.CommitAllOffsets(s.Ctx, group, os), "kadm CommitAllOffsets to the empty group")
	fo, err := adm.FetchOffsets(s.Ctx, group)
	s.NoErr(err, "kadm FetchOffsets")
	o, ok := fo.Lookup(topic, 1)
	s.Check(ok && o.Err == nil && o.At == 5 && o.Metadata == "by kadm", "FetchOffsets p1: %+v, want 5 'by kadm'", o)
	lg, err = adm.ListGroups(s.Ctx)
	s.NoErr(err, "kadm ListGroups")
	s.Check(lg[group].State == "Empty", "ListGroups after the member left: %+v, want Empty", lg[group])
	s.Okf("member left → Empty (DescribeGroups and ListGroups); CommitAllOffsets p1=5 → FetchOffsets 5 with its metadata")

	dor, err := adm.DeleteOffsets(s.Ctx, group, kadm.TopicsSet{topic: {1: {}}})
	s.NoErr(err, "kadm DeleteOffsets (OffsetDelete)")
	s.NoErr(dor.Error(), "DeleteOffsets %s/1", topic)
	fo, err = adm.FetchOffsets(s.Ctx, group)
	s.NoErr(err, "kadm FetchOffsets")
	o, ok = fo.Lookup(topic, 1)
	s.Check(!ok || o.At == -1, "FetchOffsets p1 after DeleteOffsets: %+v, want no committed offset", o)
	s.Okf("DeleteOffsets (OffsetDelete) p1 → FetchOffsets has no committed offset for it")

	dg, err := adm.DeleteGroups(s.Ctx, group)
	s.NoErr(err, "kadm DeleteGroups")
	s.NoErr(dg[group].Err, "DeleteGroups %s", group)
	dg, err = adm.DeleteGroups(s.Ctx, group)
	s.NoErr(err, "kadm DeleteGroups")
	s.Check(errors.Is(dg[group].Err, kerr.GroupIDNotFound), "DeleteGroups again: %v, want GROUP_ID_NOT_FOUND (69)", dg[group].Err)
	s.Okf("DeleteGroups → ok, again → GROUP_ID_NOT_FOUND (69)")

	dt, err := adm.DeleteTopics(s.Ctx, topic)
	s.NoErr(err, "kadm DeleteTopics")
	s.NoErr(dt[topic].Err, "DeleteTopics %s", topic)
	s.WaitFor("the deleted topic gone", 10*time.Second, func() (bool, string) {
		_, err := franzPartitions(s, adm, topic)
		return errors.Is(err, kerr.UnknownTopicOrPartition), fmt.Sprint(err)
	})
	dt, err = adm.DeleteTopics(s.Ctx, topic)
	s.NoErr(err, "kadm DeleteTopics")
	s.Check(errors.Is(dt[topic].Err, kerr.UnknownTopicOrPartition), "DeleteTopics again: %v, want 3", dt[topic].Err)
	s.Okf("DeleteTopics → UNKNOWN_TOPIC_OR_PARTITION in metadata; again → 3")
}

// franzAdminConfigs: topic configs set at creation come back in the CreateTopics response
// (v5+) and from DescribeConfigs; AlterConfigs/IncrementalAlterConfigs change them.
func franzAdminConfigs(s *Scenario) {
	adm, done := franzAdminClient(s)
	defer done()
	topic := UniqueName(s.Client, "configs")
	res := franzCreateTopic(s, adm, topic, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")})
	rc, ok := res.Configs["retention.ms"]
	s.Check(ok && rc.Value != nil && *rc.Value == "3600000", "CreateTopics response configs: retention.ms = %+v, want 3600000", rc)
	s.Okf("CreateTopics response (v5+) carries the topic's configs: retention.ms=3600000")

	describe := func() map[string]string {
		rcs, err := adm.DescribeTopicConfigs(s.Ctx, topic)
		s.NoErr(err, "kadm DescribeTopicConfigs")
		r, err := rcs.On(topic, nil)
		s.NoErr(err, "DescribeTopicConfigs %s", topic)
		out := map[string]string{}
		for _, c := range r.Configs {
			out[c.Key] = c.MaybeValue()
		}
		return out
	}
	cfg := describe()
	s.Check(cfg["retention.ms"] == "3600000" && cfg["cleanup.policy"] == "delete",
		"DescribeConfigs: retention.ms=%q cleanup.policy=%q", cfg["retention.ms"], cfg["cleanup.policy"])
	s.Okf("DescribeTopicConfigs: retention.ms=3600000, cleanup.policy=delete (%d entries)", len(cfg))

	ar, err := adm.AlterTopicConfigs(s.Ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")}}, topic)
	s.NoErr(err, "kadm AlterTopicConfigs (IncrementalAlterConfigs)")
	for _, r := range ar {
		s.NoErr(r.Err, "AlterTopicConfigs %s", r.Name)
	}
	s.WaitFor("retention.ms=7200000 in DescribeConfigs", 10*time.Second, func() (bool, string) {
		v := describe()["retention.ms"] // Kafka applies config changes asynchronously
		return v == "7200000", "retention.ms=" + v
	})
	s.Okf("IncrementalAlterConfigs retention.ms=7200000 → DescribeConfigs shows it")
	_, _ = adm.DeleteTopics(s.Ctx, topic)
}

// franzAdminCluster: what kafka-ui's broker, topic and consumer pages read, through kadm:
// the metadata.version feature in ApiVersions, the broker's configs, log dir sizes, an
// invalid topic config refused with INVALID_CONFIG, a group's lag, no partition
// reassignments, no client quotas, no SCRAM users.
func franzAdminCluster(s *Scenario) {
	adm, done := franzAdminClient(s)
	defer done()

	versions, err := adm.ApiVersions(s.Ctx)
	s.NoErr(err, "kadm ApiVersions")
	level := int16(-1)
	versions.Each(func(v kadm.BrokerApiVersions) {
		s.NoErr(v.Err, "ApiVersions of broker %d", v.NodeID)
		for _, f := range v.Raw().FinalizedFeatures {
			if f.Name == "metadata.version" {
				level = f.MaxVersionLevel
			}
		}
	})
	s.Check(level >= 22, "metadata.version finalized level %d, want a 4.x level (>= 22)", level)
	s.Okf("ApiVersions: metadata.version finalized at level %d", level)

	meta, err := adm.BrokerMetadata(s.Ctx)
	s.NoErr(err, "kadm BrokerMetadata")
	s.Check(len(meta.Brokers) == len(s.Seeds), "brokers: %v", meta.Brokers)
	node := meta.Brokers[0].NodeID
	rcs, err := adm.DescribeBrokerConfigs(s.Ctx, node)
	s.NoErr(err, "kadm DescribeBrokerConfigs")
	s.Check(len(rcs) == 1 && rcs[0].Err == nil, "DescribeBrokerConfigs: %+v", rcs)
	broker := map[string]string{}
	for _, c := range rcs[0].Configs {
		broker[c.Key] = c.MaybeValue()
	}
	s.Check(broker["delete.topic.enable"] == "true" && broker["log.segment.bytes"] != "",
		"broker configs: delete.topic.enable=%q log.segment.bytes=%q", broker["delete.topic.enable"], broker["log.segment.bytes"])
	s.Okf("DescribeBrokerConfigs %d: %d configs, delete.topic.enable=true", node, len(broker))

	topic := UniqueName(s.Client, "cluster")
	franzCreateTopic(s, adm, topic, 1, nil)
	cl := franzClient(s)
	defer cl.Close()
	recs := make([]Rec, 4)
	for i := range recs {
		recs[i] = Rec{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i))}
	}
	franzProduce(s, cl, topic, recs, 4)

	dirs, err := adm.DescribeAllLogDirs(s.Ctx, kadm.TopicsSet{topic: {0: {}}})
	s.NoErr(err, "kadm DescribeAllLogDirs")
	var size int64
	var total int64 = -1
	dirs.Each(func(d kadm.DescribedLogDir) {
		s.NoErr(d.Err, "log dir %s", d.Dir)
		size += d.Topics.Size()
		total = d.TotalBytes
	})
	// gregor's cluster keeps the logs in PostgreSQL: no volume of its own to report (-1).
	s.Check(size > 0 && (total > 0 || len(s.Seeds) > 1), "DescribeAllLogDirs: %s size %d, volume %d bytes", topic, size, total)
	s.Okf("DescribeAllLogDirs: %s holds %d bytes; the volume %d bytes", topic, size, total)

	ar, err := adm.AlterTopicConfigs(s.Ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("soon")}}, topic)
	s.NoErr(err, "kadm AlterTopicConfigs")
	s.Check(len(ar) == 1 && errors.Is(ar[0].Err, kerr.InvalidConfig), "retention.ms=soon: %+v", ar)
	s.Okf("AlterTopicConfigs retention.ms=soon → INVALID_CONFIG: %s", ar[0].ErrMessage)

	group := UniqueName(s.Client, "lag")
	var os kadm.Offsets
	os.AddOffset(topic, 0, 1, -1)
	cr, err := adm.CommitOffsets(s.Ctx, group, os)
	s.NoErr(err, "kadm CommitOffsets")
	s.NoErr(cr.Error(), "CommitOffsets %s", group)
	lags, err := adm.Lag(s.Ctx, group)
	s.NoErr(err, "kadm Lag")
	lag := lags[group]
	s.Check(lag.FetchErr == nil && lag.Lag.Total() == 3, "lag of %s: %d (%v)", group, lag.Lag.Total(), lag.FetchErr)
	s.Okf("Lag of %s: committed 1 of 4 → 3", group)

	reassignments, err := adm.ListPartitionReassignments(s.Ctx, nil)
	s.NoErr(err, "kadm ListPartitionReassignments")
	s.Check(len(reassignments) == 0, "reassignments: %v", reassignments)
	quotas, err := adm.DescribeClientQuotas(s.Ctx, false, nil)
	s.NoErr(err, "kadm DescribeClientQuotas")
	s.Check(len(quotas) == 0, "client quotas: %v", quotas)
	scrams, err := adm.DescribeUserSCRAMs(s.Ctx)
	s.NoErr(err, "kadm DescribeUserSCRAMs")
	s.Check(len(scrams) == 0, "SCRAM users: %v", scrams)
	s.Okf("no partition reassignments, no client quotas, no SCRAM users")
	_, _ = adm.DeleteTopics(s.Ctx, topic)
}
