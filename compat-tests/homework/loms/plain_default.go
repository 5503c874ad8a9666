//go:build !idempotent

package main

// Default build: a plain SyncProducer (WaitForAll, hash partitioner, negotiated versions);
// `-kafka-idempotent` / LOMS_KAFKA_IDEMPOTENT=true or `-tags idempotent` switch modes.
const defaultIdempotent = false
