// Command retention manages customers' Vault transit keys: it creates a
// customer's key at registration and destroys it at termination, at once
// or on schedule (crypto-shredding). Run several for availability: each
// event is handled by one replica, each due key destroyed by one.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/service"
	"github.com/textkit/customers/internal/vault"
)

func main() { service.Main("retention", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := service.NewFlags("retention", getenv)
	httpAddr := fs.String("http-addr", "127.0.0.1:9102", "address of /healthz, /readyz and /metrics")
	natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	natsUser := fs.String("nats-user", "retention", "NATS user")
	natsPassword := fs.String("nats-password", "", "NATS password")
	redisAddr := fs.String("redis-addr", "127.0.0.1:6399", "Redis host:port")
	redisPassword := fs.String("redis-password", "", "Redis password")
	redisUnsafe := fs.Bool("redis-allow-unsafe-persistence", false, "run even if Redis could lose acknowledged writes")
	vaultAddr := fs.String("vault-addr", "http://127.0.0.1:8200", "Vault address")
	vaultToken := fs.String("vault-token", "", "Vault token (retention's: manages keys, cannot decrypt)")
	sweepInterval := fs.Duration("sweep-interval", 30*time.Second, "how often due keys are looked for (and destroyed)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args, stdout); err != nil {
		return err
	}
	log, err := service.NewLogger(stderr, *logLevel, "retention")
	if err != nil {
		return err
	}
	if *sweepInterval <= 0 {
		return fmt.Errorf("TEXTKIT_SWEEP_INTERVAL=%v must be positive (e.g. 30s)", *sweepInterval)
	}
	if *vaultToken == "" {
		return errors.New("TEXTKIT_VAULT_TOKEN is empty: use the retention token that `textkit vault-init` wrote")
	}
	vc, err := vault.New(vault.Config{Addr: *vaultAddr, Token: *vaultToken})
	if err != nil {
		return err
	}
	if err := vc.Health(ctx); err != nil {
		return fmt.Errorf("vault at %s is not usable (is it running? scripts/up.sh starts it; TEXTKIT_VAULT_ADDR): %w", *vaultAddr, err)
	}
	if _, err := vc.CheckToken(ctx); err != nil {
		return fmt.Errorf("vault at %s refused TEXTKIT_VAULT_TOKEN (use the retention token that `textkit vault-init` wrote): %w", *vaultAddr, err)
	}
	rdb, err := redisstore.Connect(ctx, redisstore.Config{Addr: *redisAddr, Password: *redisPassword, AllowUnsafePersistence: *redisUnsafe})
	if err != nil {
		return err
	}
	defer rdb.Close()
	natsCfg := natsbus.Config{URL: *natsURL, User: *natsUser, Password: *natsPassword, Name: "retention"}
	pubConn, err := natsbus.Connect(ctx, natsCfg)
	if err != nil {
		return err
	}
	defer pubConn.Close()
	natsCfg.Name = "retention-consumer"
	subConn, err := natsbus.Connect(ctx, natsCfg)
	if err != nil {
		return err
	}
	defer subConn.Close()
	// Asynchronous errors (a permission the NATS config lacks, a slow
	// consumer) would otherwise go unnoticed.
	for _, nc := range []*nats.Conn{pubConn, subConn} {
		nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Error("nats error", "connection", nc.Opts.Name, "error", err.Error())
		})
	}
	pub, err := natsbus.NewPublisher(pubConn)
	if err != nil {
		return err
	}
	svc, err := retention.New(retention.Config{
		Store: redisstore.New(rdb), Keys: vc, Publisher: pub, Logger: log, SweepInterval: *sweepInterval,
	})
	if err != nil {
		return err
	}

	ops := service.NewOps()
	ops.AddCheck("nats", func(ctx context.Context) error {
		if !subConn.IsConnected() || !pubConn.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	})
	ops.AddCheck("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	ops.AddCheck("vault", vc.Health)
	l, err := service.Listen(*httpAddr)
	if err != nil {
		return err
	}
	log.Info("retention starting", "nats", *natsURL, "redis", *redisAddr, "vault", *vaultAddr, "sweep_interval", sweepInterval.String())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return service.Serve(gctx, l, ops.Mux, log) })
	go vc.KeepTokenAlive(gctx, 12*time.Hour, func(err error) { log.Warn("vault token renewal failed", "error", err.Error()) })
	g.Go(func() error { return svc.Run(gctx, retention.RunConfig{Conn: subConn}) })
	err = g.Wait()
	log.Info("retention stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
