// loms — the homework's Logistics and Order Management System, reduced to what the Kafka
// part of the homework exercises: order handlers that change an order's status in
// PostgreSQL and, in the same transaction, write an event to an outbox table; a relay that
// publishes the outbox to Kafka with a Sarama SyncProducer (at-least-once: a row is marked
// sent only after the broker acknowledged it, so an event whose database write did not commit
// is never sent, and a crash between send and mark sends it again).
//
// HTTP API (JSON bodies; the homework's gRPC handlers with the same names and semantics):
//
//	POST /order/create {"user": 1, "items": [{"sku": 1001, "count": 2}]} → {"orderID": 7, "status": "awaiting payment"}
//	     creates the order (status "new"), then reserves stock: "awaiting payment", or "failed"
//	     when some sku lacks stock (a status change and an event each)
//	POST /order/pay    {"orderID": 7}   awaiting payment → payed (stock leaves the warehouse)
//	POST /order/cancel {"orderID": 7}   awaiting payment → cancelled (reservation released)
//	GET  /order/info?orderID=7          {"orderID":7,"user":1,"status":"payed","items":[...]}
//	GET  /healthz                       200 once the database answers
//	GET  /stats                         {"outbox_pending": N, "outbox_sent": M, "producer_ready": bool}
//
// Errors: 400 bad request, 404 unknown order, 409 (FailedPrecondition) wrong status.
//
// Settings: flags or environment (`loms -h`). SIGINT/SIGTERM: stop accepting requests,
// finish the ones in flight, let the relay finish its batch, close the producer and the pool.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"gregor/compat-tests/homework/internal/kafkasec"
	"gregor/compat-tests/homework/internal/settings"
)

// Order statuses, as the homework names them.
const (
	StatusNew             = "new"
	StatusAwaitingPayment = "awaiting payment"
	StatusFailed          = "failed"
	StatusPayed           = "payed"
	StatusCancelled       = "cancelled"
)

// Event is what loms publishes (JSON value, key = order id).
type Event struct {
	OrderID        int64          `json:"order_id"`
	Seq            int64          `json:"seq"` // 1, 2, ... per order: the order's version after the change
	Event          string         `json:"event"`
	Status         string         `json:"status"`
	PreviousStatus string         `json:"previous_status,omitempty"`
	At             time.Time      `json:"at"`
	Info           map[string]any `json:"info,omitempty"`
}

type Item struct {
	SKU   int64 `json:"sku"`
	Count int32 `json:"count"`
}

type config struct {
	httpAddr        string
	databaseURL     string
	brokers         []string
	topic           string
	idempotent      bool
	relayInterval   time.Duration
	relayBatch      int
	shutdownTimeout time.Duration
	security        *kafkasec.Settings
}

func loadConfig() config {
	s := settings.New("loms")
	c := config{}
	httpAddr := s.String("http-addr", "LOMS_HTTP_ADDR", ":8081", "HTTP listen address")
	dbURL := s.String("database-url", "LOMS_DATABASE_URL", "postgres://loms:loms@postgres:5432/loms?sslmode=disable", "PostgreSQL connection string")
	brokers := s.List("brokers", "KAFKA_BROKERS", "kafka:29092", "Kafka bootstrap servers")
	topic := s.String("topic", "LOMS_ORDER_EVENTS_TOPIC", "loms.order-events", "topic of order events")
	idem := s.Bool("kafka-idempotent", "LOMS_KAFKA_IDEMPOTENT", defaultIdempotent, "idempotent producer: Idempotent=true, MaxOpenRequests=1, fixed Version V1_0_0_0")
	interval := s.Duration("outbox-interval", "LOMS_OUTBOX_INTERVAL", 200*time.Millisecond, "outbox relay poll interval")
	batch := s.Int("outbox-batch", "LOMS_OUTBOX_BATCH", 100, "outbox rows published per relay transaction")
	shutdown := s.Duration("shutdown-timeout", "LOMS_SHUTDOWN_TIMEOUT", 15*time.Second, "graceful shutdown limit")
	c.security = kafkasec.Register(s)
	s.Parse(os.Args[1:])
	c.httpAddr, c.databaseURL, c.brokers, c.topic = *httpAddr, *dbURL, *brokers, *topic
	c.idempotent, c.relayInterval, c.relayBatch, c.shutdownTimeout = *idem, *interval, *batch, *shutdown
	return c
}

