// Command retention manages customers' Vault transit keys: it creates a
// customer's key at registration and destroys it at termination, at once
// or on schedule (crypto-shredding). Run several for availability: each
// event is handled by one replica, each due key destroyed by one.
package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/service"
)

func main() { service.Main("retention", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := service.NewFlags("retention", getenv)
	c := fs.Common("retention", "127.0.0.1:9102", "address of /healthz, /readyz and /metrics", "retention's: manages keys, cannot decrypt")
	sweepInterval := fs.Duration("sweep-interval", 30*time.Second, "how often due keys are looked for (and destroyed)")
	if err := fs.Parse(args, stdout); err != nil {
		return err
	}
	if *sweepInterval <= 0 {
		return fmt.Errorf("TEXTKIT_SWEEP_INTERVAL=%v must be positive (e.g. 30s)", *sweepInterval)
	}
	d, err := service.Open(ctx, c, stderr, "", "consumer")
	if err != nil {
		return err
	}
	pub, err := natsbus.NewPublisher(d.NATS[0])
	if err != nil {
		d.Close()
		return err
	}
	svc, err := retention.New(retention.Config{
		Store: d.Store, Keys: d.Vault, Publisher: pub, Logger: d.Log, SweepInterval: *sweepInterval,
	})
	if err != nil {
		d.Close()
		return err
	}
	d.Log.Info("retention starting", "nats", *c.NATSURL, "redis", *c.RedisAddr, "vault", *c.VaultAddr, "sweep_interval", sweepInterval.String())
	return d.Run(ctx, func(ctx context.Context) error {
		// The consumer's connection is drained when it stops, so it is not
		// the publisher's.
		return svc.Run(ctx, retention.RunConfig{Conn: d.NATS[1]})
	})
}
