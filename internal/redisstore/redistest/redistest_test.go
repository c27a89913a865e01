package redistest_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/redisstore/redistest"
)

func TestStartGivesAWorkingDurableClient(t *testing.T) {
	ctx := context.Background()
	c, srv := redistest.Start(t)

	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Kill(t)
	srv.Start(t)

	got, err := c.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Errorf("GET after crash and restart = %q, %v; want v", got, err)
	}
	fsync, err := c.ConfigGet(ctx, "appendfsync").Result()
	if err != nil || fsync["appendfsync"] != "always" {
		t.Errorf("appendfsync = %v, %v; want always", fsync, err)
	}
}

// StartCluster gives a cluster of three masters with a replica each; a
// killed master's replica takes its slots over with every write the
// master acknowledged, and the killed node rejoins as a replica.
func TestStartClusterFailsOverAKilledMaster(t *testing.T) {
	ctx := context.Background()
	c, cl := redistest.StartCluster(t)

	var masters atomic.Int64
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		masters.Add(1)
		return nil
	})
	if err != nil || masters.Load() != 3 {
		t.Fatalf("masters = %d, %v; want 3", masters.Load(), err)
	}
	keys := []string{"{a}:1", "{b}:1", "{c}:1", "{d}:1"}
	for _, k := range keys {
		if err := c.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	old := cl.MasterOf(t, "{a}:1")
	// plain SETs, without WAIT: the replicas may still be behind
	cl.WaitInSync(t)
	killed := cl.KillMaster(t, "{a}:1")
	if killed != old || cl.MasterOf(t, "{a}:1") == old {
		t.Fatalf("killed %s, master of {a} before %s, after %s", killed.Addr, old.Addr, cl.MasterOf(t, "{a}:1").Addr)
	}
	for _, k := range keys {
		got, err := c.Get(ctx, k).Result()
		if err != nil || got != "v" {
			t.Errorf("GET %s after failover = %q, %v; want v", k, got, err)
		}
	}
	cl.Rejoin(t, killed)
	if cl.MasterOf(t, "{a}:1") == killed {
		t.Errorf("%s took its slots back on rejoining; want it a replica", killed.Addr)
	}
	if err := c.Set(ctx, "{a}:2", "w", 0).Err(); err != nil {
		t.Fatal(err)
	}
}
