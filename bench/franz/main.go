// gregor-bench-franz: the benchmark's second, independent load generator (franz-go), so no
// single client's quirks decide the result. Prints one line of key=value results.
//
//	create  -brokers B -topic T -partitions N [-rf R] [-config k=v,k=v]
//	ready   -brokers B -topic T -partitions N   (waits until every partition has a leader)
//	delete  -brokers B -topic T[,T...]
//	produce -brokers B -topic T -records N -size S [-keys K] [-rate MiB/s] [-codec C]
//	        [-conns C] [-rr] [-seconds D]   (C producer clients share the records; -rr:
//	        round-robin partitions; -seconds: as many records as D seconds take, not N)
//	consume -brokers B -topic T -records N [-seconds D]   (-seconds: read the topic's first N
//	        records again and again from the start until D seconds have passed)
//	e2e     -brokers B -topic T -size S -rate MiB/s -seconds D
//	groups  -brokers B -topic T -groups G -records N   (G consumer groups of one member each
//	        read the first N records of T: join and consume times)
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const mib = 1 << 20

func main() {
	if len(os.Args) < 2 {
		fail("usage: gregor-bench-franz create|produce|consume|e2e [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap servers")
	topic := fs.String("topic", "bench", "topic")
	partitions := fs.Int("partitions", 8, "partitions (create)")
	rf := fs.Int("rf", 1, "replication factor (create)")
	conns := fs.Int("conns", 1, "producer clients, each with its own connections (produce)")
	rr := fs.Bool("rr", false, "round-robin partitioner (produce), else sticky")
	groups := fs.Int("groups", 1, "consumer groups (groups)")
	configs := fs.String("config", "", "topic configs k=v,k=v (create)")
	records := fs.Int("records", 1_000_000, "records to produce or consume")
	size := fs.Int("size", 1024, "value size in bytes")
	keys := fs.Int("keys", 0, "distinct keys (0: no keys)")
	rate := fs.Float64("rate", 0, "target MiB/s (0: as fast as possible)")
	seconds := fs.Float64("seconds", 0, "duration (e2e: default 10; produce, consume: 0, by -records)")
	codec := fs.String("codec", "none", "compression (produce): none, gzip, snappy, lz4, zstd")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	switch os.Args[1] {
	case "create":
		create(ctx, *brokers, *topic, int32(*partitions), int16(*rf), *configs)
	case "ready":
		waitReady(ctx, *brokers, *topic, *partitions)
	case "delete":
		deleteTopics(ctx, *brokers, strings.Split(*topic, ","))
	case "produce":
		produce(ctx, *brokers, *topic, *records, *size, *keys, *rate, *codec, *conns, *rr, *seconds)
	case "groups":
		consumeGroups(ctx, *brokers, *topic, *groups, *records)
	case "consume":
		consume(ctx, *brokers, *topic, *records, *seconds)
	case "e2e":
		if *seconds <= 0 {
			*seconds = 10
		}
		e2e(ctx, *brokers, *topic, *size, *rate, *seconds)
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}

func must(err error, what string) {
	if err != nil {
		fail(what + ": " + err.Error())
	}
}

func create(ctx context.Context, brokers, topic string, partitions int32, rf int16, configs string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	must(err, "client")
	defer cl.Close()
	cfg := map[string]*string{}
	for _, kv := range strings.Split(configs, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			cfg[k] = kadm.StringPtr(v)
		}
	}
	adm := kadm.NewClient(cl)
	// KRaft refuses a request of more than 10,000 records (a topic and its partitions); gregor
	// does the same: a larger topic is created at 5,000 partitions and grown 5,000 at a time.
	const step = 5000
	first := min(partitions, step)
	res, err := adm.CreateTopic(ctx, first, rf, cfg, topic)
	must(err, "create topic")
	must(res.Err, "create topic")
	// A broker elects leaders for thousands of partitions in tens of seconds: wait up to 30 s
	// plus 30 ms per partition.
	wait := 30*time.Second + time.Duration(partitions)*30*time.Millisecond
	for have := first; have < partitions; {
		have = min(partitions, have+step)
		for deadline := time.Now().Add(wait); !ready(ctx, adm, topic, int(first)); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				fail(fmt.Sprintf("topic %s not ready to grow after %v", topic, wait))
			}
		}
		grown, err := adm.UpdatePartitions(ctx, int(have), topic)
		must(err, "create partitions")
		must(grown.Error(), "create partitions")
		first = have
	}
	// Measure from when every partition has a leader, not the broker's topic propagation.
	for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
		if ready(ctx, adm, topic, int(partitions)) {
			break
		}
		if time.Now().After(deadline) {
			fail(fmt.Sprintf("topic %s has no leaders after %v", topic, wait))
		}
	}
	fmt.Printf("created=%s partitions=%d\n", topic, partitions)
}

