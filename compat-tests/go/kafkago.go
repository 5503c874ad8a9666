package main

// segmentio/kafka-go: Conn (a single connection: metadata, CreateTopics/DeleteTopics through
// the controller, ListOffsets v1), Writer (Transport: Hash and RoundRobin balancers, acks=all,
// every codec), Reader with and without GroupID, and Client admin calls (CreatePartitions,
// ListGroups, DescribeGroups, DeleteGroups, OffsetFetch, ListOffsets).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

func init() {
	register("kafka-go", "metadata", kgoMetadata)
	register("kafka-go", "produce_consume", kgoProduceConsume)
	register("kafka-go", "list_offsets", kgoListOffsets)
	register("kafka-go", "group", kgoGroup)
	register("kafka-go", "admin", kgoAdmin)
}

func kgoLogger(prefix string) kafka.Logger {
	if !debugLogs {
		return nil
	}
	return log.New(os.Stderr, "[kafka-go "+prefix+"] ", log.Lmicroseconds)
}

func kgoDial(s *Scenario) *kafka.Conn {
	conn, err := kgoDialer().DialContext(s.Ctx, "tcp", s.Seeds[0])
	s.NoErr(err, "kafka.Dial %s", s.Bootstrap)
	return conn
}

// kgoController dials the controller, which kafka-go's Conn.CreateTopics must be sent to.
func kgoController(s *Scenario, conn *kafka.Conn) *kafka.Conn {
	ctrl, err := conn.Controller()
	s.NoErr(err, "Conn.Controller()")
	cc, err := kgoDialer().DialContext(s.Ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	s.NoErr(err, "dialling the controller %s:%d", ctrl.Host, ctrl.Port)
	return cc
}

// kgoTransport: a fresh Transport per Client/Writer. kafka-go's DefaultTransport caches
// metadata (6 s), so a Writer on the shared one does not see a topic created a moment ago.
func kgoTransport() *kafka.Transport {
	return &kafka.Transport{ClientID: "compat-go-kafka-go", MetadataTTL: time.Second, SASL: kgoSASL(), TLS: kgoTLS()}
}

// kgoDialer: kafka.DefaultDialer's settings with the configured security (security.go).
func kgoDialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, SASLMechanism: kgoSASL(), TLS: kgoTLS()}
}

func kgoClient(s *Scenario) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(s.Seeds...), Timeout: 20 * time.Second, Transport: kgoTransport()}
}

// kgoPartitions: partition ids of topic per Conn.ReadPartitions() over all topics (which,
// unlike asking for one topic, never auto-creates it); nil if the topic is absent.
func kgoPartitions(conn *kafka.Conn, topic string) ([]int32, error) {
	all, err := conn.ReadPartitions()
	if err != nil {
		return nil, err
	}
	var ps []int32
	for _, p := range all {
		if p.Topic == topic {
			if p.Leader.ID < 0 || p.Error != nil {
				return nil, fmt.Errorf("partition %d: leader %d error %v", p.ID, p.Leader.ID, p.Error)
			}
			ps = append(ps, int32(p.ID))
		}
	}
	return ps, nil
}

func kgoCreateTopic(s *Scenario, conn *kafka.Conn, topic string, partitions int, configs ...kafka.ConfigEntry) {
	cc := kgoController(s, conn)
	defer cc.Close()
	s.NoErr(cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
		ConfigEntries: configs}), "Conn.CreateTopics %s", topic)
	s.WaitFor(fmt.Sprintf("%s with %d partitions in metadata", topic, partitions), 10*time.Second, func() (bool, string) {
		ps, err := kgoPartitions(conn, topic)
		return err == nil && len(ps) == partitions, fmt.Sprint(ps, err)
	})
}

