package main

// IBM/sarama, twice: "sarama" leaves Config.Version at the library's default (it asks the
// broker for ApiVersions and clamps to them), "sarama-v1" fixes Version = V1_0_0_0 like the
// homework's old services, which then send the fixed old versions of every API (Produce v3,
// JoinGroup v1, InitProducerId v0, ...). Topic creation for sarama-v1's data-path scenarios
// uses a default-Version admin, as the homework's init container does the creating there.

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/IBM/sarama"
)

func init() {
	for _, c := range []string{"sarama", "sarama-v1"} {
		register(c, "metadata", saramaMetadata)
		register(c, "produce_consume", saramaProduceConsume)
		register(c, "idempotent_produce", saramaIdempotent)
		register(c, "list_offsets", saramaListOffsets)
		register(c, "group", saramaGroup)
		register(c, "admin", saramaAdmin)
	}
	// ListTopics and DescribeConfig send DescribeConfigs: v0 at V1_0_0_0, which Kafka 4 removed.
	register("sarama", "admin_configs", saramaAdminConfigs)
	if os.Getenv("COMPAT_GO_DEBUG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
}

func saramaConfig(s *Scenario, client string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "compat-go-" + client
	if client == "sarama-v1" {
		c.Version = sarama.V1_0_0_0
	}
	c.Net.DialTimeout = 10 * time.Second
	c.Net.ReadTimeout = 20 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	c.Metadata.Retry.Max = 20
	c.Metadata.AllowAutoTopicCreation = false // a deleted topic must stay deleted when asked about
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewHashPartitioner
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Admin.Timeout = 20 * time.Second
	saramaSecurity(c)
	return c
}

func saramaClient(s *Scenario, client string) sarama.Client {
	cl, err := sarama.NewClient(s.Seeds, saramaConfig(s, client))
	s.NoErr(err, "%s: NewClient", client)
	return cl
}

// saramaSetupAdmin is the admin used for setup (creating topics, observing groups): the
// scenario's own client for "sarama", a default-Version one for "sarama-v1".
func saramaSetupAdmin(s *Scenario) sarama.ClusterAdmin {
	adm, err := sarama.NewClusterAdmin(s.Seeds, saramaConfig(s, "sarama"))
	s.NoErr(err, "NewClusterAdmin")
	return adm
}

func saramaCreateTopic(s *Scenario, adm sarama.ClusterAdmin, topic string, partitions int32) {
	err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	s.NoErr(err, "CreateTopic %s (%d partitions)", topic, partitions)
	s.WaitFor(fmt.Sprintf("%s with %d partitions in metadata", topic, partitions), 10*time.Second, func() (bool, string) {
		md, err := adm.DescribeTopics([]string{topic})
		if err != nil {
			return false, err.Error()
		}
		if len(md) != 1 || md[0].Err != sarama.ErrNoError {
			return false, fmt.Sprint(md)
		}
		for _, p := range md[0].Partitions {
			if p.Leader < 0 || p.Err != sarama.ErrNoError {
				return false, fmt.Sprintf("partition %d leader %d err %v", p.ID, p.Leader, p.Err)
			}
		}
		return len(md[0].Partitions) == int(partitions), fmt.Sprintf("%d partitions", len(md[0].Partitions))
	})
}

func saramaMetadata(s *Scenario) {
	cl := saramaClient(s, s.Client)
	defer cl.Close()

	brokers := cl.Brokers()
	s.Check(len(brokers) == 1, "Brokers(): %d brokers, want 1", len(brokers))
	s.Check(brokers[0].Addr() == s.Bootstrap, "broker advertises %s, want the dialled %s", brokers[0].Addr(), s.Bootstrap)
	ctrl, err := cl.Controller()
	s.NoErr(err, "Controller()")
	s.Check(ctrl.ID() == brokers[0].ID(), "controller id %d, broker id %d", ctrl.ID(), brokers[0].ID())
	s.Okf("one broker %d at %s, which is the controller", brokers[0].ID(), brokers[0].Addr())

	ps, err := cl.Partitions(HomeworkTopic)
	s.NoErr(err, "Partitions(%s)", HomeworkTopic)
	s.Check(PartitionSet(ps) == "[0 1]", "%s partitions %v, want [0 1]", HomeworkTopic, ps)
	for _, p := range ps {
		leader, err := cl.Leader(HomeworkTopic, p)
		s.NoErr(err, "Leader(%s, %d)", HomeworkTopic, p)
		s.Check(leader.ID() == brokers[0].ID(), "leader of %s/%d is %d", HomeworkTopic, p, leader.ID())
		replicas, err := cl.Replicas(HomeworkTopic, p)
		s.NoErr(err, "Replicas")
		isr, err := cl.InSyncReplicas(HomeworkTopic, p)
		s.NoErr(err, "InSyncReplicas")
		s.Check(fmt.Sprint(replicas) == fmt.Sprint([]int32{brokers[0].ID()}) && fmt.Sprint(isr) == fmt.Sprint(replicas),
			"%s/%d replicas %v isr %v", HomeworkTopic, p, replicas, isr)
	}
	s.Okf("%s has partitions [0 1], led by broker %d (replicas = ISR = [%d])", HomeworkTopic, brokers[0].ID(), brokers[0].ID())

	topic := UniqueName(s.Client, "metadata")
	adm := saramaSetupAdmin(s)
	defer adm.Close()
	saramaCreateTopic(s, adm, topic, 3)
	s.NoErr(cl.RefreshMetadata(topic), "RefreshMetadata(%s)", topic)
	ps, err = cl.Partitions(topic)
	s.NoErr(err, "Partitions(%s)", topic)
	s.Check(PartitionSet(ps) == "[0 1 2]", "new topic partitions %v, want [0 1 2]", ps)
	s.NoErr(cl.RefreshMetadata(), "RefreshMetadata()")
	topics, err := cl.Topics()
	s.NoErr(err, "Topics()")
	found := 0
	for _, t := range topics {
		if t == topic || t == HomeworkTopic {
			found++
		}
	}
	s.Check(found == 2, "Topics() lacks %s or %s: %v", topic, HomeworkTopic, topics)
	s.Okf("created %s (3 partitions): the %s client sees partitions [0 1 2] and lists it", topic, s.Client)

	// Producing to a topic nobody created: sarama's default Metadata.AllowAutoTopicCreation
	// (true) lets the broker create it with its default partition count (1 on both brokers).
	auto := UniqueName(s.Client, "auto")
	conf := saramaConfig(s, s.Client)
	conf.Metadata.AllowAutoTopicCreation = true
	recs := []Rec{{Partition: -1, Key: []byte("k"), Value: []byte("auto-created")}}
	saramaSend(s, conf, auto, recs, 1)
	s.Check(recs[0].Partition == 0 && recs[0].Offset == 0, "first record of an auto-created topic at p%d@%d, want p0@0",
		recs[0].Partition, recs[0].Offset)
	n, err := saramaTopicPartitions(adm, auto)
	s.NoErr(err, "DescribeTopics(%s)", auto)
	s.Check(n == 1, "auto-created topic has %d partitions, want 1 (num.partitions)", n)
	s.Okf("producing to a missing topic auto-creates it (1 partition); the record is at p0@0")
}

func saramaMessages(recs []Rec, topic string) []*sarama.ProducerMessage {
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		hs := make([]sarama.RecordHeader, len(r.Headers))
		for j, h := range r.Headers {
			hs[j] = sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
		}
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(r.Key),
			Value: sarama.ByteEncoder(r.Value), Headers: hs, Timestamp: r.Timestamp, Metadata: i}
		if r.Partition >= 0 {
			msgs[i].Partition = r.Partition
		}
	}
	return msgs
}

