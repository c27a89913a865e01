package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
)

// BenchmarkApply measures one registration's writes (the outbox index,
// then the apply script) on a real Redis Cluster, with the replica's
// confirmation (WAIT, the default there) and without it
// (TEXTKIT_REDIS_MIN_REPLICA_ACKS=0). docs/benchmarks.md has the figures.
func BenchmarkApply(b *testing.B) {
	rdb, _ := redistest.StartCluster(b)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name string
		acks int
	}{{"wait", redisstore.AutoReplicaAcks}, {"nowait", 0}} {
		s := redisstore.New(rdb, redisstore.WithMinReplicaAcks(bc.acks))
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			partner := uuid.NewString()
			for b.Loop() {
				id := uuid.NewString()
				c, err := customer.New(id, partner, uuid.NewString(), "bench-"+id[:8], "Bench", at)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Create(ctx, c, appliedRecord(c, command.Register, at)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