func kgoMetadata(s *Scenario) {
	conn := kgoDial(s)
	defer conn.Close()
	brokers, err := conn.Brokers()
	s.NoErr(err, "Conn.Brokers()")
	s.Check(len(brokers) == 1, "Brokers(): %v, want one", brokers)
	b := brokers[0]
	s.Check(net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) == s.Bootstrap, "broker advertises %s:%d, want %s", b.Host, b.Port, s.Bootstrap)
	ctrl, err := conn.Controller()
	s.NoErr(err, "Conn.Controller()")
	s.Check(ctrl.ID == b.ID, "controller %d, broker %d", ctrl.ID, b.ID)
	s.Okf("Conn: one broker %d at %s, the controller", b.ID, s.Bootstrap)

	parts, err := conn.ReadPartitions(HomeworkTopic)
	s.NoErr(err, "Conn.ReadPartitions(%s)", HomeworkTopic)
	var ids []int32
	for _, p := range parts {
		ids = append(ids, int32(p.ID))
		s.Check(p.Topic == HomeworkTopic && p.Leader.ID == b.ID && len(p.Replicas) == 1 && p.Replicas[0].ID == b.ID &&
			len(p.Isr) == 1 && p.Isr[0].ID == b.ID, "partition %+v", p)
	}
	s.Check(PartitionSet(ids) == "[0 1]", "%s partitions %v, want [0 1]", HomeworkTopic, ids)
	s.Okf("Conn.ReadPartitions(%s): partitions [0 1], leader/replicas/ISR = broker %d", HomeworkTopic, b.ID)

	topic := UniqueName(s.Client, "metadata")
	kgoCreateTopic(s, conn, topic, 3)
	parts, err = conn.ReadPartitions(topic)
	s.NoErr(err, "Conn.ReadPartitions(%s)", topic)
	s.Check(len(parts) == 3, "new topic: %d partitions, want 3", len(parts))
	s.Okf("Conn.CreateTopics(%s, 3 partitions) via the controller → ReadPartitions shows 3", topic)

	md, err := kgoClient(s).Metadata(s.Ctx, &kafka.MetadataRequest{Topics: []string{topic, HomeworkTopic}})
	s.NoErr(err, "Client.Metadata")
	counts := map[string]int{}
	for _, t := range md.Topics {
		s.Check(t.Error == nil, "Client.Metadata %s: %v", t.Name, t.Error)
		counts[t.Name] = len(t.Partitions)
	}
	s.Check(counts[topic] == 3 && counts[HomeworkTopic] == 2 && len(md.Brokers) == 1 && md.Controller.ID == b.ID,
		"Client.Metadata: partitions %v, %d brokers, controller %d", counts, len(md.Brokers), md.Controller.ID)
	s.Okf("Client.Metadata (Transport): %s → 3 partitions, %s → 2, controller %d", topic, HomeworkTopic, b.ID)

	// A Writer with AllowAutoTopicCreation writing to a topic nobody created: the broker
	// creates it with its default partition count (1 on both brokers).
	auto := UniqueName(s.Client, "auto")
	w := &kafka.Writer{Addr: kafka.TCP(s.Seeds...), Topic: auto, AllowAutoTopicCreation: true, Transport: kgoTransport(),
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	var mu sync.Mutex
	var written []kafka.Message
	w.Completion = func(msgs []kafka.Message, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			written = append(written, msgs...)
		}
	}
	// Kafka creates the topic asynchronously and answers the first write with
	// UNKNOWN_TOPIC_OR_PARTITION, which kafka-go's Writer returns: retry, as applications do.
	attempts := 0
	s.WaitFor("the write to an auto-created topic to succeed", 10*time.Second, func() (bool, string) {
		attempts++
		err := w.WriteMessages(s.Ctx, kafka.Message{Key: []byte("k"), Value: []byte("auto-created")})
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) && !errors.Is(err, kafka.LeaderNotAvailable) {
			s.Fatalf("Writer.WriteMessages to a missing topic with AllowAutoTopicCreation: %v", err)
		}
		return err == nil, fmt.Sprint(err)
	})
	s.NoErr(w.Close(), "Writer.Close")
	mu.Lock()
	s.Check(len(written) == 1 && written[0].Partition == 0 && written[0].Offset == 0,
		"first record of an auto-created topic: %v, want p0@0", written)
	mu.Unlock()
	ps, err := kgoPartitions(conn, auto)
	s.NoErr(err, "metadata of %s", auto)
	s.Check(len(ps) == 1, "auto-created topic has partitions %v, want [0]", ps)
	s.Logf("auto-created topic: the write succeeded on attempt %d", attempts)
	s.Okf("Writer{AllowAutoTopicCreation} to a missing topic auto-creates it (1 partition); the record is at p0@0")
}

func kgoCodec(codec string) kafka.Compression {
	return map[string]kafka.Compression{"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy,
		"lz4": kafka.Lz4, "zstd": kafka.Zstd}[codec]
}