func saramaRec(m *sarama.ConsumerMessage) Rec {
	hs := make([]Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = Header{string(h.Key), h.Value}
	}
	return Rec{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: hs, Timestamp: m.Timestamp}
}

// saramaSend produces recs (in order, one SendMessages call per `chunk` records) and fills in
// the partition and offset the broker acknowledged for each.
func saramaSend(s *Scenario, conf *sarama.Config, topic string, recs []Rec, chunk int) {
	p, err := sarama.NewSyncProducer(s.Seeds, conf)
	s.NoErr(err, "NewSyncProducer")
	defer p.Close()
	for start := 0; start < len(recs); start += chunk {
		end := min(start+chunk, len(recs))
		msgs := saramaMessages(recs[start:end], topic)
		if err := p.SendMessages(msgs); err != nil {
			var perrs sarama.ProducerErrors
			if errors.As(err, &perrs) && len(perrs) > 0 {
				s.Fatalf("SendMessages to %s: %d failed, first: %v", topic, len(perrs), perrs[0].Err)
			}
			s.Fatalf("SendMessages to %s: %v", topic, err)
		}
		for i, m := range msgs {
			recs[start+i].Partition = m.Partition
			recs[start+i].Offset = m.Offset
		}
	}
}

// saramaReadAll reads every partition of topic from the oldest offset up to its high-water
// mark with a group-less sarama consumer, and checks that nothing follows.
func saramaReadAll(s *Scenario, cl sarama.Client, topic string, partitions int32) []Rec {
	c, err := sarama.NewConsumerFromClient(cl)
	s.NoErr(err, "NewConsumerFromClient")
	defer c.Close()
	var out []Rec
	var pcs []sarama.PartitionConsumer
	var hwms []int64
	for p := int32(0); p < partitions; p++ { // subscribe to all first: sarama fetches them together
		hwm, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		s.NoErr(err, "GetOffset(newest) %s/%d", topic, p)
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		s.NoErr(err, "ConsumePartition %s/%d", topic, p)
		pcs = append(pcs, pc)
		hwms = append(hwms, hwm)
	}
	for i, pc := range pcs {
		timeout := time.After(15 * time.Second)
		for n := int64(0); n < hwms[i]; n++ {
			select {
			case m := <-pc.Messages():
				out = append(out, saramaRec(m))
			case e := <-pc.Errors():
				s.Fatalf("consuming %s/%d: %v", topic, i, e)
			case <-timeout:
				s.Fatalf("consuming %s/%d: %d of %d records after 15s", topic, i, n, hwms[i])
			}
		}
	}
	time.Sleep(150 * time.Millisecond)
	for _, pc := range pcs {
		select {
		case m := <-pc.Messages():
			s.Fatalf("record beyond the high-water mark: %s", saramaRec(m))
		default:
		}
		s.NoErr(pc.Close(), "closing partition consumer")
	}
	return out
}