func ready(ctx context.Context, adm *kadm.Client, topic string, partitions int) bool {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return false
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil || len(td.Partitions) != partitions {
		return false
	}
	for _, p := range td.Partitions {
		if p.Leader < 0 || p.Err != nil {
			return false
		}
	}
	return true
}

// deleteTopics deletes the topics and waits until the broker no longer lists them.
func deleteTopics(ctx context.Context, brokers string, topics []string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	must(err, "client")
	defer cl.Close()
	adm := kadm.NewClient(cl)
	res, err := adm.DeleteTopics(ctx, topics...)
	must(err, "delete topics")
	must(res.Error(), "delete topics")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		listed, err := adm.ListTopics(ctx, topics...)
		gone := err == nil
		for _, td := range listed {
			gone = gone && td.Err != nil // UNKNOWN_TOPIC_OR_PARTITION
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			fail(fmt.Sprintf("topics %v still listed 60 s after their deletion", topics))
		}
	}
	fmt.Printf("deleted=%d\n", len(topics))
}

// waitReady: until the topic's partitions all have leaders (after a restart); prints the wait.
func waitReady(ctx context.Context, brokers, topic string, partitions int) {
	start := time.Now()
	for deadline := start.Add(300 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
		if err == nil {
			ok := ready(ctx, kadm.NewClient(cl), topic, partitions)
			cl.Close()
			if ok {
				break
			}
		}
		if time.Now().After(deadline) {
			fail("topic " + topic + " has no leaders after 300 s")
		}
	}
	fmt.Printf("ready_ms=%d\n", time.Since(start).Milliseconds())
}

// The Java producer's settings in ProducerPerformance's runs: acks=all (idempotent), linger
// 5 ms, 1 MiB batches, no compression, 32 MiB of buffered records (kgo keeps its idempotent
// default of one produce request in flight per broker).
func producer(brokers string, extra ...kgo.Opt) *kgo.Client {
	opts := append([]kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond), kgo.ProducerBatchMaxBytes(mib),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1 << 20), kgo.MaxBufferedBytes(32 * mib)}, extra...)
	cl, err := kgo.NewClient(opts...)
	must(err, "client")
	return cl
}

func compression(codec string) kgo.CompressionCodec {
	switch codec {
	case "none":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	fail("unknown codec " + codec)
	return kgo.NoCompression()
}

// pacer sleeps so that the i-th record of `size` bytes goes out at `rate` MiB/s.
type pacer struct {
	start time.Time
	per   time.Duration
}

func newPacer(size int, rate float64) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{start: time.Now(), per: time.Duration(float64(size) / (rate * mib) * 1e9)}
}

func (p *pacer) wait(i int) {
	if p == nil {
		return
	}
	if d := time.Until(p.start.Add(time.Duration(i) * p.per)); d > 0 {
		time.Sleep(d)
	}
}

// latencies collects per-record latencies by record index, for a count known only at the end
// (-seconds): chunks are made by the sending goroutine before their records are produced.
type latencies struct {
	chunks []atomic.Pointer[[latChunk]int64]
}

const latChunk = 1 << 20

func newLatencies(max int) *latencies {
	return &latencies{chunks: make([]atomic.Pointer[[latChunk]int64], max/latChunk+1)}
}

func (l *latencies) reserve(i int) { // i < the store's max
	if c := &l.chunks[i/latChunk]; c.Load() == nil {
		c.CompareAndSwap(nil, new([latChunk]int64))
	}
}

func (l *latencies) set(i int, us int64) { l.chunks[i/latChunk].Load()[i%latChunk] = us }

func (l *latencies) first(n int) []int64 {
	out := make([]int64, 0, n)
	for c := 0; len(out) < n; c++ {
		out = append(out, l.chunks[c].Load()[:min(latChunk, n-len(out))]...)
	}
	return out
}

