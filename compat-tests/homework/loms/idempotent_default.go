//go:build idempotent

package main

// Built with `go build -tags idempotent`: the producer defaults to the idempotent mode
// (Idempotent=true, MaxOpenRequests=1, fixed Version V1_0_0_0), as some students build it.
const defaultIdempotent = true
