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

	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/service"
	"github.com/textkit/customers/internal/twilio"
)

func main() { service.Main("provisioner", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := service.NewFlags("provisioner", getenv)
	c := fs.Common("provisioner", "127.0.0.1:9101", "address of /healthz, /readyz and /metrics", "the provisioner's: encrypt only")
	twilioURL := fs.String("twilio-api-url", "", "Twilio API base URL (the emulator's in dev; https://api.twilio.com in production)")
	twilioSID := fs.String("twilio-account-sid", "", "Twilio main account SID (AC + 32 hex)")
	twilioToken := fs.String("twilio-auth-token", "", "Twilio main account auth token")
	keyWait := fs.Duration("key-wait", 30*time.Second, "how long an activation waits for the customer's key")
	replicas := fs.Int("nats-replicas", 1, "replicas of the NATS streams and their consumers: 1 (one NATS server) or 3 (a three-node JetStream cluster)")
	if err := fs.Parse(args, stdout); err != nil {
		return err
	}
	if err := natsbus.CheckReplicas(*replicas); err != nil {
		return fmt.Errorf("TEXTKIT_NATS_REPLICAS: %w", err)
	}
	if _, err := service.NewLogger(io.Discard, *c.LogLevel, "provisioner"); err != nil {
		return err
	}
	if *twilioURL == "" {
		return errors.New("TEXTKIT_TWILIO_API_URL is empty: set it to the Twilio emulator (scripts/up.sh does) or to Twilio's API")
	}
	tw, err := twilio.New(twilio.Config{AccountSID: *twilioSID, AuthToken: *twilioToken, BaseURL: *twilioURL})
	if err != nil {
		return fmt.Errorf("%w (set TEXTKIT_TWILIO_ACCOUNT_SID and TEXTKIT_TWILIO_AUTH_TOKEN)", err)
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
	prov, err := provisioner.New(provisioner.Config{
		Store: d.Store, Twilio: tw, Keys: d.Vault, Publisher: pub, Logger: d.Log, KeyWait: *keyWait,
	})
	if err != nil {
		d.Close()
		return err
	}
	d.Log.Info("provisioner starting", "nats", *c.NATSURL, "nats_replicas", *replicas, "redis", *c.RedisAddr, "vault", *c.VaultAddr, "twilio", *twilioURL)
	return d.Run(ctx, func(ctx context.Context) error {
		// The consumers' connection is drained when they stop, so it is
		// not the publisher's.
		return prov.Run(ctx, provisioner.RunConfig{Conn: d.NATS[1], Limits: natsbus.StreamLimits{Replicas: *replicas}})
	})
}