func saramaCodec(codec string) sarama.CompressionCodec {
	return map[string]sarama.CompressionCodec{"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP,
		"snappy": sarama.CompressionSnappy, "lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD}[codec]
}

func saramaProduceConsume(s *Scenario) {
	adm := saramaSetupAdmin(s)
	defer adm.Close()
	cl := saramaClient(s, s.Client)
	defer cl.Close()
	for _, codec := range Codecs {
		conf := saramaConfig(s, s.Client)
		if codec == "zstd" && !conf.Version.IsAtLeast(sarama.V2_1_0_0) {
			s.Logf("%s: zstd needs Version >= V2_1_0_0 (sarama refuses it at V1_0_0_0): skipped", codec)
			continue
		}
		conf.Producer.Compression = saramaCodec(codec)
		topic := UniqueName(s.Client, "pc-"+codec)
		saramaCreateTopic(s, adm, topic, 2)
		sent := KeyedRecords(s.Client, codec, 40)
		saramaSend(s, conf, topic, sent, 20)
		got := saramaReadAll(s, cl, topic, 2)
		VerifyRoundTrip(s, codec, sent, got, 2)
		VerifyReadFrom(s, codec, got, func(p int32, from int64, n int) []Rec { return saramaReadFrom(s, cl, topic, p, from, n) })
		if codec == "none" {
			// A fetch size far below one record batch: sarama grows it when it gets a partial
			// batch, and the broker returns the first batch whole anyway (KIP-74).
			sconf := saramaConfig(s, s.Client)
			sconf.Consumer.Fetch.Default = 512
			sconf.Consumer.Fetch.Max = 0
			scl, err := sarama.NewClient(s.Seeds, sconf)
			s.NoErr(err, "NewClient")
			VerifyRoundTrip(s, codec+" with a 512-byte fetch size", sent, saramaReadAll(s, scl, topic, 2), 2)
			scl.Close()
			s.Logf("none: read again with Consumer.Fetch.Default = 512 bytes (batches are larger): identical")
		}
		s.Okf("%s: 40 keyed records with headers (2 SendMessages calls, acks=all, hash partitioner) read back identical, "+
			"per-partition order kept, offsets contiguous, one partition per key; reading from a mid-batch offset exact", codec)
	}

	// acks=1: sarama's default RequiredAcks (WaitForLocal), which some homework producers keep.
	conf := saramaConfig(s, s.Client)
	conf.Producer.RequiredAcks = sarama.WaitForLocal
	topic := UniqueName(s.Client, "pc-acks1")
	saramaCreateTopic(s, adm, topic, 2)
	sent := KeyedRecords(s.Client, "none", 20)
	saramaSend(s, conf, topic, sent, 20)
	VerifyRoundTrip(s, "acks=1", sent, saramaReadAll(s, cl, topic, 2), 2)
	s.Okf("acks=1 (WaitForLocal, sarama's default): 20 keyed records read back identical")
}

// saramaReadFrom reads n records of topic/p from offset `from` with a group-less consumer.
func saramaReadFrom(s *Scenario, cl sarama.Client, topic string, p int32, from int64, n int) []Rec {
	c, err := sarama.NewConsumerFromClient(cl)
	s.NoErr(err, "NewConsumerFromClient")
	defer c.Close()
	pc, err := c.ConsumePartition(topic, p, from)
	s.NoErr(err, "ConsumePartition %s/%d at %d", topic, p, from)
	defer pc.Close()
	var out []Rec
	timeout := time.After(15 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, saramaRec(m))
		case e := <-pc.Errors():
			s.Fatalf("consuming %s/%d from %d: %v", topic, p, from, e)
		case <-timeout:
			s.Fatalf("consuming %s/%d from %d: %d of %d records after 15s", topic, p, from, len(out), n)
		}
	}
	return out
}