func kgoMessages(recs []Rec) []kafka.Message {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		hs := make([]kafka.Header, len(r.Headers))
		for j, h := range r.Headers {
			hs[j] = kafka.Header{Key: h.Key, Value: h.Value}
		}
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value, Headers: hs, Time: r.Timestamp}
	}
	return msgs
}

func kgoRec(m kafka.Message) Rec {
	hs := make([]Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = Header{h.Key, h.Value}
	}
	return Rec{Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: hs, Timestamp: m.Time}
}

// kgoWrite writes recs with one WriteMessages call per `chunk` records and fills in the
// partition and offset the Writer's Completion callback reports (matched by the seq header).
func kgoWrite(s *Scenario, w *kafka.Writer, recs []Rec, chunk int) {
	var mu sync.Mutex
	reported := map[int][2]int64{}
	w.Completion = func(msgs []kafka.Message, err error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if err == nil {
				reported[SeqOf(kgoRec(m))] = [2]int64{int64(m.Partition), m.Offset}
			}
		}
	}
	for start := 0; start < len(recs); start += chunk {
		end := min(start+chunk, len(recs))
		s.NoErr(w.WriteMessages(s.Ctx, kgoMessages(recs[start:end])...), "Writer.WriteMessages to %s", w.Topic)
	}
	s.NoErr(w.Close(), "Writer.Close")
	mu.Lock()
	defer mu.Unlock()
	for i := range recs {
		if po, ok := reported[SeqOf(recs[i])]; ok {
			recs[i].Partition, recs[i].Offset = int32(po[0]), po[1]
		}
	}
}

// kgoReadAll reads each partition of topic from its first offset to its last with a
// group-less Reader (one per partition), then checks that nothing follows.
func kgoReadAll(s *Scenario, conn *kafka.Conn, topic string, partitions int) []Rec {
	var out []Rec
	for p := 0; p < partitions; p++ {
		res, err := kgoClient(s).ListOffsets(s.Ctx, &kafka.ListOffsetsRequest{
			Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(p)}}})
		s.NoErr(err, "Client.ListOffsets(last) %s/%d", topic, p)
		last := res.Topics[topic][0].LastOffset
		r := kafka.NewReader(kafka.ReaderConfig{Dialer: kgoDialer(),
			Brokers: s.Seeds, Topic: topic, Partition: p,
			MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond,
			Logger: kgoLogger("reader"), ErrorLogger: kgoLogger("reader")})
		ctx, cancel := context.WithTimeout(s.Ctx, 15*time.Second)
		for n := int64(0); n < last; n++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				cancel()
				s.Fatalf("Reader (no group) %s/%d: read %d of %d records: %v", topic, p, n, last, err)
			}
			out = append(out, kgoRec(m))
		}
		cancel()
		ctx, cancel = context.WithTimeout(s.Ctx, 150*time.Millisecond)
		m, err := r.ReadMessage(ctx)
		cancel()
		s.Check(err != nil, "record beyond the last offset %d: %s", last, kgoRec(m))
		s.NoErr(r.Close(), "Reader.Close")
	}
	return out
}