// produce sends n records, or with seconds > 0 as many as that many seconds take (sending
// stops then; the figures count until the last acknowledgement).
func produce(ctx context.Context, brokers, topic string, n, size, keys int, rate float64, codec string, conns int, rr bool, seconds float64) {
	if conns < 1 {
		conns = 1
	}
	// A batch holds at least one record: large records need batches (and requests) above 1 MiB.
	batch := mib
	if size+1024 > batch {
		batch = size + 64*1024
	}
	opts := []kgo.Opt{kgo.ProducerBatchCompression(compression(codec)), kgo.ProducerBatchMaxBytes(int32(batch))}
	if rr {
		opts = append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	}
	clients := make([]*kgo.Client, conns)
	for c := range clients {
		clients[c] = producer(brokers, opts...)
		defer clients[c].Close()
	}
	limit := n
	if seconds > 0 {
		limit = 1 << 32 // room for ~4 billion records; the clock ends the run
	}
	value := make([]byte, size)
	lat := newLatencies(limit)
	var failed atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64 // the next record's index, shared by the clients
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(time.Duration(seconds * float64(time.Second)))
	var senders sync.WaitGroup
	for c := range clients {
		senders.Add(1)
		go func(c int) {
			defer senders.Done()
			p := newPacer(size, rate/float64(conns)) // each client paced at rate/conns
			for j := 0; ; j++ {
				if seconds > 0 && time.Now().After(deadline) {
					return
				}
				i := int(next.Add(1) - 1)
				if i >= limit {
					return
				}
				lat.reserve(i)
				p.wait(j)
				r := &kgo.Record{Topic: topic, Value: value}
				if keys > 0 {
					r.Key = []byte(strconv.Itoa(i % keys))
				}
				sent := time.Now()
				wg.Add(1)
				clients[c].Produce(ctx, r, func(_ *kgo.Record, err error) {
					lat.set(i, time.Since(sent).Microseconds())
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					wg.Done()
				})
			}
		}(c)
	}
	senders.Wait()
	wg.Wait()
	secs := time.Since(start).Seconds()
	if failed.Load() > 0 {
		fail(fmt.Sprintf("%d records failed (first: %v)", failed.Load(), firstErr.Load()))
	}
	n = min(int(next.Load()), limit) // every index below it was sent (a client stops at one above)
	bytes := float64(n * size)
	fmt.Printf("records=%d bytes=%.0f secs=%.3f rps=%.0f mibps=%.2f %s\n", n, bytes, secs,
		float64(n)/secs, bytes/mib/secs, percentiles("", lat.first(n)))
}

func consumer(brokers, topic string) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	must(err, "client")
	return cl
}