func main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "loms"))
	cfg := loadConfig()
	if err := cfg.security.Apply(sarama.NewConfig()); err != nil {
		slog.Error("bad kafka settings", "err", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		slog.Error("loms stopped", "err", err)
		os.Exit(1)
	}
	slog.Info("shutdown complete")
}

func run(cfg config) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	pool, err := connectDB(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	relay := newRelay(pool, cfg)
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); relay.run(relayCtx) }()

	svc := &service{db: pool, relay: relay}
	srv := &http.Server{Addr: cfg.httpAddr, Handler: svc.routes(), ReadHeaderTimeout: 5 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.ListenAndServe() }()
	slog.Info("loms started", "http", cfg.httpAddr, "brokers", cfg.brokers, "topic", cfg.topic,
		"idempotent", cfg.idempotent)

	select {
	case <-ctx.Done():
		slog.Info("shutting down", "reason", "signal")
	case err := <-srvErr:
		stopRelay()
		<-relayDone
		return fmt.Errorf("http server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		slog.Error("http shutdown", "err", err)
	}
	// The relay finishes the batch in flight (rows sent are marked sent) and closes the producer.
	stopRelay()
	select {
	case <-relayDone:
	case <-sctx.Done():
		return errors.New("outbox relay did not stop in time")
	}
	return nil
}

func connectDB(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	// The database may still be starting (compose starts everything at once): retry a while.
	deadline := time.Now().Add(60 * time.Second)
	for {
		err = pool.Ping(ctx)
		if err == nil {
			return pool, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pool.Close()
			return nil, fmt.Errorf("database: %w", err)
		}
		slog.Warn("database not ready, retrying", "err", err)
		time.Sleep(time.Second)
	}
}

const schema = `
CREATE TABLE IF NOT EXISTS orders (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT      NOT NULL,
    status     TEXT        NOT NULL,
    version    BIGINT      NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id BIGINT NOT NULL REFERENCES orders (id),
    sku      BIGINT NOT NULL,
    count    INT    NOT NULL CHECK (count > 0),
    PRIMARY KEY (order_id, sku)
);
CREATE TABLE IF NOT EXISTS stocks (
    sku         BIGINT PRIMARY KEY,
    total_count BIGINT NOT NULL,
    reserved    BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS outbox (
    id         BIGSERIAL PRIMARY KEY,
    topic      TEXT        NOT NULL,
    key        TEXT        NOT NULL,
    payload    JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at    TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
-- The warehouse: plenty of 1001..1005; sku 404 is always out of stock (its orders fail).
INSERT INTO stocks (sku, total_count) VALUES
    (1001, 1000000), (1002, 1000000), (1003, 1000000), (1004, 1000000), (1005, 1000000), (404, 0)
ON CONFLICT (sku) DO NOTHING;
`

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	// Several loms replicas may start at once: one migrates at a time.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7001)`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, schema); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// ---------------------------------------------------------------------------- handlers

type service struct {
	db    *pgxpool.Pool
	relay *relay
}