// kgoReadFrom reads n records of topic/p from offset `from` with a group-less Reader.
func kgoReadFrom(s *Scenario, topic string, p int32, from int64, n int) []Rec {
	r := kafka.NewReader(kafka.ReaderConfig{Dialer: kgoDialer(),
		Brokers: s.Seeds, Topic: topic, Partition: int(p),
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	s.NoErr(r.SetOffset(from), "Reader.SetOffset(%d)", from)
	ctx, cancel := context.WithTimeout(s.Ctx, 15*time.Second)
	defer cancel()
	var out []Rec
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		s.NoErr(err, "Reader %s/%d from %d: after %d records", topic, p, from, len(out))
		out = append(out, kgoRec(m))
	}
	return out
}

// kgoConnRoundTrip: the Conn data path, which negotiates among hard-coded versions (Produce
// v2/v3/v7, Fetch v2/v5/v10): 8 records per codec written to one partition with
// Conn.WriteMessages / WriteCompressedMessages, read back with Conn.ReadBatch.
func kgoConnRoundTrip(s *Scenario, conn *kafka.Conn) {
	topic := UniqueName(s.Client, "conn")
	kgoCreateTopic(s, conn, topic, 1)
	lc, err := kgoDialer().DialLeader(s.Ctx, "tcp", s.Seeds[0], topic, 0)
	s.NoErr(err, "DialLeader %s/0", topic)
	defer lc.Close()
	var sent []Rec
	for _, codec := range Codecs {
		recs := KeyedRecords(s.Client, codec, 8)
		s.NoErr(lc.SetWriteDeadline(time.Now().Add(10*time.Second)), "SetWriteDeadline")
		if codec == "none" {
			_, err = lc.WriteMessages(kgoMessages(recs)...)
		} else {
			_, err = lc.WriteCompressedMessages(kgoCodec(codec).Codec(), kgoMessages(recs)...)
		}
		s.NoErr(err, "Conn.Write(Compressed)Messages %s", codec)
		for i := range recs {
			recs[i].Partition = 0
		}
		sent = append(sent, recs...)
	}
	_, err = lc.Seek(0, kafka.SeekAbsolute)
	s.NoErr(err, "Conn.Seek(0)")
	var got []Rec
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < len(sent) {
		s.Check(time.Now().Before(deadline), "Conn.ReadBatch: %d of %d records after 15s", len(got), len(sent))
		s.NoErr(lc.SetReadDeadline(time.Now().Add(5*time.Second)), "SetReadDeadline")
		b := lc.ReadBatch(1, 10<<20)
		for {
			m, err := b.ReadMessage()
			if err != nil {
				s.Check(errors.Is(err, io.EOF), "Conn.ReadBatch at %d: %v", len(got), err)
				break
			}
			got = append(got, kgoRec(m))
		}
		s.NoErr(b.Close(), "Batch.Close")
	}
	VerifyRoundTrip(s, "Conn", sent, got, 0)
	s.Okf("Conn: 8 records per codec (none, gzip, snappy, lz4, zstd batches in one partition) written with "+
		"Conn.WriteCompressedMessages, read back identical with Conn.ReadBatch, offsets 0..%d", len(got)-1)
}

// kgoAcksZero: a Writer with RequiredAcks left at its zero value, RequireNone (acks=0), the
// kafka-go default that bites: the broker must not answer those produce requests. A second,
// acks=all Writer on the same Transport (same connection) must still get correct answers.
func kgoAcksZero(s *Scenario, conn *kafka.Conn) {
	topic := UniqueName(s.Client, "acks0")
	kgoCreateTopic(s, conn, topic, 2)
	tr := kgoTransport()
	sent := KeyedRecords(s.Client, "snappy", 30)
	w0 := &kafka.Writer{Addr: kafka.TCP(s.Seeds...), Topic: topic, Balancer: &kafka.Hash{}, Transport: tr,
		Compression: kafka.Snappy, BatchTimeout: 5 * time.Millisecond} // RequiredAcks: RequireNone
	for _, chunk := range [][]Rec{sent[:10], sent[10:20]} {
		s.NoErr(w0.WriteMessages(s.Ctx, kgoMessages(chunk)...), "acks=0 Writer.WriteMessages")
	}
	s.NoErr(w0.Close(), "acks=0 Writer.Close")
	w1 := &kafka.Writer{Addr: kafka.TCP(s.Seeds...), Topic: topic, Balancer: &kafka.Hash{}, Transport: tr,
		RequiredAcks: kafka.RequireAll, Compression: kafka.Snappy, BatchTimeout: 5 * time.Millisecond}
	kgoWrite(s, w1, sent[20:], 10)
	for _, r := range sent[20:] {
		s.Check(r.Offset >= 0, "acks=all after acks=0 on the same Transport: no offset for %s", r)
	}
	for i := range sent[:20] {
		sent[i].Partition, sent[i].Offset = -1, -1 // acks=0: nothing reported
	}
	s.WaitFor("all 30 records (20 with acks=0) to be readable", 10*time.Second, func() (bool, string) {
		res, err := kgoClient(s).ListOffsets(s.Ctx, &kafka.ListOffsetsRequest{
			Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1)}}})
		if err != nil {
			return false, err.Error()
		}
		n := int64(0)
		for _, po := range res.Topics[topic] {
			n += po.LastOffset
		}
		return n == 30, fmt.Sprint(n, " records")
	})
	VerifyRoundTrip(s, "acks=0", sent, kgoReadAll(s, conn, topic, 2), 2)
	s.Okf("acks=0 (zero-value RequiredAcks): 20 records stored, then acks=all on the same connection answered " +
		"with correct offsets; all 30 read back identical and in order")
}

