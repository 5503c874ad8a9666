// compat-go runs one compatibility scenario of one Go Kafka client against one broker:
//
//	compat-go <client> <scenario> <bootstrap host:port>
//	compat-go list                      every client/scenario pair, one per line
//
// Clients: sarama (IBM/sarama, Version left at its default), sarama-v1 (the same library with
// the fixed, non-negotiating Version sarama.V1_0_0_0 of the homework's old services), kafka-go
// (segmentio/kafka-go) and franz-go (twmb/franz-go kgo + kadm, defaults kept).
//
// Each scenario creates its own uniquely named topics and groups, prints one "ok" line per
// check, and exits 0 when every check passed; on the first failed check it prints
// "FAIL: <what>" and exits 1. Exit 2 is a usage error, 3 a scenario that overran its deadline
// (COMPAT_GO_DEADLINE seconds, default 60). COMPAT_GO_DEBUG=1 turns on the clients' own logs.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"
)

type scenarioFunc func(s *Scenario)

// debugLogs (COMPAT_GO_DEBUG set): the clients' own logs on stderr, progress details on stdout.
var debugLogs = os.Getenv("COMPAT_GO_DEBUG") != ""

// scenarios: client → scenario → implementation. The pytest side (python/test_go.py) lists
// the same pairs; `compat-go list` prints them.
var scenarios = map[string]map[string]scenarioFunc{}

func register(client, scenario string, fn scenarioFunc) {
	if scenarios[client] == nil {
		scenarios[client] = map[string]scenarioFunc{}
	}
	scenarios[client][scenario] = fn
}

// Scenario is the context of one run: the broker's address, a deadline, and check helpers.
type Scenario struct {
	Client string
	Name   string
	// Bootstrap is the address as given: one host:port, or a comma-separated list (a cluster).
	Bootstrap string
	// Seeds is Bootstrap split at commas; raw connections (kafka-go's Dial) use the first.
	Seeds []string
	Ctx   context.Context
	start time.Time
}

// failure is what Fatalf panics with; main turns it into "FAIL: ..." and exit 1.
type failure struct{ msg string }

// Fatalf stops the scenario with a failed check. Call it only from the scenario's goroutine;
// helper goroutines report errors through channels instead.
func (s *Scenario) Fatalf(format string, args ...any) {
	panic(failure{fmt.Sprintf(format, args...)})
}

// Check fails the scenario unless cond holds.
func (s *Scenario) Check(cond bool, format string, args ...any) {
	if !cond {
		s.Fatalf(format, args...)
	}
}

// NoErr fails the scenario if err is not nil.
func (s *Scenario) NoErr(err error, what string, args ...any) {
	if err != nil {
		s.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// Okf prints one passed check.
func (s *Scenario) Okf(format string, args ...any) {
	fmt.Printf("ok   [%5.2fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// Logf prints progress that is not a check.
func (s *Scenario) Logf(format string, args ...any) {
	fmt.Printf("     [%5.2fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// WaitFor polls cond every 50 ms until it returns true or `timeout` passes; the returned
// string describes the last state seen, for the failure message.
func (s *Scenario) WaitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) || s.Ctx.Err() != nil {
			s.Fatalf("timed out after %s waiting for %s (last: %s)", timeout, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: compat-go <client> <scenario> <bootstrap host:port>\n       compat-go list\n")
	os.Exit(2)
}

func pairs() []string {
	var out []string
	for c, m := range scenarios {
		for n := range m {
			out = append(out, c+" "+n)
		}
	}
	sort.Strings(out)
	return out
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "list" {
		fmt.Println(strings.Join(pairs(), "\n"))
		return
	}
	if len(os.Args) != 4 {
		usage()
	}
	client, name, bootstrap := os.Args[1], os.Args[2], os.Args[3]
	fn := scenarios[client][name]
	if fn == nil {
		fmt.Fprintf(os.Stderr, "compat-go: no scenario %q for client %q; known pairs:\n  %s\n",
			name, client, strings.Join(pairs(), "\n  "))
		os.Exit(2)
	}

	limit := 60 * time.Second
	if v := os.Getenv("COMPAT_GO_DEADLINE"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			usage()
		}
		limit = time.Duration(secs * float64(time.Second))
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	// A client call stuck past the deadline (not every API takes a context) still ends the run.
	watchdog := time.AfterFunc(limit+5*time.Second, func() {
		fmt.Printf("FAIL: %s %s did not finish within %s (stuck in a client call)\n", client, name, limit)
		os.Exit(3)
	})
	defer watchdog.Stop()

	s := &Scenario{Client: client, Name: name, Bootstrap: bootstrap, Seeds: strings.Split(bootstrap, ","),
		Ctx: ctx, start: time.Now()}
	fmt.Printf("compat-go %s %s against %s\n", client, name, bootstrap)
	code := run(s, fn)
	os.Exit(code)
}

func run(s *Scenario, fn scenarioFunc) (code int) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(failure); ok {
				fmt.Printf("FAIL: [%5.2fs] %s\n", time.Since(s.start).Seconds(), f.msg)
			} else {
				fmt.Printf("FAIL: panic: %v\n%s", r, debug.Stack())
			}
			code = 1
		}
	}()
	fn(s)
	fmt.Printf("PASS: %s %s in %.2fs\n", s.Client, s.Name, time.Since(s.start).Seconds())
	return 0
}
