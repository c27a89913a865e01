package redisstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
)

// TEXTKIT_REDIS_ADDR is one host:port or a comma-separated list of them;
// anything else is refused with an error that names the bad entry.
func TestSeedsParsesACommaSeparatedList(t *testing.T) {
	ok := []struct {
		addr string
		want []string
	}{
		{"127.0.0.1:6399", []string{"127.0.0.1:6399"}},
		{"127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}},
		{" 127.0.0.1:7001 , redis:7002", []string{"127.0.0.1:7001", "redis:7002"}},
		{"[::1]:7001", []string{"[::1]:7001"}},
	}
	for _, c := range ok {
		got, err := redisstore.Config{Addr: c.addr}.Seeds()
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Seeds(%q) = %q, %v; want %q", c.addr, got, err, c.want)
		}
	}
	bad := []struct{ addr, want string }{
		{"", "redis address is empty (set TEXTKIT_REDIS_ADDR"},
		{"redis://127.0.0.1:6399", "without a scheme"},
		{"127.0.0.1", "must be host:port"},
		{"127.0.0.1:7001,", "address 2 of \"127.0.0.1:7001,\": redis address is empty"},
		{"127.0.0.1:7001,,127.0.0.1:7002", "address 2 of"},
		{":7001", "has no host"},
		{"127.0.0.1:http", `port "http" is not a number`},
		{"127.0.0.1:0", "from 1 to 65535"},
		{"127.0.0.1:70000", "from 1 to 65535"},
		{"127.0.0.1:7001,127.0.0.1:7001", "listed twice"},
	}
	for _, c := range bad {
		_, err := redisstore.Config{Addr: c.addr}.Seeds()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Seeds(%q) error = %v, want one containing %q", c.addr, err, c.want)
		}
		if verr := (redisstore.Config{Addr: c.addr}).Validate(); verr == nil {
			t.Errorf("Validate(%q) accepted it", c.addr)
		}
	}
}

// A list of several addresses is only for a Redis Cluster: a lone server
// among them is refused, and with no server up every address is named.
func TestConnectRefusesSeveralAddressesOfAPlainServer(t *testing.T) {
	ctx := context.Background()
	_, srv := redistest.Start(t)
	_, err := redisstore.Connect(ctx, redisstore.Config{Addr: srv.Addr + ",127.0.0.1:1", Password: srv.Password})
	if err == nil || !strings.Contains(err.Error(), "is not a cluster node") {
		t.Fatalf("Connect to a plain server listed with another address: %v, want a not-a-cluster error", err)
	}
	_, err = redisstore.Connect(ctx, redisstore.Config{Addr: "127.0.0.1:1,127.0.0.1:2"})
	if err == nil || !strings.Contains(err.Error(), "cannot reach redis at 127.0.0.1:1, 127.0.0.1:2") {
		t.Fatalf("Connect to nothing: %v, want both addresses named", err)
	}
	_, err = redisstore.Connect(ctx, redisstore.Config{Addr: "127.0.0.1:1," + srv.Addr, Password: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "refused the password") {
		t.Fatalf("Connect with a wrong password: %v, want the password named", err)
	}
	c, err := redisstore.Connect(ctx, redisstore.Config{Addr: srv.Addr, Password: srv.Password})
	if err != nil {
		t.Fatalf("Connect to one plain server: %v", err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}
