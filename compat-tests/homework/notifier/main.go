// notifier — the homework's notification service: a member of a Sarama consumer group on
// loms.order-events (OffsetOldest, Range assignor) that logs every order event to stdout.
// An offset is marked only after its event was handled (logged), and marked offsets are
// committed automatically every second and on shutdown: at-least-once, so after a crash the
// next owner of a partition may log a few events again, but never skips one. An event that
// cannot be handled (not JSON, no order id) is logged as an error and skipped.
//
// Three instances run in one group on a 2-partition topic: two get a partition, the third
// idles (and keeps heartbeating) until a rebalance hands it one.
//
// -share (NOTIFIER_SHARE=true): a member of the KIP-932 share group named by -group instead,
// through franz-go's share consumer (share.go; PLAINTEXT only). The broker spreads records of
// both partitions over all members; each event is logged once and then accepted (an event
// that cannot be handled is logged as an error and rejected), and logged again only if its
// member crashed before accepting it. Where a new share group starts reading is the group's
// share.auto.offset.reset config (Kafka's default: latest), set by an admin, not here.
//
// GET /healthz on -health-addr answers 200 with the current assignment:
// {"id":"n1","member_id":"...","generation":3,"partitions":[0],"handled":12}
// (share mode: generation is the member epoch).
//
// Settings: flags or environment (`notifier -h`). SIGINT/SIGTERM: leave the group, commit
// (share mode: send the pending acknowledgements), exit 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"gregor/compat-tests/homework/internal/kafkasec"
	"gregor/compat-tests/homework/internal/settings"
)

// Event is what loms publishes.
type Event struct {
	OrderID        int64           `json:"order_id"`
	Seq            int64           `json:"seq"`
	Event          string          `json:"event"`
	Status         string          `json:"status"`
	PreviousStatus string          `json:"previous_status"`
	At             time.Time       `json:"at"`
	Info           json.RawMessage `json:"info"`
}

type config struct {
	id                string
	brokers           []string
	topic             string
	group             string
	version           string
	healthAddr        string
	sessionTimeout    time.Duration
	heartbeatInterval time.Duration
	rebalanceTimeout  time.Duration
	share             bool
	security          *kafkasec.Settings
}

func loadConfig() config {
	host, _ := os.Hostname()
	s := settings.New("notifier")
	id := s.String("id", "NOTIFIER_ID", host, "instance name in logs (default: host name)")
	brokers := s.List("brokers", "KAFKA_BROKERS", "kafka:29092", "Kafka bootstrap servers")
	topic := s.String("topic", "NOTIFIER_TOPIC", "loms.order-events", "topic of order events")
	group := s.String("group", "NOTIFIER_GROUP_ID", "notifier", "consumer group")
	version := s.String("kafka-version", "NOTIFIER_KAFKA_VERSION", "", "fixed Kafka protocol version (e.g. 2.1.0); empty: Sarama's default")
	health := s.String("health-addr", "NOTIFIER_HEALTH_ADDR", ":8082", "health endpoint address (empty: none)")
	session := s.Duration("session-timeout", "NOTIFIER_SESSION_TIMEOUT", 10*time.Second, "group session timeout")
	heartbeat := s.Duration("heartbeat-interval", "NOTIFIER_HEARTBEAT_INTERVAL", 3*time.Second, "group heartbeat interval")
	rebalance := s.Duration("rebalance-timeout", "NOTIFIER_REBALANCE_TIMEOUT", 60*time.Second, "group rebalance timeout")
	share := s.Bool("share", "NOTIFIER_SHARE", false, "join -group as a KIP-932 share group (franz-go) instead of a consumer group")
	security := kafkasec.Register(s)
	s.Parse(os.Args[1:])
	return config{id: *id, brokers: *brokers, topic: *topic, group: *group, version: *version,
		healthAddr: *health, sessionTimeout: *session, heartbeatInterval: *heartbeat, rebalanceTimeout: *rebalance,
		share: *share, security: security}
}

func main() {
	cfg := loadConfig()
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "notifier", "notifier", cfg.id))
	consume := run
	if cfg.share {
		consume = runShare
	}
	if err := consume(cfg); err != nil {
		slog.Error("notifier stopped", "err", err)
		os.Exit(1)
	}
	slog.Info("shutdown complete")
}

