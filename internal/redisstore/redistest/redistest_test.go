package redistest_test

import (
	"context"
	"testing"

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
