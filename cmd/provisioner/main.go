// Command provisioner applies customer commands from NATS JetStream: it
// keeps versioned state in Redis, drives Twilio sub-accounts and publishes
// outcomes and events. Run several for availability; per-customer order
// holds across them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/service"
	"github.com/textkit/customers/internal/twilio"
	"github.com/textkit/customers/internal/vault"
)

func main() { service.Main("provisioner", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := service.NewFlags("provisioner", getenv)
	httpAddr := fs.String("http-addr", "127.0.0.1:9101", "address of /healthz, /readyz and /metrics")
	natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	natsUser := fs.String("nats-user", "provisioner", "NATS user")
	natsPassword := fs.String("nats-password", "", "NATS password")
	redisAddr := fs.String("redis-addr", "127.0.0.1:6399", "Redis host:port")
	redisPassword := fs.String("redis-password", "", "Redis password")
	redisUnsafe := fs.Bool("redis-allow-unsafe-persistence", false, "run even if Redis could lose acknowledged writes")
	vaultAddr := fs.String("vault-addr", "http://127.0.0.1:8200", "Vault address")
	vaultToken := fs.String("vault-token", "", "Vault token (the provisioner's: encrypt only)")
	twilioURL := fs.String("twilio-api-url", "", "Twilio API base URL (the emulator's in dev; https://api.twilio.com in production)")
	twilioSID := fs.String("twilio-account-sid", "", "Twilio main account SID (AC + 32 hex)")
	twilioToken := fs.String("twilio-auth-token", "", "Twilio main account auth token")
	keyWait := fs.Duration("key-wait", 30*time.Second, "how long an activation waits for the customer's key")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args, stdout); err != nil {
		return err
	}
	log, err := service.NewLogger(stderr, *logLevel, "provisioner")
	if err != nil {
		return err
	}
	if *twilioURL == "" {
		return errors.New("TEXTKIT_TWILIO_API_URL is empty: set it to the Twilio emulator (scripts/up.sh does) or to Twilio's API")
	}
	tw, err := twilio.New(twilio.Config{AccountSID: *twilioSID, AuthToken: *twilioToken, BaseURL: *twilioURL})
	if err != nil {
		return fmt.Errorf("%w (set TEXTKIT_TWILIO_ACCOUNT_SID and TEXTKIT_TWILIO_AUTH_TOKEN)", err)
	}
	if *vaultToken == "" {
		return errors.New("TEXTKIT_VAULT_TOKEN is empty: use the provisioner token that `textkit vault-init` wrote")
	}
	vc, err := vault.New(vault.Config{Addr: *vaultAddr, Token: *vaultToken})
	if err != nil {
		return err
	}
	if err := vc.Health(ctx); err != nil {
		return fmt.Errorf("vault at %s is not usable (is it running? scripts/up.sh starts it; TEXTKIT_VAULT_ADDR): %w", *vaultAddr, err)
	}
	if _, err := vc.CheckToken(ctx); err != nil {
		return fmt.Errorf("vault at %s refused TEXTKIT_VAULT_TOKEN (use the provisioner token that `textkit vault-init` wrote): %w", *vaultAddr, err)
	}
	rdb, err := redisstore.Connect(ctx, redisstore.Config{Addr: *redisAddr, Password: *redisPassword, AllowUnsafePersistence: *redisUnsafe})
	if err != nil {
		return err
	}
	defer rdb.Close()
	natsCfg := natsbus.Config{URL: *natsURL, User: *natsUser, Password: *natsPassword, Name: "provisioner"}
	pubConn, err := natsbus.Connect(ctx, natsCfg)
	if err != nil {
		return err
	}
	defer pubConn.Close()
	natsCfg.Name = "provisioner-consumer"
	subConn, err := natsbus.Connect(ctx, natsCfg)
	if err != nil {
		return err
	}
	defer subConn.Close()
	pub, err := natsbus.NewPublisher(pubConn)
	if err != nil {
		return err
	}
	store := redisstore.New(rdb)
	prov, err := provisioner.New(provisioner.Config{
		Store: store, Twilio: tw, Keys: vc, Publisher: pub, Logger: log, KeyWait: *keyWait,
		IsTransient: func(err error) bool { return twilio.IsTransient(err) || vault.IsTransient(err) },
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
	log.Info("provisioner starting", "nats", *natsURL, "redis", *redisAddr, "vault", *vaultAddr, "twilio", *twilioURL)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return service.Serve(gctx, l, ops.Mux, log) })
	go vc.KeepTokenAlive(gctx, 12*time.Hour, func(err error) { log.Warn("vault token renewal failed", "error", err.Error()) })
	g.Go(func() error { return prov.Run(gctx, provisioner.RunConfig{Conn: subConn}) })
	err = g.Wait()
	log.Info("provisioner stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