func saramaConfig(cfg config) (*sarama.Config, error) {
	c := sarama.NewConfig()
	c.ClientID = "notifier-" + cfg.id
	if cfg.version != "" {
		v, err := sarama.ParseKafkaVersion(cfg.version)
		if err != nil {
			return nil, err
		}
		c.Version = v
	}
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = time.Second
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	c.Consumer.Group.Session.Timeout = cfg.sessionTimeout
	c.Consumer.Group.Heartbeat.Interval = cfg.heartbeatInterval
	c.Consumer.Group.Rebalance.Timeout = cfg.rebalanceTimeout
	c.Consumer.Return.Errors = true
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 500 * time.Millisecond
	return c, cfg.security.Apply(c)
}

func run(cfg config) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	sc, err := saramaConfig(cfg)
	if err != nil {
		return err
	}
	h := &handler{id: cfg.id}
	closeHealth, err := serveHealth(cfg.healthAddr, h)
	if err != nil {
		return err
	}
	defer closeHealth()

	// The broker may not be up yet (compose starts everything at once): retry a while.
	var group sarama.ConsumerGroup
	for attempt := 1; ; attempt++ {
		group, err = sarama.NewConsumerGroup(cfg.brokers, cfg.group, sc)
		if err == nil {
			break
		}
		if attempt >= 60 {
			return fmt.Errorf("consumer group: %w", err)
		}
		slog.Warn("kafka not ready, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	slog.Info("notifier started", "brokers", cfg.brokers, "topic", cfg.topic, "group", cfg.group,
		"security", cfg.security.Protocol())

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for err := range group.Errors() {
			slog.Error("consumer group error", "err", err)
		}
	}()
	// Consume returns at every rebalance; call it again until shutdown.
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{cfg.topic}, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			slog.Error("consume", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	slog.Info("shutting down", "reason", "signal")
	// Close leaves the group and commits the offsets marked so far.
	err = group.Close()
	wg.Wait()
	return err
}

// serveHealth serves h's /healthz on addr (empty: nothing) until the returned func is called.
func serveHealth(addr string, h *handler) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health endpoint: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(h.health), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

type handler struct {
	id         string
	mu         sync.Mutex
	memberID   string
	generation int32
	partitions []int32
	handled    atomic.Int64
}

func (h *handler) health(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	body := map[string]any{"id": h.id, "member_id": h.memberID, "generation": h.generation,
		"partitions": slices.Clone(h.partitions), "handled": h.handled.Load()}
	h.mu.Unlock()
	if body["partitions"] == nil || len(body["partitions"].([]int32)) == 0 {
		body["partitions"] = []int32{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	parts := []int32{}
	for _, ps := range s.Claims() {
		parts = append(parts, ps...)
	}
	slices.Sort(parts)
	h.mu.Lock()
	h.memberID, h.generation, h.partitions = s.MemberID(), s.GenerationID(), parts
	h.mu.Unlock()
	slog.Info("partitions assigned", "generation", s.GenerationID(), "member_id", s.MemberID(), "partitions", parts)
	return nil
}

func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.partitions = nil
	h.mu.Unlock()
	slog.Info("partitions revoked", "generation", s.GenerationID())
	return nil
}

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if err := h.handle(msg.Partition, msg.Offset, msg.Key, msg.Value); err != nil {
				slog.Error("cannot handle event, skipping it", "partition", msg.Partition, "offset", msg.Offset, "err", err)
			}
			s.MarkMessage(msg, "") // after handling: at-least-once
		case <-s.Context().Done():
			return nil
		}
	}
}

// handle "notifies" about an order event: one log line per event.
func (h *handler) handle(partition int32, offset int64, key, value []byte) error {
	var ev Event
	if err := json.Unmarshal(value, &ev); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	if ev.OrderID == 0 || ev.Status == "" {
		return fmt.Errorf("event without order_id or status: %s", value)
	}
	slog.Info("order event", "partition", partition, "offset", offset, "key", string(key),
		"order_id", ev.OrderID, "seq", ev.Seq, "event", ev.Event, "status", ev.Status,
		"previous_status", ev.PreviousStatus, "at", ev.At)
	h.handled.Add(1)
	return nil
}