func kgoProduceConsume(s *Scenario) {
	conn := kgoDial(s)
	defer conn.Close()
	for _, codec := range Codecs {
		topic := UniqueName(s.Client, "pc-"+codec)
		kgoCreateTopic(s, conn, topic, 2)
		sent := KeyedRecords(s.Client, codec, 40)
		w := &kafka.Writer{Addr: kafka.TCP(s.Seeds...), Topic: topic, Balancer: &kafka.Hash{}, Transport: kgoTransport(),
			RequiredAcks: kafka.RequireAll, Compression: kgoCodec(codec), BatchTimeout: 5 * time.Millisecond,
			Logger: kgoLogger("writer"), ErrorLogger: kgoLogger("writer")}
		kgoWrite(s, w, sent, 20)
		for _, r := range sent {
			s.Check(r.Offset >= 0, "%s: the Writer reported no offset for %s", codec, r)
		}
		got := kgoReadAll(s, conn, topic, 2)
		VerifyRoundTrip(s, codec, sent, got, 2)
		s.Okf("%s: 40 keyed records with headers (Writer, Hash balancer, acks=all) read back identical by a Reader "+
			"without GroupID; per-partition order kept, offsets contiguous and as reported, one partition per key", codec)
	}

	// RoundRobin: unkeyed records alternate between the partitions.
	topic := UniqueName(s.Client, "rr")
	kgoCreateTopic(s, conn, topic, 2)
	sent := KeyedRecords(s.Client, "lz4", 20)
	for i := range sent {
		sent[i].Key = nil
	}
	w := &kafka.Writer{Addr: kafka.TCP(s.Seeds...), Topic: topic, Balancer: &kafka.RoundRobin{}, Transport: kgoTransport(),
		RequiredAcks: kafka.RequireAll, Compression: kafka.Lz4, BatchTimeout: 5 * time.Millisecond}
	kgoWrite(s, w, sent, 20)
	got := kgoReadAll(s, conn, topic, 2)
	by := ByPartition(got)
	s.Check(len(by[0]) == 10 && len(by[1]) == 10, "RoundRobin: %d/%d records on p0/p1, want 10/10", len(by[0]), len(by[1]))
	for p, list := range by {
		for i, r := range list {
			s.Check(r.Offset == int64(i), "RoundRobin: p%d record #%d at offset %d", p, i, r.Offset)
			seq := SeqOf(r)
			s.Check(seq%2 == SeqOf(list[0])%2 && seq == SeqOf(list[0])+2*i, "RoundRobin: p%d holds seqs out of turn: %v", p, list)
			s.Check(SameRecord(r, sent[seq]), "RoundRobin: p%d@%d differs: read %s, sent %s", p, r.Offset, r, sent[seq])
			s.Check(sent[seq].Partition == r.Partition && sent[seq].Offset == r.Offset,
				"RoundRobin: record seq %d reported at p%d@%d, read at p%d@%d", seq, sent[seq].Partition, sent[seq].Offset, p, r.Offset)
		}
	}
	s.Okf("RoundRobin balancer (lz4): 20 unkeyed records alternate p0/p1, 10 each, identical and in order")
}