// saramaIdempotent: Idempotent=true as the homework's loms sets it (WaitForAll,
// MaxOpenRequests=1): InitProducerId (v0 for sarama-v1), then sequenced batches.
func saramaIdempotent(s *Scenario) {
	adm := saramaSetupAdmin(s)
	defer adm.Close()
	cl := saramaClient(s, s.Client)
	defer cl.Close()
	conf := saramaConfig(s, s.Client)
	conf.Producer.Idempotent = true
	conf.Net.MaxOpenRequests = 1
	conf.Producer.Retry.Max = 5
	conf.Producer.Compression = sarama.CompressionSnappy
	topic := UniqueName(s.Client, "idem")
	saramaCreateTopic(s, adm, topic, 2)
	sent := KeyedRecords(s.Client, "snappy", 40)
	saramaSend(s, conf, topic, sent, 10)
	got := saramaReadAll(s, cl, topic, 2)
	VerifyRoundTrip(s, "idempotent", sent, got, 2)
	s.Okf("idempotent producer (InitProducerId, 4 SendMessages calls): 40 records read back exactly once, in order")
}

func saramaListOffsets(s *Scenario) {
	adm := saramaSetupAdmin(s)
	defer adm.Close()
	cl := saramaClient(s, s.Client)
	defer cl.Close()
	topic := UniqueName(s.Client, "offsets")
	saramaCreateTopic(s, adm, topic, 2)

	base := TimestampBase()
	recs := make([]Rec, 10)
	for i := range recs {
		recs[i] = Rec{Partition: 0, Key: []byte("k"), Value: []byte(fmt.Sprint("v", i)), Timestamp: base.Add(time.Duration(i) * time.Second)}
	}
	conf := saramaConfig(s, s.Client)
	conf.Producer.Partitioner = sarama.NewManualPartitioner
	conf.Producer.Compression = sarama.CompressionGZIP // lookups must find records inside compressed batches
	saramaSend(s, conf, topic, recs, 5)                // two batches of 5

	get := func(p int32, at int64) int64 {
		off, err := cl.GetOffset(topic, p, at)
		s.NoErr(err, "GetOffset(%s/%d, %d)", topic, p, at)
		return off
	}
	s.Check(get(0, sarama.OffsetOldest) == 0 && get(0, sarama.OffsetNewest) == 10,
		"p0 earliest/latest = %d/%d, want 0/10", get(0, sarama.OffsetOldest), get(0, sarama.OffsetNewest))
	s.Check(get(1, sarama.OffsetOldest) == 0 && get(1, sarama.OffsetNewest) == 0,
		"empty p1 earliest/latest = %d/%d, want 0/0", get(1, sarama.OffsetOldest), get(1, sarama.OffsetNewest))
	s.Okf("earliest/latest: p0 0/10, empty p1 0/0")

	ms := base.UnixMilli()
	cases := []struct {
		p        int32
		at, want int64
		what     string
	}{
		{0, ms - 3_600_000, 0, "an hour before the first record"},
		{0, ms, 0, "the first record's timestamp"},
		{0, ms + 3000, 3, "exactly record 3's timestamp"},
		{0, ms + 3500, 4, "between records 3 and 4"},
		{0, ms + 5000, 5, "the first record of the second batch"},
		{0, ms + 9000, 9, "the last record's timestamp"},
		{0, ms + 9001, -1, "after the last record"},
		{1, ms, -1, "the empty partition"},
	}
	for _, c := range cases {
		got := get(c.p, c.at)
		s.Check(got == c.want, "offset for timestamp %s (p%d): %d, want %d", c.what, c.p, got, c.want)
	}
	s.Okf("by timestamp: %d lookups (exact, between records, across batches, past the end, empty partition)", len(cases))

	if s.Client == "sarama" { // ClusterAdmin.ListOffsets (newer sarama API; the same ListOffsets request)
		res, err := adm.ListOffsets(map[string]map[int32]int64{topic: {0: ms + 3500, 1: sarama.OffsetNewest}}, nil)
		s.NoErr(err, "ClusterAdmin.ListOffsets")
		r0, r1 := res[topic][0], res[topic][1]
		s.Check(r0 != nil && saramaOK(r0.Err) && r0.Offset == 4 && r0.Timestamp == ms+4000,
			"ListOffsets p0 at +3.5s: %+v, want offset 4 timestamp %d", r0, ms+4000)
		s.Check(r1 != nil && saramaOK(r1.Err) && r1.Offset == 0, "ListOffsets p1 latest: %+v, want 0", r1)
		s.Okf("ClusterAdmin.ListOffsets: p0 at +3.5s → offset 4 with record 4's timestamp; p1 latest → 0")
	}
}