var (
	errNotFound     = errors.New("order not found")
	errPrecondition = errors.New("failed precondition")
)

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /order/create", s.handleCreate)
	mux.HandleFunc("POST /order/pay", s.handlePay)
	mux.HandleFunc("POST /order/cancel", s.handleCancel)
	mux.HandleFunc("GET /order/info", s.handleInfo)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.db.Ping(r.Context()); err != nil {
			writeErr(w, http.StatusServiceUnavailable, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /stats", s.handleStats)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func fail(w http.ResponseWriter, op string, err error) {
	switch {
	case errors.Is(err, errNotFound):
		writeErr(w, http.StatusNotFound, err)
	case errors.Is(err, errPrecondition):
		writeErr(w, http.StatusConflict, err)
	default:
		slog.Error("handler failed", "op", op, "err", err)
		writeErr(w, http.StatusInternalServerError, err)
	}
}

func (s *service) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User  int64  `json:"user"`
		Items []Item `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Items) == 0 {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("want {\"user\": N, \"items\": [{\"sku\": N, \"count\": N}]}"))
		return
	}
	for _, it := range req.Items {
		if it.Count <= 0 {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("sku %d: count must be positive", it.SKU))
			return
		}
	}
	id, status, err := s.orderCreate(r.Context(), req.User, req.Items)
	if err != nil {
		fail(w, "create", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"orderID": id, "status": status})
}

func orderIDFrom(w http.ResponseWriter, r *http.Request) (int64, bool) {
	var req struct {
		OrderID int64 `json:"orderID"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.OrderID <= 0 {
		writeErr(w, http.StatusBadRequest, errors.New(`want {"orderID": N}`))
		return 0, false
	}
	return req.OrderID, true
}

func (s *service) handlePay(w http.ResponseWriter, r *http.Request) {
	id, ok := orderIDFrom(w, r)
	if !ok {
		return
	}
	if err := s.orderPay(r.Context(), id); err != nil {
		fail(w, "pay", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"orderID": id, "status": StatusPayed})
}

func (s *service) handleCancel(w http.ResponseWriter, r *http.Request) {
	id, ok := orderIDFrom(w, r)
	if !ok {
		return
	}
	if err := s.orderCancel(r.Context(), id); err != nil {
		fail(w, "cancel", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"orderID": id, "status": StatusCancelled})
}

func (s *service) handleInfo(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.URL.Query().Get("orderID"), 10, 64)
	if err != nil {
		writeErr(w, http.StatusBadRequest, errors.New("want ?orderID=N"))
		return
	}
	var user int64
	var status string
	err = s.db.QueryRow(r.Context(), `SELECT user_id, status FROM orders WHERE id = $1`, id).Scan(&user, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		fail(w, "info", errNotFound)
		return
	} else if err != nil {
		fail(w, "info", err)
		return
	}
	items, err := loadItems(r.Context(), s.db, id)
	if err != nil {
		fail(w, "info", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"orderID": id, "user": user, "status": status, "items": items})
}

func (s *service) handleStats(w http.ResponseWriter, r *http.Request) {
	var pending, sent int64
	err := s.db.QueryRow(r.Context(),
		`SELECT count(*) FILTER (WHERE sent_at IS NULL), count(*) FILTER (WHERE sent_at IS NOT NULL) FROM outbox`).
		Scan(&pending, &sent)
	if err != nil {
		fail(w, "stats", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"outbox_pending": pending, "outbox_sent": sent,
		"producer_ready": s.relay.ready.Load()})
}

// ---------------------------------------------------------------------------- repository

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func loadItems(ctx context.Context, q querier, orderID int64) ([]Item, error) {
	rows, err := q.Query(ctx, `SELECT sku, count FROM order_items WHERE order_id = $1 ORDER BY sku`, orderID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Item, error) {
		var it Item
		err := row.Scan(&it.SKU, &it.Count)
		return it, err
	})
}