func kgoListOffsets(s *Scenario) {
	conn := kgoDial(s)
	defer conn.Close()
	topic := UniqueName(s.Client, "offsets")
	kgoCreateTopic(s, conn, topic, 2)
	base := TimestampBase()
	recs := make([]Rec, 10)
	for i := range recs {
		recs[i] = Rec{Key: []byte("k"), Value: []byte(fmt.Sprint("v", i)), Timestamp: base.Add(time.Duration(i) * time.Second),
			Headers: []Header{{"seq", []byte(fmt.Sprint(i))}}}
	}
	w := &kafka.Writer{Addr: kafka.TCP(s.Seeds...), Topic: topic, RequiredAcks: kafka.RequireAll, Transport: kgoTransport(),
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }), BatchTimeout: 5 * time.Millisecond,
		Compression: kafka.Lz4} // lookups must find records inside compressed batches
	kgoWrite(s, w, recs, 5) // two batches of 5, all on partition 0

	// Conn: ListOffsets v1 against the partition leader.
	lc, err := kgoDialer().DialLeader(s.Ctx, "tcp", s.Seeds[0], topic, 0)
	s.NoErr(err, "DialLeader %s/0", topic)
	defer lc.Close()
	first, last, err := lc.ReadOffsets()
	s.NoErr(err, "Conn.ReadOffsets p0")
	s.Check(first == 0 && last == 10, "Conn p0 first/last = %d/%d, want 0/10", first, last)
	cases := []struct {
		at   time.Time
		want int64
		what string
	}{
		{base.Add(-time.Hour), 0, "an hour before the first record"},
		{base, 0, "the first record's timestamp"},
		{base.Add(3 * time.Second), 3, "exactly record 3's timestamp"},
		{base.Add(3500 * time.Millisecond), 4, "between records 3 and 4"},
		{base.Add(5 * time.Second), 5, "the first record of the second batch"},
		{base.Add(9 * time.Second), 9, "the last record's timestamp"},
		{base.Add(9001 * time.Millisecond), -1, "after the last record"},
	}
	for _, c := range cases {
		got, err := lc.ReadOffset(c.at)
		s.NoErr(err, "Conn.ReadOffset(%s)", c.what)
		s.Check(got == c.want, "Conn.ReadOffset at %s: %d, want %d", c.what, got, c.want)
	}
	lc1, err := kgoDialer().DialLeader(s.Ctx, "tcp", s.Seeds[0], topic, 1)
	s.NoErr(err, "DialLeader %s/1", topic)
	defer lc1.Close()
	first, last, err = lc1.ReadOffsets()
	s.NoErr(err, "Conn.ReadOffsets p1")
	s.Check(first == 0 && last == 0, "Conn empty p1 first/last = %d/%d, want 0/0", first, last)
	got, err := lc1.ReadOffset(base)
	s.NoErr(err, "Conn.ReadOffset p1")
	s.Check(got == -1, "Conn.ReadOffset on the empty partition: %d, want -1", got)
	s.Okf("Conn (ListOffsets v1): p0 first/last 0/10, empty p1 0/0; %d timestamp lookups + empty partition exact", len(cases))

	// Client (Transport, negotiated version): several requests for one partition at once.
	res, err := kgoClient(s).ListOffsets(s.Ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0), kafka.TimeOffsetOf(0, base.Add(3500*time.Millisecond)),
			kafka.FirstOffsetOf(1), kafka.LastOffsetOf(1)}}})
	s.NoErr(err, "Client.ListOffsets")
	byP := map[int]kafka.PartitionOffsets{}
	for _, po := range res.Topics[topic] {
		s.Check(po.Error == nil, "Client.ListOffsets p%d: %v", po.Partition, po.Error)
		byP[po.Partition] = po
	}
	p0, p1 := byP[0], byP[1]
	s.Check(p0.FirstOffset == 0 && p0.LastOffset == 10, "Client.ListOffsets p0 first/last %d/%d, want 0/10", p0.FirstOffset, p0.LastOffset)
	_, ok := p0.Offsets[4] // kafka-go keys it by offset, with the requested time as the value
	s.Check(ok && len(p0.Offsets) == 1, "Client.ListOffsets p0 at +3.5s: %v, want offset 4", p0.Offsets)
	s.Check(p1.FirstOffset == 0 && p1.LastOffset == 0, "Client.ListOffsets p1 first/last %d/%d, want 0/0", p1.FirstOffset, p1.LastOffset)
	s.Okf("Client.ListOffsets: p0 first/last 0/10 and +3.5s → offset 4; p1 0/0")
}

// ---------------------------------------------------------------------------- group

func kgoStartMember(s *Scenario, group, topic, name string) *Member {
	m := NewMember(name)
	dialer := kgoDialer()
	dialer.ClientID = name
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: s.Seeds, GroupID: group, Topic: topic,
		Dialer:         dialer,
		GroupBalancers: []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		MinBytes:       1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 1 * time.Second, RebalanceTimeout: 6 * time.Second,
		JoinGroupBackoff: 100 * time.Millisecond, ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 200 * time.Millisecond,
		CommitInterval: 0, // synchronous CommitMessages
		StartOffset:    kafka.FirstOffset,
		Logger:         kgoLogger(name), ErrorLogger: kgoLogger(name),
	})
	var closing sync.Mutex
	closed := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := r.FetchMessage(s.Ctx)
			if err != nil {
				closing.Lock()
				quiet := closed || errors.Is(err, io.EOF) || s.Ctx.Err() != nil
				closing.Unlock()
				if !quiet {
					m.Error(fmt.Errorf("FetchMessage: %w", err))
				}
				return
			}
			m.Got(kgoRec(msg))
			if err := r.CommitMessages(s.Ctx, msg); err != nil {
				m.Error(fmt.Errorf("CommitMessages: %w", err))
				return
			}
		}
	}()
	m.Close = func() error {
		closing.Lock()
		closed = true
		closing.Unlock()
		err := r.Close()
		<-done
		return err
	}
	return m
}

