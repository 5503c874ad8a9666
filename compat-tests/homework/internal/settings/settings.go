// Package settings reads a service's settings from flags, falling back to environment
// variables, falling back to defaults: `-brokers` beats KAFKA_BROKERS beats the default.
// (No name starts with GREGOR_: the broker rejects unknown GREGOR_* variables, and in the
// end-to-end test it shares the environment with these services.)
package settings

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Set wraps a FlagSet whose defaults come from the environment.
type Set struct {
	fs    *flag.FlagSet
	errs  []string
	after []func()
}

func New(name string) *Set {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	return &Set{fs: fs}
}

func usage(help, env string) string { return fmt.Sprintf("%s (env %s)", help, env) }

func (s *Set) String(name, env, def, help string) *string {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	return s.fs.String(name, def, usage(help, env))
}

func (s *Set) List(name, env, def, help string) *[]string {
	raw := s.String(name, env, def, help+", comma-separated")
	out := new([]string)
	s.after = append(s.after, func() {
		for _, p := range strings.Split(*raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*out = append(*out, p)
			}
		}
	})
	return out
}

func (s *Set) Bool(name, env string, def bool, help string) *bool {
	if v, ok := os.LookupEnv(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a boolean", env, v))
		}
		def = b
	}
	return s.fs.Bool(name, def, usage(help, env))
}

func (s *Set) Duration(name, env string, def time.Duration, help string) *time.Duration {
	if v, ok := os.LookupEnv(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a duration (e.g. 500ms, 10s)", env, v))
		}
		def = d
	}
	return s.fs.Duration(name, def, usage(help, env))
}

func (s *Set) Int(name, env string, def int, help string) *int {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not an integer", env, v))
		}
		def = n
	}
	return s.fs.Int(name, def, usage(help, env))
}

// Parse parses args (os.Args[1:]); a bad environment value or flag exits with status 2.
func (s *Set) Parse(args []string) {
	_ = s.fs.Parse(args)
	if len(s.errs) > 0 {
		fmt.Fprintf(os.Stderr, "%s: %s\n", s.fs.Name(), strings.Join(s.errs, "; "))
		os.Exit(2)
	}
	if s.fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q\n", s.fs.Name(), s.fs.Args())
		os.Exit(2)
	}
	for _, f := range s.after {
		f()
	}
}
