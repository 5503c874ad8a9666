package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// HomeworkTopic is created with 2 partitions by both brokers' start-up (run.sh).
const HomeworkTopic = "loms.order-events"

// Codecs every client produces with (where it supports them).
var Codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// Header is one record header; Rec is a record as produced or consumed, independent of the
// client library, so that produced and consumed records compare directly.
type Header struct {
	Key   string
	Value []byte
}

type Rec struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time // zero: not checked
}

func (r Rec) String() string {
	hs := make([]string, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = fmt.Sprintf("%s=%q", h.Key, h.Value)
	}
	return fmt.Sprintf("p%d@%d key=%q value=%q headers=[%s]", r.Partition, r.Offset, r.Key,
		truncate(r.Value, 40), strings.Join(hs, ","))
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(append([]byte{}, b[:n]...), "..."...)
	}
	return b
}

func randSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// UniqueName makes topic and group names that do not collide across reruns against the same
// broker: compat.go.<client>.<label>.<random>.
func UniqueName(client, label string) string {
	return fmt.Sprintf("compat.go.%s.%s.%s", client, label, randSuffix())
}

// KeyedRecords builds n keyed records: 7 distinct keys (order ids), values of varied size and
// content (UTF-8, binary, empty), and headers that include a repeated key, an empty value and
// binary bytes. Partition and offset are left for the producer to fill in.
func KeyedRecords(client, codec string, n int) []Rec {
	out := make([]Rec, n)
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i := range out {
		key := []byte(fmt.Sprintf("order-%d", i%7))
		var value []byte
		switch i % 4 {
		case 0:
			value = []byte(fmt.Sprintf(`{"order":%d,"status":"created","note":"ünïcødé ✓"}`, i%7))
		case 1:
			value = bytes.Repeat([]byte{byte(i), 0x00, 0xff}, 1+i*11)
		case 2:
			value = []byte{}
		default:
			value = []byte(strings.Repeat(fmt.Sprintf("value %d ", i), 1+i%13))
		}
		hdrs := []Header{
			{"source", []byte(client)},
			{"codec", []byte(codec)},
			{"seq", []byte(fmt.Sprint(i))},
		}
		if i%3 == 0 {
			hdrs = append(hdrs, Header{"dup", []byte("a")}, Header{"dup", []byte("b")})
		}
		if i%5 == 0 {
			hdrs = append(hdrs, Header{"empty", []byte{}}, Header{"bin", []byte{0, 1, 2, 0xfe, 0xff}})
		}
		out[i] = Rec{Partition: -1, Offset: -1, Key: key, Value: value, Headers: hdrs,
			Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
	}
	return out
}

// SeqOf returns the "seq" header of a record built by KeyedRecords, or -1.
func SeqOf(r Rec) int {
	for _, h := range r.Headers {
		if h.Key == "seq" {
			var n int
			if _, err := fmt.Sscan(string(h.Value), &n); err == nil {
				return n
			}
		}
	}
	return -1
}

func sameHeaders(a, b []Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// SameRecord compares key, value and headers (nil and empty byte slices are equal: not every
// client distinguishes them) and, when both are set, the timestamp to the millisecond.
func SameRecord(a, b Rec) bool {
	if !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Value, b.Value) || !sameHeaders(a.Headers, b.Headers) {
		return false
	}
	if !a.Timestamp.IsZero() && !b.Timestamp.IsZero() && a.Timestamp.UnixMilli() != b.Timestamp.UnixMilli() {
		return false
	}
	return true
}

// ByPartition groups records by partition, each list sorted by offset.
func ByPartition(recs []Rec) map[int32][]Rec {
	out := map[int32][]Rec{}
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], r)
	}
	for _, l := range out {
		sort.Slice(l, func(i, j int) bool { return l[i].Offset < l[j].Offset })
	}
	return out
}