// ---------------------------------------------------------------------------- group

type saramaHandler struct {
	m     *Member
	topic string
}

func (h *saramaHandler) Setup(sess sarama.ConsumerGroupSession) error {
	h.m.Assigned(sess.Claims()[h.topic])
	return nil
}

func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.m.Got(saramaRec(msg))
		sess.MarkMessage(msg, "") // committed by auto-commit, as the homework's notifier does
	}
	return nil
}

func saramaGroupConfig(s *Scenario, name string) *sarama.Config {
	conf := saramaConfig(s, s.Client)
	conf.ClientID = name
	conf.Consumer.Offsets.Initial = sarama.OffsetOldest
	conf.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	conf.Consumer.Group.Session.Timeout = 6 * time.Second
	conf.Consumer.Group.Heartbeat.Interval = 1 * time.Second
	conf.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	conf.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	conf.Consumer.Return.Errors = true // any error the group reports fails the scenario
	// Auto-commit like the homework's notifier, more often than its 1 s to keep the run short.
	// (A synchronous session.Commit() per record costs sarama about 200 ms each.)
	conf.Consumer.Offsets.AutoCommit.Enable = true
	conf.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	return conf
}

func saramaStartMember(s *Scenario, group, topic, name string) *Member {
	m := NewMember(name)
	cg, err := sarama.NewConsumerGroup(s.Seeds, group, saramaGroupConfig(s, name))
	s.NoErr(err, "NewConsumerGroup %s", name)
	done := make(chan struct{})
	go func() {
		for err := range cg.Errors() {
			m.Error(fmt.Errorf("ConsumerGroup.Errors(): %w", err))
		}
	}()
	go func() {
		defer close(done)
		h := &saramaHandler{m: m, topic: topic}
		for {
			if err := cg.Consume(s.Ctx, []string{topic}, h); err != nil {
				if !errors.Is(err, sarama.ErrClosedConsumerGroup) {
					m.Error(fmt.Errorf("Consume: %w", err))
				}
				return
			}
			if s.Ctx.Err() != nil {
				return
			}
		}
	}()
	m.Close = func() error {
		err := cg.Close()
		<-done
		return err
	}
	return m
}