// consume reads the topic's first n records from the start (a direct consumer, no group);
// with seconds > 0 it reads them again and again, a new client each pass, until that many
// seconds have passed, and counts what it read.
func consume(ctx context.Context, brokers, topic string, n int, seconds float64) {
	got, bytes := 0, 0
	start := time.Now()
	deadline := start.Add(time.Duration(seconds * float64(time.Second)))
	for {
		g, b := consumePass(ctx, brokers, topic, n, deadline, seconds > 0)
		got, bytes = got+g, bytes+b
		if seconds <= 0 || time.Now().After(deadline) {
			break
		}
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("records=%d bytes=%d secs=%.3f rps=%.0f mibps=%.2f\n", got, bytes, secs,
		float64(got)/secs, float64(bytes)/mib/secs)
}

func consumePass(ctx context.Context, brokers, topic string, n int, deadline time.Time, timed bool) (got, bytes int) {
	cl := consumer(brokers, topic)
	defer cl.Close()
	for got < n && !(timed && time.Now().After(deadline)) {
		// A consumer that gets nothing for a minute fails rather than hangs the benchmark.
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		fetches := cl.PollFetches(pctx)
		stalled := pctx.Err() != nil && fetches.NumRecords() == 0
		cancel()
		if stalled {
			fail(fmt.Sprintf("consume: no record for 60 s after %d of %d", got, n))
		}
		fetches.EachError(func(t string, p int32, err error) {
			if err != context.DeadlineExceeded {
				fail(fmt.Sprintf("%s/%d: %v", t, p, err))
			}
		})
		fetches.EachRecord(func(r *kgo.Record) { got++; bytes += len(r.Value) + len(r.Key) })
	}
	return got, bytes
}

// e2e produces at a fixed rate while consuming the same topic; every value carries its send
// time, so the consumer measures produce-to-consume latency.
func e2e(ctx context.Context, brokers, topic string, size int, rate, seconds float64) {
	if size < 8 || rate <= 0 {
		fail("e2e needs -size >= 8 and -rate > 0")
	}
	n := int(rate * mib * seconds / float64(size))
	cons := consumer(brokers, topic)
	defer cons.Close()
	prod := producer(brokers)
	defer prod.Close()
	e2eLat := make([]int64, 0, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(e2eLat) < n {
			fetches := cons.PollFetches(ctx)
			now := time.Now().UnixNano()
			fetches.EachRecord(func(r *kgo.Record) {
				e2eLat = append(e2eLat, (now-int64(binary.BigEndian.Uint64(r.Value)))/1000)
			})
		}
	}()
	prodLat := make([]int64, n)
	var wg sync.WaitGroup
	wg.Add(n)
	p := newPacer(size, rate)
	start := time.Now()
	for i := 0; i < n; i++ {
		p.wait(i)
		value := make([]byte, size)
		sent := time.Now()
		binary.BigEndian.PutUint64(value, uint64(sent.UnixNano()))
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			must(err, "produce")
			prodLat[i] = time.Since(sent).Microseconds()
			wg.Done()
		})
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		fail(fmt.Sprintf("consumed only %d of %d records", len(e2eLat), n))
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("records=%d bytes=%d secs=%.3f mibps=%.2f %s %s\n", n, 2*n*size, secs, float64(n*size)/mib/secs,
		percentiles("", prodLat), percentiles("e2e_", e2eLat))
}

// consumeGroups: `groups` consumer groups of one member each, all started at once, read the
// first n records of the topic. Join: start to the first assignment of the group's member.
func consumeGroups(ctx context.Context, brokers, topic string, groups, n int) {
	start := time.Now()
	join := make([]int64, groups)
	done := make([]int64, groups)
	var wg sync.WaitGroup
	errs := make(chan error, groups)
	report := func(err error) { // the first few errors; never blocks
		select {
		case errs <- err:
		default:
		}
	}
	for g := 0; g < groups; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var once sync.Once
			cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ConsumeTopics(topic),
				kgo.ConsumerGroup(fmt.Sprintf("bench-%s-%d", topic, g)),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
				kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
					once.Do(func() { join[g] = time.Since(start).Microseconds() })
				}))
			if err != nil {
				report(err)
				return
			}
			defer cl.Close()
			cctx, cancel := context.WithTimeout(ctx, 300*time.Second)
			defer cancel()
			got := 0
			for got < n {
				fetches := cl.PollFetches(cctx)
				if cctx.Err() != nil {
					report(fmt.Errorf("group %d: %d of %d records after 300 s", g, got, n))
					return
				}
				fetches.EachError(func(t string, p int32, err error) {
					if err != context.DeadlineExceeded {
						report(fmt.Errorf("%s/%d: %v", t, p, err))
					}
				})
				got += fetches.NumRecords()
			}
			if err := cl.CommitUncommittedOffsets(cctx); err != nil {
				report(fmt.Errorf("group %d commit: %v", g, err))
				return
			}
			done[g] = time.Since(start).Microseconds()
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fail(err.Error())
	}
	secs := time.Since(start).Seconds()
	joinMs := func(q float64) float64 {
		s := append([]int64(nil), join...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(q*float64(len(s)-1))]) / 1000
	}
	fmt.Printf("secs=%.3f join_p50_ms=%.1f join_max_ms=%.1f all_done_ms=%.0f\n", secs, joinMs(0.5),
		joinMs(1), float64(slicesMax(done))/1000)
}

func slicesMax(xs []int64) int64 {
	var m int64
	for _, x := range xs {
		if x > m {
			m = x
		}
	}
	return m
}

func percentiles(prefix string, us []int64) string {
	sort.Slice(us, func(i, j int) bool { return us[i] < us[j] })
	at := func(q float64) int64 { return us[int(q*float64(len(us)-1))] }
	return fmt.Sprintf("%sp50_us=%d %sp99_us=%d %sp999_us=%d", prefix, at(0.5), prefix, at(0.99), prefix, at(0.999))
}
