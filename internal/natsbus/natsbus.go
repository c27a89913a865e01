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
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Config says how a service connects to NATS.
type Config struct {
	URL      string
	User     string
	Password string
	// Name identifies the connection in the server's monitoring (e.g. "gateway").
	Name string
	// ConnectTimeout bounds the first connection attempt. Default 5s.
	ConnectTimeout time.Duration
}

// Validate reports a missing or malformed field.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("nats url is empty (set TEXTKIT_NATS_URL, e.g. nats://127.0.0.1:4222)")
	}
	if !strings.HasPrefix(c.URL, "nats://") && !strings.HasPrefix(c.URL, "tls://") {
		return fmt.Errorf("nats url %q must start with nats:// or tls://", c.URL)
	}
	return nil
}

// Connect dials NATS once (so a wrong address or password fails fast with
// a clear error) and then reconnects forever in the background. While it
// is disconnected, a publish fails at once instead of being buffered and
// sent after the reconnect: a caller told that a publish failed (a
// gateway client answered UNAVAILABLE) must be able to trust that nothing
// went out later.
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
