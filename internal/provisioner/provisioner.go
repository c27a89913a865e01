// Package provisioner applies customer commands: it validates every command
// itself (partners publish straight onto NATS too), checks the domain rules,
// drives the customer's Twilio sub-account, records the result atomically
// in Redis and publishes the outcome and the event. Permanent problems
// become rejected outcomes (and dead letters for bad messages); transient
// ones (failure.IsTransient, the rule every service shares) are returned
// so the message is redelivered with backoff.
package provisioner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/failure"
	"github.com/textkit/customers/internal/twilio"
)

// Subaccounts is the Twilio sub-account adapter (internal/twilio.Client).
type Subaccounts interface {
	EnsureSubaccount(ctx context.Context, customerID string) (twilio.Account, error)
	Suspend(ctx context.Context, sid string) (twilio.Account, error)
	Reopen(ctx context.Context, sid string) (twilio.Account, error)
	Close(ctx context.Context, sid string) (twilio.Account, error)
}

// Keys is the Vault transit adapter (internal/vault.Client) as the
// provisioner uses it: it seals plaintext contact info sent by direct
// publishers and checks a customer's key exists before activation.
type Keys interface {
	Encrypt(ctx context.Context, customerID string, plaintext []byte) (string, error)
	KeyStatus(ctx context.Context, customerID string) (exists bool, err error)
}

// Publisher publishes what commands produce.
type Publisher interface {
	PublishOutcome(ctx context.Context, o *command.Outcome) error
	PublishEvent(ctx context.Context, e *command.Event) error
	// DeadLetter keeps what is known of a rejected message (never the
	// message itself) in the dead-letter stream.
	DeadLetter(ctx context.Context, dl *command.DeadLetter) error
	// EraseCommand overwrites a processed command in the command stream.
	EraseCommand(ctx context.Context, streamSeq uint64) error
}

// Config holds the provisioner's collaborators and settings.
type Config struct {
	Store     Store
	Twilio    Subaccounts
	Keys      Keys
	Publisher Publisher
	Logger    *slog.Logger
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// KeyWait bounds how long an activation waits, across redeliveries,
	// for retention to create the customer's key before it is rejected.
	// Default 30s.
	KeyWait time.Duration
}

// Validate reports a missing collaborator.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("provisioner: Store is required")
	case c.Twilio == nil:
		return errors.New("provisioner: Twilio is required")
	case c.Keys == nil:
		return errors.New("provisioner: Keys is required")
	case c.Publisher == nil:
		return errors.New("provisioner: Publisher is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.KeyWait == 0 {
		c.KeyWait = 30 * time.Second
	}
	return nil
}

// Provisioner applies commands.
type Provisioner struct {
	cfg      Config
	keysSeen *keysSeen
}

// New returns a provisioner.
func New(cfg Config) (*Provisioner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Provisioner{cfg: cfg, keysSeen: newKeysSeen(keysSeenMax)}, nil
}

// transient marks a failure that a redelivery may cure (failure.IsTransient
// says so of it), naming the step that failed.
func (p *Provisioner) transient(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, failure.ErrTransient, err)
}
