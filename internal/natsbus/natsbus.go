// Package natsbus is TextKit Customers' NATS JetStream plumbing: the
// connection, the streams and their limits, the provisioner's partitioned
// command consumers, the running of the services' consumers (Run: the
// watermill router, its middleware, graceful draining and the decoding of
// messages, so that services only pass functions of a Message), and the
// publishers of commands, outcomes, events and dead letters.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Config says how a service connects to NATS.
type Config struct {
	// URL is one server's URL or, for a cluster, a comma-separated list of
	// seed URLs (nats://a:4222,nats://b:4222): the client connects to any
	// of them and learns the rest of the cluster from the server.
	URL      string
	User     string
	Password string
	// Name identifies the connection in the server's monitoring (e.g. "gateway").
	Name string
	// ConnectTimeout bounds the first connection attempt. Default 5s.
	ConnectTimeout time.Duration
}

// Validate reports a missing or malformed field. Each URL of a seed list
// is checked on its own.
func (c Config) Validate() error {
	if strings.TrimSpace(c.URL) == "" {
		return errors.New("nats url is empty (set TEXTKIT_NATS_URL, e.g. nats://127.0.0.1:4222, or a comma-separated list of a cluster's seed URLs)")
	}
	for i, raw := range strings.Split(c.URL, ",") {
		if err := validateURL(strings.TrimSpace(raw)); err != nil {
			if strings.Contains(c.URL, ",") {
				return fmt.Errorf("nats url list %q, entry %d: %w", c.URL, i+1, err)
			}
			return err
		}
	}
	return nil
}

// validateURL checks one server URL: a nats:// or tls:// scheme and a
// host:port.
func validateURL(raw string) error {
	if raw == "" {
		return errors.New("nats url is empty (a comma-separated list has an empty entry)")
	}
	if !strings.HasPrefix(raw, "nats://") && !strings.HasPrefix(raw, "tls://") {
		return fmt.Errorf("nats url %q must start with nats:// or tls://", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("nats url %q: %w", raw, err)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("nats url %q has no host (want nats://host:port)", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("nats url %q: port %q is not a number from 1 to 65535", raw, p)
		}
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("nats url %q has a path %q (want nats://host:port)", raw, u.Path)
	}
	return nil
}

// CheckReplicas reports a replication factor the streams cannot have: 1
// (one NATS server) or 3 (a three-node JetStream cluster).
func CheckReplicas(n int) error {
	if n != 1 && n != 3 {
		return fmt.Errorf("nats replicas %d: want 1 (one NATS server) or 3 (a three-node JetStream cluster)", n)
	}
	return nil
}

// Connect dials NATS once (so a wrong address or password fails fast with
// a clear error) and then reconnects forever in the background, to any
// server of a seed list. While it is disconnected, a publish is refused
// instead of being buffered and sent after the reconnect: a caller told
// that a publish failed (a gateway client answered UNAVAILABLE) must be
// able to trust that nothing went out later. Our publishers send a refused
// or unanswered message again themselves, with the same Nats-Msg-Id, until
// their context ends (publishOnce).
func Connect(ctx context.Context, cfg Config) (*nats.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.ReconnectBufSize(-1),
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(cfg.URL, opts...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			if errors.Is(r.err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(r.err.Error()), "authorization") {
				return nil, fmt.Errorf("nats at %s refused user %q: wrong TEXTKIT_NATS_USER/TEXTKIT_NATS_PASSWORD: %w", cfg.URL, cfg.User, r.err)
			}
			return nil, fmt.Errorf("cannot connect to nats at %s (is it running? scripts/up.sh starts it): %w", cfg.URL, r.err)
		}
		return r.nc, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