func saramaDescribeGroup(adm sarama.ClusterAdmin, group, topic string) (string, map[string][]int32, error) {
	ds, err := adm.DescribeConsumerGroups([]string{group})
	if err != nil {
		return "", nil, err
	}
	if len(ds) != 1 {
		return "", nil, fmt.Errorf("DescribeConsumerGroups returned %d groups", len(ds))
	}
	if ds[0].Err != sarama.ErrNoError {
		return "", nil, ds[0].Err
	}
	members := map[string][]int32{}
	for _, m := range ds[0].Members {
		a, err := m.GetMemberAssignment()
		if err != nil {
			return "", nil, fmt.Errorf("member %s assignment: %w", m.ClientId, err)
		}
		ps := []int32{}
		if a != nil {
			ps = append(ps, a.Topics[topic]...)
		}
		members[m.ClientId] = ps
	}
	return ds[0].State, members, nil
}

func saramaCommitted(adm sarama.ClusterAdmin, group, topic string) (map[int32]int64, error) {
	r, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1}})
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p := int32(0); p < 2; p++ {
		b := r.GetBlock(topic, p)
		if b == nil {
			return nil, fmt.Errorf("no OffsetFetch block for p%d", p)
		}
		if b.Err != sarama.ErrNoError {
			return nil, b.Err
		}
		out[p] = b.Offset
	}
	return out, nil
}

func saramaGroup(s *Scenario) {
	adm := saramaSetupAdmin(s)
	defer adm.Close()
	topic := UniqueName(s.Client, "group")
	group := UniqueName(s.Client, "group")
	saramaCreateTopic(s, adm, topic, 2)
	pconf := saramaConfig(s, s.Client)
	pconf.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer(s.Seeds, pconf)
	s.NoErr(err, "NewSyncProducer")
	defer producer.Close()

	var hold time.Duration
	if s.Client == "sarama-v1" {
		// The homework's three notifiers: the idle third member must survive its session
		// timeout (6 s here) on heartbeats alone, without rebalances or errors.
		hold = 7 * time.Second
	}
	RunGroupScenario(s, &GroupDriver{
		Group: group, Topic: topic, HoldIdle: hold,
		NewMember: func(name string) *Member { return saramaStartMember(s, group, topic, name) },
		Describe:  func() (string, map[string][]int32, error) { return saramaDescribeGroup(adm, group, topic) },
		Committed: func() (map[int32]int64, error) { return saramaCommitted(adm, group, topic) },
		Produce: func(p int32, values []string) error {
			msgs := make([]*sarama.ProducerMessage, len(values))
			for i, v := range values {
				msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder(v)}
			}
			return producer.SendMessages(msgs)
		},
	})
}

// ---------------------------------------------------------------------------- admin