// inTx runs f in one transaction: the status change and its outbox row commit together or
// not at all.
func (s *service) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// enqueue writes the event of a status change into the outbox (inside the caller's tx).
func (s *service) enqueue(ctx context.Context, tx pgx.Tx, ev Event) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)`,
		s.relay.cfg.topic, strconv.FormatInt(ev.OrderID, 10), payload)
	return err
}

// setStatus moves a locked order from one of `from` to `to` and enqueues the event.
func (s *service) setStatus(ctx context.Context, tx pgx.Tx, id int64, from []string, to, event string, info map[string]any) error {
	var status string
	var version int64
	err := tx.QueryRow(ctx, `SELECT status, version FROM orders WHERE id = $1 FOR UPDATE`, id).Scan(&status, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("order %d: %w", id, errNotFound)
	} else if err != nil {
		return err
	}
	allowed := false
	for _, f := range from {
		allowed = allowed || status == f
	}
	if !allowed {
		return fmt.Errorf("order %d is %q, want one of %q: %w", id, status, from, errPrecondition)
	}
	version++
	if _, err := tx.Exec(ctx, `UPDATE orders SET status = $2, version = $3, updated_at = now() WHERE id = $1`,
		id, to, version); err != nil {
		return err
	}
	return s.enqueue(ctx, tx, Event{OrderID: id, Seq: version, Event: event, Status: to,
		PreviousStatus: status, At: time.Now().UTC(), Info: info})
}

func (s *service) orderCreate(ctx context.Context, user int64, items []Item) (int64, string, error) {
	var id int64
	// 1. The order exists, status "new".
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO orders (user_id, status) VALUES ($1, $2) RETURNING id`,
			user, StatusNew).Scan(&id); err != nil {
			return err
		}
		for _, it := range items {
			if _, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, sku, count) VALUES ($1, $2, $3)
				ON CONFLICT (order_id, sku) DO UPDATE SET count = order_items.count + EXCLUDED.count`,
				id, it.SKU, it.Count); err != nil {
				return err
			}
		}
		return s.enqueue(ctx, tx, Event{OrderID: id, Seq: 1, Event: "order_created", Status: StatusNew,
			At: time.Now().UTC(), Info: map[string]any{"user": user, "items": items}})
	})
	if err != nil {
		return 0, "", err
	}
	// 2. Reserve the stock: "awaiting payment", or "failed" if some sku lacks stock.
	status := StatusAwaitingPayment
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var missing []int64
		for _, it := range items {
			tag, err := tx.Exec(ctx, `UPDATE stocks SET reserved = reserved + $2
				WHERE sku = $1 AND total_count - reserved >= $2`, it.SKU, it.Count)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				missing = append(missing, it.SKU)
			}
		}
		if len(missing) > 0 {
			return errReserve{missing}
		}
		return s.setStatus(ctx, tx, id, []string{StatusNew}, StatusAwaitingPayment, "order_reserved", nil)
	})
	var rerr errReserve
	if errors.As(err, &rerr) {
		status = StatusFailed
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			return s.setStatus(ctx, tx, id, []string{StatusNew}, StatusFailed, "order_reservation_failed",
				map[string]any{"reason": "insufficient stock", "skus": rerr.skus})
		})
	}
	if err != nil {
		return 0, "", err
	}
	return id, status, nil
}

type errReserve struct{ skus []int64 }

func (e errReserve) Error() string { return fmt.Sprintf("insufficient stock for %v", e.skus) }

func (s *service) orderPay(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.setStatus(ctx, tx, id, []string{StatusAwaitingPayment}, StatusPayed, "order_paid", nil); err != nil {
			return err
		}
		// The reserved items leave the warehouse.
		_, err := tx.Exec(ctx, `UPDATE stocks s SET total_count = s.total_count - i.count, reserved = s.reserved - i.count
			FROM order_items i WHERE i.order_id = $1 AND i.sku = s.sku`, id)
		return err
	})
}

func (s *service) orderCancel(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.setStatus(ctx, tx, id, []string{StatusAwaitingPayment}, StatusCancelled, "order_cancelled", nil); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE stocks s SET reserved = s.reserved - i.count
			FROM order_items i WHERE i.order_id = $1 AND i.sku = s.sku`, id)
		return err
	})
}

// ---------------------------------------------------------------------------- outbox relay

type relay struct {
	db       *pgxpool.Pool
	cfg      config
	producer sarama.SyncProducer
	ready    atomic.Bool
	mu       sync.Mutex
}

func newRelay(db *pgxpool.Pool, cfg config) *relay { return &relay{db: db, cfg: cfg} }

func (r *relay) saramaConfig() (*sarama.Config, error) {
	c := sarama.NewConfig()
	c.ClientID = "loms"
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewHashPartitioner
	c.Producer.Retry.Max = 5
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Metadata.Retry.Max = 3
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	c.Net.DialTimeout = 5 * time.Second
	c.Net.ReadTimeout = 10 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	if r.cfg.idempotent {
		// The students' idempotent variant: an old fixed protocol version (no ApiVersions
		// negotiation: InitProducerId v0, Produce v3), one request in flight.
		c.Version = sarama.V1_0_0_0
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
	}
	return c, r.cfg.security.Apply(c)
}