// VerifyRoundTrip checks records read back from a fresh topic against the records sent (in
// send order, with the partition and offset the producer reported, or -1 where the client
// does not report them): same count; per partition, offsets contiguous from 0 and records in
// send order with identical key, value and headers; one partition per key; the producer's
// (partition, offset) for each record is where it was read; and, if wantPartitions > 0,
// every partition 0..wantPartitions-1 received records.
func VerifyRoundTrip(s *Scenario, what string, sent, got []Rec, wantPartitions int) {
	if len(got) != len(sent) {
		var lines []string
		for _, r := range got {
			lines = append(lines, "  "+r.String())
		}
		s.Fatalf("%s: read %d records, sent %d; read:\n%s", what, len(got), len(sent), strings.Join(lines, "\n"))
	}
	keyPart := map[string]int32{}
	for _, r := range got {
		if p, ok := keyPart[string(r.Key)]; ok && p != r.Partition {
			s.Fatalf("%s: key %q on partitions %d and %d", what, r.Key, p, r.Partition)
		}
		keyPart[string(r.Key)] = r.Partition
	}
	// Send order restricted to one partition = read order of that partition.
	gotBy := ByPartition(got)
	sentBy := map[int32][]Rec{}
	for _, r := range sent {
		p, ok := keyPart[string(r.Key)]
		if r.Partition >= 0 {
			s.Check(!ok || p == r.Partition, "%s: record %s reported on partition %d, read on %d",
				what, r, r.Partition, p)
			p = r.Partition
		}
		sentBy[p] = append(sentBy[p], r)
	}
	for p, list := range gotBy {
		want := sentBy[p]
		s.Check(len(list) == len(want), "%s: partition %d has %d records, %d sent there", what, p, len(list), len(want))
		for i, r := range list {
			s.Check(r.Offset == int64(i), "%s: partition %d record #%d has offset %d (offsets must be contiguous from 0)",
				what, p, i, r.Offset)
			s.Check(SameRecord(r, want[i]), "%s: partition %d offset %d differs:\n  read %s\n  sent %s", what, p, i, r, want[i])
			if want[i].Offset >= 0 {
				s.Check(want[i].Offset == r.Offset, "%s: producer reported offset %d for the record read at p%d@%d",
					what, want[i].Offset, p, r.Offset)
			}
		}
	}
	if wantPartitions > 0 {
		for p := 0; p < wantPartitions; p++ {
			s.Check(len(gotBy[int32(p)]) > 0, "%s: no record landed on partition %d (keys spread: %v)", what, p, keyPart)
		}
		s.Check(len(gotBy) == wantPartitions, "%s: records on %d partitions, want %d", what, len(gotBy), wantPartitions)
	}
}

// PartitionSet renders partitions sorted, e.g. "[0 1]".
func PartitionSet(ps []int32) string {
	c := append([]int32{}, ps...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return fmt.Sprint(c)
}

// TimestampBase is a fixed, whole-second past time for the list_offsets scenarios: record i
// gets TimestampBase + i seconds.
func TimestampBase() time.Time {
	return time.Now().Add(-time.Hour).Truncate(time.Second)
}

// VerifyReadFrom checks that reading a partition from an offset in the middle of what was
// produced (inside a record batch, compressed or not) returns exactly the records from that
// offset on: the broker returns whole batches and the client skips the records before it.
// read(p, from, n) must return the first n records of partition p from offset `from`.
func VerifyReadFrom(s *Scenario, what string, got []Rec, read func(p int32, from int64, n int) []Rec) {
	by := ByPartition(got)
	p := int32(0)
	if len(by[1]) > len(by[0]) {
		p = 1
	}
	list := by[p]
	s.Check(len(list) >= 3, "%s: too few records on p%d for a mid-batch read", what, p)
	from := int64(len(list)/2 + 1)
	want := list[from:]
	res := read(p, from, len(want))
	s.Check(len(res) == len(want), "%s: reading p%d from offset %d returned %d records, want %d", what, p, from, len(res), len(want))
	for i := range want {
		s.Check(res[i].Offset == want[i].Offset && SameRecord(res[i], want[i]),
			"%s: reading p%d from offset %d, record #%d is %s, want %s", what, p, from, i, res[i], want[i])
	}
}