func saramaAdmin(s *Scenario) {
	conf := saramaConfig(s, s.Client)
	adm, err := sarama.NewClusterAdmin(s.Seeds, conf)
	s.NoErr(err, "NewClusterAdmin")
	defer adm.Close()

	brokers, ctrl, err := adm.DescribeCluster()
	s.NoErr(err, "DescribeCluster")
	addrs := map[string]bool{}
	ids := map[int32]bool{}
	for _, b := range brokers {
		addrs[b.Addr()] = true
		ids[b.ID()] = true
	}
	s.Check(len(brokers) == len(s.Seeds) && addrs[s.Seeds[0]] && ids[ctrl],
		"DescribeCluster: %d brokers (first %s), controller %d", len(brokers), brokers[0].Addr(), ctrl)
	s.Okf("DescribeCluster: one broker at %s, controller %d", s.Bootstrap, ctrl)

	topic := UniqueName(s.Client, "admin")
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": strPtr("3600000")}}, false)
	s.NoErr(err, "CreateTopic %s", topic)
	s.WaitFor("the new topic with 2 partitions in DescribeTopics", 10*time.Second, func() (bool, string) {
		n, err := saramaTopicPartitions(adm, topic)
		return err == nil && n == 2, fmt.Sprint(n, err)
	})
	s.Okf("CreateTopic %s (2 partitions, retention.ms=3600000) → DescribeTopics shows 2 partitions", topic)

	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false)
	s.Check(errors.Is(err, sarama.ErrTopicAlreadyExists), "CreateTopic again: %v, want TOPIC_ALREADY_EXISTS (36)", err)
	s.Okf("CreateTopic again → TOPIC_ALREADY_EXISTS (36)")

	s.NoErr(adm.CreatePartitions(topic, 4, nil, false), "CreatePartitions %s → 4", topic)
	s.WaitFor("4 partitions in metadata", 10*time.Second, func() (bool, string) {
		n, err := saramaTopicPartitions(adm, topic)
		return err == nil && n == 4, fmt.Sprint(n, err)
	})
	err = adm.CreatePartitions(topic, 4, nil, false)
	s.Check(errors.Is(err, sarama.ErrInvalidPartitions), "CreatePartitions to the same count: %v, want INVALID_PARTITIONS (37)", err)
	err = adm.CreatePartitions(topic+".missing", 4, nil, false)
	s.Check(errors.Is(err, sarama.ErrUnknownTopicOrPartition), "CreatePartitions of a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION (3)", err)
	s.Okf("CreatePartitions 2→4 → 4 partitions; 4→4 → INVALID_PARTITIONS (37); missing topic → UNKNOWN_TOPIC_OR_PARTITION (3)")

	// Groups: one live member (default-Version group client for sarama, fixed old for sarama-v1).
	group := UniqueName(s.Client, "admin-group")
	m := saramaStartMember(s, group, topic, "admin-member-"+s.Client)
	var desc string
	s.WaitFor("the one-member group Stable with all 4 partitions", 20*time.Second, func() (bool, string) {
		state, members, err := saramaDescribeGroup(adm, group, topic)
		if err != nil {
			return false, err.Error()
		}
		desc = describeString(state, members)
		return state == "Stable" && len(members) == 1 && PartitionSet(members[m.Name]) == "[0 1 2 3]", desc
	})
	ds, err := adm.DescribeConsumerGroups([]string{group})
	s.NoErr(err, "DescribeConsumerGroups")
	s.Check(ds[0].ProtocolType == "consumer" && ds[0].Protocol == "range", "group protocol %q/%q, want consumer/range",
		ds[0].ProtocolType, ds[0].Protocol)
	groups, err := adm.ListConsumerGroups()
	s.NoErr(err, "ListConsumerGroups")
	s.Check(groups[group] == "consumer", "ListConsumerGroups: %s → %q, want consumer", group, groups[group])
	s.Okf("DescribeConsumerGroups: %s, protocol consumer/range; ListConsumerGroups lists it as consumer", desc)

	m.close(s)
	state, members, err := saramaDescribeGroup(adm, group, topic)
	s.NoErr(err, "DescribeConsumerGroups after the member left")
	s.Check(state == "Empty" && len(members) == 0, "after the member left: %s, want Empty with no members", describeString(state, members))
	s.Okf("member left → Empty, no members")
	if conf.Version.IsAtLeast(sarama.V1_1_0_0) { // DeleteGroups needs Kafka 1.1 in sarama
		s.NoErr(adm.DeleteConsumerGroup(group), "DeleteConsumerGroup")
		groups, err = adm.ListConsumerGroups()
		s.NoErr(err, "ListConsumerGroups")
		_, listed := groups[group]
		s.Check(!listed, "ListConsumerGroups still lists the deleted group")
		err = adm.DeleteConsumerGroup(group)
		s.Check(errors.Is(err, sarama.ErrGroupIDNotFound), "DeleteConsumerGroup again: %v, want GROUP_ID_NOT_FOUND (69)", err)
		s.Okf("DeleteConsumerGroup → not listed any more; again → GROUP_ID_NOT_FOUND (69)")
	}

	s.NoErr(adm.DeleteTopic(topic), "DeleteTopic")
	s.WaitFor("the deleted topic gone from metadata", 10*time.Second, func() (bool, string) {
		_, err := saramaTopicPartitions(adm, topic)
		return errors.Is(err, sarama.ErrUnknownTopicOrPartition), fmt.Sprint(err)
	})
	err = adm.DeleteTopic(topic)
	s.Check(errors.Is(err, sarama.ErrUnknownTopicOrPartition), "DeleteTopic again: %v, want UNKNOWN_TOPIC_OR_PARTITION (3)", err)
	s.Okf("DeleteTopic → DescribeTopics says UNKNOWN_TOPIC_OR_PARTITION (3); DeleteTopic again → 3")
}

