// gregor-bench-gateways: load for the brokers' non-Kafka front doors, for bench/gateways.sh.
//
//	http -url http://HOST:PORT -topic T -conns C -batch R -size B -seconds S
//	    REST Proxy v2 binary produce (POST /topics/T), C keep-alive connections each with one
//	    request in flight, R records of B bytes per request, for S seconds.
//	mqtt -broker tcp://HOST:PORT -topic T -clients C -inflight W -size B -seconds S
//	    MQTT QoS 1 publishes, C clients each with up to W publishes awaiting their PUBACK.
//
// Prints key=value lines: records (or messages) per second acknowledged, MiB/s of payload,
// and the latency of an acknowledgement (p50, p99, max in ms). Any refused request or
// publish fails the run (exit 1).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gregor-bench-gateways http|mqtt [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "http":
		err = runHTTP(os.Args[2:])
	case "mqtt":
		err = runMQTT(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// latencies collects acknowledgement times from many goroutines.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

func (l *latencies) report(unit string, perUnit int, elapsed time.Duration, payload int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sort.Slice(l.all, func(i, j int) bool { return l.all[i] < l.all[j] })
	n := len(l.all)
	pct := func(p float64) float64 {
		if n == 0 {
			return 0
		}
		return float64(l.all[min(n-1, int(p*float64(n)))].Microseconds()) / 1000
	}
	count := n * perUnit
	rate := float64(count) / elapsed.Seconds()
	fmt.Printf("%s=%d\n", unit, count)
	fmt.Printf("%s_per_s=%.0f\n", unit, rate)
	fmt.Printf("mib_per_s=%.2f\n", rate*float64(payload)/(1<<20))
	fmt.Printf("p50_ms=%.2f\np99_ms=%.2f\nmax_ms=%.2f\n", pct(0.50), pct(0.99), pct(1))
}

func runHTTP(args []string) error {
	fs := flag.NewFlagSet("http", flag.ExitOnError)
	url := fs.String("url", "http://127.0.0.1:8082", "the gateway")
	topic := fs.String("topic", "bench-http", "topic (must exist)")
	conns := fs.Int("conns", 8, "connections, one request in flight each")
	batch := fs.Int("batch", 1, "records per request")
	size := fs.Int("size", 1024, "bytes per record value")
	seconds := fs.Int("seconds", 10, "duration")
	fs.Parse(args)

	value := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, *size))
	type record struct {
		Value string `json:"value"`
	}
	records := make([]record, *batch)
	for i := range records {
		records[i] = record{value}
	}
	body, err := json.Marshal(map[string]any{"records": records})
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}}
	target := *url + "/topics/" + *topic
	var lat latencies
	var failed atomic.Value
	deadline := time.Now().Add(time.Duration(*seconds) * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && failed.Load() == nil {
				t0 := time.Now()
				req, _ := http.NewRequest("POST", target, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/vnd.kafka.binary.v2+json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				text, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || bytes.Contains(text, []byte(`"error_code":5`)) {
					failed.Store(fmt.Sprintf("status %d: %.300s", resp.StatusCode, text))
					return
				}
				lat.add(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		return fmt.Errorf("%v", f)
	}
	lat.report("records", *batch, time.Since(start), *size)
	return nil
}

func runMQTT(args []string) error {
	fs := flag.NewFlagSet("mqtt", flag.ExitOnError)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "the MQTT listener")
	topic := fs.String("topic", "bench/mqtt", "MQTT topic (a client's own level is added)")
	clients := fs.Int("clients", 8, "publishing clients")
	inflight := fs.Int("inflight", 64, "QoS 1 publishes awaiting PUBACK per client")
	size := fs.Int("size", 1024, "payload bytes")
	seconds := fs.Int("seconds", 10, "duration")
	fs.Parse(args)

	payload := bytes.Repeat([]byte{'x'}, *size)
	var lat latencies
	var failed atomic.Value
	connected := make([]mqtt.Client, 0, *clients)
	for c := 0; c < *clients; c++ {
		opts := mqtt.NewClientOptions().AddBroker(*broker).
			SetClientID(fmt.Sprintf("bench-%d-%d", os.Getpid(), c)).
			SetCleanSession(true).SetAutoReconnect(false).
			SetMaxResumePubInFlight(*inflight).SetWriteTimeout(30 * time.Second)
		client := mqtt.NewClient(opts)
		if t := client.Connect(); t.WaitTimeout(30*time.Second) && t.Error() != nil {
			return fmt.Errorf("connect: %w", t.Error())
		}
		connected = append(connected, client)
	}
	deadline := time.Now().Add(time.Duration(*seconds) * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for c, client := range connected {
		wg.Add(1)
		go func() {
			defer wg.Done()
			window := make(chan struct{}, *inflight)
			var pending sync.WaitGroup
			where := fmt.Sprintf("%s/%d", *topic, c)
			for time.Now().Before(deadline) && failed.Load() == nil {
				window <- struct{}{}
				t0 := time.Now()
				token := client.Publish(where, 1, false, payload)
				pending.Add(1)
				go func() {
					defer pending.Done()
					if !token.WaitTimeout(30*time.Second) || token.Error() != nil {
						failed.Store(fmt.Sprintf("publish: %v", token.Error()))
					} else {
						lat.add(time.Since(t0))
					}
					<-window
				}()
			}
			pending.Wait()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, client := range connected {
		client.Disconnect(100)
	}
	if f := failed.Load(); f != nil {
		return fmt.Errorf("%v", f)
	}
	lat.report("messages", 1, elapsed, *size)
	return nil
}
