package main

// Share mode (-share): the notifier as a member of a KIP-932 share group, through franz-go's
// share consumer. The broker hands records of both partitions to every member, locks each
// record to the member it delivered it to, and redelivers it to another one if that member
// neither accepts nor rejects it in time (a crash, a closed connection): every event is logged
// once, again only after such a redelivery. Plaintext only (internal/kafkasec is Sarama's).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func runShare(cfg config) error {
	if p := cfg.security.Protocol(); p != "PLAINTEXT" {
		return fmt.Errorf("share mode supports PLAINTEXT only, not %s", p)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	h := &handler{id: cfg.id}
	closeHealth, err := serveHealth(cfg.healthAddr, h)
	if err != nil {
		return err
	}
	defer closeHealth()

	// No connection is made here: the client retries until the broker is up.
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ClientID("notifier-"+cfg.id),
		kgo.ShareGroup(cfg.group),
		kgo.ConsumeTopics(cfg.topic),
		kgo.WithLogger(&shareLogger{h: h}),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	slog.Info("notifier started", "brokers", cfg.brokers, "topic", cfg.topic, "group", cfg.group,
		"security", cfg.security.Protocol(), "share", true)

	for ctx.Err() == nil {
		fetches := cl.PollRecords(ctx, 100)
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				slog.Error("share fetch", "topic", topic, "partition", partition, "err", err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if err := h.handle(r.Partition, r.Offset, r.Key, r.Value); err != nil {
				slog.Error("cannot handle event, rejecting it", "partition", r.Partition, "offset", r.Offset,
					"delivery_count", r.DeliveryCount(), "err", err)
				r.Ack(kgo.AckReject) // archived: never redelivered
				return
			}
			r.Ack(kgo.AckAccept) // after handling: sent with the next fetch or on leaving
		})
	}
	slog.Info("shutting down", "reason", "signal")
	// Leaving sends the pending acks, releases what was fetched but not handled and leaves.
	leaveCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cl.LeaveGroupContext(leaveCtx)
}

// shareLogger passes franz-go's warnings and errors to slog and takes the member id, epoch
// and assignment for /healthz from its log: franz-go exposes them nowhere else for a share
// group (GroupMetadata is the classic and KIP-848 groups').
type shareLogger struct{ h *handler }

func (l *shareLogger) Level() kgo.LogLevel { return kgo.LogLevelDebug }

func (l *shareLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch msg {
	case "share group heartbeating": // debug, before every heartbeat
		if id, ok := logValue(keyvals, "member_id").(string); ok {
			l.h.mu.Lock()
			l.h.memberID = id
			l.h.mu.Unlock()
		}
	case "share group heartbeat complete": // debug, the epoch the broker answered
		if epoch, ok := logValue(keyvals, "new_member_epoch").(int32); ok && logValue(keyvals, "err") == nil {
			l.h.mu.Lock()
			l.h.generation = epoch
			l.h.mu.Unlock()
		}
	case "assigning share partitions": // info, when the broker changed the assignment
		assigned, _ := logValue(keyvals, "assignments").(map[string][]int32)
		parts := []int32{}
		for _, ps := range assigned {
			parts = append(parts, ps...)
		}
		slices.Sort(parts)
		l.h.mu.Lock()
		l.h.partitions = parts
		l.h.mu.Unlock()
		slog.Info("partitions assigned", "partitions", parts)
	}
	switch level {
	case kgo.LogLevelError:
		slog.Error("kafka client: "+msg, keyvals...)
	case kgo.LogLevelWarn:
		slog.Warn("kafka client: "+msg, keyvals...)
	}
}

func logValue(keyvals []any, key string) any {
	for i := 0; i+1 < len(keyvals); i += 2 {
		if keyvals[i] == key {
			return keyvals[i+1]
		}
	}
	return nil
}