func strPtr(s string) *string { return &s }

// saramaOK: no error (sarama reports some per-partition results as ErrNoError, not nil).
func saramaOK(err error) bool {
	return err == nil || errors.Is(err, sarama.ErrNoError)
}

// saramaTopicPartitions: the topic's partition count per DescribeTopics (Metadata, no
// auto-creation), or its error (ErrUnknownTopicOrPartition once deleted).
func saramaTopicPartitions(adm sarama.ClusterAdmin, topic string) (int, error) {
	md, err := adm.DescribeTopics([]string{topic})
	if err != nil {
		return 0, err
	}
	if len(md) != 1 {
		return 0, fmt.Errorf("DescribeTopics returned %d topics", len(md))
	}
	if md[0].Err != sarama.ErrNoError {
		return 0, md[0].Err
	}
	return len(md[0].Partitions), nil
}

// saramaAdminConfigs: ListTopics (Metadata + DescribeConfigs for every topic) and
// DescribeConfig of a topic.
func saramaAdminConfigs(s *Scenario) {
	adm, err := sarama.NewClusterAdmin(s.Seeds, saramaConfig(s, s.Client))
	s.NoErr(err, "NewClusterAdmin")
	defer adm.Close()
	topic := UniqueName(s.Client, "configs")
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": strPtr("3600000")}}, false)
	s.NoErr(err, "CreateTopic %s", topic)

	var d sarama.TopicDetail
	s.WaitFor("the new topic in ListTopics", 10*time.Second, func() (bool, string) {
		ts, err := adm.ListTopics()
		if errors.Is(err, sarama.ErrUnsupportedVersion) {
			s.Fatalf("ListTopics: %v", err)
		}
		if err != nil {
			return false, err.Error()
		}
		d = ts[topic]
		return d.NumPartitions == 3, fmt.Sprintf("%+v", d)
	})
	s.Check(d.ReplicationFactor == 1, "ListTopics: replication factor %d, want 1", d.ReplicationFactor)
	s.Check(d.ConfigEntries["retention.ms"] != nil && *d.ConfigEntries["retention.ms"] == "3600000",
		"ListTopics: config retention.ms = %v, want 3600000", d.ConfigEntries["retention.ms"])
	s.Okf("ListTopics: %s with 3 partitions, replication factor 1, retention.ms=3600000", topic)

	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic,
		ConfigNames: []string{"retention.ms", "cleanup.policy"}})
	s.NoErr(err, "DescribeConfig topic %s", topic)
	cfg := map[string]string{}
	for _, e := range entries {
		cfg[e.Name] = e.Value
	}
	s.Check(len(cfg) == 2 && cfg["retention.ms"] == "3600000" && cfg["cleanup.policy"] == "delete",
		"DescribeConfig: %v, want exactly retention.ms=3600000 and cleanup.policy=delete", cfg)
	s.Okf("DescribeConfig: retention.ms=3600000 (set at creation), cleanup.policy=delete (default)")
	s.NoErr(adm.DeleteTopic(topic), "DeleteTopic")
}