func kgoDescribe(s *Scenario, group, topic string) (string, map[string][]int32, error) {
	res, err := kgoClient(s).DescribeGroups(s.Ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return "", nil, err
	}
	if len(res.Groups) != 1 {
		return "", nil, fmt.Errorf("DescribeGroups returned %d groups", len(res.Groups))
	}
	g := res.Groups[0]
	if g.Error != nil {
		return "", nil, g.Error
	}
	members := map[string][]int32{}
	for _, m := range g.Members {
		ps := []int32{}
		for _, t := range m.MemberAssignments.Topics {
			if t.Topic == topic {
				for _, p := range t.Partitions {
					ps = append(ps, int32(p))
				}
			}
		}
		members[m.ClientID] = ps
	}
	return g.GroupState, members, nil
}

func kgoCommitted(s *Scenario, group, topic string) (map[int32]int64, error) {
	res, err := kgoClient(s).OffsetFetch(s.Ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1}}})
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		return nil, res.Error
	}
	out := map[int32]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("p%d: %w", p.Partition, p.Error)
		}
		out[int32(p.Partition)] = p.CommittedOffset
	}
	return out, nil
}

// kgoPartitionWriter writes to the partition named by each message's key ("0", "1", ...).
func kgoPartitionWriter(s *Scenario, topic string) *kafka.Writer {
	return &kafka.Writer{Addr: kafka.TCP(s.Seeds...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond,
		Transport: kgoTransport(),
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			p, _ := strconv.Atoi(string(m.Key))
			return p
		})}
}

func kgoGroup(s *Scenario) {
	conn := kgoDial(s)
	defer conn.Close()
	topic := UniqueName(s.Client, "group")
	group := UniqueName(s.Client, "group")
	kgoCreateTopic(s, conn, topic, 2)
	w := kgoPartitionWriter(s, topic)
	defer w.Close()
	RunGroupScenario(s, &GroupDriver{
		Group: group, Topic: topic,
		NewMember: func(name string) *Member { return kgoStartMember(s, group, topic, name) },
		Describe:  func() (string, map[string][]int32, error) { return kgoDescribe(s, group, topic) },
		Committed: func() (map[int32]int64, error) { return kgoCommitted(s, group, topic) },
		Produce: func(p int32, values []string) error {
			msgs := make([]kafka.Message, len(values))
			for i, v := range values {
				msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(p)), Value: []byte(v)}
			}
			return w.WriteMessages(s.Ctx, msgs...)
		},
	})
}

// ---------------------------------------------------------------------------- admin

