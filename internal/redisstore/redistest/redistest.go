// Package redistest starts a real, durable redis-server for tests and hands
// back a go-redis client for it.
package redistest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/testenv"
)

// Start starts a redis-server through testenv.StartRedis (append-only file
// fsynced on every write, noeviction, random password, free loopback port)
// and returns a client connected to it. A missing redis-server skips the
// test outside CI and fails it under CI. Server and client are closed when
// the test ends; the client reconnects by itself after srv.Restart or
// srv.Kill followed by srv.Start.
func Start(t testing.TB, opts ...testenv.RedisOption) (*redis.Client, *testenv.Redis) {
	t.Helper()
	srv := testenv.StartRedis(t, opts...)
	c := redis.NewClient(&redis.Options{
		Addr:     srv.Addr,
		Password: srv.Password,
		// Tests restart the server: do not wait long on a dead connection.
		MaxRetries: 3,
	})
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("ping redis at %s: %v", srv.Addr, err)
	}
	return c, srv
}