// run publishes the outbox until ctx is cancelled. The producer is created lazily and again
// after a failed send, so loms starts and keeps taking orders while the broker is down.
func (r *relay) run(ctx context.Context) {
	defer r.closeProducer()
	backoff := r.cfg.relayInterval
	for {
		n, err := r.publishBatch(ctx)
		switch {
		case err != nil:
			slog.Warn("outbox relay: publish failed, will retry", "err", err, "retry_in", backoff.String())
			if errors.Is(err, errSend) {
				r.closeProducer() // sequence numbers / metadata may be stale: start afresh
			}
		case n == r.cfg.relayBatch:
			backoff = r.cfg.relayInterval
			continue // more rows are waiting
		default:
			backoff = r.cfg.relayInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if err != nil {
			backoff = min(backoff*2, 2*time.Second)
		}
	}
}

var errSend = errors.New("kafka send")

func (r *relay) ensureProducer() (sarama.SyncProducer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.producer != nil {
		return r.producer, nil
	}
	sc, err := r.saramaConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka settings: %w", err)
	}
	p, err := sarama.NewSyncProducer(r.cfg.brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	r.producer = p
	r.ready.Store(true)
	slog.Info("kafka producer ready", "brokers", r.cfg.brokers, "idempotent", r.cfg.idempotent,
		"security", r.cfg.security.Protocol())
	return p, nil
}

func (r *relay) closeProducer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.producer != nil {
		if err := r.producer.Close(); err != nil {
			slog.Warn("closing producer", "err", err)
		}
		r.producer = nil
		r.ready.Store(false)
	}
}

// publishBatch sends up to relayBatch unsent rows in id order and marks the ones the broker
// acknowledged. One relay publishes at a time (advisory lock), so per-order order holds even
// with several loms replicas.
func (r *relay) publishBatch(ctx context.Context) (int, error) {
	// Nothing to do is the common case: no producer needed for it.
	var pending bool
	if err := r.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL)`).Scan(&pending); err != nil {
		return 0, err
	}
	if !pending {
		return 0, nil
	}
	producer, err := r.ensureProducer()
	if err != nil {
		return 0, err
	}
	// The batch in flight is finished even when shutdown begins (ctx is only for the wait).
	bg := context.Background()
	tx, err := r.db.Begin(bg)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(bg) //nolint:errcheck
	var locked bool
	if err := tx.QueryRow(bg, `SELECT pg_try_advisory_xact_lock(7002)`).Scan(&locked); err != nil || !locked {
		return 0, err
	}
	rows, err := tx.Query(bg, `SELECT id, topic, key, payload::text FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1`,
		r.cfg.relayBatch)
	if err != nil {
		return 0, err
	}
	type row struct {
		id                  int64
		topic, key, payload string
	}
	batch, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
		var x row
		err := rw.Scan(&x.id, &x.topic, &x.key, &x.payload)
		return x, err
	})
	if err != nil {
		return 0, err
	}
	var sent []int64
	var sendErr error
	for _, x := range batch {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic:   x.topic,
			Key:     sarama.StringEncoder(x.key),
			Value:   sarama.StringEncoder(x.payload),
			Headers: []sarama.RecordHeader{{Key: []byte("outbox-id"), Value: []byte(strconv.FormatInt(x.id, 10))}},
		})
		if err != nil {
			sendErr = fmt.Errorf("%w: outbox row %d: %v", errSend, x.id, err)
			break // keep per-order order: nothing after a failed row is sent in this round
		}
		sent = append(sent, x.id)
	}
	if len(sent) > 0 {
		if _, err := tx.Exec(bg, `UPDATE outbox SET sent_at = now() WHERE id = ANY($1)`, sent); err != nil {
			return 0, err
		}
		if err := tx.Commit(bg); err != nil {
			return 0, err
		}
		slog.Info("outbox published", "rows", len(sent))
	}
	return len(sent), sendErr
}