func kgoAdmin(s *Scenario) {
	conn := kgoDial(s)
	defer conn.Close()
	cl := kgoClient(s)
	topic := UniqueName(s.Client, "admin")
	kgoCreateTopic(s, conn, topic, 2, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "3600000"})
	s.Okf("Conn.CreateTopics %s (2 partitions, retention.ms) → ReadPartitions shows [0 1]", topic)

	cc := kgoController(s, conn)
	s.NoErr(cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}),
		"Conn.CreateTopics of an existing topic (kafka-go ignores TOPIC_ALREADY_EXISTS)")
	cc.Close()
	res, err := cl.CreateTopics(s.Ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: 2, ReplicationFactor: 1},
		{Topic: topic + ".rf3", NumPartitions: 1, ReplicationFactor: len(s.Seeds) + 2}, // more than brokers
	}})
	s.NoErr(err, "Client.CreateTopics")
	s.Check(errors.Is(res.Errors[topic], kafka.TopicAlreadyExists), "Client.CreateTopics of an existing topic: %v, want TOPIC_ALREADY_EXISTS (36)", res.Errors[topic])
	s.Check(errors.Is(res.Errors[topic+".rf3"], kafka.InvalidReplicationFactor),
		"Client.CreateTopics with more replicas than brokers: %v, want INVALID_REPLICATION_FACTOR (38)", res.Errors[topic+".rf3"])
	s.Okf("Conn.CreateTopics again → no error (kafka-go swallows 36); Client.CreateTopics again → TOPIC_ALREADY_EXISTS (36), RF 3 → INVALID_REPLICATION_FACTOR (38)")

	cp, err := cl.CreatePartitions(s.Ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: 4}}})
	s.NoErr(err, "Client.CreatePartitions")
	s.NoErr(cp.Errors[topic], "Client.CreatePartitions %s → 4", topic)
	s.WaitFor("4 partitions in metadata", 10*time.Second, func() (bool, string) {
		ps, err := kgoPartitions(conn, topic)
		return err == nil && len(ps) == 4, fmt.Sprint(ps, err)
	})
	cp, err = cl.CreatePartitions(s.Ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{
		{Name: topic, Count: 4}, {Name: topic + ".missing", Count: 4}}})
	s.NoErr(err, "Client.CreatePartitions")
	s.Check(errors.Is(cp.Errors[topic], kafka.InvalidPartitionNumber), "CreatePartitions 4→4: %v, want INVALID_PARTITIONS (37)", cp.Errors[topic])
	s.Check(errors.Is(cp.Errors[topic+".missing"], kafka.UnknownTopicOrPartition),
		"CreatePartitions of a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION (3)", cp.Errors[topic+".missing"])
	s.Okf("Client.CreatePartitions 2→4 → 4 partitions; 4→4 → INVALID_PARTITIONS (37); missing topic → UNKNOWN_TOPIC_OR_PARTITION (3)")

	// Groups: one Reader with a GroupID.
	group := UniqueName(s.Client, "admin-group")
	m := kgoStartMember(s, group, topic, "admin-member-"+s.Client)
	var desc string
	s.WaitFor("the one-member group Stable with all 4 partitions", 20*time.Second, func() (bool, string) {
		state, members, err := kgoDescribe(s, group, topic)
		if err != nil {
			return false, err.Error()
		}
		desc = describeString(state, members)
		return state == "Stable" && len(members) == 1 && PartitionSet(members[m.Name]) == "[0 1 2 3]", desc
	})
	lg, err := cl.ListGroups(s.Ctx, &kafka.ListGroupsRequest{})
	s.NoErr(err, "Client.ListGroups")
	s.NoErr(lg.Error, "Client.ListGroups")
	found := false
	for _, g := range lg.Groups {
		if g.GroupID == group {
			found = true
			s.Check(g.ProtocolType == "consumer", "ListGroups: %s protocol type %q, want consumer", group, g.ProtocolType)
		}
	}
	s.Check(found, "ListGroups does not list %s: %v", group, lg.Groups)
	s.Okf("Client.DescribeGroups: %s; Client.ListGroups lists it (protocol type consumer)", desc)

	m.close(s)
	state, members, err := kgoDescribe(s, group, topic)
	s.NoErr(err, "DescribeGroups after the member left")
	s.Check(state == "Empty" && len(members) == 0, "after the member left: %s, want Empty with no members", describeString(state, members))
	dg, err := cl.DeleteGroups(s.Ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	s.NoErr(err, "Client.DeleteGroups")
	s.NoErr(dg.Errors[group], "Client.DeleteGroups %s", group)
	dg, err = cl.DeleteGroups(s.Ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	s.NoErr(err, "Client.DeleteGroups")
	s.Check(errors.Is(dg.Errors[group], kafka.GroupIdNotFound), "DeleteGroups again: %v, want GROUP_ID_NOT_FOUND (69)", dg.Errors[group])
	s.Okf("member left → Empty; Client.DeleteGroups → ok, again → GROUP_ID_NOT_FOUND (69)")

	s.NoErr(conn.DeleteTopics(topic), "Conn.DeleteTopics %s", topic)
	s.WaitFor("the deleted topic gone from metadata", 10*time.Second, func() (bool, string) {
		ps, err := kgoPartitions(conn, topic)
		return err == nil && len(ps) == 0, fmt.Sprint(ps, err)
	})
	dt, err := cl.DeleteTopics(s.Ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	s.NoErr(err, "Client.DeleteTopics")
	s.Check(errors.Is(dt.Errors[topic], kafka.UnknownTopicOrPartition), "Client.DeleteTopics again: %v, want UNKNOWN_TOPIC_OR_PARTITION (3)", dt.Errors[topic])
	s.Okf("Conn.DeleteTopics → gone from metadata; Client.DeleteTopics again → UNKNOWN_TOPIC_OR_PARTITION (3)")
}
